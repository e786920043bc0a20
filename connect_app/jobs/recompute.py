"""From stored facts to the desired Jira state of every issue of a tenant.

The work here is the reality core's (pure functions); this module only loads facts, combines
the answers of several repositories, and records what each issue should look like. Issues whose
desired state moved get a `sync_issue` job; everything else is left alone, which is why replays
and backfills that change nothing make no Jira calls.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import chain

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from connect_app.connect.audited import jira_for
from connect_app.jobs.incremental import extend_and_judge
from connect_app.jobs.kinds import (
    COMPARE_DEPLOYMENTS,
    queue_backfill,
    queue_deployment_recompute,
    queue_devops,
    queue_flag_recompute,
    queue_push_recompute,
    queue_recompute,
    queue_sync,
    recompute_key,
)
from connect_app.jobs.locks import exclusive
from connect_app.jobs.timelines import RepositoryReality, TenantReality, each_timeline, tenant_reality
from connect_app.reality.drift import TimelineEvent, drift_for_keys
from connect_app.reality.model import NOT_DRIFT, Drift
from connect_app.reality.record import change_id, combine, drift_record
from connect_app.services import Services
from connect_app.store.db import in_batches, transaction
from connect_app.store.derived import last_segment_ids, save_repository_state
from connect_app.store.history import (
    RepositoryHistory,
    TenantHistory,
    live_connections,
    load_moves,
    load_tenant_history,
    projects_with_moves,
)
from connect_app.store.models import Connection, IssueReality, IssueTimeline, Job, Tenant, utcnow
from connect_app.store.timelines import save_timelines
from connect_app.sync.catch_up import behind_policy

log = logging.getLogger(__name__)

PROJECTS_TTL = timedelta(minutes=10)


def known_projects(svc: Services, tenant: Tenant) -> list[str] | None:
    """The tenant's Jira project keys, refreshed every few minutes (a key of a project that does
    not exist is not an issue key)."""
    fresh = tenant.known_projects_at is not None and utcnow() - tenant.known_projects_at < PROJECTS_TTL
    if fresh:
        return list(tenant.known_projects)
    try:
        projects = jira_for(svc, tenant).list_projects()
    except Exception as exc:  # Jira unreachable: keep working with what we knew
        log.warning("project list unavailable for tenant %s: %s", tenant.id, exc)
        return list(tenant.known_projects) if tenant.known_projects_at else None
    tenant.known_projects, tenant.known_projects_at = projects, utcnow()
    return projects


def compute_tenant(svc: Services, session: Session, tenant: Tenant) -> dict[str, Drift]:
    """Drift of every issue any of the tenant's repositories or flags names."""
    return _judge_tenant(svc, session, tenant, known_projects(svc, tenant)).drifts


@dataclass
class _FullPass:
    """The full recomputation's answer, judged from the whole history before any of it is written."""

    history: TenantHistory
    reality: TenantReality
    known: set[str] | None
    drifts: dict[str, Drift]
    done_at: dict[str, datetime]
    last_segments: dict[str, int]

    def timeline_keys(self) -> set[str]:
        return self.reality.keys() | set(self.drifts)


def _judge_tenant(svc: Services, session: Session, tenant: Tenant, projects: list[str] | None) -> _FullPass:
    """Drift of every issue, from the whole history: the full recomputation. Reads only."""
    last_segments = last_segment_ids(session, [c.id for c in live_connections(session, tenant.id)])
    history = load_tenant_history(svc, session, tenant)
    moves = history.moves
    known = history.projects_with_moves(projects)
    done_at: dict[str, datetime] = {}
    titles: dict[str, str] = {}
    for key, done, title in session.execute(select(IssueReality.issue_key, IssueReality.done_at, IssueReality.title)
                                            .where(IssueReality.tenant_id == tenant.id)):
        if done is not None:
            done_at[key] = done
        if title:
            titles[key] = title
    per_key: dict[str, list[Drift]] = {}
    for index, repo in enumerate(history.repositories):
        # Flags belong to the tenant, not to one repository: weigh them once.
        flags = [f for f in history.flags if f.production] if index == 0 else []
        configs = history.config_changes if index == 0 else []  # tenant-level too, like flags
        drifts = drift_for_keys(
            repo.commits, repo.facts.pulls, analysis=repo.analysis, known_projects=known,
            deployments=repo.facts.deployments if repo.facts.production_seen else None, flags=flags,
            done_at={old: done_at[new] for old, new in moves.items() if new in done_at} | done_at,
            titles=titles, configs=configs,
        )
        for key, drift in drifts.items():
            key = moves.get(key, key)
            per_key.setdefault(key, []).append(replace(drift, key=key))
    judged = {key: combine(drifts) for key, drifts in per_key.items()}
    return _FullPass(history, tenant_reality(session, tenant.id, history, known), known, judged, done_at,
                     last_segments)


