"""The fast path of recompute: a push that only extends a repository's default branch, a flag
change (which names the issues it touches), a new production deployment after the others.

On the common event (a push whose `before` is the branch tip the last recomputation saw, made of
ordinary commits) the derived state of that repository (store/derived.py) is extended and only
the issues the new commits name are judged again, by the same rules (`reality.drift`) fed the
few rows those issues need. Anything it cannot place exactly (out-of-order or duplicate
deliveries, force pushes, backfills, new reverts or hotfix candidates, a release on a new commit,
the first deployment or one that changes environment, changed project keys, a repository never
fully recomputed) returns None, and recompute runs the full recomputation instead, which stays the
path that verifies this one (tests/integration/test_incremental_property.py).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connect_app.jobs.timelines import RepositoryReality, TenantReality
from connect_app.reality.config import by_issue
from connect_app.reality.drift import BranchIndex, TimelineEvent, changes_for_keys, compute_drift, find_hotfixes
from connect_app.reality.incremental import RevertIndex
from connect_app.reality.keys import filter_known, find_keys, find_keys_in_branch
from connect_app.reality.model import Change, Commit, ConfigChange, Drift, FlagState, PullRequest, RevertAnalysis
from connect_app.reality.record import combine
from connect_app.reality.reverts import is_revert_button_branch, may_revert
from connect_app.services import Services
from connect_app.store import derived
from connect_app.store.facts import (
    load_config_changes,
    load_deployments,
    load_flag_events,
    load_releases,
    production_names,
)
from connect_app.store.history import live_connections, load_moves, production_defaults, tenant_flags
from connect_app.store.models import Connection, IssueReality, PullRequestFact, RepositoryState, Tenant

_NO_COMMIT = "0" * 40
_NOTHING = RevertAnalysis((), ())


class _CannotPlace(Exception):
    """What arrived is not a plain extension of the branch: recompute in full."""


@dataclass(frozen=True)
class Judged:
    targets: set[str]  # the issues judged again, by their current key
    drifts: dict[str, Drift]  # their drift (an issue nothing names any more has none)
    timelines: dict[str, list[TimelineEvent]]  # their timelines (empty: none any more)


def extend_and_judge(svc: Services, session: Session, tenant: Tenant, known: Collection[str] | None,
                     keys: Collection[str] = (), deployments: Collection[tuple[str, int]] = ()) -> Judged | None:
    """Extend each repository's derived state by its new pushes and judge the issues they name
    (and `keys`, named by a flag change, and those whose changes `deployments` shipped or took
    out); None when anything new is not a plain extension (nothing has been written then)."""
    try:
        connections = live_connections(session, tenant.id)
        names = _extend_all(session, connections, known)
        by_id = {connection.id: connection for connection in connections}
        for connection_id, deployment_id in deployments:
            names |= _deployed_keys(svc, session, tenant, by_id, connection_id, deployment_id, known)
    except _CannotPlace:
        return None
    return judge(svc, session, tenant, names | set(keys), known)


_DEPLOYMENT_BOUND = 1000  # commits a deployment may add or remove and still take the fast path


def _deployed_keys(svc: Services, session: Session, tenant: Tenant, connections: Mapping[str, Connection],
                   connection_id: str, deployment_id: int, known: Collection[str] | None) -> set[str]:
    """The keys whose changes a new production deployment (the latest, in the environment of the
    one before it) shipped or took out. Anything it does that reaches beyond those issues (the
    first deployment, a change of environment, reverts or hotfix candidates coming or going, a
    deployment reported out of order) is for the full pass."""
    connection = connections.get(connection_id)
    state = session.get(RepositoryState, connection_id)
    if connection is None or state is None:
        raise _CannotPlace
    production = production_names(connection, production_defaults(svc, tenant))
    compared, rows = load_deployments(session, connection_id, production)
    if not rows or rows[-1].id != deployment_id or not rows[-1].compared or len(compared) < 2:
        raise _CannotPlace
    new, previous = compared[-1], compared[-2]
    shas = {*new.added, *new.removed}
    analysis = derived.analysis_from(state.analysis)
    if (new.environment != previous.environment or len(shas) > _DEPLOYMENT_BOUND
            or shas & {r.sha for r in analysis.reverts} or shas & {u.sha for u in analysis.unconfirmed}
            or shas & set(state.hotfixes)):
        raise _CannotPlace
    commits = derived.commits(session, connection_id, derived.positions(session, connection_id, shas))
    found = changes_for_keys(list(commits.values()), _merging_pulls(session, connection_id, commits), _NOTHING, known)
    return set(found)


def _extend_all(session: Session, connections: Sequence[Connection], known: Collection[str] | None) -> set[str]:
    if not connections:
        raise _CannotPlace  # flags without a repository: the full pass decides what they mean
    wanted = sorted(known) if known is not None else None
    plans = []
    for connection in connections:
        state = session.get(RepositoryState, connection.id)
        if state is None or not state.ready or state.known != wanted:
            raise _CannotPlace
        plans.append(_plan(session, connection.id, state, known))
    # Every repository's news is placeable: only now is anything written.
    names: set[str] = set()
    for plan in plans:
        names |= plan.append(session)
    return names


@dataclass
class _Extension:
    """Ordinary commits pushed on top of a repository's known tip, with the changes they make."""

    connection_id: str
    state: RepositoryState
    segment_id: int
    commits: list[Commit]
    changes: dict[str, list[Change]]

    def append(self, session: Session) -> set[str]:
        """Place the commits after the tip; returns the keys whose changes grew."""
        length, shas = self.state.length, [commit.sha for commit in self.commits]
        stored = derived.changes_of(session, self.connection_id, self.changes)
        for name, changes in self.changes.items():
            row = stored.get(name)
            earlier = [derived.change_from(c) for c in row.changes] if row is not None else []
            placed = [replace(change, position=change.position + length) for change in changes]
            derived.put_changes(session, self.connection_id, name, earlier + placed, row)
        derived.add_branch(session, self.connection_id, [(sha, length + i) for i, sha in enumerate(shas)])
        self.state.last_segment_id = self.segment_id
        if shas:
            self.state.tip, self.state.length = shas[-1], length + len(shas)
        return set(self.changes)


