"""The FEAT-304 story: feature shipped Monday and moved to Done, reverted Wednesday 23:04, the
revert deployed at 23:31 — all through real webhooks, the real install and the real REST paths.
`connect-app demo`, the end-to-end tests, the browser tests and the README screenshots all
replay this one story."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from connect_app.sandbox.stack import OWNER_FIELD, STAKEHOLDERS, RepositoryConnection, Stack

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
REVERT_AT = datetime(2026, 11, 25, 23, 4, tzinfo=UTC)
REVERT_DEPLOYED_AT = datetime(2026, 11, 25, 23, 31, tzinfo=UTC)


@dataclass
class Story:
    connection: RepositoryConnection
    feature_merge: str
    revert: str | None = None


def seed_issues(stack: Stack) -> None:
    stack.jira.add_issue("FEAT-300", "Checkout reliability", issuetype="Epic", status="In Progress")
    stack.jira.add_issue(
        "FEAT-304", "Payment retry logic v2", status="Done", parent="FEAT-300",
        reporter=STAKEHOLDERS["reporter"][0], assignee=STAKEHOLDERS["assignee"][0],
        fields={OWNER_FIELD: {"accountId": STAKEHOLDERS["owner"][0]}},
    )
    stack.jira.add_issue("FEAT-305", "Retry analytics dashboard", status="In Progress", parent="FEAT-300")


def ship_feature(stack: Stack, *, settings: dict | None = None) -> Story:
    """Install, connect, merge the feature PR and deploy it Monday."""
    seed_issues(stack)
    stack.install()
    response = stack.admin("PUT", "/api/settings", {
        "default_policy": "comment", "business_owner_field": OWNER_FIELD, **(settings or {})})
    assert response.status_code == 200, response.text
    github = stack.start_github()
    connection = stack.connect_repository()
    repo = github.repo
    repo.commit("Initial checkout service", {"checkout/service.py": "def pay():\n    return True\n"}, when=MONDAY)
    github.push_branch()
    repo.branch("feat-304-payment-retry")
    repo.checkout("feat-304-payment-retry")
    repo.commit("Add payment retry with backoff", {"checkout/retry.py": "RETRIES = 3\n"}, when=MONDAY)
    number = github.open_pull_request("feat-304-payment-retry", "FEAT-304: Payment retry logic v2",
                                      "Retries failed card payments.", when=MONDAY)
    merge = github.merge_pull_request(number, "merge", when=MONDAY)
    github.deploy(merge, "production", when=MONDAY)
    stack.settle()
    return Story(connection=connection, feature_merge=merge)


def revert_and_deploy(stack: Stack, story: Story) -> str:
    github = stack.github
    assert github is not None
    github.repo.checkout(github.default_branch)
    revert = github.repo.revert(story.feature_merge, mainline=1, when=REVERT_AT)
    github.push_branch()
    github.deploy(revert, "production", when=REVERT_DEPLOYED_AT)
    stack.settle()
    story.revert = revert
    return revert
