import pytest

from connect_app.reality.keys import filter_known, find_keys, find_keys_in_branch


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("FEAT-304: payment retry", ["FEAT-304"]),
        ("Fix FEAT-1 and ABC-22, again FEAT-1", ["FEAT-1", "ABC-22"]),
        ("Bump zookeeper-3.5.0", []),
        ("Patch CVE-2021-44228 in log4j", []),
        ("ABC-0 is not a key", []),
        ("xFEAT-1 is glued to a word", []),
        ("9FEAT-1 is glued to a digit", []),
        ("FEAT-1.2 is a version", []),
        ("FEAT-12a is glued", []),
        ("feat-304 lower case in a message", []),
        ("(QA_TEAM-9) underscores allowed", ["QA_TEAM-9"]),
        ("End of sentence FEAT-7.", ["FEAT-7"]),
        ("A-1 one-letter project", []),
        ('ABC-4788: Revert "ABC-4092: Upgrade"', ["ABC-4788", "ABC-4092"]),
        ("", []),
    ],
)
def test_keys_in_messages(text, keys):
    assert find_keys(text) == keys


@pytest.mark.parametrize(
    ("branch", "keys"),
    [
        ("feat-304-retry", ["FEAT-304"]),
        ("feature/abc-12_x", ["ABC-12"]),
        ("Feature/FEAT-9-Checkout", ["FEAT-9"]),
        ("refs/heads/ops-5", ["OPS-5"]),
        ("zookeeper-3.5.0", []),
        ("dependabot/npm_and_yarn/lodash-4.17.21", []),
        ("revert-8-revert-7-patch-1", []),
        ("revert-12-feat-3-retry", ["FEAT-3"]),
        ("octocat-patch-2", []),
        ("patch-1", []),
        ("cve-2021-44228-fix", []),
        ("abc-0-nothing", []),
    ],
)
def test_keys_in_branch_names(branch, keys):
    assert find_keys_in_branch(branch) == keys


def test_unknown_projects_are_dropped():
    assert filter_known(["FEAT-1", "NODE-18", "OPS-2"], {"FEAT", "OPS"}) == ["FEAT-1", "OPS-2"]


def test_without_a_project_list_nothing_is_dropped():
    assert filter_known(["FEAT-1", "NODE-18"], None) == ["FEAT-1", "NODE-18"]
