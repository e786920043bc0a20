"""The handler registry: which function runs each job kind, bound to one process's services.

Only entry points (`cli`, the sandbox stack) import this module. Every other stage asks for work
through `jobs.kinds`, which is what keeps the stages free of import cycles.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from connect_app.jobs import kinds, queue
from connect_app.jobs.backfill import run_backfill
from connect_app.jobs.deliveries import process_delivery
from connect_app.jobs.deployments import compare_deployments
from connect_app.jobs.housekeeping import run_housekeeping
from connect_app.jobs.privacy import report_accounts
from connect_app.jobs.recompute import recompute_tenant
from connect_app.services import Services
from connect_app.store.db import transaction
from connect_app.store.models import Job
from connect_app.sync.apply import sync_issue
from connect_app.sync.devops import submit_devops
from connect_app.sync.rollup import roll_up_parents


class Handlers:
    """The job kinds the worker knows, bound to one process's services."""

    def __init__(self, svc: Services, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.svc = svc
        self.sleep = sleep

    def mapping(self) -> Mapping[str, queue.Handler]:
        svc = self.svc
        return {
            kinds.DELIVERY: lambda job: process_delivery(svc, job),
            kinds.COMPARE_DEPLOYMENTS: lambda job: compare_deployments(svc, job),
            kinds.BACKFILL: self._backfill,
            kinds.RECOMPUTE: lambda job: recompute_tenant(svc, int(job.payload["tenant_id"]),
                                                          push=bool(job.payload.get("push")),
                                                          keys=tuple(job.payload.get("keys") or ()),
                                                          deployments=[(str(c), int(d)) for c, d in
                                                                       job.payload.get("deployments") or ()]),
            kinds.SYNC_ISSUE: lambda job: sync_issue(svc, int(job.payload["tenant_id"]), job.payload["issue_key"]),
            kinds.HOUSEKEEPING: lambda job: run_housekeeping(svc),
            kinds.REPORT_ACCOUNTS: lambda job: report_accounts(svc, int(job.payload["tenant_id"])),
            kinds.SUBMIT_DEVOPS: lambda job: submit_devops(svc, int(job.payload["tenant_id"])),
            kinds.ROLL_UP_PARENTS: lambda job: roll_up_parents(svc, int(job.payload["tenant_id"])),
        }

    def worker(self, **options: Any) -> queue.Worker:
        """A worker running these handlers, with backfills in the bulk lane. Housekeeping is queued
        here (once: its dedupe key absorbs every other worker's start); each run queues the next."""
        with transaction(self.svc.sessions) as session:
            kinds.queue_housekeeping(session)
        return queue.Worker(self.svc.sessions, self.mapping(), bulk_kinds=kinds.BULK, **options)

    def _backfill(self, job: Job) -> None:
        run_backfill(self.svc, job, sleep=self.sleep)