def _plan(session: Session, connection_id: str, state: RepositoryState,
          known: Collection[str] | None) -> _Extension:
    segment_id, commits = _new_commits(session, connection_id, state)
    if not commits:
        return _Extension(connection_id, state, segment_id, [], {})
    shas = [commit.sha for commit in commits]
    pulls = _merging_pulls(session, connection_id, shas)
    if any(may_revert(commit.message) for commit in commits) or _revert_button_touches(session, connection_id, shas):
        raise _CannotPlace  # a revert looks back over the whole branch: the full pass places it
    if find_hotfixes(commits, pulls, _NOTHING, known):
        raise _CannotPlace  # a hotfix candidate may touch any Done issue's files
    if any(release.sha in shas for release in load_releases(session, connection_id)):
        raise _CannotPlace
    return _Extension(connection_id, state, segment_id, commits, changes_for_keys(commits, pulls, _NOTHING, known))


def _new_commits(session: Session, connection_id: str, state: RepositoryState) -> tuple[int, list[Commit]]:
    """The commits pushed on top of the known tip since the state was derived, in branch order."""
    segments = derived.new_segments(session, connection_id, state.last_segment_id)
    if not segments:
        return state.last_segment_id, []
    tip, order = state.tip, list[str]()
    for _, segment in segments:
        before = None if segment.before in (None, "", _NO_COMMIT) else segment.before
        if segment.source != "push" or tip is None or before != tip:
            raise _CannotPlace  # a force push, a backfill, or a push delivered before an earlier one
        order.extend(sha for sha in dict.fromkeys((*segment.commits, segment.after)) if sha not in order)
        tip = segment.after
    if derived.positions(session, connection_id, order):
        raise _CannotPlace  # a redelivery or a push back onto known history
    facts = derived.commits(session, connection_id, order)
    if len(facts) != len(order):
        raise _CannotPlace
    return segments[-1][0], [facts[sha] for sha in order]


