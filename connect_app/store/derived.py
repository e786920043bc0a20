"""What recompute derived from each repository's history, kept so that the next push that only
extends the branch is judged from these rows and the few commits it touches
(jobs/incremental.py), never by reading the history back.

Written in full by every full recomputation (only the rows that differ are touched), extended
by the fast path."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from connect_app.reality.model import Change, Commit, Revert, RevertAnalysis, Segment, UnconfirmedRevert
from connect_app.reality.record import iso, parse_iso
from connect_app.store.db import in_batches, transaction
from connect_app.store.models import BranchCommit, CommitFact, IssueChanges, RepositoryState, SegmentFact

_CHUNK = 500  # SHAs per IN (...) query
_PAGE = 5000  # rows read at a time where a whole history's are compared


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


# ---- plain data <-> JSON ------------------------------------------------------------------


def analysis_json(analysis: RevertAnalysis) -> dict[str, Any]:
    return {
        "reverts": [[r.sha, list(r.targets), r.form, list(r.undoes), list(r.keys)] for r in analysis.reverts],
        "unconfirmed": [[u.sha, u.subject, list(u.keys)] for u in analysis.unconfirmed],
        "reverted_by": dict(analysis.reverted_by),
        "unresolved": list(analysis.unresolved),
    }


def analysis_from(data: Mapping[str, Any]) -> RevertAnalysis:
    return RevertAnalysis(
        reverts=tuple(Revert(sha, tuple(targets), form, tuple(undoes), tuple(keys))
                      for sha, targets, form, undoes, keys in data.get("reverts", [])),
        unconfirmed=tuple(UnconfirmedRevert(sha, subject, tuple(keys))
                          for sha, subject, keys in data.get("unconfirmed", [])),
        reverted_by=dict(data.get("reverted_by", {})),
        unresolved=tuple(data.get("unresolved", [])),
    )


def change_json(change: Change) -> list[Any]:
    return [change.sha, change.position, change.subject, change.pr_number, change.url, iso(change.timestamp)]


def change_from(data: Sequence[Any]) -> Change:
    sha, position, subject, pr_number, url, when = data
    return Change(sha, int(position), subject, pr_number, url, parse_iso(when))


# ---- the full recomputation writes ----------------------------------------------------------


def last_segment_ids(session: Session, connection_ids: Collection[str]) -> dict[str, int]:
    """Each repository's newest segment, read *before* its history is loaded: a segment recorded
    meanwhile is then one the fast path sees as new (and refuses, its commits being known), never
    one it skips."""
    return {cid: int(session.scalar(select(func.max(SegmentFact.id)).where(SegmentFact.connection_id == cid)) or 0)
            for cid in connection_ids}


def save_repository_state(sessions: sessionmaker[Session], connection_id: str, *, branch: Sequence[str],
                          ready: bool, analysis: RevertAnalysis, changes: Mapping[str, Sequence[Change]],
                          hotfixes: Sequence[str], known: Collection[str] | None, last_segment_id: int) -> None:
    """Everything derived from one repository's history, as the full recomputation found it, in
    short transactions. The state says "not ready" from the first to the last of them, so a worker
    stopped half-way leaves the fast path nothing to extend (the next pass is full)."""
    with transaction(sessions) as session:
        state = session.get(RepositoryState, connection_id)
        if state is not None:
            state.ready = False
    _save_branch(sessions, connection_id, branch)
    _save_changes(sessions, connection_id, changes)
    with transaction(sessions) as session:
        state = session.get(RepositoryState, connection_id)
        if state is None:
            state = RepositoryState(connection_id=connection_id)
            session.add(state)
        state.tip = branch[-1] if branch else None
        state.length = len(branch)
        state.last_segment_id = last_segment_id
        state.ready = ready and bool(branch)
        state.known = sorted(known) if known is not None else None
        state.analysis = analysis_json(analysis)
        state.hotfixes = list(hotfixes)


def _save_branch(sessions: sessionmaker[Session], connection_id: str, branch: Sequence[str]) -> None:
    """Only the places that are new are written, unless a place moved (older history arrived by a
    backfill, or a force push rewrote it): then every place is written again."""
    wanted = {sha: position for position, sha in enumerate(branch)}
    stored = bytearray(len(branch))  # 1 where the row is already right, read in pages, not held
    moved = False
    with sessions() as session:
        rows = session.execute(select(BranchCommit.sha, BranchCommit.position)
                               .where(BranchCommit.connection_id == connection_id)).yield_per(_PAGE)
        for sha, position in rows:
            if wanted.get(sha) != position:
                moved = True
                break
            stored[position] = 1
    if moved:
        _clear_branch(sessions, connection_id)
        stored = bytearray(len(branch))
    missing = [(sha, position) for position, sha in enumerate(branch) if not stored[position]]
    for batch in in_batches(missing, lambda _: 1):
        with transaction(sessions) as session:
            add_branch(session, connection_id, batch)


def _clear_branch(sessions: sessionmaker[Session], connection_id: str) -> None:
    with sessions() as session:
        last = session.scalar(select(func.max(BranchCommit.position))
                              .where(BranchCommit.connection_id == connection_id))
    for places in in_batches(range(int(last or 0) + 1), lambda _: 1):
        with transaction(sessions) as session:
            session.execute(delete(BranchCommit).where(BranchCommit.connection_id == connection_id,
                                                       BranchCommit.position.between(places[0], places[-1])))


def add_branch(session: Session, connection_id: str, placed: Sequence[tuple[str, int]]) -> None:
    if placed:
        session.execute(insert(BranchCommit), [{"connection_id": connection_id, "sha": sha, "position": position}
                                               for sha, position in placed])


def _save_changes(sessions: sessionmaker[Session], connection_id: str,
                  changes: Mapping[str, Sequence[Change]]) -> None:
    with sessions() as session:
        stored = set(session.scalars(select(IssueChanges.issue_key)
                                     .where(IssueChanges.connection_id == connection_id)))
    gone = sorted(stored - set(changes))
    for batch in in_batches(gone, lambda _: 1):
        with transaction(sessions) as session:
            session.execute(delete(IssueChanges).where(IssueChanges.connection_id == connection_id,
                                                       IssueChanges.issue_key.in_(batch)))
    for batch in in_batches(sorted(changes), lambda key: len(changes[key]) + 1):
        with transaction(sessions) as session:
            rows = changes_of(session, connection_id, batch)
            for key in batch:
                put_changes(session, connection_id, key, changes[key], rows.get(key))


def put_changes(session: Session, connection_id: str, key: str, changes: Sequence[Change],
                row: IssueChanges | None) -> None:
    data = [change_json(change) for change in changes]
    if row is None:
        session.add(IssueChanges(connection_id=connection_id, issue_key=key, changes=data))
    elif row.changes != data:
        row.changes = data


# ---- the fast path reads --------------------------------------------------------------------


def new_segments(session: Session, connection_id: str, after_id: int) -> list[tuple[int, Segment]]:
    """Segments recorded since the state was derived, in the order they were recorded."""
    rows = session.scalars(select(SegmentFact).where(SegmentFact.connection_id == connection_id,
                                                     SegmentFact.id > after_id).order_by(SegmentFact.id))
    return [(row.id, Segment(before=row.before, after=row.after, commits=tuple(row.commits),
                             source=row.source))  # type: ignore[arg-type]
            for row in rows]


def positions(session: Session, connection_id: str, shas: Collection[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(set(shas))):
        found.update(session.execute(select(BranchCommit.sha, BranchCommit.position).where(
            BranchCommit.connection_id == connection_id, BranchCommit.sha.in_(chunk))).all())
    return found


def commits(session: Session, connection_id: str, shas: Collection[str]) -> dict[str, Commit]:
    """These commits' facts (those we have)."""
    columns = (CommitFact.sha, CommitFact.message, CommitFact.author, CommitFact.authored_at, CommitFact.files,
               CommitFact.parents, CommitFact.brought_in, CommitFact.url)
    found: dict[str, Commit] = {}
    for chunk in _chunks(sorted(set(shas))):
        for sha, message, author, when, files, parents, brought_in, url in session.execute(
                select(*columns).where(CommitFact.connection_id == connection_id, CommitFact.sha.in_(chunk))):
            found[sha] = Commit(sha=sha, message=message, author=author, timestamp=when, files=tuple(files),
                                parents=tuple(parents), brought_in=tuple(brought_in), url=url)
    return found


def changes_of(session: Session, connection_id: str, keys: Collection[str]) -> dict[str, IssueChanges]:
    found: dict[str, IssueChanges] = {}
    for chunk in _chunks(sorted(set(keys))):
        found.update((row.issue_key, row) for row in session.scalars(select(IssueChanges).where(
            IssueChanges.connection_id == connection_id, IssueChanges.issue_key.in_(chunk))))
    return found
