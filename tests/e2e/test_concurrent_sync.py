"""Two workers on the same issue at once: one reconciles, the other is handed back to the queue,
and Jira gets one comment (PostgreSQL advisory lock across processes, a local lock within one)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, update

from connect_app.jobs import queue as jobs
from connect_app.sandbox.story import revert_and_deploy, ship_feature
from connect_app.store.models import IssueReality
from connect_app.sync.apply import sync_issue

pytestmark = pytest.mark.postgres


def test_concurrent_syncs_of_one_issue_post_one_comment(stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import connect_app.sync.apply as sync

    story = ship_feature(stack, settings={"projects": {"FEAT": {"policy": "observe"}}})
    revert_and_deploy(stack, story)  # drifted, but observe: nothing commented yet
    assert stack.jira.issues["FEAT-304"]["comments"] == []
    stack.admin("PUT", "/api/settings", {"default_policy": "comment"})
    stack.settle()
    with stack.svc.sessions() as session:  # pretend the reconciliation never ran
        session.execute(update(IssueReality).values(applied_property=None))
        session.commit()
        tenant_id = session.scalar(select(IssueReality.tenant_id))

    inside, release = threading.Event(), threading.Event()
    real = sync._reconcile_fields

    def slow_reconcile(*args, **kwargs):
        inside.set()
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(sync, "_reconcile_fields", slow_reconcile)
    outcomes: list[str] = []

    def run() -> None:
        try:
            sync_issue(stack.svc, tenant_id, "FEAT-304")
            outcomes.append("synced")
        except jobs.Retry:
            outcomes.append("handed back")

    first = threading.Thread(target=run)
    first.start()
    assert inside.wait(10)
    run()  # the second worker arrives while the first is talking to Jira
    release.set()
    first.join(10)
    assert sorted(outcomes) == ["handed back", "synced"]
    assert len(stack.jira.issues["FEAT-304"]["comments"]) == 1
