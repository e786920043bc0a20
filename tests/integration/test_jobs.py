"""The job queue on a real database: claims, dedupe, leases, retries with backoff, parking, the
admin's view of parked jobs, and concurrent claimers (PostgreSQL with TEST_DATABASE_URL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from connect_app.jobs import queue as jobs
from connect_app.store.db import make_engine, make_session_factory, transaction, upgrade
from connect_app.store.models import Job, Tenant

pytestmark = pytest.mark.postgres


class Clock:
    """The queue's idea of now, moved by the test instead of by waiting."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def sessions(database_url: str, start_migrated: Callable[[str], None]) -> Iterator[sessionmaker[Session]]:
    start_migrated(database_url)
    upgrade(database_url)
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(jobs, "utcnow", clock)
    return clock


def _add(sessions: sessionmaker[Session], kind: str = "work", payload: dict | None = None, **kwargs) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as session:
        jobs.enqueue(session, kind, payload or {}, **kwargs)


def _jobs(sessions: sessionmaker[Session]) -> list[Job]:
    with sessions() as session:
        return list(session.scalars(select(Job).order_by(Job.id)))


def test_enqueue_claim_complete(sessions, clock) -> None:
    _add(sessions, "work", {"n": 1})
    job = jobs.claim(sessions, "w1")
    assert job is not None and job.kind == "work" and job.payload == {"n": 1}
    assert job.status == "running" and job.locked_by == "w1" and job.attempts == 1
    assert jobs.claim(sessions, "w2") is None, "a running job is not handed out twice"
    jobs.complete(sessions, job, "w1")
    [done] = _jobs(sessions)
    assert done.status == "done" and done.finished_at is not None and done.locked_by is None
    assert jobs.claim(sessions, "w2") is None


def test_delayed_job_waits_for_its_time(sessions, clock) -> None:
    _add(sessions, delay=30)
    assert jobs.claim(sessions, "w1") is None
    clock.advance(31)
    assert jobs.claim(sessions, "w1") is not None


def test_dedupe_key_absorbs_duplicates_while_queued_but_not_while_running(sessions, clock) -> None:
    _add(sessions, "recompute", {"tenant_id": 1}, dedupe_key="recompute:1", delay=60)
    _add(sessions, "recompute", {"tenant_id": 1}, dedupe_key="recompute:1")
    _add(sessions, "recompute", {"tenant_id": 1}, dedupe_key="recompute:1")
    queued = _jobs(sessions)
    assert len(queued) == 1
    # The duplicate asked for sooner: the waiting job is moved up rather than left at +60 s.
    assert jobs.claim(sessions, "w1") is not None

    # While it runs, new work must queue behind it (the running job may have read stale facts).
    _add(sessions, "recompute", {"tenant_id": 1}, dedupe_key="recompute:1")
    _add(sessions, "recompute", {"tenant_id": 1}, dedupe_key="recompute:1")
    rows = _jobs(sessions)
    assert [r.status for r in rows] == ["running", "queued"]
    assert jobs.claim(sessions, "w2") is not None


def test_expired_lease_lets_another_worker_take_the_job(sessions, clock) -> None:
    _add(sessions)
    first = jobs.claim(sessions, "w1", lease=timedelta(seconds=2))
    assert first is not None
    assert jobs.claim(sessions, "w2", lease=timedelta(seconds=2)) is None
    clock.advance(1)
    jobs.extend_lease(sessions, first, "w1", lease=timedelta(seconds=2))
    clock.advance(1.5)
    assert jobs.claim(sessions, "w2") is None, "a worker that renews its lease keeps its job"
    clock.advance(3)  # w1 went silent (crashed): its lease runs out
    second = jobs.claim(sessions, "w2", lease=timedelta(seconds=2))
    assert second is not None and second.id == first.id and second.attempts == 2
    # The dead worker's late completion does not count; the new owner's does.
    jobs.complete(sessions, first, "w1")
    assert _jobs(sessions)[0].status == "running"
    jobs.complete(sessions, second, "w2")
    assert _jobs(sessions)[0].status == "done"


