"""Jira-side defects a review found: outages shown as 500s, issue security ignored, flag links
by users who cannot edit, the reopen comment marked on someone else's comment, a long
Retry-After burning job attempts, and settings written without a row lock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import event, select

from connect_app.connect.descriptor import APP_KEY
from connect_app.connect.jira import JiraClient
from connect_app.sandbox.stack import ADMIN, STAKEHOLDERS, Stack
from connect_app.sandbox.story import revert_and_deploy, ship_feature
from connect_app.store.models import Job, utcnow
from connect_app.sync.apply import COMMENT_MARK

PRIYA = STAKEHOLDERS["reporter"][0]
DAN = STAKEHOLDERS["assignee"][0]
# A window around the story (Monday 2026-11-23 to Wednesday night), whatever today is.
REPORT = "/api/report?since=2026-11-20T00:00:00Z&until=2026-12-01T00:00:00Z&epics=all"


def _adf(text: str) -> dict[str, Any]:
    return {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


def _report_keys(stack: Stack, account_id: str) -> list[str]:
    response = stack.admin("GET", REPORT, account_id=account_id)
    assert response.status_code == 200, response.text
    return [f["key"] for g in response.json()["groups"] for f in g["features"]]


def _installed_with_issue(stack: Stack, key: str = "FEAT-50") -> None:
    stack.jira.add_issue(key, "Instalments", status="Done")
    stack.install()


# ---- 1. Jira outages are 502 jira_unavailable, never 500 --------------------------------------


def _is_jira_unavailable(response: requests.Response) -> None:
    assert response.status_code == 502, response.text
    assert response.json()["error"] == "jira_unavailable"


def test_panel_answers_502_when_jiras_permission_check_fails(stack: Stack) -> None:
    _installed_with_issue(stack)
    stack.jira.fail_next(500, count=2, path_contains="/permissions/check")  # one for each request below
    _is_jira_unavailable(stack.admin("GET", "/api/issues/FEAT-50/reality"))
    page = requests.get(stack.panel_url("FEAT-50"), timeout=30)
    assert page.status_code == 502
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Traceback" not in page.text and "Jira" in page.text


def test_report_answers_502_when_jira_search_or_permission_check_fails(stack: Stack) -> None:
    revert_and_deploy(stack, ship_feature(stack))
    assert _report_keys(stack, ADMIN) == ["FEAT-304"]
    stack.jira.fail_next(500, path_contains="/search/jql")
    _is_jira_unavailable(stack.admin("GET", REPORT))
    stack.jira.fail_next(500, path_contains="/permissions/check")
    _is_jira_unavailable(stack.admin("GET", REPORT))
    assert _report_keys(stack, ADMIN) == ["FEAT-304"]  # and back once Jira answers


def test_flag_links_answer_502_when_jira_fails(stack: Stack) -> None:
    _installed_with_issue(stack)
    stack.jira.fail_next(500, path_contains="/permissions/check")
    _is_jira_unavailable(stack.admin("GET", "/api/issues/FEAT-50/flags"))
    # Jira failing to read the issue is an outage too, not "no such issue".
    stack.jira.fail_next(500, path_contains="/issue/FEAT-50")
    _is_jira_unavailable(stack.admin("POST", "/api/issues/FEAT-50/flags", {"flag": "pay-later"}))


# ---- 2. issue-level security ------------------------------------------------------------------


def test_issue_security_hides_the_issue_from_the_report_and_the_panel(stack: Stack) -> None:
    revert_and_deploy(stack, ship_feature(stack))
    stack.jira.state.restrict_issue(PRIYA, "FEAT-304")  # Priya still browses the FEAT project
    assert _report_keys(stack, DAN) == ["FEAT-304"]
    assert _report_keys(stack, PRIYA) == []
    assert stack.admin("GET", "/api/issues/FEAT-304/reality", account_id=DAN).status_code == 200
    hidden = stack.admin("GET", "/api/issues/FEAT-304/reality", account_id=PRIYA)
    assert hidden.status_code == 404 and "FEAT-304" not in str(hidden.json().get("drift"))
    assert stack.admin("GET", "/api/issues/FEAT-304/flags", account_id=PRIYA).status_code == 404


# ---- 3. linking a flag needs EDIT_ISSUES ------------------------------------------------------


def test_a_browse_only_user_sees_flag_links_but_cannot_change_them(stack: Stack) -> None:
    _installed_with_issue(stack)
    stack.jira.state.restrict_to_browse(DAN, "FEAT")
    assert stack.admin("GET", "/api/issues/FEAT-50/flags", account_id=DAN).status_code == 200
    refused = stack.admin("POST", "/api/issues/FEAT-50/flags", {"flag": "pay-later"}, account_id=DAN)
    assert refused.status_code == 403, refused.text
    assert stack.admin("POST", "/api/issues/FEAT-50/flags", {"flag": "pay-later"}).status_code == 201
    assert stack.admin("DELETE", "/api/issues/FEAT-50/flags/pay-later", account_id=DAN).status_code == 403
    listed = stack.admin("GET", "/api/issues/FEAT-50/flags", account_id=DAN).json()
    assert listed["flags"] == ["pay-later"]  # the refused unlink changed nothing
    assert stack.admin("DELETE", "/api/issues/FEAT-50/flags/pay-later").status_code == 204


# ---- 4. only the app's own comments are ours --------------------------------------------------


def test_reopen_marks_the_apps_comment_not_a_colleagues_posted_at_the_same_moment(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    story = ship_feature(stack, settings={"projects": {"FEAT": {"policy": "reopen", "reopen_to": "Reopened"}}})
    real_transition = JiraClient.transition

    def transition_then_a_colleague_comments(self: JiraClient, key: str, transition_id: str, **kwargs: Any) -> None:
        real_transition(self, key, transition_id, **kwargs)
        with stack.jira.state.lock:
            stack.jira.state.new_comment(stack.jira.issues[key], DAN, _adf("Looking into the revert now."))

    monkeypatch.setattr(JiraClient, "transition", transition_then_a_colleague_comments)
    revert_and_deploy(stack, story)
    app_user = stack.jira.app_user(APP_KEY)
    comments = stack.jira.issues["FEAT-304"]["comments"]
    assert [c["author"] for c in comments] == [app_user, DAN]
    ours, colleagues = comments
    assert COMMENT_MARK in ours["properties"]
    assert COMMENT_MARK not in colleagues["properties"]


def test_recovery_reads_properties_of_the_apps_comments_only(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import connect_app.sync.apply as sync

    story = ship_feature(stack)
    real_settle = sync._settle_intent
    crashes = {"left": 1}

    def colleagues_comment_then_crash(*args: Any, **kwargs: Any) -> None:
        if crashes["left"]:
            crashes["left"] -= 1
            with stack.jira.state.lock:
                for n in range(3):
                    stack.jira.state.new_comment(stack.jira.issues["FEAT-304"], DAN, _adf(f"note {n}"))
            raise RuntimeError("process died after Jira answered, before our commit")
        real_settle(*args, **kwargs)

    monkeypatch.setattr(sync, "_settle_intent", colleagues_comment_then_crash)
    revert_and_deploy(stack, story)
    stack.jira.reset_log()
    with stack.svc.sessions() as session:
        for job in session.scalars(select(Job).where(Job.status == "queued")):
            job.run_after = utcnow()
        session.commit()
    stack.settle()
    comments = stack.jira.issues["FEAT-304"]["comments"]
    assert len(comments) == 4  # ours once, and Dan's three: nothing posted twice
    theirs = {c["id"] for c in comments if c["author"] == DAN}
    read = [c.path for c in stack.jira.requests_log if c.method == "GET" and "/comment/" in c.path
            and "/properties/" in c.path]
    assert read and not [p for p in read if p.split("/comment/")[1].split("/")[0] in theirs]


# ---- 5. a long Retry-After waits in the queue -------------------------------------------------


def test_an_hour_long_retry_after_requeues_the_sync_without_counting_an_attempt(stack: Stack) -> None:
    story = ship_feature(stack)
    stack.jira.fail_next(429, retry_after=3600, path_contains="/issue/FEAT-304")
    revert_and_deploy(stack, story)
    assert stack.jira.issues["FEAT-304"]["comments"] == []
    with stack.svc.sessions() as session:
        job = session.scalar(select(Job).where(Job.kind == "sync_issue", Job.status == "queued"))
        assert job is not None and job.payload["issue_key"] == "FEAT-304"
        assert job.attempts == 0
        run_after = job.run_after if job.run_after.tzinfo else job.run_after.replace(tzinfo=utcnow().tzinfo)
        assert abs(run_after - (utcnow() + timedelta(seconds=3600))) < timedelta(minutes=2)


# ---- 6. settings are read for update ----------------------------------------------------------


def test_settings_and_flag_links_read_the_tenant_row_for_update(stack: Stack) -> None:
    _installed_with_issue(stack)
    locked: list[str] = []

    def remember(_conn: Any, statement: Any, *_args: Any) -> None:
        if getattr(statement, "_for_update_arg", None) is not None and "tenants" in str(statement):
            locked.append(str(statement))

    event.listen(stack.svc.engine, "before_execute", remember)
    try:
        assert stack.admin("PUT", "/api/settings", {"default_policy": "observe"}).status_code == 200
        assert len(locked) == 1
        assert stack.admin("POST", "/api/issues/FEAT-50/flags", {"flag": "pay-later"}).status_code == 201
        assert len(locked) == 2
        assert stack.admin("DELETE", "/api/issues/FEAT-50/flags/pay-later").status_code == 204
        assert len(locked) == 3
    finally:
        event.remove(stack.svc.engine, "before_execute", remember)


def test_a_key_jira_does_not_know_leaves_the_report_whole(stack: Stack) -> None:
    """Jira refuses a whole `key in (...)` search when one key does not exist: a commit with a
    typo'd key (FEAT-777) must not turn the report into a 502 for everyone."""
    story = ship_feature(stack)
    github = stack.github
    assert github is not None
    github.repo.checkout(github.default_branch)
    github.repo.commit("FEAT-777: tidy retry logging", {"logging.txt": "tidy\n"},
                       when=story.week.revert_at - timedelta(minutes=5))
    github.push_branch()
    revert_and_deploy(stack, story)
    assert "FEAT-777" not in stack.jira.issues
    assert _report_keys(stack, ADMIN) == ["FEAT-304"]
    # Jira's refusals of the searches naming FEAT-777 are what this test is about; nothing else.
    assert stack.jira.violations and all("FEAT-777" in v for v in stack.jira.violations)
    stack.jira.violations.clear()
