"""Housekeeping, once an hour in the worker: keep the facts, let go of what is no longer needed.

- Raw webhook bodies (up to 25 MB each, with committer names and emails) of deliveries that are
  done with (processed, ignored or failed) are dropped `RAW_PAYLOAD_RETENTION_DAYS` after they
  arrived. The body becomes empty; the delivery row (source, event, guid, status, error) and every
  fact read from it stay. A delivery still waiting to be processed keeps its body whatever its age.
- The history of a site uninstalled more than `UNINSTALLED_PURGE_DAYS` ago is deleted: its
  deliveries, facts, issue states, comment intents, audit entries, jobs and connections (every
  table that names the tenant or one of its connections). The tenant row stays as the site's
  registration (client key, address), with its settings cleared; a later re-install starts
  afresh. A re-install within the grace period keeps everything.
- A personal data report (`jobs.privacy`) is queued for every installed site whose last one is a
  cycle old.

Every run queues the next one first, so a run that fails never ends the schedule, and works in
bounded batches under a time budget: what is left is picked up by a run queued a few seconds later,
so housekeeping never holds a worker for long.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.orm import Session

from connect_app.jobs import kinds
from connect_app.jobs.privacy import REPORT_CYCLE
from connect_app.services import Services
from connect_app.store.db import transaction
from connect_app.store.models import Base, Connection, Delivery, Job, Tenant, utcnow

log = logging.getLogger(__name__)

EVERY = 3600.0  # seconds between runs
AGAIN_SOON = 5.0  # seconds before a run that ran out of budget continues
BATCH = 500  # rows per transaction
BUDGET = 20.0  # seconds of work per run
DONE_WITH = ("processed", "ignored", "failed")  # delivery statuses whose raw body may go


@dataclass
class Outcome:
    bodies_dropped: int = 0
    rows_deleted: int = 0
    tenants_purged: list[int] = field(default_factory=list)
    reports_queued: list[int] = field(default_factory=list)
    finished: bool = True


class _Budget:
    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._deadline = clock() + seconds

    @property
    def spent(self) -> bool:
        return self._clock() >= self._deadline


def run_housekeeping(svc: Services, *, now: datetime | None = None, budget: float = BUDGET,
                     clock: Callable[[], float] = time.monotonic) -> Outcome:
    now = now or utcnow()
    with transaction(svc.sessions) as session:
        kinds.queue_housekeeping(session, delay=EVERY)
    spend = _Budget(budget, clock)
    outcome = Outcome()
    outcome.bodies_dropped, bodies_done = drop_raw_bodies(svc, now, spend)
    outcome.rows_deleted, outcome.tenants_purged, purge_done = purge_uninstalled(svc, now, spend)
    outcome.reports_queued = queue_account_reports(svc, now)
    outcome.finished = bodies_done and purge_done
    if not outcome.finished:
        with transaction(svc.sessions) as session:
            kinds.queue_housekeeping(session, delay=AGAIN_SOON)  # moves the queued run forward
    if outcome.bodies_dropped or outcome.rows_deleted:
        log.info("housekeeping: %d raw bodies dropped, %d rows of uninstalled sites deleted",
                 outcome.bodies_dropped, outcome.rows_deleted)
    return outcome


# ---- raw bodies -----------------------------------------------------------------------------------


def drop_raw_bodies(svc: Services, now: datetime, spend: _Budget) -> tuple[int, bool]:
    """Empty the bodies of deliveries done with and older than the retention. Returns how many
    were dropped and whether none is left."""
    cutoff = now - timedelta(days=svc.settings.raw_payload_retention_days)
    dropped = 0
    while True:
        with transaction(svc.sessions) as session:
            ids = list(session.scalars(
                select(Delivery.id)
                .where(Delivery.status.in_(DONE_WITH), Delivery.received_at < cutoff,
                       func.length(Delivery.body) > 0)
                .order_by(Delivery.id).limit(BATCH)))
            if ids:
                # The status is checked again in the same statement: a delivery an admin has just
                # sent back to the queue ("stored") keeps its body.
                result = session.execute(
                    update(Delivery).where(Delivery.id.in_(ids), Delivery.status.in_(DONE_WITH))
                    .values(body=b"").execution_options(synchronize_session=False))
                dropped += result.rowcount or 0  # type: ignore[attr-defined]
        if len(ids) < BATCH:
            return dropped, True
        if spend.spent:
            return dropped, False


# ---- uninstalled sites ----------------------------------------------------------------------------


def _owned_tables() -> Iterator[tuple[Table, str]]:
    """Every table holding a tenant's data, dependents before what they depend on, and the column
    that ties a row to the tenant ("tenant_id", or "connection_id" for facts keyed by connection)."""
    for table in reversed(Base.metadata.sorted_tables):
        if table.name == Tenant.__tablename__:
            continue
        if "tenant_id" in table.c:
            yield table, "tenant_id"
        elif "connection_id" in table.c:
            yield table, "connection_id"


def _due(tenant: Tenant | None, cutoff: datetime) -> bool:
    return (tenant is not None and not tenant.installed and tenant.uninstalled_at is not None
            and tenant.uninstalled_at <= cutoff)


def purge_uninstalled(svc: Services, now: datetime, spend: _Budget) -> tuple[int, list[int], bool]:
    """Delete the history of sites uninstalled longer ago than the grace period. Returns the rows
    deleted, the tenants finished, and whether none is left."""
    cutoff = now - timedelta(days=svc.settings.uninstalled_purge_days)
    with svc.sessions() as session:
        candidates = list(session.scalars(
            select(Tenant.id).where(Tenant.installed.is_(False), Tenant.uninstalled_at.is_not(None),
                                    Tenant.uninstalled_at <= cutoff).order_by(Tenant.id)))
    deleted, finished = 0, []
    for tenant_id in candidates:
        # A site already purged costs one indexed look-up per table: nothing is left to find.
        rows, done = _purge_tenant(svc, tenant_id, cutoff, spend)
        deleted += rows
        if not done:
            return deleted, finished, False
        finished.append(tenant_id)
    return deleted, finished, True


def _purge_tenant(svc: Services, tenant_id: int, cutoff: datetime,
                  spend: _Budget) -> tuple[int, bool]:
    deleted = 0
    for table, column in _owned_tables():
        while True:
            with transaction(svc.sessions) as session:
                # Checked again in every batch: a re-install stops the purge where it stands.
                tenant = session.get(Tenant, tenant_id, with_for_update=True)
                if not _due(tenant, cutoff):
                    return deleted, True
                rows, more = _delete_batch(session, table, column, tenant_id)
            deleted += rows
            if not more:
                break
            if spend.spent:
                return deleted, False
    with transaction(svc.sessions) as session:
        tenant = session.get(Tenant, tenant_id, with_for_update=True)
        if _due(tenant, cutoff) and (tenant.settings or tenant.known_projects or deleted):
            assert tenant is not None
            tenant.settings, tenant.known_projects, tenant.known_projects_at = {}, [], None
            log.info("deleted the history of tenant %s, uninstalled %s", tenant_id, tenant.uninstalled_at)
    return deleted, True


def _delete_batch(session: Session, table: Table, column: str, tenant_id: int) -> tuple[int, bool]:
    """Delete up to one batch of the tenant's rows of `table`: (rows deleted, whether more may be left)."""
    owner = table.c[column]
    owned = (owner == tenant_id if column == "tenant_id"
             else owner.in_(select(Connection.id).where(Connection.tenant_id == tenant_id)))
    keys = list(table.primary_key.columns)
    if len(keys) == 1:
        ids = list(session.scalars(select(keys[0]).where(owned).limit(BATCH)))
        if not ids:
            return 0, False
        session.execute(delete(table).where(keys[0].in_(ids)))
        return len(ids), len(ids) == BATCH
    # Facts keyed by (connection, natural key): one connection's rows at a time.
    connection = session.scalar(select(owner).where(owned).limit(1))
    if connection is None:
        return 0, False
    result = session.execute(delete(table).where(owner == connection))
    return int(result.rowcount or 0), True  # type: ignore[attr-defined]


# ---- personal data reports ------------------------------------------------------------------------


def queue_account_reports(svc: Services, now: datetime) -> list[int]:
    """A report for every installed site without one waiting and without one in the last cycle."""
    since = now - REPORT_CYCLE
    with transaction(svc.sessions) as session:
        recent = select(Job.tenant_id).where(
            Job.kind == kinds.REPORT_ACCOUNTS, Job.tenant_id.is_not(None),
            (Job.status.in_(("queued", "running"))) | (Job.finished_at > since))
        due = list(session.scalars(
            select(Tenant.id).where(Tenant.installed.is_(True), Tenant.enabled.is_(True),
                                    Tenant.id.not_in(recent)).order_by(Tenant.id)))
        for tenant_id in due:
            kinds.queue_report_accounts(session, tenant_id)
    return due