def test_failing_job_backs_off_then_parks_after_max_attempts(sessions, clock) -> None:
    calls: list[int] = []

    def explode(job: Job) -> None:
        calls.append(job.attempts)
        raise RuntimeError(f"Jira said no (attempt {job.attempts})")

    worker = jobs.Worker(sessions, {"explode": explode}, worker_id="w1")
    _add(sessions, "explode")
    delays: list[float] = []
    for attempt in range(1, jobs.MAX_ATTEMPTS + 1):
        assert worker.run_once(), f"attempt {attempt} should be ready"
        [row] = _jobs(sessions)
        if attempt < jobs.MAX_ATTEMPTS:
            assert row.status == "queued" and row.attempts == attempt
            assert f"attempt {attempt}" in (row.last_error or "")
            delay = (row.run_after - clock.now).total_seconds()
            base = min(600.0, 2.0 * 2 ** (attempt - 1))
            assert base / 2 <= delay <= base
            delays.append(delay)
            assert not worker.run_once(), "a failed job is not retried before its backoff"
            clock.advance(delay + 0.01)
    [row] = _jobs(sessions)
    assert row.status == "parked" and row.attempts == jobs.MAX_ATTEMPTS
    assert "RuntimeError: Jira said no" in (row.last_error or "")
    assert calls == list(range(1, jobs.MAX_ATTEMPTS + 1))
    assert delays[-1] > delays[0] * 8, "backoff grows"
    clock.advance(3600)
    assert not worker.run_once(), "a parked job stays parked until someone retries it"


def test_retry_signal_does_not_count_as_a_failure(sessions, clock) -> None:
    def busy(job: Job) -> None:
        raise jobs.Retry(30, "rate limited until later")

    worker = jobs.Worker(sessions, {"busy": busy}, worker_id="w1")
    _add(sessions, "busy")
    for _ in range(jobs.MAX_ATTEMPTS + 2):
        assert worker.run_once()
        clock.advance(31)
    [row] = _jobs(sessions)
    assert row.status == "queued" and row.attempts == 0
    assert row.last_error == "rate limited until later"


def test_a_job_handed_back_forever_is_parked_in_the_end(sessions, clock, monkeypatch) -> None:
    monkeypatch.setattr(jobs, "MAX_HAND_BACKS", 5)

    def stuck(job: Job) -> None:
        raise jobs.Retry(1, "another worker holds this issue")

    worker = jobs.Worker(sessions, {"stuck": stuck}, worker_id="w1")
    _add(sessions, "stuck")
    runs = 0
    while _jobs(sessions)[0].status == "queued" and runs < 100:
        assert worker.run_once()
        clock.advance(2)
        runs += 1
    [row] = _jobs(sessions)
    assert row.status == "parked" and row.last_error == "another worker holds this issue"
    assert runs == 5 + jobs.MAX_ATTEMPTS


def test_unknown_job_kind_fails_visibly(sessions, clock) -> None:
    worker = jobs.Worker(sessions, {}, worker_id="w1")
    _add(sessions, "mystery")
    assert worker.run_once()
    [row] = _jobs(sessions)
    assert row.status == "queued" and "no handler for job kind 'mystery'" in (row.last_error or "")


def test_concurrent_claimers_never_share_a_job(sessions, database_url) -> None:
    total = 120
    with transaction(sessions) as session:
        for n in range(total):
            jobs.enqueue(session, "work", {"n": n})
    claimed: dict[str, list[int]] = {}
    start = threading.Barrier(6)

    def claimer(name: str) -> None:
        mine: list[int] = []
        start.wait()
        while True:
            job = jobs.claim(sessions, name)
            if job is None:
                break
            mine.append(job.id)
        claimed[name] = mine

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    everything = [job_id for ids in claimed.values() for job_id in ids]
    assert len(everything) == len(set(everything)), "a job was handed to two workers"
    assert len(everything) == total
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job).where(Job.status == "running")) == total
        owners = dict(session.execute(select(Job.id, Job.locked_by)).all())
    for name, ids in claimed.items():
        assert all(owners[job_id] == name for job_id in ids)
    if database_url.startswith("postgresql"):
        assert sum(1 for ids in claimed.values() if ids) > 1, "SKIP LOCKED lets several workers progress"


# ---- the admin's view -----------------------------------------------------------------------


