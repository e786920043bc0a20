"""The FEAT-304 story: feature shipped Monday and moved to Done, reverted Wednesday 23:04, the
revert deployed at 23:31 — all through real webhooks, the real install and the real REST paths.
`connect-app demo` and the end-to-end tests replay it (the tests in a fixed week, so their dates
are stable; the demo in the latest such week, so the report's last-48-hours view is not empty).
The browser tests and README screenshots tell the same story with a few more features around it
(`tests/browser/feat304_story.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connect_app.sandbox.stack import OWNER_FIELD, STAKEHOLDERS, RepositoryConnection, Stack

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
REVERT_AT = datetime(2026, 11, 25, 23, 4, tzinfo=UTC)
REVERT_DEPLOYED_AT = datetime(2026, 11, 25, 23, 31, tzinfo=UTC)


@dataclass(frozen=True)
class StoryWeek:
    monday: datetime
    revert_at: datetime
    revert_deployed_at: datetime

    @classmethod
    def latest_before(cls, now: datetime) -> StoryWeek:
        """The most recent week whose Wednesday 23:31 UTC has already passed."""
        wednesday = (now - timedelta(days=(now.weekday() - 2) % 7)).replace(
            hour=23, minute=31, second=0, microsecond=0)
        if wednesday > now:
            wednesday -= timedelta(days=7)
        monday = (wednesday - timedelta(days=2)).replace(hour=10, minute=0)
        return cls(monday=monday, revert_at=wednesday.replace(minute=4), revert_deployed_at=wednesday)


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


def ship_feature(stack: Stack, *, settings: dict | None = None, week: StoryWeek = THE_WEEK) -> Story:
    """Install, connect, merge the feature PR and deploy it Monday."""
    monday = week.monday
    seed_issues(stack)
    stack.install()
    response = stack.admin("PUT", "/api/settings", {
        "default_policy": "comment", "business_owner_field": OWNER_FIELD, **(settings or {})})
    assert response.status_code == 200, response.text
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
