"""A backfill shares the worker with live work: a push while it pages through the history does
not break it (GitHub lists a branch newest first, so a listing by branch name shifts under a
push and the next page repeats commits; the backfill lists from the head it started at), and its
slices end after their time so a live job never waits long behind one."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from sqlalchemy import select

from connect_app.jobs import backfill, kinds
from connect_app.sandbox.stack import Stack
from connect_app.store.models import Job

from .test_lanes import shop_with_feat_9


def test_a_push_between_two_pages_of_a_backfill_leaves_it_whole(stack: Stack) -> None:
    github, connection, _feature = shop_with_feat_9(stack, tidy_commits=150)  # two pages of the listing

    api = github.rest_app
    inner: Callable[..., Iterable[bytes]] = api.wsgi_app
    pushed: list[str] = []

    def push_before_page_two(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"].endswith("/commits") and "page=2" in environ.get("QUERY_STRING", "") and not pushed:
            pushed.append(github.push("Late fix", {"src/late.py": "x = 1\n"}))
        return inner(environ, start_response)

    api.wsgi_app = push_before_page_two
    assert stack.admin("POST", f"/api/connections/{connection.id}/backfill", {}).status_code == 202
    stack.settle()

    assert pushed, "the backfill never asked for a second page"
    progress = stack.admin("GET", f"/api/connections/{connection.id}").json()["backfill"]
    assert progress["state"] == "done", progress
    assert progress["read"] == 152, "each commit of the history as it was when the backfill began, once"
    view = stack.admin("GET", "/api/issues/FEAT-9/reality").json()
    assert view["drift"] == "live"


def test_backfill_slices_end_after_their_time_so_live_work_gets_the_worker(
        stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite one worker runs everything: a slice that reads 20 pages and records 2,000 steps
    would keep a revert from Jira for as long. Past SLICE_SECONDS a slice ends after its page or
    batch of steps and queues the next one."""
    monkeypatch.setattr(backfill, "SLICE_SECONDS", 0.0)
    monkeypatch.setattr(backfill, "RECORD_BATCH", 1)
    _github, connection, _feature = shop_with_feat_9(stack, tidy_commits=30)
    assert stack.admin("POST", f"/api/connections/{connection.id}/backfill", {}).status_code == 202
    stack.settle()

    progress = stack.admin("GET", f"/api/connections/{connection.id}").json()["backfill"]
    assert progress["state"] == "done" and progress["recorded"] == 32, progress
    assert stack.svc is not None
    with stack.svc.sessions() as session:
        slices = session.scalars(select(Job).where(Job.kind == kinds.BACKFILL)).all()
    assert len(slices) >= 32, "one step per slice once each slice is out of time"
    assert stack.admin("GET", "/api/issues/FEAT-9/reality").json()["drift"] == "live"
