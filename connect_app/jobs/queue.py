"""A small durable job queue on the app's own database.

Jobs are claimed with a conditional UPDATE under a lease (and `FOR UPDATE SKIP LOCKED` on
PostgreSQL so many workers do not queue up on the same row). A worker that dies mid-job simply
lets its lease run out, and the next worker takes the job over. Handlers are idempotent, so a
job that ran halfway before a crash is safe to run again. A worker told to stop stops claiming,
lets its running job finish within a grace period, and otherwise hands it back (`Interrupted`,
`release`) so another worker takes it at once instead of after the lease.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import traceback
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from connect_app.observe import logs, metrics
from connect_app.store.models import Job, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_HAND_BACKS = 200
DEFAULT_LEASE = timedelta(minutes=5)


class Interrupted(BaseException):
    """Raised inside a running handler when the worker must stop now (its grace period is over).
    A BaseException, like KeyboardInterrupt, so a handler's `except Exception` does not swallow it."""


class Retry(Exception):
    """Raised by a handler that wants to run again later without counting as a failure."""

    def __init__(self, after: float, reason: str) -> None:
        super().__init__(reason)
        self.after = after


def enqueue(
    session: Session,
    kind: str,
    payload: Mapping[str, Any],
    *,
    tenant_id: int | None = None,
    dedupe_key: str | None = None,
    delay: float = 0.0,
) -> None:
    """Add a job in the caller's transaction. With a dedupe key, a job already waiting absorbs it."""
    run_after = utcnow() + timedelta(seconds=delay)
    if dedupe_key is not None:
        waiting = session.scalar(select(Job).where(Job.dedupe_key == dedupe_key))
        if waiting is not None:
            if waiting.run_after > run_after:
                waiting.run_after = run_after
            return
        try:
            with session.begin_nested():
                session.add(Job(kind=kind, payload=dict(payload), tenant_id=tenant_id,
                                dedupe_key=dedupe_key, run_after=run_after))
        except IntegrityError:
            return  # another process queued the same work a moment ago
        return
    session.add(Job(kind=kind, payload=dict(payload), tenant_id=tenant_id, run_after=run_after))


_QUEUE = insert(Job.__table__)


def enqueue_in(
    db: Connection, kind: str, payload: Mapping[str, Any], *, tenant_id: int | None = None
) -> None:
    """Add a job in the caller's Core transaction: `enqueue` without the ORM unit of work, for
    webhook intake, where every millisecond per delivery counts. No dedupe key: intake queues
    one job per stored delivery."""
    db.execute(_QUEUE, {"kind": kind, "payload": dict(payload), "tenant_id": tenant_id, "run_after": utcnow()})


def _ready(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(Job.status == "queued", Job.run_after <= now),
        and_(Job.status == "running", Job.locked_until < now),
    )


def _lanes(bulk_kinds: Collection[str]) -> tuple[ColumnElement[bool], ...]:
    """Live work first; bulk kinds (backfills) only while no live job of any tenant is ready."""
    if not bulk_kinds:
        return (Job.kind.is_not(None),)
    return (Job.kind.not_in(bulk_kinds), Job.kind.in_(bulk_kinds))


def claim(sessions: sessionmaker[Session], worker_id: str, *, lease: timedelta = DEFAULT_LEASE,
          bulk_kinds: Collection[str] = (), fairness: Callable[[int | None], float] | None = None) -> Job | None:
    """Take the next ready job (or one whose worker's lease ran out): live lane before bulk, and
    among tenants the one `fairness` ranks lowest (the least recently served), its oldest job
    first, so one tenant's burst never stands in front of another tenant's next job."""
    now = utcnow()
    ready = _ready(now)
    rank = fairness or (lambda _tenant: 0.0)
    with sessions() as session:
        for lane in _lanes(bulk_kinds):
            waiting = session.scalars(select(Job.tenant_id).where(ready, lane).distinct()).all()
            for tenant in sorted(waiting, key=lambda t: (rank(t), t or 0)):
                mine = Job.tenant_id.is_(None) if tenant is None else Job.tenant_id == tenant
                job = _take(session, and_(ready, lane, mine), worker_id, now + lease)
                if job is not None:
                    return job
        session.rollback()
    return None


