"""The FEAT-304 story, through real webhooks, the real install and the real REST paths.

`build_story` tells the whole of it relative to now, for `connect-app demo`, the browser tests
and the README screenshots alike: payment retry v2 (FEAT-304) ships three days ago and is Done;
late yesterday the on-call engineer reverts it and the revert goes live about 20 hours ago;
OPS-12 ships this morning and production is rolled back to the release before it; a hotfix
changes saved cards (FEAT-306) after it was marked Done; the pay-later flag (FEAT-307) is
switched off; and a bug (BUG-901) is opened since. So the report's "last 48 hours" and JQL
`driftSince >= -2d` find it on any day.

The end-to-end tests replay its first part in a fixed week (`ship_feature`, `revert_and_deploy`:
shipped Monday 23 Nov 2026, reverted Wednesday 23:04, deployed 23:31), so their dates are stable."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests

from connect_app.sandbox.stack import OWNER_FIELD, STAKEHOLDERS, RepositoryConnection, Stack

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
REVERT_AT = datetime(2026, 11, 25, 23, 4, tzinfo=UTC)
REVERT_DEPLOYED_AT = datetime(2026, 11, 25, 23, 31, tzinfo=UTC)


@dataclass(frozen=True)
class StoryWeek:
    monday: datetime
    revert_at: datetime
    revert_deployed_at: datetime


THE_WEEK = StoryWeek(MONDAY, REVERT_AT, REVERT_DEPLOYED_AT)


@dataclass
class Story:
    connection: RepositoryConnection
    feature_merge: str
    revert: str | None = None
    week: StoryWeek = THE_WEEK


def seed_issues(stack: Stack) -> None:
    stack.jira.add_issue("FEAT-300", "Checkout reliability", issuetype="Epic", status="In Progress")
    stack.jira.add_issue(
        "FEAT-304", "Payment retry logic v2", status="Done", parent="FEAT-300",
        reporter=STAKEHOLDERS["reporter"][0], assignee=STAKEHOLDERS["assignee"][0],
        fields={OWNER_FIELD: {"accountId": STAKEHOLDERS["owner"][0]}},
    )
    stack.jira.add_issue("FEAT-305", "Retry analytics dashboard", status="In Progress", parent="FEAT-300")


def install_for_the_story(stack: Stack, settings: dict | None = None) -> None:
    """The story's issues, the app installed, and the settings the story runs with (a comment on
    drift, naming the business owner), whichever host the repository is on."""
    seed_issues(stack)
    stack.install()
    response = stack.admin("PUT", "/api/settings", {
        "default_policy": "comment", "business_owner_field": OWNER_FIELD, **(settings or {})})
    assert response.status_code == 200, response.text


def ship_feature(stack: Stack, *, settings: dict | None = None, week: StoryWeek = THE_WEEK) -> Story:
    """Install, connect, merge the feature PR and deploy it Monday."""
    monday = week.monday
    install_for_the_story(stack, settings)
    github = stack.start_github()
    connection = stack.connect_repository()
    repo = github.repo
    repo.commit("Initial checkout service", {"checkout/service.py": "def pay():\n    return True\n"}, when=monday)
    github.push_branch()
    repo.branch("feat-304-payment-retry")
    repo.checkout("feat-304-payment-retry")
    repo.commit("Add payment retry with backoff", {"checkout/retry.py": "RETRIES = 3\n"}, when=monday)
    number = github.open_pull_request("feat-304-payment-retry", "FEAT-304: Payment retry logic v2",
                                      "Retries failed card payments.", when=monday)
    merge = github.merge_pull_request(number, "merge", when=monday)
    github.deploy(merge, "production", when=monday)
    stack.settle()
    return Story(connection=connection, feature_merge=merge, week=week)


def revert_and_deploy(stack: Stack, story: Story) -> str:
    github = stack.github
    assert github is not None
    github.repo.checkout(github.default_branch)
    revert = github.repo.revert(story.feature_merge, mainline=1, when=story.week.revert_at)
    github.push_branch()
    github.deploy(revert, "production", when=story.week.revert_deployed_at)
    stack.settle()
    story.revert = revert
    return revert


# ---- the whole story, relative to now ------------------------------------------------------

HOSTILE_TITLE = '<script>window.__pwned=1</script> "><img src=x onerror="window.__pwned=2">'
ON_CALL = "Sam Oncall <sam.oncall@example.com>"
REVERT_REASON = "Card retries charged some customers twice; pulling it until payments are idempotent."
PAY_LATER_FLAG = "pay-later"


@dataclass
class WholeStory:
    feature_sha: str
    merge_sha: str
    revert_sha: str
    hostile_sha: str
    hotfix_sha: str
    shipped_at: datetime
    reverted_at: datetime
    redeployed_at: datetime
    connection: RepositoryConnection


def _seed_the_rest(stack: Stack, shipped_at: datetime) -> None:
    reporter = STAKEHOLDERS["reporter"][0]
    done_then = {"created": shipped_at.isoformat()}  # Done since it shipped: "after Done" is judged from then
    jira = stack.jira
    jira.add_issue("FEAT-302", "Payment options", status="In Progress", issuetype="Epic")
    jira.add_issue("FEAT-306", "Saved cards", status="Done", parent="FEAT-302", reporter=reporter, fields=done_then)
    jira.add_issue("FEAT-307", "Pay later at checkout", status="Done", parent="FEAT-302", reporter=reporter,
                   fields=done_then)
    jira.add_issue("FEAT-310", "Checkout copy tweaks", status="Done", parent="FEAT-300", fields=done_then)
    jira.add_issue("OPS-1", "Platform hardening", status="In Progress", issuetype="Epic")
    jira.add_issue("OPS-12", "Faster checkout page", status="Done", parent="OPS-1", reporter=reporter)


def build_story(stack: Stack, *, now: datetime | None = None) -> WholeStory:
    """Seed Jira, install, connect a GitHub repository and replay the whole story. Call after
    `stack.seed_jira()`; leaves the worker settled."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    shipped_at = now - timedelta(days=3)
    reverted_at = now - timedelta(hours=20, minutes=27)
    redeployed_at = reverted_at + timedelta(minutes=27)  # the revert goes live 20 hours ago
    seed_issues(stack)
    _seed_the_rest(stack, shipped_at)
    stack.install()
    # The business owner is a stakeholder the comment mentions, like the reporter and assignee.
    assert stack.admin("PUT", "/api/settings", {"business_owner_field": OWNER_FIELD}).status_code == 200
    github = stack.start_github()
    connection = stack.connect_repository()
    repo = github.repo

    base = repo.commit("Initial checkout service", {"checkout/app.py": "print('checkout')\n"},
                       when=shipped_at - timedelta(days=7))
    github.push_branch()
    github.deploy(base, when=shipped_at - timedelta(days=7, minutes=-5))

    repo.branch("feature/FEAT-304-payment-retry")
    repo.checkout("feature/FEAT-304-payment-retry")
    feature_sha = repo.commit("FEAT-304: retry failed payments with exponential backoff",
                              {"checkout/retry.py": "ATTEMPTS = 5\n"}, when=shipped_at - timedelta(hours=2))
    number = github.open_pull_request("feature/FEAT-304-payment-retry", "FEAT-304 Payment retry logic v2",
                                      when=shipped_at - timedelta(hours=1, minutes=30))
    merge_sha = github.merge_pull_request(number, when=shipped_at - timedelta(minutes=20))
    github.deploy(merge_sha, when=shipped_at)

    cards_sha = github.push("FEAT-306: remember saved cards", {"checkout/cards.py": "SAVED = True\n"},
                            when=shipped_at + timedelta(hours=1))
    github.deploy(cards_sha, when=shipped_at + timedelta(hours=1, minutes=10))
    hostile_sha = github.push(f"FEAT-310: {HOSTILE_TITLE}", {"checkout/copy.txt": "Pay now\n"},
                              when=shipped_at + timedelta(hours=4))
    github.deploy(hostile_sha, when=shipped_at + timedelta(hours=4, minutes=10))

    # Late yesterday: the on-call engineer reverts FEAT-304 and deploys the revert.
    repo.checkout(repo.default_branch)
    revert_sha = repo.revert(merge_sha, mainline=1, author=ON_CALL, when=reverted_at, message=(
        f'Revert "FEAT-304 Payment retry logic v2"\n\nThis reverts commit {merge_sha}.\n\n{REVERT_REASON}\n'))
    github.push_branch()
    github.deploy(revert_sha, when=redeployed_at)

    # Overnight a hotfix changes saved cards, which Jira has called Done for three days.
    hotfix_sha = github.push("hotfix: expired saved cards crash the payment page",
                             {"checkout/cards.py": "SAVED = True\nSKIP_EXPIRED = True\n"}, author=ON_CALL,
                             when=now - timedelta(hours=14))
    github.deploy(hotfix_sha, when=now - timedelta(hours=13, minutes=50))

    # This morning OPS-12 ships, and production is rolled back to the release before it.
    faster_sha = github.push("OPS-12: cache the checkout page", {"checkout/cache.py": "TTL = 60\n"},
                             when=now - timedelta(hours=10))
    github.deploy(faster_sha, when=now - timedelta(hours=9, minutes=40))
    github.deploy(hotfix_sha, when=now - timedelta(hours=6))

    # The pay-later flag is switched off in production, and a bug comes in about the retries.
    flag = {"key": PAY_LATER_FLAG, "name": "FEAT-307 Pay later", "environment": "production", "on": False,
            "changed_at": (now - timedelta(hours=5)).isoformat()}
    answer = requests.post(f"{stack.app_url}/flags/generic/{connection.id}", json=flag, timeout=30,
                           headers={"Authorization": f"Bearer {connection.deploy_token}"})
    assert answer.status_code == 202, answer.text
    stack.jira.add_issue("BUG-901", "Customers charged twice after a failed payment", issuetype="Bug",
                         reporter=STAKEHOLDERS["owner"][0], links=[("relates to", "FEAT-304")],
                         fields={"created": (now - timedelta(hours=3)).isoformat()})
    stack.settle()
    return WholeStory(feature_sha=feature_sha, merge_sha=merge_sha, revert_sha=revert_sha, hostile_sha=hostile_sha,
                      hotfix_sha=hotfix_sha, shipped_at=shipped_at, reverted_at=reverted_at,
                      redeployed_at=redeployed_at, connection=connection)
