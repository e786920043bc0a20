"""What the admin page asks of the app, through HTTP: Jira's lists for the pickers, which
statuses count as Done per project, a pasted repository address, and the flag-source test
delivery, each refusing what it should."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import requests

from connect_app.sandbox.stack import Stack
from connect_app.sandbox.story import revert_and_deploy, ship_feature


def test_pickers_list_what_jira_has(stack: Stack) -> None:
    stack.seed_jira()
    stack.install()
    fields = stack.admin("GET", "/api/jira/people-fields")
    assert fields.status_code == 200, fields.text
    assert fields.json() == [{"id": "customfield_10050", "name": "Business owner", "multiple": False},
                             {"id": "customfield_10051", "name": "Product owners", "multiple": True}]
    assert stack.admin("GET", "/api/jira/projects").json() == [
        {"key": "FEAT", "name": "Checkout features"}, {"key": "OPS", "name": "Operations"}]
    statuses = stack.admin("GET", "/api/jira/projects/FEAT/statuses").json()
    assert [(s["name"], s["done"]) for s in statuses] == [
        ("To Do", False), ("In Progress", False), ("Done", True), ("Reopened", False)]
    stack.jira.add_issue("FEAT-300", "Checkout reliability", issuetype="Epic")
    stack.jira.add_issue("FEAT-301", "Saved cards")
    assert stack.admin("GET", "/api/jira/epics?project=FEAT").json() == [
        {"key": "FEAT-300", "summary": "Checkout reliability"}]
    assert stack.admin("GET", "/api/jira/projects/NOPE/statuses").status_code == 404
    for bad in ("/api/jira/projects/feat;x/statuses", "/api/jira/epics?project=x%20OR%201=1", "/api/jira/epics"):
        answer = stack.admin("GET", bad)
        assert answer.status_code == 400 and set(answer.json()) == {"error", "detail"}, bad
    assert stack.jira.violations == []


def test_pickers_are_for_jira_admins_only(stack: Stack) -> None:
    stack.seed_jira()
    stack.install()
    stack.jira.add_user("557058:viewer", "Val Viewer")
    for path in ("/api/jira/people-fields", "/api/jira/projects", "/api/jira/projects/FEAT/statuses",
                 "/api/jira/epics?project=FEAT"):
        assert stack.admin("GET", path, account_id="557058:viewer").status_code == 403, path
        assert requests.get(f"{stack.app_url}{path}", timeout=30).status_code == 401, path


def test_statuses_chosen_as_done_decide_which_issues_get_a_comment(stack: Stack) -> None:
    # FEAT's admin says only "In Progress" counts as Done: FEAT-304, in Jira's Done, gets no comment.
    story = ship_feature(stack, settings={"projects": {"FEAT": {"policy": "comment",
                                                                 "done_statuses": ["In Progress"]}}})
    revert_and_deploy(stack, story)
    issue = stack.jira.issues["FEAT-304"]
    assert "drift-reverted" in issue["labels"] and issue["comments"] == []
    # Back to Jira's Done category: saved, and the issue in drift gets its comment now.
    assert stack.admin("PUT", "/api/settings", {"projects": {"FEAT": {"policy": "comment"}}}).status_code == 200
    stack.settle()
    assert len(stack.jira.issues["FEAT-304"]["comments"]) == 1
    bad = stack.admin("PUT", "/api/settings", {"projects": {"FEAT": {"policy": "comment", "done_statuses": "Done"}}})
    assert bad.status_code == 400 and "done_statuses" in bad.json()["detail"]


def test_a_pasted_repository_address_is_read_as_owner_and_name(stack: Stack) -> None:
    stack.seed_jira()
    stack.install()
    github = stack.start_github()
    body = {"provider": "github", "repository": "https://github.com/acme/shop.git", "api_url": github.api_url}
    created = stack.admin("POST", "/api/connections", body)
    assert created.status_code == 201, created.text
    assert [c["repository"] for c in stack.admin("GET", "/api/connections").json()] == ["acme/shop"]
    refused = stack.admin("POST", "/api/connections", {**body, "repository": "https://github.com/"})
    assert refused.status_code == 400
    assert "https://github.com/owner/name" in refused.json()["detail"]
    far = stack.admin("POST", "/api/connections", {**body, "repository": "acme/shop",
                                                   "api_url": "https://github.internal.example/api/v3"})
    assert far.status_code == 400 and "ALLOWED_" not in far.json()["detail"]
    assert "ask whoever runs System Reality" in far.json()["detail"]


def _connection(stack: Stack) -> str:
    stack.seed_jira()
    stack.install()
    stack.start_github()
    return stack.connect_repository().id


def test_a_test_delivery_proves_the_flag_url_reaches_the_app(stack: Stack) -> None:
    connection = _connection(stack)
    for provider in ("launchdarkly", "unleash", "generic"):
        answer = stack.admin("POST", f"/api/connections/{connection}/test-delivery", {"provider": provider})
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["reached"] is True, result
        assert result["url"] == f"{stack.app_url}/flags/{provider}/{connection}"
    # Nothing was stored or processed: a test is no flag change.
    assert stack.admin("GET", "/api/deliveries").json() == []
    assert stack.admin("POST", f"/api/connections/{connection}/test-delivery",
                       {"provider": "split"}).status_code == 400
    assert stack.admin("POST", "/api/connections/cnope/test-delivery", {}).status_code == 404


def test_a_test_delivery_that_cannot_reach_the_app_says_whom_to_ask(stack: Stack,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    connection = _connection(stack)
    assert stack.svc is not None
    monkeypatch.setattr(stack.svc, "settings", replace(stack.svc.settings, app_base_url="http://127.0.0.1:9"))
    result = stack.admin("POST", f"/api/connections/{connection}/test-delivery", {"provider": "launchdarkly"}).json()
    assert result["reached"] is False
    assert "did not reach System Reality at http://127.0.0.1:9/flags/launchdarkly/" in result["message"]
    assert "Ask whoever runs System Reality" in result["message"]


def test_a_forged_test_delivery_is_refused(stack: Stack) -> None:
    connection = _connection(stack)
    body = json.dumps({"systemRealityTest": "x"})
    answer = requests.post(f"{stack.app_url}/flags/generic/{connection}", data=body, timeout=30,
                           headers={"Content-Type": "application/json", "X-System-Reality-Test": "sha256=00"})
    assert answer.status_code == 401 and answer.json()["error"] == "bad_signature"


def test_the_dry_run_narrows_to_one_epics_features(stack: Stack) -> None:
    ship_feature(stack)  # FEAT-304, a child of the epic FEAT-300
    stack.jira.add_issue("FEAT-20", "Gift cards", status="Done")
    stack.github.push("FEAT-20: gift cards", {"cards.py": "ON = 1\n"})
    stack.settle()

    def issues(query: str) -> list[str]:
        answer = stack.admin("GET", f"/api/dry-run?{query}")
        assert answer.status_code == 200, answer.text
        return [plan["issue"] for plan in answer.json()["issues"]]

    assert issues("project=FEAT") == ["FEAT-20", "FEAT-304"]
    assert issues("project=FEAT&epic=FEAT-300") == ["FEAT-304"]
    preview = stack.admin("POST", "/api/dry-run", {"settings": {}, "epic": "FEAT-300"}).json()
    assert [plan["issue"] for plan in preview["issues"]] == ["FEAT-304"]
    assert stack.admin("GET", "/api/dry-run?epic=FEAT-300%20OR%201%3D1").status_code == 400


def test_an_unreachable_api_address_is_named_on_the_connection(stack: Stack) -> None:
    stack.seed_jira()
    stack.install()
    created = stack.admin("POST", "/api/connections", {"provider": "github", "repository": "acme/shop",
                                                       "api_url": "http://127.0.0.1:9", "token": "ghp_example"})
    assert created.status_code == 201, created.text
    connection = created.json()["id"]
    assert stack.admin("POST", f"/api/connections/{connection}/backfill", {}).status_code == 202
    stack.settle()
    progress = stack.admin("GET", f"/api/connections/{connection}").json()["backfill"]
    assert progress["state"] == "failed", progress
    assert "GitHub did not answer at http://127.0.0.1:9: check the API address" in progress["note"]
    assert "ALLOWED_" not in progress["note"]


def test_the_dry_run_refuses_what_is_not_a_project_or_epic_key(stack: Stack) -> None:
    stack.seed_jira()
    stack.install()
    for query in ("project=FE%25", "project=feat", "epic=FEAT", "epic=FEAT-0"):
        answer = stack.admin("GET", f"/api/dry-run?{query}")
        assert answer.status_code == 400 and set(answer.json()) == {"error", "detail"}, query
    assert stack.admin("GET", "/api/dry-run?project=FEAT").status_code == 200