def _merging_pulls(session: Session, connection_id: str, shas: Collection[str]) -> list[PullRequest]:
    rows = session.scalars(select(PullRequestFact).where(
        PullRequestFact.connection_id == connection_id, PullRequestFact.merge_commit_sha.in_(sorted(shas))))
    return [PullRequest(number=r.number, title=r.title, body=r.body, head_ref=r.head_ref,
                        merge_commit_sha=r.merge_commit_sha, merged_at=r.merged_at,
                        commit_shas=tuple(r.commit_shas), url=r.url) for r in rows]


def _revert_button_touches(session: Session, connection_id: str, shas: Collection[str]) -> bool:
    rows = session.scalars(select(PullRequestFact).where(
        PullRequestFact.connection_id == connection_id, PullRequestFact.merged_at.is_not(None),
        PullRequestFact.head_ref.contains("revert-")))
    return any(is_revert_button_branch(row.head_ref) and set(shas) & {*row.commit_shas, row.merge_commit_sha}
               for row in rows)


# ---- judging a few issues from stored rows --------------------------------------------------


class _Sparse(Sequence[Commit]):
    """The default branch with only the commits some issue needs loaded: its length is the
    branch's, so every rule that places events by position sees the real branch."""

    def __init__(self, length: int, by_position: Mapping[int, Commit]) -> None:
        self.length, self.by_position = length, by_position

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: Any) -> Any:
        return self.by_position[index]

    def __iter__(self) -> Iterator[Commit]:
        return iter(self.by_position[p] for p in sorted(self.by_position))


def _flag_keys(flags: Sequence[FlagState], known: Collection[str] | None) -> set[str]:
    """The keys the drift rules judge because a flag names them (as `drift_for_keys` does)."""
    return {key for flag in flags
            for key in filter_known([*flag.issue_keys, *find_keys_in_branch(flag.key), *find_keys(flag.name)],
                                    known)}


@dataclass
class _Issues:
    """The issues judged again: their current keys, and every key their commits may name."""

    targets: set[str]
    moves: Mapping[str, str]

    def names(self, target: str) -> list[str]:
        """Keys whose changes count for `target` (its own unless it moved, and those moved into it)."""
        own = [] if target in self.moves else [target]
        return own + sorted(old for old, new in self.moves.items() if new == target)

    def timeline_names(self, target: str) -> list[str]:
        return [target, *(old for old, new in self.moves.items() if new == target)]

    def every_name(self) -> set[str]:
        return {name for t in self.targets for name in (*self.names(t), *self.timeline_names(t))}


def judge(svc: Services, session: Session, tenant: Tenant, names: Collection[str],
          known: Collection[str] | None) -> Judged:
    """Drift and timeline of the issues these keys name, from stored rows only."""
    moves = load_moves(session, tenant.id)
    issues = _Issues({moves.get(name, name) for name in names}, moves)
    if not issues.targets:
        return Judged(set(), {}, {})
    every = issues.every_name()
    rows = {r.issue_key: r for r in session.scalars(select(IssueReality).where(
        IssueReality.tenant_id == tenant.id, IssueReality.issue_key.in_(sorted(every | issues.targets))))}
    done = {key: row.done_at for key, row in rows.items() if row.done_at is not None}
    flags = tenant_flags(svc, session, tenant)
    configs = load_config_changes(session, tenant.id, production_defaults(svc, tenant))
    per_key: dict[str, list[Drift]] = {}
    reality = TenantReality(moves=moves, flags=load_flag_events(session, tenant.id, flags), configs=configs)
    for index, connection in enumerate(live_connections(session, tenant.id)):
        # Flags and configuration belong to the tenant, not to one repository: weighed once.
        repo, drifts = _judge_repository(session, connection, production_defaults(svc, tenant), issues, every,
                                         [f for f in flags if f.production] if index == 0 else [], known, done,
                                         {key: row.title for key, row in rows.items() if row.title},
                                         by_issue(configs) if index == 0 else {})
        reality.repositories.append(repo)
        for drift in drifts:
            per_key.setdefault(drift.key, []).append(drift)
    judged = {key: combine(found) for key, found in per_key.items()}
    timeline_keys = set(issues.targets) | (set(names) & reality.keys())
    return Judged(issues.targets, judged,
                  {key: reality.timeline(key, done.get(key)) for key in sorted(timeline_keys)})


