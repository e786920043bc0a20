"""The heart of the product, end to end: the FEAT-304 revert reaches Jira as drift."""

from __future__ import annotations

import pytest

from connect_app.sandbox.stack import STAKEHOLDERS
from connect_app.sandbox.story import revert_and_deploy, ship_feature

pytestmark = pytest.mark.postgres  # the whole story also runs against PostgreSQL in CI


def _comments(stack, key):
    return stack.jira.issues[key]["comments"]


def test_shipped_feature_is_live_and_not_commented(stack) -> None:
    ship_feature(stack)
    issue = stack.jira.issues["FEAT-304"]
    assert issue["properties"]["system-reality"]["drift"] == "live"
    assert not any(label.startswith("drift-") for label in issue["labels"])
    assert _comments(stack, "FEAT-304") == []


def test_revert_deployed_makes_feat304_reverted_with_one_comment(stack) -> None:
    story = ship_feature(stack)
    revert = revert_and_deploy(stack, story)

    issue = stack.jira.issues["FEAT-304"]
    prop = issue["properties"]["system-reality"]
    assert prop["drift"] == "reverted"
    assert prop["since"].startswith("2026-11-25T23:31")
    assert prop["environment"] == "production"
    assert prop["changes"] >= 1 and prop["reverted"] == prop["changes"]
    assert "drift-reverted" in issue["labels"]
    comments = _comments(stack, "FEAT-304")
    assert len(comments) == 1
    text = str(comments[0]["body"])
    assert revert[:7] in text
    mentioned = {account for account, _name in STAKEHOLDERS.values()}
    assert mentioned <= {n["attrs"]["id"] for n in _mentions(comments[0]["body"])}

    # The epic FEAT-300 carries its features' roll-up in the same property (INTERFACES section 3).
    assert stack.search("drift = reverted AND issuetype != Epic") == ["FEAT-304"]
    assert stack.search("driftedChildren > 0") == ["FEAT-300"]
    # The story's revert went live on 25 November: older than two days, for the feature and its epic.
    assert stack.search("driftSince >= -2d") == []
    assert sorted(stack.search('driftSince >= "2026-11-25"')) == ["FEAT-300", "FEAT-304"]


def test_redelivering_every_webhook_makes_zero_jira_writes(stack) -> None:
    story = ship_feature(stack)
    revert_and_deploy(stack, story)
    stack.jira.reset_log()
    for delivery in list(stack.github.deliveries):
        stack.github.redeliver(delivery.guid)
    stack.settle()
    assert stack.jira.writes() == []
    assert len(_comments(stack, "FEAT-304")) == 1


def _mentions(node):
    if isinstance(node, dict):
        if node.get("type") == "mention":
            yield node
        for child in node.get("content", []) or []:
            yield from _mentions(child)


def test_everything_arriving_before_the_worker_runs_still_tells_the_deployed_truth(stack) -> None:
    """Deliveries that pile up (a worker restart, a burst) must not let the app judge a revert
    before it knows which deployment contains it: the one comment names production and 23:31."""
    from connect_app.sandbox.story import MONDAY, REVERT_AT, REVERT_DEPLOYED_AT, seed_issues

    seed_issues(stack)
    stack.install()
    github = stack.start_github()
    stack.connect_repository()
    repo = github.repo
    repo.commit("Initial checkout service", {"checkout/service.py": "x = 1\n"}, when=MONDAY)
    github.push_branch()
    feature = github.push("FEAT-304: payment retry v2", {"checkout/retry.py": "RETRIES = 3\n"}, when=MONDAY)
    github.deploy(feature, "production", when=MONDAY)
    revert = repo.revert(feature, when=REVERT_AT)
    github.push_branch()
    github.deploy(revert, "production", when=REVERT_DEPLOYED_AT)
    stack.settle()

    prop = stack.jira.issues["FEAT-304"]["properties"]["system-reality"]
    assert (prop["drift"], prop["environment"]) == ("reverted", "production")
    assert prop["since"].startswith("2026-11-25T23:31")
    comments = stack.jira.issues["FEAT-304"]["comments"]
    assert len(comments) == 1
    # When, as a date node each reader sees in their own zone (no UTC clock in the words).
    body = comments[0]["body"]
    dates = [n for p in body["content"] for n in p.get("content", []) if n["type"] == "date"]
    assert [d["attrs"]["timestamp"] for d in dates] == [str(int(REVERT_DEPLOYED_AT.timestamp() * 1000))]
    assert "UTC" not in str(body)