def live_work_ready(sessions: sessionmaker[Session], bulk_kinds: Collection[str]) -> bool:
    """Whether a live-lane job (any kind outside `bulk_kinds`, any tenant) is ready to run: the
    claim would take it before any bulk job. A bulk slice asks this between its units of work and
    ends early when it is, so one worker does not hold a revert back until its slice is out of time.
    One indexed lookup (`ix_jobs_ready`), cheap next to a page of history."""
    live = _lanes(bulk_kinds)[0]
    with sessions() as session:
        return session.scalar(select(Job.id).where(_ready(utcnow()), live).limit(1)) is not None


def _take(session: Session, where: ColumnElement[bool], worker_id: str, locked_until: datetime) -> Job | None:
    """The conditional update is what makes the claim safe on every database: exactly one
    claimer sees rowcount 1 (`SKIP LOCKED` on PostgreSQL keeps many workers from queueing up on
    the same row). The dedupe key is released so new work queues behind this run."""
    query = select(Job.id).where(where).order_by(Job.run_after, Job.id).limit(1)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    job_id = session.scalar(query)
    if job_id is None:
        session.rollback()
        return None
    result = session.execute(
        update(Job).where(Job.id == job_id, where)
        .values(status="running", locked_by=worker_id, locked_until=locked_until,
                attempts=Job.attempts + 1, dedupe_key=None)
    )
    session.commit()
    if result.rowcount != 1:
        return None
    return session.get(Job, job_id)


def extend_lease(sessions: sessionmaker[Session], job: Job, worker_id: str,
                 lease: timedelta = DEFAULT_LEASE) -> None:
    with sessions() as session:
        session.execute(update(Job).where(Job.id == job.id, Job.locked_by == worker_id)
                        .values(locked_until=utcnow() + lease))
        session.commit()


def complete(sessions: sessionmaker[Session], job: Job, worker_id: str) -> None:
    with sessions() as session:
        session.execute(update(Job).where(Job.id == job.id, Job.locked_by == worker_id)
                        .values(status="done", finished_at=utcnow(), locked_by=None, locked_until=None,
                                last_error=None))
        session.commit()


def release(sessions: sessionmaker[Session], job: Job, worker_id: str) -> None:
    """Hand a job back at once, as if never claimed: the lease cleared, ready now, the attempt
    not counted (a shutdown is not the job's fault). Only the worker holding the lease may."""
    with sessions() as session:
        session.execute(update(Job).where(Job.id == job.id, Job.locked_by == worker_id)
                        .values(status="queued", run_after=utcnow(), locked_by=None, locked_until=None,
                                attempts=Job.attempts - 1, last_error="handed back: the worker was stopped"))
        session.commit()


def backoff_seconds(attempts: int) -> float:
    base: float = min(600.0, 2.0 * (2 ** max(0, attempts - 1)))
    return base / 2 + random.uniform(0, base / 2)


def fail(sessions: sessionmaker[Session], job: Job, worker_id: str, error: str, *,
         retry_after: float | None = None, count_attempt: bool = True) -> None:
    with sessions() as session:
        current = session.get(Job, job.id)
        if current is None or current.locked_by != worker_id:
            return
        if not count_attempt:
            # A hand-back (lock taken, "wait and see") is free, but not forever: past a ceiling
            # it counts like a failure, so a job stuck that way is parked where the admin sees it.
            handed_back = int(current.payload.get("handed_back", 0)) + 1
            current.payload = {**current.payload, "handed_back": handed_back}
            count_attempt = handed_back > MAX_HAND_BACKS
        attempts = current.attempts if count_attempt else max(0, current.attempts - 1)
        current.attempts = attempts
        current.last_error = error[-4000:]
        current.locked_by = None
        current.locked_until = None
        if count_attempt and attempts >= MAX_ATTEMPTS:
            current.status = "parked"  # visible on the admin page with its error, retried by hand
            current.finished_at = utcnow()
        else:
            current.status = "queued"
            delay = retry_after if retry_after is not None else backoff_seconds(attempts)
            current.run_after = utcnow() + timedelta(seconds=delay)
        session.commit()


def retry_now(session: Session, job_id: int) -> bool:
    job = session.get(Job, job_id)
    if job is None or job.status != "parked":
        return False
    job.status, job.attempts, job.run_after, job.finished_at = "queued", 0, utcnow(), None
    job.payload = {key: value for key, value in job.payload.items() if key != "handed_back"}
    return True


