"""Every kind of job the worker runs, and the one way any stage asks for one.

Stages never call each other's handlers: they queue work here, in their own transaction, and
only the entry points (`cli`, the sandbox stack) import the handler registry. That keeps data
flowing one way and the job queue free of import cycles. Each kind names its dedupe key once,
so the same work asked for twice while it waits runs once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from connect_app.jobs import queue
from connect_app.store.models import Job

DELIVERY: Final = "delivery"
COMPARE_DEPLOYMENTS: Final = "compare_deployments"
BACKFILL: Final = "backfill"
RECOMPUTE: Final = "recompute"
SYNC_ISSUE: Final = "sync_issue"
HOUSEKEEPING: Final = "housekeeping"
REPORT_ACCOUNTS: Final = "report_accounts"
# Jira's own DevOps surfaces (deployments, feature flags) and epics' roll-ups, reconciled per tenant.
SUBMIT_DEVOPS: Final = "submit_devops"
ROLL_UP_PARENTS: Final = "roll_up_parents"
ALL: Final = (DELIVERY, COMPARE_DEPLOYMENTS, BACKFILL, RECOMPUTE, SYNC_ISSUE, HOUSEKEEPING, REPORT_ACCOUNTS,
              SUBMIT_DEVOPS, ROLL_UP_PARENTS)
HOUSEKEEPING_KEY: Final = "housekeeping"
# The bulk lane: history reads and housekeeping run only while no live job (deliveries, recomputes, Jira
# syncs) of any tenant is ready, so a backfill never delays a revert reaching Jira.
# Jira Software's Releases data goes there too: it reads the whole history, and while it waits
# behind live work every further request for it is absorbed by its dedupe key (one run per burst).
BULK: Final = frozenset({BACKFILL, HOUSEKEEPING, REPORT_ACCOUNTS, SUBMIT_DEVOPS})
# Kinds that always have their next run queued (a schedule, not a backlog).
SCHEDULED: Final = frozenset({HOUSEKEEPING})


def recompute_key(tenant_id: int) -> str:
    return f"recompute:{tenant_id}"


def sync_key(tenant_id: int, issue_key: str) -> str:
    return f"sync:{tenant_id}:{issue_key}"


def queue_stored_delivery(db: Connection, delivery_id: int, tenant_id: int) -> None:
    """Intake's path: Core, in the transaction that stores the delivery, no dedupe lookup."""
    queue.enqueue_in(db, DELIVERY, {"delivery_id": delivery_id}, tenant_id=tenant_id)


def queue_delivery_again(session: Session, delivery_id: int, tenant_id: int) -> None:
    queue.enqueue(session, DELIVERY, {"delivery_id": delivery_id}, tenant_id=tenant_id,
                  dedupe_key=f"delivery:{delivery_id}")


def queue_recompute(session: Session, tenant_id: int, delay: float = 0.0) -> None:
    """A full recomputation. A push-only one still waiting becomes full: whatever else changed
    must be weighed too."""
    queue.enqueue(session, RECOMPUTE, {"tenant_id": tenant_id}, tenant_id=tenant_id,
                  dedupe_key=recompute_key(tenant_id), delay=delay)
    waiting = session.scalar(select(Job).where(Job.dedupe_key == recompute_key(tenant_id)))
    if waiting is not None and waiting.payload.get("push"):
        waiting.payload = {"tenant_id": tenant_id}


def queue_flag_recompute(session: Session, tenant_id: int, keys: Iterable[str]) -> None:
    """A recomputation of the issues a flag change names, which may take the fast path. Never
    absorbed into another (each carries its own keys); runs one at a time like every recompute."""
    queue.enqueue(session, RECOMPUTE, {"tenant_id": tenant_id, "push": True, "keys": sorted(set(keys))},
                  tenant_id=tenant_id)


def queue_deployment_recompute(session: Session, tenant_id: int, connection_id: str, deployment_id: int) -> None:
    """A recomputation of the issues a new production deployment shipped or took out, which may
    take the fast path. Never absorbed into another; runs one at a time like every recompute."""
    queue.enqueue(session, RECOMPUTE, {"tenant_id": tenant_id, "push": True,
                                       "deployments": [[connection_id, deployment_id]]}, tenant_id=tenant_id)


def queue_push_recompute(session: Session, tenant_id: int) -> None:
    """A recomputation asked for by a push alone: it may take the fast path that extends the
    branch (jobs/incremental.py). A full one already waiting stays full."""
    queue.enqueue(session, RECOMPUTE, {"tenant_id": tenant_id, "push": True}, tenant_id=tenant_id,
                  dedupe_key=recompute_key(tenant_id))


def queue_deployment_compare(session: Session, connection_id: str, tenant_id: int) -> None:
    queue.enqueue(session, COMPARE_DEPLOYMENTS, {"connection_id": connection_id}, tenant_id=tenant_id,
                  dedupe_key=f"compare:{connection_id}")


def queue_backfill(session: Session, connection_id: str, tenant_id: int, since: str | None) -> None:
    queue.enqueue(session, BACKFILL, {"connection_id": connection_id, "since": since}, tenant_id=tenant_id,
                  dedupe_key=f"backfill:{connection_id}")


def queue_sync(session: Session, tenant_id: int, issue_key: str) -> None:
    queue.enqueue(session, SYNC_ISSUE, {"tenant_id": tenant_id, "issue_key": issue_key}, tenant_id=tenant_id,
                  dedupe_key=sync_key(tenant_id, issue_key))


def report_accounts_key(tenant_id: int) -> str:
    return f"report_accounts:{tenant_id}"


def queue_housekeeping(session: Session, delay: float = 0.0) -> None:
    """Retention and purge, one queued run at a time; each run queues the next (see jobs.housekeeping)."""
    queue.enqueue(session, HOUSEKEEPING, {}, dedupe_key=HOUSEKEEPING_KEY, delay=delay)


def queue_report_accounts(session: Session, tenant_id: int) -> None:
    queue.enqueue(session, REPORT_ACCOUNTS, {"tenant_id": tenant_id}, tenant_id=tenant_id,
                  dedupe_key=report_accounts_key(tenant_id))


def queue_devops(session: Session, tenant_id: int) -> None:
    """Deployments and flags to Jira Software's bulk APIs, after facts moved (see sync.devops)."""
    queue.enqueue(session, SUBMIT_DEVOPS, {"tenant_id": tenant_id}, tenant_id=tenant_id,
                  dedupe_key=f"devops:{tenant_id}")


def queue_roll_up(session: Session, tenant_id: int) -> None:
    """Parents' roll-up properties, after an issue's sync (see sync.rollup)."""
    queue.enqueue(session, ROLL_UP_PARENTS, {"tenant_id": tenant_id}, tenant_id=tenant_id,
                  dedupe_key=f"rollup:{tenant_id}")
