"""What each production deployment added and removed against the one before it."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from connect_app.jobs import queue
from connect_app.jobs.kinds import queue_deployment_recompute, queue_recompute
from connect_app.providers.access import reader_for
from connect_app.providers.base import HistoryReader, ProviderUnavailable, RateLimited
from connect_app.reality.history import difference_on_branch, order_branch
from connect_app.reality.model import Segment
from connect_app.services import Services
from connect_app.store.db import transaction
from connect_app.store.facts import production_deployments, production_names
from connect_app.store.models import Connection, DeploymentFact, Job, SegmentFact

log = logging.getLogger(__name__)


def compare_deployments(svc: Services, job: Job) -> None:
    """Fill in what each production deployment added and removed against the one before it.

    Runs over the whole chain so that a deployment reported late (out of order) re-bases the
    ones after it; unchanged comparisons are kept.
    """
    with transaction(svc.sessions) as session:
        connection = session.get(Connection, job.payload["connection_id"])
        if connection is None:
            return
        production = production_names(connection, svc.settings.production_environments)
        rows = production_deployments(session, connection.id, production)
        if not rows:
            return  # every push asks; a repository without production deployments has nothing to compare
        reader = reader_for(svc, connection)
        branch = _LazyBranch(session, connection.id)
        changed: list[tuple[DeploymentFact, bool]] = []  # and whether it had been compared before
        previous: DeploymentFact | None = None
        for row in rows:
            base = previous.sha if previous is not None else None
            # Without API access the recorded branch is the only source, and it grows as pushes
            # arrive, so local differences are recomputed every time (they are cheap).
            if reader is None or not row.compared or row.compared_base != base:
                difference = _difference(reader, branch, base, row.sha)
                if difference is not None and (
                    not row.compared or (row.added, row.removed) != difference or row.compared_base != base
                ):
                    changed.append((row, row.compared))
                    row.added, row.removed = difference
                    row.compared, row.compared_base = True, base
            previous = row
        if len(changed) == 1 and changed[0][0] is rows[-1] and not changed[0][1]:
            # The common case: one new deployment after the others. Only its issues move.
            queue_deployment_recompute(session, connection.tenant_id, connection.id, rows[-1].id)
        elif changed:
            queue_recompute(session, connection.tenant_id)


class _LazyBranch:
    """The recorded branch order, read (the whole history's segments) only when a comparison
    actually falls back to it."""

    def __init__(self, session: Session, connection_id: str) -> None:
        self.session, self.connection_id = session, connection_id
        self._order: list[str] | None = None

    def order(self) -> list[str]:
        if self._order is None:
            self._order = _branch_order(self.session, self.connection_id)
        return self._order


def _branch_order(session: Session, connection_id: str) -> list[str]:
    segments = [Segment(before=r.before, after=r.after, commits=tuple(r.commits), source=r.source)  # type: ignore[arg-type]
                for r in session.scalars(select(SegmentFact).where(SegmentFact.connection_id == connection_id))]
    return order_branch(segments)


def _difference(reader: HistoryReader | None, branch: _LazyBranch, base: str | None,
                head: str) -> tuple[list[str], list[str]] | None:
    if reader is not None:
        try:
            if base is None:
                return [c.sha for c in reader.history(head)][::-1], []
            result = reader.compare(base, head)
            return list(result.added), list(result.removed)
        except RateLimited as exc:
            raise queue.Retry(exc.wait_seconds, str(exc)) from exc
        except ProviderUnavailable as exc:
            log.info("compare unavailable, using recorded history: %s", exc)
    return difference_on_branch(branch.order(), base, head)
