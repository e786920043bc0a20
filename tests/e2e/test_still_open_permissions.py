"""'Still open' lists issues the app found with its own access. The panel shows a viewer only
those Jira lets them browse; the drift comment, read by everyone who sees the drifted issue,
leaves out every issue behind an issue security level."""

from __future__ import annotations

from connect_app.sandbox.stack import ADMIN, STAKEHOLDERS, Stack
from connect_app.sandbox.story import revert_and_deploy, ship_feature

DAN = STAKEHOLDERS["assignee"][0]
STAFF_ONLY = {"self": "https://example.atlassian.net/rest/api/3/securitylevel/10100", "id": "10100",
              "name": "Staff only", "description": "Only staff may see these issues"}


def _still_open(stack: Stack, account_id: str) -> list[str]:
    view = stack.admin("GET", "/api/issues/FEAT-304/reality", account_id=account_id)
    assert view.status_code == 200, view.text
    return [item["key"] for item in view.json()["still_open"]]


def test_the_panel_lists_only_open_issues_the_viewer_may_browse(stack: Stack) -> None:
    story = ship_feature(stack)
    stack.jira.add_issue("FEAT-306", "Retry incident runbook", links=[("blocks", "FEAT-304")])
    revert_and_deploy(stack, story)
    stack.jira.state.restrict_issue(DAN, "FEAT-305")  # a sibling under the same epic
    stack.jira.state.restrict_issue(DAN, "FEAT-306")  # a linked issue

    assert {"FEAT-305", "FEAT-306"} <= set(_still_open(stack, ADMIN))
    dan_sees = _still_open(stack, DAN)
    assert "FEAT-305" not in dan_sees and "FEAT-306" not in dan_sees
    view = stack.admin("GET", "/api/issues/FEAT-304/reality", account_id=DAN)
    assert "Retry analytics dashboard" not in view.text and "Retry incident runbook" not in view.text


def test_the_drift_comment_leaves_out_open_issues_behind_a_security_level(stack: Stack) -> None:
    story = ship_feature(stack)
    stack.jira.issues["FEAT-305"]["fields"]["security"] = STAFF_ONLY  # a sibling under the same epic
    stack.jira.add_issue("FEAT-306", "Retry incident runbook", links=[("blocks", "FEAT-304")],
                         fields={"security": STAFF_ONLY})
    stack.jira.add_issue("FEAT-307", "Retry settings page", status="In Progress", parent="FEAT-300")
    revert_and_deploy(stack, story)

    comments = stack.jira.issues["FEAT-304"]["comments"]
    assert len(comments) == 1
    body = str(comments[0]["body"])
    assert "FEAT-307" in body and "Retry settings page" in body
    for hidden in ("FEAT-305", "Retry analytics dashboard", "FEAT-306", "Retry incident runbook"):
        assert hidden not in body


def test_the_features_own_open_sub_tasks_are_still_open_work(stack: Stack) -> None:
    story = ship_feature(stack)
    stack.jira.add_issue("FEAT-308", "Make card retries idempotent", issuetype="Sub-task", parent="FEAT-304",
                         status="In Progress")
    stack.jira.add_issue("FEAT-309", "Retry backoff settings", issuetype="Sub-task", parent="FEAT-304",
                         status="Done")
    revert_and_deploy(stack, story)

    view = stack.admin("GET", "/api/issues/FEAT-304/reality").json()
    whys = {item["key"]: item["why"] for item in view["still_open"]}
    assert whys.get("FEAT-308") == "a sub-task of FEAT-304", view["still_open"]
    assert "FEAT-309" not in whys  # done work is not open work
    assert "Make card retries idempotent" in str(stack.jira.issues["FEAT-304"]["comments"][0]["body"])
