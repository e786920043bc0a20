"""Each issue's timeline as recompute judged it, kept as rows: the panel reads one page of one
issue, the report reads one window, and neither ever loads the tenant's history."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from connect_app.reality.drift import TimelineEvent
from connect_app.store.models import IssueEvent, IssueReality, IssueTimeline


def _digest(events: Sequence[TimelineEvent]) -> str:
    rows = [[e.kind, e.when.isoformat() if e.when else None, e.title, e.sha, e.url, e.environment]
            for e in events]
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def save_timelines(session: Session, tenant_id: int, timelines: Mapping[str, Sequence[TimelineEvent]],
                   *, only: Collection[str] | None = None) -> int:
    """Store these issues' timelines (oldest first), rewriting only those whose events moved.

    `only` None: `timelines` is every issue of the tenant, and any other issue's rows go. Otherwise
    only the issues in `only` are judged (a key there that has no timeline any more loses its rows).
    Returns how many issues were rewritten."""
    query = select(IssueTimeline).where(IssueTimeline.tenant_id == tenant_id)
    if only is not None:
        if not only:
            return 0
        query = query.where(IssueTimeline.issue_key.in_(sorted(only)))
    stored = {row.issue_key: row for row in session.scalars(query)}
    judged = set(timelines) | set(stored) if only is None else set(only)
    rewritten = 0
    for key in sorted(judged):
        events = [e for e in timelines.get(key, ())]
        row = stored.get(key)
        digest = _digest(events)
        if row is not None and row.digest == digest:
            continue
        rewritten += 1
        session.execute(delete(IssueEvent).where(IssueEvent.tenant_id == tenant_id, IssueEvent.issue_key == key))
        if not events:
            if row is not None:
                session.delete(row)
            continue
        if row is None:
            row = IssueTimeline(tenant_id=tenant_id, issue_key=key, digest=digest, total=len(events))
            session.add(row)
        row.digest, row.total = digest, len(events)
        # Plain rows, not ORM objects: a full recomputation writes every issue's events.
        session.execute(insert(IssueEvent), [
            {"tenant_id": tenant_id, "issue_key": key, "seq": seq, "kind": e.kind, "at": e.when, "title": e.title,
             "sha": e.sha, "url": e.url, "environment": e.environment} for seq, e in enumerate(events)])
    return rewritten


def _event(row: IssueEvent) -> TimelineEvent:
    return TimelineEvent(row.kind, row.at, row.title, row.sha, row.url, row.environment)  # type: ignore[arg-type]


def timeline_total(session: Session, tenant_id: int, key: str) -> int:
    total = session.scalar(select(IssueTimeline.total).where(IssueTimeline.tenant_id == tenant_id,
                                                             IssueTimeline.issue_key == key))
    return int(total or 0)


def timeline_page(session: Session, tenant_id: int, key: str, page: int, size: int) -> list[TimelineEvent]:
    """One page of an issue's timeline, newest first (page 1 is the newest `size` events)."""
    rows = session.scalars(select(IssueEvent).where(IssueEvent.tenant_id == tenant_id, IssueEvent.issue_key == key)
                           .order_by(IssueEvent.seq.desc()).offset((page - 1) * size).limit(size))
    return [_event(row) for row in rows]


def timeline_of_kind(session: Session, tenant_id: int, key: str, kind: str) -> list[TimelineEvent]:
    """An issue's events of one kind, oldest first."""
    rows = session.scalars(select(IssueEvent).where(
        IssueEvent.tenant_id == tenant_id, IssueEvent.issue_key == key, IssueEvent.kind == kind,
    ).order_by(IssueEvent.seq))
    return [_event(row) for row in rows]


def window_events(session: Session, tenant_id: int, since: datetime, until: datetime, kinds: Iterable[str],
                  project: str | None = None) -> dict[str, list[TimelineEvent]]:
    """Per issue the tenant keeps reality for, its events of these kinds in the window, newest first."""
    query = (select(IssueEvent)
             .join(IssueReality, (IssueReality.tenant_id == IssueEvent.tenant_id)
                   & (IssueReality.issue_key == IssueEvent.issue_key))
             .where(IssueEvent.tenant_id == tenant_id, IssueEvent.at.is_not(None), IssueEvent.at >= since,
                    IssueEvent.at <= until, IssueEvent.kind.in_(sorted(kinds))))
    if project:
        query = query.where(IssueEvent.issue_key.startswith(f"{project}-", autoescape=True))
    found: dict[str, list[TimelineEvent]] = {}
    for row in session.scalars(query.order_by(IssueEvent.issue_key, IssueEvent.seq.desc())):
        found.setdefault(row.issue_key, []).append(_event(row))
    return found


def timelines_count(session: Session, tenant_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(IssueTimeline)
                              .where(IssueTimeline.tenant_id == tenant_id)) or 0)