def test_parked_job_is_shown_to_the_admin_and_retried_by_hand(stack) -> None:
    stack.install()
    svc = stack.svc
    with svc.sessions() as session:
        tenant_id = session.scalar(select(Tenant.id))
    healthy = {"ok": False}

    def flaky(job: Job) -> None:
        if not healthy["ok"]:
            raise ConnectionError("GitHub is down for maintenance")

    with transaction(svc.sessions) as session:
        jobs.enqueue(session, "flaky", {"what": "compare"}, tenant_id=tenant_id)
    worker = jobs.Worker(svc.sessions, {"flaky": flaky}, worker_id="w1")
    for _ in range(jobs.MAX_ATTEMPTS):
        assert worker.run_once()
        with transaction(svc.sessions) as session:  # time passes: the backoff is over
            for row in session.scalars(select(Job).where(Job.status == "queued")):
                row.run_after = datetime.now(UTC) - timedelta(seconds=1)

    parked = stack.admin("GET", "/api/jobs?status=parked")
    assert parked.status_code == 200
    [shown] = parked.json()
    assert shown["kind"] == "flaky" and shown["attempts"] == jobs.MAX_ATTEMPTS
    assert "GitHub is down for maintenance" in shown["error"]

    healthy["ok"] = True
    retried = stack.admin("POST", f"/api/jobs/{shown['id']}/retry")
    assert retried.status_code == 202
    assert stack.admin("GET", "/api/jobs?status=parked").json() == []
    assert worker.run_once()
    done = stack.admin("GET", "/api/jobs?status=done").json()
    assert [j["id"] for j in done if j["kind"] == "flaky"] == [shown["id"]]
    again = stack.admin("POST", f"/api/jobs/{shown['id']}/retry")
    assert again.status_code == 400, "only parked jobs can be retried"


def test_a_job_longer_than_its_lease_is_not_taken_over_while_its_worker_lives(sessions) -> None:
    """The running worker renews its lease; a second worker must not start the same job."""
    _add(sessions, "slow")
    started, release = threading.Event(), threading.Event()
    runs: list[str] = []

    def slow(job: Job) -> None:
        runs.append("slow")
        started.set()
        release.wait(10)

    # A lease long enough that a busy CI machine still renews it in time (renewal every third of
    # it); without renewal the second worker takes the job over after one lease.
    lease = timedelta(seconds=1.2)
    first = jobs.Worker(sessions, {"slow": slow}, lease=lease, worker_id="first")
    second = jobs.Worker(sessions, {"slow": slow}, lease=lease, worker_id="second")
    runner = threading.Thread(target=first.run_once)
    runner.start()
    assert started.wait(5)
    deadline = datetime.now(UTC) + 3 * lease
    while datetime.now(UTC) < deadline:
        assert second.run_once() is False
        time.sleep(0.05)  # poll like a worker does, without starving SQLite's one writer
    release.set()
    runner.join(5)
    assert runs == ["slow"]
    assert [job.status for job in _jobs(sessions)] == ["done"]


def _tenants(sessions: sessionmaker[Session], count: int) -> list[int]:
    with transaction(sessions) as session:
        rows = [Tenant(client_key=f"lanes-{i}", base_url=f"https://lanes-{i}.atlassian.net",
                       shared_secret_sealed="x") for i in range(count)]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def _run_order(sessions: sessionmaker[Session], *, bulk: frozenset[str] = frozenset()) -> list[tuple[str, int | None]]:
    order: list[tuple[str, int | None]] = []
    handlers = {kind: (lambda job: order.append((job.kind, job.tenant_id))) for kind in ("backfill", "delivery")}
    jobs.Worker(sessions, handlers, bulk_kinds=bulk).run_until_idle()
    return order


def test_live_work_never_waits_behind_bulk_work(sessions, clock) -> None:
    [tenant] = _tenants(sessions, 1)
    _add(sessions, "backfill", {"slice": 1}, tenant_id=tenant)
    _add(sessions, "backfill", {"slice": 2}, tenant_id=tenant)
    _add(sessions, "delivery", {"n": 1}, tenant_id=tenant)
    order = _run_order(sessions, bulk=frozenset({"backfill"}))
    assert [kind for kind, _ in order] == ["delivery", "backfill", "backfill"]


def test_one_tenants_burst_does_not_delay_another_tenant(sessions, clock) -> None:
    busy, quiet = _tenants(sessions, 2)
    for n in range(30):
        _add(sessions, "delivery", {"n": n}, tenant_id=busy)
    _add(sessions, "delivery", {"n": "revert"}, tenant_id=quiet)
    order = _run_order(sessions)
    # Served in turn: the quiet tenant's only job runs right after the busy tenant's first.
    assert [tenant for _, tenant in order].index(quiet) <= 1
    assert len(order) == 31
