"""Live work never waits behind bulk work: a revert pushed while a backfill is reading history
reaches Jira before the backfill finishes (order, not seconds)."""

from __future__ import annotations

from typing import Any

import pytest

from connect_app.jobs import backfill, kinds
from connect_app.jobs.handlers import Handlers
from connect_app.jobs.queue import Job, Worker
from connect_app.sandbox.stack import Stack


def _recording_worker(stack: Stack, runs: list[tuple[str, dict[str, Any]]]) -> Worker:
    assert stack.svc is not None
    handlers = Handlers(stack.svc, sleep=lambda _s: None).mapping()

    def recorded(kind: str):  # type: ignore[no-untyped-def]
        def run(job: Job) -> None:
            handlers[kind](job)
            runs.append((kind, dict(job.payload)))
        return run

    return Worker(stack.svc.sessions, {kind: recorded(kind) for kind in handlers}, bulk_kinds=kinds.BULK)


def test_a_revert_pushed_during_a_backfill_reaches_jira_before_the_backfill_ends(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backfill, "SLICE_PAGES", 1)  # many short slices over a modest history
    monkeypatch.setattr(backfill, "SLICE_STEPS", 40)
    stack.jira.add_issue("FEAT-9", "Express checkout", status="Done")
    stack.install()
    github = stack.start_github()
    connection = stack.connect_repository()
    github.repo.commit("Initial shop", {"README.md": "shop\n"})
    github.push_branch()
    feature = github.push("FEAT-9: Express checkout", {"src/express.py": "ON = 1\n"})
    for n in range(250):
        github.repo.commit(f"Tidy {n}")
    github.push_branch()
    stack.settle()
    assert stack.jira.issues["FEAT-9"]["properties"]["system-reality"]["drift"] == "live"

    assert stack.admin("POST", f"/api/connections/{connection.id}/backfill", {}).status_code == 202
    runs: list[tuple[str, dict[str, Any]]] = []
    worker = _recording_worker(stack, runs)
    assert stack.app is not None
    with stack.app.app_context():
        assert worker.run_once() and runs[-1][0] == kinds.BACKFILL  # the backfill is under way
        github.repo.revert(feature)
        github.push_branch()
        worker.run_until_idle()

    order = [kind if kind != kinds.SYNC_ISSUE else f"sync {payload['issue_key']}" for kind, payload in runs]
    assert order.count(kinds.BACKFILL) >= 3, order
    last_slice = len(order) - 1 - order[::-1].index(kinds.BACKFILL)
    revert = order.index(kinds.DELIVERY)
    reached_jira = order.index("sync FEAT-9")
    assert reached_jira < last_slice, order
    assert kinds.BACKFILL not in order[revert:reached_jira], f"a backfill slice ran ahead of the revert: {order}"
    assert stack.jira.issues["FEAT-9"]["properties"]["system-reality"]["drift"] == "reverted"
    progress = stack.admin("GET", f"/api/connections/{connection.id}").json()["backfill"]
    assert progress["state"] == "done"
