"""Issue 11 item 7, through the real entry points: a policy switched on a project reaches the
issues already in drift, the dry run previews a policy before it is saved, every flag toggle
stays on the panel, a flag-off names its environment, and a hotfix counts from when it reached
the branch, not from its commit date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from connect_app.sandbox.stack import OWNER_FIELD, Stack
from connect_app.sandbox.story import revert_and_deploy, ship_feature

pytestmark = pytest.mark.postgres  # also runs against PostgreSQL in CI (flag events, policy catch-up)

OBSERVE = {"projects": {"FEAT": {"policy": "observe"}}}


def _reverted_under_observe(stack: Stack) -> None:
    story = ship_feature(stack, settings=OBSERVE)
    revert_and_deploy(stack, story)
    issue = stack.jira.issues["FEAT-304"]
    assert issue["properties"]["system-reality"]["drift"] == "reverted"
    assert "drift-reverted" not in issue["labels"] and issue["comments"] == []


def _settings(policy: str, **project: Any) -> dict[str, Any]:
    return {"default_policy": "comment", "business_owner_field": OWNER_FIELD,
            "projects": {"FEAT": {"policy": policy, **project}}}


def _dry_run_calls(stack: Stack, issue_key: str, settings: dict[str, Any] | None = None) -> list[str]:
    if settings is None:
        response = stack.admin("GET", "/api/dry-run?project=FEAT")
    else:
        response = stack.admin("POST", "/api/dry-run", {"project": "FEAT", "settings": settings})
    assert response.status_code == 200, response.text
    return next(p["calls"] for p in response.json()["issues"] if p["issue"] == issue_key)


def test_switching_observe_to_comment_labels_and_comments_issues_already_in_drift(stack: Stack) -> None:
    _reverted_under_observe(stack)
    assert stack.admin("PUT", "/api/settings", _settings("comment")).status_code == 200
    stack.settle()
    issue = stack.jira.issues["FEAT-304"]
    assert "drift-reverted" in issue["labels"]
    assert len(issue["comments"]) == 1
    assert _dry_run_calls(stack, "FEAT-304") == []  # the dry run no longer announces it
    # Later pushes leave it be: one comment per drift change.
    stack.github.push("Tidy the README", {"README.md": "shop, tidied\n"})
    stack.settle()
    assert len(stack.jira.issues["FEAT-304"]["comments"]) == 1


def test_switching_observe_to_reopen_reopens_on_the_next_push_too(stack: Stack) -> None:
    _reverted_under_observe(stack)
    # Saved, and a push lands before the worker gets to either: the push's recompute applies it.
    assert stack.admin("PUT", "/api/settings", _settings("reopen", reopen_to="Reopened")).status_code == 200
    stack.github.push("Tidy the README", {"README.md": "shop, tidied\n"})
    stack.settle()
    issue = stack.jira.issues["FEAT-304"]
    assert issue["status"] == "Reopened"
    assert "drift-reverted" in issue["labels"]
    assert len(issue["comments"]) == 1
    # And back to observe: the label goes, the comment stays.
    assert stack.admin("PUT", "/api/settings", _settings("observe")).status_code == 200
    stack.settle()
    assert "drift-reverted" not in stack.jira.issues["FEAT-304"]["labels"]
    assert len(stack.jira.issues["FEAT-304"]["comments"]) == 1


def test_the_dry_run_previews_a_policy_before_it_is_saved(stack: Stack) -> None:
    _reverted_under_observe(stack)
    writes_before = [c for c in stack.jira.requests_log if c.method != "GET"]
    assert _dry_run_calls(stack, "FEAT-304") == []
    preview = _dry_run_calls(stack, "FEAT-304", _settings("comment"))
    assert preview == ["Add the label drift-reverted",
                       "Comment explaining what happened, if it is Done"], preview
    assert "Reopen it with a comment explaining why, if it is Done" in _dry_run_calls(
        stack, "FEAT-304", _settings("reopen"))
    # Only a preview: nothing saved, nothing written to Jira.
    assert stack.admin("GET", "/api/settings").json()["projects"] == OBSERVE["projects"]
    stack.settle()
    assert [c for c in stack.jira.requests_log if c.method != "GET"] == writes_before
    bad = stack.admin("POST", "/api/dry-run", {"settings": {"default_policy": "shout"}})
    assert bad.status_code == 400 and set(bad.json()) >= {"error", "detail"}
    assert stack.admin("POST", "/api/dry-run", {"settings": {}, "project": "x; drop"}).status_code == 400


def _flag(stack: Stack, connection_id: str, token: str, on: bool, at: str, delivery: str = "") -> None:
    body = {"key": "feat-30-one-click", "name": "One-click checkout", "environment": "production", "on": on,
            "changed_at": at}
    response = requests.post(f"{stack.app_url}/flags/generic/{connection_id}", json=body, timeout=30,
                             headers={"Authorization": f"Bearer {token}", "X-Delivery-Id": f"flag-{at}{delivery}"})
    assert response.status_code == 202
    stack.settle()


def test_the_panel_keeps_every_toggle_and_flag_off_names_its_environment(stack: Stack) -> None:
    stack.jira.add_issue("FEAT-30", "One-click checkout", status="Done")
    stack.install()
    stack.start_github()
    connection = stack.connect_repository()
    toggles = [(False, "18:00"), (True, "19:00"), (False, "20:00"), (True, "21:00"), (False, "22:00")]
    for on, at in toggles:
        _flag(stack, connection.id, connection.deploy_token, on, f"2026-11-25T{at}:00Z")
    prop = stack.jira.issues["FEAT-30"]["properties"]["system-reality"]
    assert (prop["drift"], prop["environment"]) == ("flag-off", "production")
    panel = stack.admin("GET", "/api/issues/FEAT-30/reality")
    assert panel.status_code == 200, panel.text
    flags = [e for e in panel.json()["timeline"] if e["kind"] == "flag"]
    assert sorted((e["when"], "switched on in production" in e["title"]) for e in flags) == [
        (f"2026-11-25T{at}:00Z", on) for on, at in toggles]
    # The same event sent again (a new delivery of it) is one event.
    _flag(stack, connection.id, connection.deploy_token, False, "2026-11-25T22:00:00Z", "-again")
    assert len([e for e in stack.admin("GET", "/api/issues/FEAT-30/reality").json()["timeline"]
                if e["kind"] == "flag"]) == 5


def test_a_hotfix_written_before_done_but_pushed_after_counts(stack: Stack) -> None:
    ship_feature(stack)  # FEAT-304 went Done in Jira when the story began, just now
    github = stack.github
    written = datetime.now(UTC) - timedelta(hours=3)  # on a laptop, before the issue went Done
    github.push("hotfix: cap payment retries at 1", {"checkout/retry.py": "RETRIES = 1\n"}, when=written)
    github.deploy(github.repo.rev_parse("main"), "production")
    stack.settle()
    assert stack.jira.issues["FEAT-304"]["properties"]["system-reality"]["drift"] == "hotfixed"
    panel = stack.admin("GET", "/api/issues/FEAT-304/reality").json()
    assert [e for e in panel["timeline"] if e["kind"] == "hotfix"]


def test_a_finished_backfill_keeps_no_rate_limit_note(stack: Stack) -> None:
    from tests.e2e.test_backfill import _backfill_job, _make_due, _progress, _setup

    github, connection_id = _setup(stack, live_webhooks=False)
    assert stack.admin("POST", f"/api/connections/{connection_id}/backfill", {}).status_code == 202
    github.exhaust_rate_limit(900)
    stack.settle()
    assert "rate limit" in _progress(stack, connection_id)["note"]
    github.rate_limit.remaining = github.rate_limit.limit
    _make_due(stack, _backfill_job(stack).id)
    stack.settle()
    progress = _progress(stack, connection_id)
    assert progress["state"] == "done" and not progress.get("note"), progress
