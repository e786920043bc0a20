"""Epics (any parent) carry their children's reality: reconciled like an issue's own property.

After an issue's sync, `note_parent` keeps the parent Jira named for it (the issue's `parent`
field) and queues the roll-up. The roll-up computes each parent's `system-reality` value from its
children's stored reality (`reality.rollup`) and writes it only when it differs from what was last
applied, so replays and restarts make no Jira writes. A parent's own sync leaves the property
(and the issue-context status) to the roll-up, whose value adds the parent's own reality when
commits name it: one writer, one value, no overwriting each other. Roll-ups live in their own rows
(`ParentRollup`, `IssueParent`), apart from the per-issue reality.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connect_app.connect.audited import jira_for
from connect_app.connect.descriptor import ISSUE_CONTEXT_STATUS_PROPERTY, ISSUE_PROPERTY_KEY
from connect_app.connect.jira import JiraClient, JiraError
from connect_app.jobs import queue
from connect_app.jobs.kinds import queue_roll_up
from connect_app.jobs.locks import exclusive
from connect_app.reality.record import drift_from_record, iso, property_value
from connect_app.reality.rollup import ChildReality, ordered, rollup_value
from connect_app.services import Services
from connect_app.store.db import transaction
from connect_app.store.models import IssueParent, IssueReality, ParentRollup, Tenant, utcnow
from connect_app.sync.plan import state_lozenge


def note_parent(svc: Services, tenant_id: int, issue_key: str, parent: Mapping[str, Any] | None) -> None:
    """The hook after an issue's sync: remember its parent as Jira just said, queue the roll-up."""
    parent_key = (parent or {}).get("key") if isinstance(parent, Mapping) else None
    with transaction(svc.sessions) as session:
        row = session.scalar(select(IssueParent).where(IssueParent.tenant_id == tenant_id,
                                                       IssueParent.issue_key == issue_key))
        if row is None:
            row = IssueParent(tenant_id=tenant_id, issue_key=issue_key)
            session.add(row)
        row.parent_key = str(parent_key) if parent_key else None
        row.seen_at = utcnow()
        queue_roll_up(session, tenant_id)


def rolls_up(svc: Services, tenant_id: int, issue_key: str) -> bool:
    """Whether the issue is a parent: then the roll-up alone writes its property, which carries
    the issue's own reality (commits naming the epic itself) and its children's together."""
    with svc.sessions() as session:
        return session.scalar(select(ParentRollup.id).where(
            ParentRollup.tenant_id == tenant_id, ParentRollup.parent_key == issue_key)) is not None


def child_reality(reality: IssueReality) -> ChildReality | None:
    """A child counts when it has linked changes or is in drift (a flag can be its only link)."""
    record = reality.desired or {}
    child = ChildReality(key=reality.issue_key, summary=reality.title or reality.issue_key,
                         state=str(record.get("state") or "live"), since=iso(reality.since),
                         environment=record.get("environment"), changes=int(record.get("changes") or 0),
                         reverted=int(record.get("reverted") or 0))
    return child if child.changes > 0 or child.in_drift else None


def _plan(session: Session, tenant_id: int) -> list[tuple[ParentRollup, dict[str, Any], bool]]:
    """(row, desired value, whether Jira must be written) for every parent of the tenant."""
    realities = {r.issue_key: r for r in session.scalars(
        select(IssueReality).where(IssueReality.tenant_id == tenant_id))}
    groups: dict[str, list[ChildReality]] = {}
    for child_key, parent_key in session.execute(select(IssueParent.issue_key, IssueParent.parent_key).where(
            IssueParent.tenant_id == tenant_id, IssueParent.parent_key.is_not(None))):
        child = child_reality(realities[child_key]) if child_key in realities else None
        groups.setdefault(parent_key, [])
        if child is not None:
            groups[parent_key].append(child)
    rows = {r.parent_key: r for r in session.scalars(select(ParentRollup).where(ParentRollup.tenant_id == tenant_id))}
    plans = []
    for parent_key in sorted(set(groups) | set(rows)):
        children = ordered(groups.get(parent_key, []))
        own_reality = realities.get(parent_key)
        own = _own_value(own_reality)
        if not children and parent_key not in rows:
            continue
        row = rows.get(parent_key) or ParentRollup(tenant_id=tenant_id, parent_key=parent_key, children=[])
        if row.id is None:
            session.add(row)
        row.children = [{"key": c.key, "summary": c.summary, "state": c.state, "since": c.since} for c in children]
        desired = rollup_value(children, own)
        row.desired = desired
        row.computed_at = utcnow()
        applied = {k: v for k, v in (row.applied or {}).items() if k != "updated"}
        plans.append((row, desired, applied != desired))
    return plans


def _own_value(reality: IssueReality | None) -> dict[str, Any] | None:
    if reality is None or not int((reality.desired or {}).get("changes") or 0):
        return None
    return property_value(drift_from_record(reality.issue_key, reality.desired, reality.title or reality.issue_key))


def learn_missing_parents(svc: Services, jira: JiraClient, tenant_id: int) -> None:
    """Issues synced before parents were kept (an upgraded site) have no parent on record: ask
    Jira once, in one search per 50 issues (reads only)."""
    with svc.sessions() as session:
        known = set(session.scalars(select(IssueParent.issue_key).where(IssueParent.tenant_id == tenant_id)))
        unknown = sorted(r.issue_key for r in session.scalars(select(IssueReality).where(
            IssueReality.tenant_id == tenant_id, IssueReality.applied_at.is_not(None),
            IssueReality.missing.is_(False))) if r.issue_key not in known and child_reality(r) is not None)
    # A key Jira no longer knows is left out: it waits for its next sync.
    found = jira.issues_by_key(unknown, fields=["parent"])
    for key, issue in found.items():
        note_parent(svc, tenant_id, key, (issue.get("fields") or {}).get("parent"))


def roll_up_parents(svc: Services, tenant_id: int) -> list[str]:
    """Write the roll-up property of every parent whose value moved; returns their keys."""
    with exclusive(svc, f"rollup:{tenant_id}"):
        with svc.sessions() as session:
            tenant = session.get(Tenant, tenant_id)
            if tenant is None or not tenant.active:
                return []
            session.expunge(tenant)
        jira = jira_for(svc, tenant)
        learn_missing_parents(svc, jira, tenant_id)
        with transaction(svc.sessions) as session:
            plans = _plan(session, tenant_id)
            session.flush()  # new rows get their ids
            due = [(row.id, row.parent_key, desired) for row, desired, write in plans if write]
        if not due:
            return []
        written = []
        for row_id, parent_key, desired in due:
            value = {**desired, "updated": iso(utcnow())}
            try:  # the issue-context status says what the property says, in the same PUT
                jira.edit_issue(parent_key, properties={
                    ISSUE_PROPERTY_KEY: value, ISSUE_CONTEXT_STATUS_PROPERTY: state_lozenge(str(desired["drift"]))})
            except JiraError as exc:
                if exc.retry_after is not None:  # Jira's quota: back to the queue, attempt uncounted
                    raise queue.Retry(exc.retry_after, str(exc)) from exc
                if exc.status != 404:  # a parent deleted since: nothing to show it on
                    raise
                continue
            with transaction(svc.sessions) as session:
                row = session.get(ParentRollup, row_id)
                if row is not None:
                    row.applied, row.applied_at = value, utcnow()
            written.append(parent_key)
        return written