Handler = Callable[[Job], None]


def _waited(job: Job) -> float:
    """Seconds between the moment a job became ready and now (its claim)."""
    ready_at = job.run_after if job.run_after.tzinfo else job.run_after.replace(tzinfo=UTC)
    return max(0.0, (utcnow() - ready_at).total_seconds())


@dataclass
class Worker:
    """Claims and runs jobs until told to stop."""

    sessions: sessionmaker[Session]
    handlers: Mapping[str, Handler]
    lease: timedelta = DEFAULT_LEASE
    poll_interval: float = 0.5
    worker_id: str = ""
    # Kinds of the bulk lane (backfills): they run only while no live job is ready.
    bulk_kinds: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.worker_id:
            self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        self._served: dict[int | None, int] = {}
        self._tick = 0
        self._running: Job | None = None

    def interrupt(self) -> None:
        """Stop the running job now (call from a signal handler in the thread that runs the
        worker): it is handed back for another worker. Between jobs there is nothing to stop."""
        if self._running is not None:
            raise Interrupted(f"job {self._running.id} handed back")

    def run_once(self) -> bool:
        job = claim(self.sessions, self.worker_id, lease=self.lease, bulk_kinds=self.bulk_kinds,
                    fairness=lambda tenant: self._served.get(tenant, -1))
        if job is None:
            return False
        self._tick += 1
        self._served[job.tenant_id] = self._tick
        lane = "bulk" if job.kind in self.bulk_kinds else "live"
        metrics.JOB_WAIT_SECONDS.labels(job.kind, lane).observe(_waited(job))
        started = time.monotonic()
        with logs.bound(job_id=job.id, job_kind=job.kind, tenant_id=job.tenant_id,
                        delivery_id=job.payload.get("delivery_id")):
            outcome = self._run(job)
            seconds = time.monotonic() - started
            # One line per job, like an access log: which worker ran what, and how it ended.
            log.info("job %s (%s) %s in %.3f s by %s", job.id, job.kind, outcome, seconds, self.worker_id)
        metrics.JOB_SECONDS.labels(job.kind, lane, outcome).observe(seconds)
        return True

    def _run(self, job: Job) -> str:
        handler = self.handlers.get(job.kind)
        if handler is None:
            log.error("no handler for job kind %r", job.kind)
            fail(self.sessions, job, self.worker_id, f"no handler for job kind {job.kind!r}")
            return "failed"
        try:
            with self._lease_kept(job):
                self._running = job
                try:
                    handler(job)
                finally:
                    self._running = None
        except Interrupted:
            release(self.sessions, job, self.worker_id)
            log.info("job %s (%s) handed back: the worker is stopping", job.id, job.kind)
            raise
        except Retry as exc:
            fail(self.sessions, job, self.worker_id, str(exc), retry_after=exc.after, count_attempt=False)
            return "handed_back"
        except Exception as exc:
            log.warning("job %s (%s) failed: %s", job.id, job.kind, exc)
            fail(self.sessions, job, self.worker_id, "".join(traceback.format_exception_only(exc)).strip())
            return "failed"
        complete(self.sessions, job, self.worker_id)
        return "done"

    @contextmanager
    def _lease_kept(self, job: Job) -> Iterator[None]:
        """Renew the lease while the handler runs, so a long job is never taken over by another
        worker while this one is alive; only a dead worker's lease runs out."""
        done = threading.Event()
        interval = max(0.05, self.lease.total_seconds() / 3)

        def renew() -> None:
            while not done.wait(interval):
                try:
                    extend_lease(self.sessions, job, self.worker_id, self.lease)
                except Exception:  # the next beat tries again; a lost lease is what we guard against
                    log.warning("could not renew the lease of job %s", job.id, exc_info=True)

        beat = threading.Thread(target=renew, name=f"lease-{job.id}", daemon=True)
        beat.start()
        try:
            yield
        finally:
            done.set()
            beat.join()

    def run_until_idle(self, max_jobs: int = 100_000) -> int:
        """Run jobs until none is ready (tests and the demo use this to settle the queue)."""
        done = 0
        while done < max_jobs and self.run_once():
            done += 1
        return done

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                worked = self.run_once()
            except Exception:
                log.exception("worker loop error")
                worked = False
            if not worked:
                stop.wait(self.poll_interval)