def _judge_repository(session: Session, connection: Connection, defaults: Sequence[str], issues: _Issues,
                      every: set[str], flags: Sequence[FlagState], known: Collection[str] | None,
                      done: Mapping[str, datetime], titles: Mapping[str, str],
                      configured: Mapping[str, Sequence[ConfigChange]],
                      ) -> tuple[RepositoryReality, list[Drift]]:
    state = session.get(RepositoryState, connection.id)
    assert state is not None  # checked by _extend_all
    reverts = RevertIndex.of(derived.analysis_from(state.analysis))
    changes = {name: [derived.change_from(c) for c in row.changes]
               for name, row in derived.changes_of(session, connection.id, every).items()}
    deployments, production_rows = load_deployments(session, connection.id, production_names(connection, defaults))
    releases = load_releases(session, connection.id)
    hotfix_commits = derived.commits(session, connection.id, state.hotfixes)
    hotfixes = [hotfix_commits[sha] for sha in state.hotfixes if sha in hotfix_commits]
    branch = _branch_for(session, connection.id, state.length, changes, reverts, issues,
                         [*state.hotfixes, *(r.sha for r in releases if r.sha)])
    flagged = _flag_keys(flags, known)
    drifts = []
    for target in sorted(issues.targets):
        for name in issues.names(target):
            found = changes.get(name, [])
            if not found and name not in flagged:
                continue
            analysis = reverts.for_issue(name, [*(c.sha for c in found), *state.hotfixes])
            when_done = done.get(name) or (done.get(issues.moves[name]) if name in issues.moves else None)
            drift = compute_drift(name, found, analysis, branch=branch,
                                  deployments=deployments if production_rows else None, flags=flags,
                                  hotfixes=hotfixes, done_at=when_done, feature_title=titles.get(name),
                                  configs=configured.get(name, ()))
            drifts.append(replace(drift, key=target))
    repo = RepositoryReality(branch=branch, reverts=reverts, changes=changes, deployments=deployments,
                             hotfixes=hotfixes, releases=releases)
    return repo, drifts


def _branch_for(session: Session, connection_id: str, length: int, changes: Mapping[str, list[Change]],
                reverts: RevertIndex, issues: _Issues, extra: Sequence[str]) -> BranchIndex:
    """The branch with the commits these issues' rules look at: their changes (and what merges
    among them brought in), the reverts reaching them, unconfirmed reverts naming them, hotfix
    candidates and release tags."""
    shas = {change.sha for found in changes.values() for change in found} | set(extra)
    shas |= {r.sha for r in reverts.reverts_reaching(shas)}
    shas |= {u.sha for key in issues.targets for u in reverts.unconfirmed_by_key.get(key, ())}
    facts = derived.commits(session, connection_id, shas)
    inner = {sha for commit in facts.values() for sha in commit.brought_in} - set(facts)
    facts |= derived.commits(session, connection_id, inner)
    placed = derived.positions(session, connection_id, facts)
    by_position = {position: facts[sha] for sha, position in placed.items()}
    return BranchIndex(_Sparse(length, by_position), placed)  # type: ignore[arg-type]
