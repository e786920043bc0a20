"""The FEAT-304 story on a loopback stack, through the real install and webhook paths.

Shared by the browser tests and `scripts/screenshots.py`: a payment-retry feature ships on
Monday, is marked Done, and is reverted in production late on Wednesday. Dates are relative to
`now` so the report's "last 48 hours" window catches the revert and its deployment. OPS-12 is
rolled back this morning (production redeployed to the release before it); FEAT-310's commit
message is hostile HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connect_app.sandbox.stack import OWNER_FIELD, STAKEHOLDERS, Stack

HOSTILE_TITLE = '<script>window.__pwned=1</script> "><img src=x onerror="window.__pwned=2">'


@dataclass
class Story:
    feature_sha: str
    merge_sha: str
    revert_sha: str
    hostile_sha: str
    shipped_at: datetime
    reverted_at: datetime
    redeployed_at: datetime


def seed_issues(stack: Stack) -> None:
    reporter, assignee, owner = (STAKEHOLDERS[r][0] for r in ("reporter", "assignee", "owner"))
    jira = stack.jira
    jira.add_issue("FEAT-300", "Checkout reliability", status="In Progress", issuetype="Epic")
    jira.add_issue("FEAT-304", "Payment retry logic v2", status="Done", parent="FEAT-300",
                   reporter=reporter, assignee=assignee, fields={OWNER_FIELD: {"accountId": owner}},
                   links=[("relates to", "FEAT-305")])
    jira.add_issue("FEAT-305", "Retry emails for failed payments", status="To Do", parent="FEAT-300")
    jira.add_issue("FEAT-310", "Checkout copy tweaks", status="Done", parent="FEAT-300")
    jira.add_issue("OPS-1", "Platform hardening", status="In Progress", issuetype="Epic")
    jira.add_issue("OPS-12", "Faster checkout page", status="Done", parent="OPS-1", reporter=reporter)


def build_story(stack: Stack, *, now: datetime | None = None) -> Story:
    """Seed Jira, install, connect a GitHub repository and replay the story. Call after
    `stack.seed_jira()`; leaves the worker settled."""
    now = now or datetime.now(UTC)
    seed_issues(stack)
    stack.install()
    # The business owner is a stakeholder the comment mentions, like the reporter and assignee.
    assert stack.admin("PUT", "/api/settings", {"business_owner_field": OWNER_FIELD}).status_code == 200
    github = stack.start_github()
    stack.connect_repository()
    repo = github.repo
    shipped_at = (now - timedelta(days=3)).replace(microsecond=0)
    reverted_at = (now - timedelta(hours=20)).replace(microsecond=0)
    redeployed_at = reverted_at + timedelta(minutes=27)

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

    hostile_sha = github.push(f"FEAT-310: {HOSTILE_TITLE}", {"checkout/copy.txt": "Pay now\n"},
                              when=shipped_at + timedelta(hours=4))
    github.deploy(hostile_sha, when=shipped_at + timedelta(hours=4, minutes=10))

    repo.checkout(repo.default_branch)
    revert_sha = repo.revert(merge_sha, mainline=1, when=reverted_at)
    github.push_branch()
    github.deploy(revert_sha, when=redeployed_at)

    # A second feature ships this morning and production is rolled back to the previous release.
    faster_sha = github.push("OPS-12: cache the checkout page", {"checkout/cache.py": "TTL = 60\n"},
                             when=now - timedelta(hours=10))
    github.deploy(faster_sha, when=now - timedelta(hours=9, minutes=40))
    github.deploy(revert_sha, when=now - timedelta(hours=6))
    stack.settle()
    return Story(feature_sha=feature_sha, merge_sha=merge_sha, revert_sha=revert_sha, hostile_sha=hostile_sha,
                 shipped_at=shipped_at, reverted_at=reverted_at, redeployed_at=redeployed_at)


def jira_fields(stack: Stack, key: str) -> dict[str, Any]:
    return stack.jira.issues[key]
