"""Published releases reach the panel timeline of every feature the tag ships, through real
`release` webhooks; a release never changes a feature's drift state."""

from __future__ import annotations

from typing import Any

from connect_app.sandbox.stack import Stack

KEYS = ("FEAT-1", "FEAT-2", "FEAT-3", "FEAT-4")


def _panel(stack: Stack, key: str) -> dict[str, Any]:
    response = stack.admin("GET", f"/api/issues/{key}/reality")
    assert response.status_code == 200, response.text
    return response.json()


def _releases(stack: Stack, key: str) -> list[dict[str, Any]]:
    return [event for event in _panel(stack, key)["timeline"] if event["kind"] == "release"]


def _setup(stack: Stack, *, token: bool = True) -> Any:
    for key in KEYS:
        stack.jira.add_issue(key, f"Feature {key}", status="Done")
    stack.install()
    github = stack.start_github()
    stack.connect_repository(**({} if token else {"token": None}))
    github.repo.commit("Initial shop", {"README.md": "shop\n"})
    github.push_branch()
    return github


def test_a_release_shows_on_the_features_its_tag_contains(stack: Stack) -> None:
    github = _setup(stack)
    first = github.push("FEAT-1: Coupons", {"src/coupons.py": "ON = 1\n"})
    github.publish_release("v1.0.0", name="Spring sale")
    github.push("FEAT-2: Gift wrap", {"src/wrap.py": "ON = 1\n"})
    pickup = github.push("FEAT-3: Pickup", {"src/pickup.py": "ON = 1\n"})
    github.repo.revert(pickup)
    github.push_branch()
    tagged = github.repo.rev_parse("main")
    github.publish_release("v1.1.0")
    github.push("FEAT-4: Badges", {"src/badges.py": "ON = 1\n"})
    stack.settle()

    coupons = _releases(stack, "FEAT-1")
    assert [event["title"] for event in coupons] == ["Released in v1.1.0", "Released in v1.0.0 (Spring sale)"]
    assert coupons[1]["sha"] == first, "the tag's commit, resolved through the API"
    assert coupons[0]["sha"] == tagged
    assert coupons[1]["url"] == "https://github.com/acme/shop/releases/tag/v1.0.0"
    assert coupons[1]["when"] is not None
    assert [event["title"] for event in _releases(stack, "FEAT-2")] == ["Released in v1.1.0"]
    assert _releases(stack, "FEAT-3") == [], "reverted before the tag: the release does not ship it"
    assert _releases(stack, "FEAT-4") == [], "landed after every release"
    assert any(path.startswith("/repos/acme/shop/commits/v1.0.0") for _m, path in github.api_requests)


def test_a_release_never_changes_drift_and_writes_nothing_to_jira(stack: Stack) -> None:
    github = _setup(stack)
    coupons = github.push("FEAT-1: Coupons", {"src/coupons.py": "ON = 1\n"})
    github.push("FEAT-2: Gift wrap", {"src/wrap.py": "ON = 1\n"})
    github.repo.revert(coupons)
    github.push_branch()
    stack.settle()
    before = {key: _panel(stack, key)["drift"] for key in ("FEAT-1", "FEAT-2")}
    assert before == {"FEAT-1": "reverted", "FEAT-2": "live"}
    stack.jira.reset_log()

    github.publish_release("v2.0.0", target=github.repo.rev_parse("main"))
    stack.settle()

    assert {key: _panel(stack, key)["drift"] for key in ("FEAT-1", "FEAT-2")} == before
    assert [event["title"] for event in _releases(stack, "FEAT-2")] == ["Released in v2.0.0"]
    assert _releases(stack, "FEAT-1") == []
    assert stack.jira.writes() == [], "a release is shown, never written to Jira"
    # The payload named the commit itself, so GitHub was not asked about the tag.
    assert not any(path.startswith("/repos/acme/shop/commits/v2.0.0") for _m, path in github.api_requests)


def test_without_api_access_a_release_on_a_branch_name_is_kept_but_not_placed(stack: Stack) -> None:
    github = _setup(stack, token=False)
    github.push("FEAT-1: Coupons", {"src/coupons.py": "ON = 1\n"})
    github.publish_release("v1.0.0")  # target_commitish is "main": which commit is unknown
    github.publish_release("v1.0.1", target=github.repo.rev_parse("main"))
    stack.settle()

    assert [event["title"] for event in _releases(stack, "FEAT-1")] == ["Released in v1.0.1"]
    assert _panel(stack, "FEAT-1")["drift"] == "live"