def _keep_derived(sessions: sessionmaker[Session], repo: RepositoryHistory, found: RepositoryReality,
                  known: Collection[str] | None, last_segment_id: int) -> None:
    """What this full pass derived, for the next push to extend (jobs/incremental.py). The fast
    path extends only a branch whose tip a push reached and whose every commit we hold."""
    tip = repo.commits[-1].sha if repo.commits else None
    reached = any(segment.after == tip for segment in repo.facts.segments)
    save_repository_state(sessions, repo.connection.id, branch=[c.sha for c in repo.commits],
                          ready=repo.complete and reached, analysis=repo.analysis, changes=found.changes,
                          hotfixes=[c.sha for c in found.hotfixes], known=known, last_segment_id=last_segment_id)


def _resolve_by_backfill(session: Session, connection: Connection, unresolved: Sequence[str]) -> None:
    """A revert names a commit we never saw (it landed before the repository was connected, or a
    push delivery was lost). With API access, reading the history once places it where it
    belongs; without, it stays unresolved until someone runs a backfill. Each set of unknown
    SHAs triggers at most one automatic backfill, so a SHA that is really not on the default
    branch (a squashed branch's inner revert) never loops."""
    if connection.token_sealed is None:
        return
    attempted = set((connection.backfill or {}).get("resolving") or [])
    missing = sorted(set(unresolved) - attempted)
    if not missing:
        return
    connection.backfill = {**(connection.backfill or {}), "resolving": sorted(attempted | set(missing)),
                           "state": "queued"}
    queue_backfill(session, connection.id, connection.tenant_id, since=None)


def recompute_tenant(svc: Services, tenant_id: int, *, push: bool = False, keys: Sequence[str] = (),
                     deployments: Sequence[tuple[str, int]] = ()) -> list[str]:
    """Record the desired state of every issue; queue a sync for those that moved. Returns them.

    `push`: asked for by pushes (and flag changes, naming `keys`, and new production
    `deployments`, (connection id, deployment row id)) alone, so the fast path may judge only what
    they touch (jobs/incremental.py); it falls back to the full recomputation whenever it cannot.

    Never alongside another recompute of the same tenant: an older run finishing last would
    overwrite a newer one's answer (see locks.py)."""
    with exclusive(svc, f"recompute:{tenant_id}"):
        return _recompute_tenant(svc, tenant_id, push, keys, deployments)


def _recompute_push(svc: Services, session: Session, tenant: Tenant, keys: Sequence[str],
                    deployments: Sequence[tuple[str, int]]) -> list[str] | None:
    if _full_waiting(session, tenant.id):
        return None  # something else changed too: the full pass weighs it all, once
    known = projects_with_moves(known_projects(svc, tenant), load_moves(session, tenant.id))
    judged = extend_and_judge(svc, session, tenant, known, keys, deployments)
    if judged is None:
        return None
    save_timelines(session, tenant.id, judged.timelines, only=judged.timelines.keys())
    realities = {r.issue_key: r for r in session.scalars(select(IssueReality).where(
        IssueReality.tenant_id == tenant.id, IssueReality.issue_key.in_(sorted(judged.targets))))}
    return _record(session, tenant.id, judged.drifts, realities) + _back_to_live(
        session, tenant.id, {key: row for key, row in realities.items() if key not in judged.drifts})


def _full_waiting(session: Session, tenant_id: int) -> bool:
    waiting = session.scalar(select(Job).where(Job.dedupe_key == recompute_key(tenant_id), Job.status == "queued"))
    return waiting is not None and not waiting.payload.get("push")


def _back_to_live(session: Session, tenant_id: int, realities: dict[str, IssueReality]) -> list[str]:
    """An issue no repository or flag names any more (its only commit was force-pushed away, the
    flag was renamed) goes back to live rather than keeping a stale drift."""
    moved = []
    for key, reality in sorted(realities.items()):
        if reality.state not in NOT_DRIFT and _apply_drift(reality, Drift(
                key=key, state="live", since=None, summary="", changes=0, reverted=0, environment=None)):
            moved.append(key)
            queue_sync(session, tenant_id, key)
    return moved


def _record(session: Session, tenant_id: int, drifts: dict[str, Drift],
            realities: dict[str, IssueReality]) -> list[str]:
    moved: list[str] = []
    for key, drift in sorted(drifts.items()):
        reality = realities.get(key)
        if reality is None:
            reality = IssueReality(tenant_id=tenant_id, issue_key=key, desired={})
            session.add(reality)
        if _apply_drift(reality, drift):
            moved.append(key)
            queue_sync(session, tenant_id, key)
    return moved


def _recompute_tenant(svc: Services, tenant_id: int, push: bool = False, keys: Sequence[str] = (),
                      deployments: Sequence[tuple[str, int]] = ()) -> list[str]:
    with transaction(svc.sessions) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None or not tenant.active:
            return []
        if _comparison_waiting(session, tenant_id):
            # A deployment is about to be compared: judging now would flicker issues through
            # "pending" and back. Queue behind the comparison instead (jobs run oldest first).
            _queue_again(session, tenant_id, push, keys, deployments)
            return []
        moved = _recompute_push(svc, session, tenant, keys, deployments) if push else None
        if moved is not None:
            _after(session, tenant, moved)
            return moved
        projects = known_projects(svc, tenant)
    moved = _recompute_full(svc, tenant_id, projects)
    with transaction(svc.sessions) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is not None:
            _after(session, tenant, moved)  # whatever follows a recomputation follows either path
    return moved


