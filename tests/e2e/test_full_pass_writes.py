"""A full recomputation (the first one, a force push, a backfill, a new revert) judges the whole
history without writing, then writes it in short transactions. On SQLite one writer at a time
holds the database: a webhook delivery arriving mid-pass must be stored at once, not wait out the
busy timeout behind a pass that at 100k commits writes for a minute, and be refused. A page read
mid-pass sees each issue whole: its drift and its timeline, or neither yet."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select

from connect_app.jobs.timelines import TenantReality
from connect_app.reality.drift import TimelineEvent
from connect_app.sandbox.stack import Stack
from connect_app.store import db
from connect_app.store.models import CommitFact, IssueReality, IssueTimeline

ISSUES = 12
PUSHES = 6
COMMITS_PER_PUSH = 10
PAUSE_AT = "FEAT-6"  # an issue in the middle of the pass (keys are written in sorted order)


class PausedPass:
    """Holds the full recomputation when it comes to judge PAUSE_AT's timeline, until released."""

    def __init__(self) -> None:
        self.paused = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()


@pytest.fixture
def paused_pass(monkeypatch: pytest.MonkeyPatch) -> Iterator[PausedPass]:
    pause = PausedPass()
    judge = TenantReality.timeline

    def timeline(self: TenantReality, key: str, done_at: datetime | None) -> list[TimelineEvent]:
        if key == PAUSE_AT and not pause.paused.is_set():
            pause.paused.set()
            assert pause.release.wait(120), "the test never released the pass"
        return judge(self, key, done_at)

    monkeypatch.setattr(TenantReality, "timeline", timeline)
    # Small batches, so that this small history is written in several transactions, as 100k
    # commits are with the real batch size.
    monkeypatch.setattr(db, "WRITE_BATCH", 20)
    try:
        yield pause
    finally:
        pause.release.set()


def test_a_delivery_is_stored_while_a_full_recomputation_runs(stack: Stack, paused_pass: PausedPass) -> None:
    for n in range(1, ISSUES + 1):
        stack.jira.add_issue(f"FEAT-{n}", f"Feature {n}", status="Done")
    stack.install()
    github = stack.start_github()
    stack.connect_repository()
    for push in range(PUSHES):
        for step in range(COMMITS_PER_PUSH):
            n = 1 + (push * COMMITS_PER_PUSH + step) % ISSUES
            github.repo.commit(f"FEAT-{n}: step {push}.{step}", {f"src/feat{n}.py": f"STEP = {push}{step}\n"})
        github.push_branch()
    # Stored, not yet worked on: the worker records these pushes, then recomputes the tenant in
    # full (its first recomputation: nothing derived to extend yet).
    assert [d.status for d in github.deliveries_of("push")] == [202] * PUSHES

    def work() -> None:
        stack.settle()
        paused_pass.finished.set()

    worker = threading.Thread(target=work, name="full-pass", daemon=True)
    worker.start()
    assert paused_pass.paused.wait(120), "the full recomputation never reached the timelines"

    # Mid-pass: a push arrives. It is stored now (GitHub waits 10 s for an answer, and does not
    # redeliver by itself).
    sha = github.push("FEAT-1: a push during the full pass", {"src/late.py": "LATE = 1\n"})
    assert github.deliveries_of("push")[-1].status == 202
    assert not paused_pass.finished.is_set(), "the delivery was answered while the pass was still running"
    # Each issue is whole: the ones written have their drift and their timeline, the others neither.
    with stack.svc.sessions() as session:  # type: ignore[union-attr]
        judged = set(session.scalars(select(IssueReality.issue_key)))
        timelines = set(session.scalars(select(IssueTimeline.issue_key)))
    assert judged == timelines and 0 < len(judged) < ISSUES, (judged, timelines)

    paused_pass.release.set()
    worker.join(120)
    assert paused_pass.finished.is_set()
    stack.settle()
    with stack.svc.sessions() as session:  # type: ignore[union-attr]
        assert session.scalar(select(CommitFact.sha).where(CommitFact.sha == sha)) == sha
    reality = stack.admin("GET", "/api/issues/FEAT-1/reality").json()
    assert any(event["short"] == sha[:7] for event in reality["timeline"]), "the late push is on FEAT-1's timeline"
