"""Live work never waits behind bulk work: a revert pushed while a backfill is reading history
reaches Jira before the backfill finishes, and before the backfill slice in hand would have
ended by its page, step or time limits (order, not seconds)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from connect_app.jobs import backfill, kinds
from connect_app.jobs.handlers import Handlers
from connect_app.jobs.queue import Job, Worker
from connect_app.sandbox.github.simulator import GitHubSimulator
from connect_app.sandbox.stack import RepositoryConnection, Stack
from connect_app.store.models import Connection

Run = tuple[str, dict[str, Any], Any]


def _recording_worker(stack: Stack, runs: list[Run], noted: Callable[[], Any] = lambda: None) -> Worker:
    """A worker that notes each job it ran, and `noted()` as it stood when the job ended."""
    assert stack.svc is not None
    handlers = Handlers(stack.svc, sleep=lambda _s: None).mapping()

    def recorded(kind: str):  # type: ignore[no-untyped-def]
        def run(job: Job) -> None:
            handlers[kind](job)
            runs.append((kind, dict(job.payload), noted()))
        return run

    return Worker(stack.svc.sessions, {kind: recorded(kind) for kind in handlers}, bulk_kinds=kinds.BULK)


def shop_with_feat_9(stack: Stack, tidy_commits: int) -> tuple[GitHubSimulator, RepositoryConnection, str]:
    """FEAT-9 shipped and live in Jira, then `tidy_commits` commits; returns FEAT-9's change."""
    stack.jira.add_issue("FEAT-9", "Express checkout", status="Done")
    stack.install()
    github = stack.start_github()
    connection = stack.connect_repository()
    github.repo.commit("Initial shop", {"README.md": "shop\n"})
    github.push_branch()
    feature = github.push("FEAT-9: Express checkout", {"src/express.py": "ON = 1\n"})
    for n in range(tidy_commits):
        github.repo.commit(f"Tidy {n}")
    github.push_branch()
    stack.settle()
    assert _feat_9(stack) == "live"
    return github, connection, feature


def _feat_9(stack: Stack) -> str | None:
    return stack.jira.issues["FEAT-9"]["properties"]["system-reality"]["drift"]


def _reverted_at(runs: list[Run]) -> Any:
    """What was noted when the first job after which Jira says FEAT-9 is reverted ended."""
    return next(noted for _kind, _payload, (drift, noted) in runs if drift == "reverted")


def test_a_revert_pushed_during_a_backfill_reaches_jira_before_the_backfill_ends(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backfill, "SLICE_PAGES", 1)  # many short slices over a modest history
    monkeypatch.setattr(backfill, "SLICE_STEPS", 40)
    github, connection, feature = shop_with_feat_9(stack, 250)
    assert stack.admin("POST", f"/api/connections/{connection.id}/backfill", {}).status_code == 202
    runs: list[Run] = []
    worker = _recording_worker(stack, runs)
    assert stack.app is not None
    with stack.app.app_context():
        assert worker.run_once() and runs[-1][0] == kinds.BACKFILL  # the backfill is under way
        github.repo.revert(feature)
        github.push_branch()
        worker.run_until_idle()

    order = [kind if kind != kinds.SYNC_ISSUE else f"sync {payload['issue_key']}" for kind, payload, _ in runs]
    assert order.count(kinds.BACKFILL) >= 3, order
    last_slice = len(order) - 1 - order[::-1].index(kinds.BACKFILL)
    revert = order.index(kinds.DELIVERY)
    reached_jira = order.index("sync FEAT-9")
    assert reached_jira < last_slice, order
    assert kinds.BACKFILL not in order[revert:reached_jira], f"a backfill slice ran ahead of the revert: {order}"
    assert _feat_9(stack) == "reverted"
    progress = stack.admin("GET", f"/api/connections/{connection.id}").json()["backfill"]
    assert progress["state"] == "done"