def _queue_again(session: Session, tenant_id: int, push: bool, keys: Sequence[str],
                 deployments: Sequence[tuple[str, int]]) -> None:
    """The same recomputation again, behind the comparison. Every push queues a comparison, so
    a push's recomputation turned into a full one here would cost every push the whole history."""
    if not push:
        queue_recompute(session, tenant_id)
    elif keys:
        queue_flag_recompute(session, tenant_id, keys)
    elif deployments:
        for connection_id, deployment_id in deployments:
            queue_deployment_recompute(session, tenant_id, connection_id, deployment_id)
    else:
        queue_push_recompute(session, tenant_id)


def _after(session: Session, tenant: Tenant, moved: Sequence[str]) -> None:
    """What follows any recomputation, fast or full."""
    # Jira's Releases and Deployments follow the same facts; that job sends only what moved.
    queue_devops(session, tenant.id)
    # Issues nothing moved for, whose project's policy changed under them (observe -> comment).
    synced = set(moved)
    labelled_or_in_drift = session.scalars(select(IssueReality).where(
        IssueReality.tenant_id == tenant.id,
        or_(IssueReality.state.not_in(sorted(NOT_DRIFT)), IssueReality.applied_label.is_not(None))))
    for key in behind_policy(session, tenant, (r for r in labelled_or_in_drift if r.issue_key not in synced)):
        queue_sync(session, tenant.id, key)


def _recompute_full(svc: Services, tenant_id: int, projects: list[str] | None) -> list[str]:
    """Judged from the whole history while holding no write, then written in short transactions
    (store.db.WRITE_BATCH rows each): on SQLite a webhook delivery waits for the one write lock, and
    at 100k commits one transaction held it for a minute. Each issue's drift and timeline are
    written in the same transaction, so a page read mid-pass shows an issue as it was or as it is
    now, never half of each; issues differ from one another only until the pass ends."""
    with svc.sessions() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        full = _judge_tenant(svc, session, tenant, projects)
    for repo, found in zip(full.history.repositories, full.reality.repositories, strict=True):
        if repo.analysis.unresolved:
            with transaction(svc.sessions) as session:
                connection = session.get(Connection, repo.connection.id)
                if connection is not None:
                    _resolve_by_backfill(session, connection, repo.analysis.unresolved)
        _keep_derived(svc.sessions, repo, found, full.known, full.last_segments.get(repo.connection.id, 0))
    return _write_issues(svc, tenant_id, full)


def _write_issues(svc: Services, tenant_id: int, full: _FullPass) -> list[str]:
    """Every issue's drift and timeline, a batch of issues a transaction. Each timeline is built
    when its batch is written and let go after: a tenant's timelines are as many events as commits."""
    with svc.sessions() as session:
        stored = set(session.scalars(select(IssueTimeline.issue_key).where(IssueTimeline.tenant_id == tenant_id)))
        stored |= set(session.scalars(select(IssueReality.issue_key).where(IssueReality.tenant_id == tenant_id)))
    named = full.timeline_keys()
    judged = chain(each_timeline(full.reality, named, full.done_at),
                   ((key, []) for key in sorted(stored - named)))  # nothing names them any more
    moved: list[str] = []
    for batch in in_batches(judged, lambda item: len(item[1]) + 1):
        with transaction(svc.sessions) as session:
            moved += _write_batch(session, tenant_id, full.drifts, dict(batch))
    return moved


def _write_batch(session: Session, tenant_id: int, drifts: Mapping[str, Drift],
                 events: Mapping[str, list[TimelineEvent]]) -> list[str]:
    keys = sorted(events)
    save_timelines(session, tenant_id, {key: found for key, found in events.items() if found}, only=keys)
    realities = {r.issue_key: r for r in session.scalars(select(IssueReality).where(
        IssueReality.tenant_id == tenant_id, IssueReality.issue_key.in_(keys)))}
    moved = _record(session, tenant_id, {key: drifts[key] for key in keys if key in drifts}, realities)
    return moved + _back_to_live(session, tenant_id, {k: r for k, r in realities.items() if k not in drifts})


def _comparison_waiting(session: Session, tenant_id: int) -> bool:
    return session.scalar(select(Job.id).where(
        Job.tenant_id == tenant_id, Job.kind == COMPARE_DEPLOYMENTS, Job.status == "queued",
        Job.run_after <= utcnow()).limit(1)) is not None


def _apply_drift(reality: IssueReality, drift: Drift) -> bool:
    record = drift_record(drift)
    new_change = change_id(drift)
    if reality.desired == record and reality.change_id == new_change:
        return False
    if reality.change_id and new_change is None:
        reality.restore_of = reality.change_id  # live again after a drift: a restore may be owed
    elif new_change is not None:
        reality.restore_of = None
    reality.desired = record
    reality.state = drift.state
    reality.since = drift.since
    reality.change_id = new_change
    reality.computed_at = utcnow()
    return True