def test_a_revert_pushed_while_a_slice_reads_reaches_jira_before_the_slice_would_end(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """A slice that may read every page of the listing (no page or time limit within reach) ends
    after the page in hand once the revert's delivery is waiting: Jira hears of the revert after
    page 2 of 3, and the backfill goes on from page 3 afterwards."""
    monkeypatch.setattr(backfill, "SLICE_SECONDS", 3600.0)
    github, connection, feature = shop_with_feat_9(stack, 200)  # 202 commits: 3 pages of the listing
    api = github.rest_app
    assert api is not None
    inner: Callable[..., Iterable[bytes]] = api.wsgi_app
    reverted: list[str] = []

    def revert_while_page_two_is_read(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"].endswith("/commits") and "page=2" in environ.get("QUERY_STRING", "") and not reverted:
            reverted.append(github.repo.revert(feature))
            github.push_branch()
        return inner(environ, start_response)

    api.wsgi_app = revert_while_page_two_is_read
    asked_before = len(github.api_requests)
    assert stack.admin("POST", f"/api/connections/{connection.id}/backfill", {}).status_code == 202
    runs: list[Run] = []

    def listing_pages() -> int:
        return sum(1 for _method, path in github.api_requests[asked_before:] if "/commits?" in path)

    worker = _recording_worker(stack, runs, lambda: (_feat_9(stack), listing_pages()))
    assert stack.app is not None
    with stack.app.app_context():
        worker.run_until_idle()

    assert reverted, "the backfill never asked for page 2"
    assert _reverted_at(runs) == 2, "the revert waited for a page the slice read after it arrived"
    assert listing_pages() == 3 and _feat_9(stack) == "reverted"
    progress = stack.admin("GET", f"/api/connections/{connection.id}").json()["backfill"]
    assert progress["state"] == "done" and progress["read"] == 202, progress


def test_a_revert_pushed_while_a_slice_records_reaches_jira_before_the_slice_would_end(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same while the listing is turned into first-parent steps (one slice could record all
    of them): the slice ends after the batch in hand once it has recorded for as long as it took
    to load the listing, and the next slice records the rest."""
    monkeypatch.setattr(backfill, "SLICE_SECONDS", 3600.0)
    monkeypatch.setattr(backfill, "RECORD_BATCH", 10)
    github, connection, feature = shop_with_feat_9(stack, 60)  # 62 first-parent steps, batches of 10
    steps_of = backfill.first_parent_steps
    record_segments = backfill.record_segments
    reverted: list[str] = []

    def revert_once_the_steps_are_known(*args: Any) -> Any:
        steps = steps_of(*args)
        if not reverted:
            reverted.append(github.repo.revert(feature))
            github.push_branch()
        return steps

    def slow_record_segments(session: Any, connection_id: str, segments: list[Any]) -> None:
        time.sleep(0.005 * len(segments))  # a step costs a few milliseconds, as on a loaded database
        record_segments(session, connection_id, segments)

    monkeypatch.setattr(backfill, "first_parent_steps", revert_once_the_steps_are_known)
    monkeypatch.setattr(backfill, "record_segments", slow_record_segments)
    assert stack.admin("POST", f"/api/connections/{connection.id}/backfill", {}).status_code == 202
    runs: list[Run] = []
    worker = _recording_worker(stack, runs, lambda: (_feat_9(stack), _recorded(stack, connection.id)))
    assert stack.app is not None
    with stack.app.app_context():
        worker.run_until_idle()

    assert reverted, "the backfill never recorded steps"
    state, recorded = _reverted_at(runs)
    assert state == "recording" and 0 < recorded < 62, "the revert waited for the whole recording slice"
    assert _feat_9(stack) == "reverted"
    assert _recorded(stack, connection.id) == ("done", 62)


def _recorded(stack: Stack, connection_id: str) -> tuple[str, int]:
    assert stack.svc is not None
    with stack.svc.sessions() as session:
        progress = dict(session.get(Connection, connection_id).backfill or {})  # type: ignore[union-attr]
    return str(progress.get("state")), int(progress.get("recorded") or 0)
