"""Recording facts from deliveries, and reading them back as the reality core's plain data.

Every recorder is an upsert, so processing a delivery twice (a retry after a crash, a replay,
a backfill over live webhooks) leaves the same rows behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from sys import intern
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from connect_app.intake.parse import ConfigChangeEvent, DeploymentEvent, FlagChange, MergedPullRequest
from connect_app.reality.keys import find_keys, find_keys_in_branch
from connect_app.reality.model import Commit, ConfigChange, Deployment, FlagState, PullRequest, Release, Segment
from connect_app.store.models import (
    CommitFact,
    ConfigChangeFact,
    Connection,
    DeploymentFact,
    FlagEvent,
    FlagFact,
    PullRequestFact,
    ReleaseFact,
    SegmentFact,
)

SUCCESS = "success"
_FULL_SHA = re.compile(r"[0-9a-f]{40}")
# `release` actions after which the release is out (GitHub sends several for one publication).
RELEASE_OUT = frozenset({"published", "released", "prereleased", "created", "edited"})
RELEASE_GONE = frozenset({"deleted", "unpublished"})
_PAGE = 5000  # rows of a history read at a time


def record_commit(session: Session, connection_id: str, commit: Commit) -> None:
    row = session.get(CommitFact, (connection_id, commit.sha))
    if row is None:
        session.add(_commit_fact(connection_id, commit))
        session.flush()
        return
    _fill_in(row, commit)


def record_commits(session: Session, connection_id: str, commits: Sequence[Commit]) -> None:
    """`record_commit` for a backfill's page or batch: one lookup and one flush for the lot,
    where one commit at a time costs a query and a flush each."""
    shas = [commit.sha for commit in commits]
    known = {row.sha: row for row in session.scalars(select(CommitFact).where(
        CommitFact.connection_id == connection_id, CommitFact.sha.in_(shas)))}
    for commit in commits:
        row = known.get(commit.sha)
        if row is None:
            known[commit.sha] = row = _commit_fact(connection_id, commit)
            session.add(row)
        else:
            _fill_in(row, commit)
    session.flush()


def _commit_fact(connection_id: str, commit: Commit) -> CommitFact:
    return CommitFact(connection_id=connection_id, sha=commit.sha, message=commit.message, author=commit.author,
                      authored_at=commit.timestamp, files=list(commit.files), parents=list(commit.parents),
                      brought_in=list(commit.brought_in), url=commit.url)


def _fill_in(row: CommitFact, commit: Commit) -> None:
    """Later sources fill in what earlier ones lacked; they never erase."""
    if commit.files and not row.files:
        row.files = list(commit.files)
    if commit.parents and not row.parents:
        row.parents = list(commit.parents)
    if commit.brought_in and not row.brought_in:
        row.brought_in = list(commit.brought_in)
    if commit.url and not row.url:
        row.url = commit.url
    if commit.timestamp and not row.authored_at:
        row.authored_at = commit.timestamp


def commit_author_and_message(session: Session, tenant_id: int, sha: str) -> tuple[str, str] | None:
    """Who made a commit of this tenant's repositories, and its message (a revert's reason)."""
    row = session.execute(select(CommitFact.author, CommitFact.message).join(
        Connection, Connection.id == CommitFact.connection_id).where(
        Connection.tenant_id == tenant_id, CommitFact.sha == sha).limit(1)).first()
    return (row[0] or "", row[1] or "") if row else None


def record_segment(session: Session, connection_id: str, segment: Segment) -> None:
    record_segments(session, connection_id, [segment])


def record_segments(session: Session, connection_id: str, segments: Sequence[Segment]) -> None:
    """Each segment once per (source, before, after): one lookup and one flush for the lot."""
    if not segments:
        return
    # One term per segment, so each is a lookup on the unique index (before may be NULL: IS NULL).
    wanted = or_(*(and_(SegmentFact.connection_id == connection_id, SegmentFact.source == segment.source,
                        SegmentFact.before == segment.before, SegmentFact.after == segment.after)
                   for segment in segments))
    known = {(source, before, after) for source, before, after in session.execute(
        select(SegmentFact.source, SegmentFact.before, SegmentFact.after).where(wanted))}
    for segment in segments:
        if (segment.source, segment.before, segment.after) in known:
            continue
        known.add((segment.source, segment.before, segment.after))
        session.add(SegmentFact(connection_id=connection_id, source=segment.source, before=segment.before,
                                after=segment.after, commits=list(segment.commits), landed_at=segment.at))
    session.flush()


def record_pull_request(session: Session, connection_id: str, pr: MergedPullRequest,
                        commit_shas: Sequence[str] = ()) -> None:
    row = session.get(PullRequestFact, (connection_id, pr.number))
    if row is None:
        row = PullRequestFact(connection_id=connection_id, number=pr.number, title=pr.title)
        session.add(row)
    row.title, row.body, row.head_ref = pr.title, pr.body, pr.head_ref
    row.merge_commit_sha, row.merged_at, row.url = pr.merge_commit_sha, pr.merged_at, pr.url
    if commit_shas:
        row.commit_shas = list(commit_shas)
    session.flush()


def record_deployment(session: Session, connection_id: str, source: str, event: DeploymentEvent,
                      external_id: str) -> DeploymentFact:
    row = session.scalar(select(DeploymentFact).where(
        DeploymentFact.connection_id == connection_id, DeploymentFact.source == source,
        DeploymentFact.external_id == external_id,
    ))
    if row is None:
        row = DeploymentFact(connection_id=connection_id, source=source, external_id=external_id,
                             environment=event.environment, sha=event.sha, status=event.status,
                             deployed_at=event.at, url=event.url)
        session.add(row)
    elif event.status != "pending" or row.status == "pending":
        # A status event is newer news than the deployment event, whatever order they arrived in.
        if row.status != SUCCESS or event.status == SUCCESS:
            row.status = event.status
        if event.status == SUCCESS:
            row.deployed_at = event.at
        row.url = event.url or row.url
        row.environment = event.environment or row.environment
    session.flush()
    return row


@dataclass(frozen=True)
class ReleaseEvent:
    """What a `release` delivery says: a release that is out (`release` set) or withdrawn."""

    release_id: int
    out: bool
    release: Release


def parse_release(payload: Mapping[str, Any]) -> ReleaseEvent | None:
    """None for drafts and actions that say nothing about a published release. The tag's commit is
    known only when `target_commitish` is a full SHA (usually it names a branch)."""
    action = payload.get("action")
    raw = payload.get("release")
    if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), int) or not raw.get("tag_name"):
        return None
    if action in RELEASE_GONE or (action in RELEASE_OUT and raw.get("draft")):
        out = False
    elif action in RELEASE_OUT and raw.get("published_at"):
        out = True
    else:
        return None
    target = str(raw.get("target_commitish") or "").lower()
    published = raw.get("published_at")
    release = Release(
        tag=str(raw["tag_name"]), name=str(raw.get("name") or ""),
        sha=target if _FULL_SHA.fullmatch(target) else None,
        url=raw.get("html_url") if isinstance(raw.get("html_url"), str) else None,
        published_at=datetime.fromisoformat(published.replace("Z", "+00:00")) if published else None,
    )
    return ReleaseEvent(release_id=int(raw["id"]), out=out, release=release)


def record_release(session: Session, connection_id: str, event: ReleaseEvent) -> None:
    if not event.out:
        session.execute(delete(ReleaseFact).where(ReleaseFact.connection_id == connection_id,
                                                  ReleaseFact.release_id == event.release_id))
        return
    release = event.release
    row = session.scalar(select(ReleaseFact).where(ReleaseFact.connection_id == connection_id,
                                                   ReleaseFact.release_id == event.release_id))
    if row is None:
        row = ReleaseFact(connection_id=connection_id, release_id=event.release_id, tag=release.tag)
        session.add(row)
    # An edit that renames the tag points elsewhere; otherwise a known commit is kept.
    if release.sha or row.tag != release.tag:
        row.sha = release.sha
    row.tag, row.name, row.url = release.tag, release.name, release.url or row.url
    row.published_at = release.published_at or row.published_at
    session.flush()


def record_flag(session: Session, connection: Connection, provider: str, change: FlagChange) -> None:
    row = session.scalar(select(FlagFact).where(
        FlagFact.connection_id == connection.id, FlagFact.provider == provider, FlagFact.key == change.key,
        FlagFact.environment == change.environment,
    ))
    if row is None:
        row = FlagFact(tenant_id=connection.tenant_id, connection_id=connection.id, provider=provider,
                       key=change.key, environment=change.environment, on=change.on,
                       changed_at=change.changed_at, last_event_at=change.changed_at)
        session.add(row)
    _record_flag_event(session, connection, provider, change)
    if row.last_event_at > change.changed_at:
        return  # an older event arriving late never overrides a newer state
    # changed_at is when the flag entered its current state: drift is keyed on it, so an event
    # that leaves on/off as it was (another environment's edit, a description, a re-send) must
    # keep it, or the same flag-off would read as a new drift and be commented again.
    if row.on != change.on:
        row.on, row.changed_at = change.on, change.changed_at
    row.last_event_at = change.changed_at
    row.name, row.description, row.tags, row.url = change.name, change.description, list(change.tags), change.url
    session.flush()


def record_config_change(session: Session, connection: Connection, delivery_id: int,
                         event: ConfigChangeEvent) -> None:
    """One row per report; the delivery it came in makes a replay record nothing new."""
    if session.scalar(select(ConfigChangeFact.id).where(ConfigChangeFact.delivery_id == delivery_id)) is not None:
        return
    session.add(ConfigChangeFact(
        tenant_id=connection.tenant_id, connection_id=connection.id, delivery_id=delivery_id,
        environment=event.environment, change=event.change, issue_keys=list(event.issue_keys),
        description=event.description, changed_at=event.changed_at, url=event.url,
    ))
    session.flush()
def _record_flag_event(session: Session, connection: Connection, provider: str, change: FlagChange) -> None:
    """Every toggle stays on the timeline, late ones included; a re-sent event is one event."""
    exists = session.scalar(select(FlagEvent.id).where(
        FlagEvent.connection_id == connection.id, FlagEvent.provider == provider, FlagEvent.key == change.key,
        FlagEvent.environment == change.environment, FlagEvent.at == change.changed_at, FlagEvent.on == change.on,
    ))
    if exists is None:
        session.add(FlagEvent(tenant_id=connection.tenant_id, connection_id=connection.id, provider=provider,
                              key=change.key, environment=change.environment, on=change.on, at=change.changed_at))
        session.flush()


# ---- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepositoryFacts:
    connection_id: str
    repository: str
    segments: tuple[Segment, ...]
    commits: dict[str, Commit]
    pulls: tuple[PullRequest, ...]
    deployments: tuple[Deployment, ...]  # successful production deployments, compared, oldest first
    production_seen: bool
    pending_deployments: int  # successful production deployments not yet compared


def production_names(connection: Connection, default: Iterable[str]) -> frozenset[str]:
    names = connection.production_environments or list(default)
    return frozenset(name.lower() for name in names)


def landing_times(segments: Iterable[Segment]) -> dict[str, datetime]:
    """When each commit first reached the default branch, where a segment says."""
    landed: dict[str, datetime] = {}
    for segment in segments:
        if segment.at is None:
            continue
        for sha in segment.commits:
            if sha not in landed or segment.at < landed[sha]:
                landed[sha] = segment.at
    return landed


def load_repository(session: Session, connection: Connection, production: frozenset[str]) -> RepositoryFacts:
    cid = connection.id
    # A long history is held whole while recompute judges it (100k commits: ~100 MB). The same SHA
    # is read as a commit, as its child's parent and in its segment, and the same author and paths
    # on thousands of commits: interned, each is one string, not one per mention.
    segments = tuple(
        Segment(before=row.before, after=row.after, commits=tuple(map(intern, row.commits)),
                source=row.source, at=row.landed_at)  # type: ignore[arg-type]
        for row in session.scalars(select(SegmentFact).where(SegmentFact.connection_id == cid)
                                   .order_by(SegmentFact.id))
    )
    landed = landing_times(segments)
    # Plain rows rather than ORM objects, read a page at a time: a long history is read on every
    # full recompute, and the identity map, change tracking or a buffer of every row would cost
    # more than the reading itself.
    columns = (CommitFact.sha, CommitFact.message, CommitFact.author, CommitFact.authored_at, CommitFact.files,
               CommitFact.parents, CommitFact.brought_in, CommitFact.url)
    commits = {
        intern(sha): Commit(sha=intern(sha), message=message, author=intern(author), timestamp=when,
                            files=tuple(map(intern, files)), parents=tuple(map(intern, parents)),
                            brought_in=tuple(map(intern, brought_in)), url=url, landed_at=landed.get(sha))
        for sha, message, author, when, files, parents, brought_in, url in session.execute(
            select(*columns).where(CommitFact.connection_id == cid).execution_options(yield_per=_PAGE))
    }
    pulls = tuple(
        PullRequest(number=row.number, title=row.title, body=row.body, head_ref=row.head_ref,
                    merge_commit_sha=row.merge_commit_sha, merged_at=row.merged_at,
                    commit_shas=tuple(row.commit_shas), url=row.url)
        for row in session.scalars(select(PullRequestFact).where(PullRequestFact.connection_id == cid)
                                   .order_by(PullRequestFact.number))
    )
    deployments, rows = load_deployments(session, cid, production)
    return RepositoryFacts(
        connection_id=cid, repository=connection.repository, segments=segments, commits=commits, pulls=pulls,
        deployments=deployments, production_seen=bool(rows),
        pending_deployments=sum(1 for row in rows if not row.compared),
    )


def load_deployments(session: Session, connection_id: str,
                     production: frozenset[str]) -> tuple[tuple[Deployment, ...], list[DeploymentFact]]:
    """The compared successful production deployments, oldest first, and every successful
    production deployment row (compared or not)."""
    rows = production_deployments(session, connection_id, production)
    return tuple(
        Deployment(id=f"{row.source}:{row.external_id}", environment=row.environment, sha=row.sha,
                   deployed_at=row.deployed_at, added=tuple(row.added), removed=tuple(row.removed), url=row.url)
        for row in rows if row.compared
    ), rows


def production_deployments(session: Session, connection_id: str,
                           production: frozenset[str]) -> list[DeploymentFact]:
    rows = session.scalars(select(DeploymentFact).where(
        DeploymentFact.connection_id == connection_id, DeploymentFact.status == SUCCESS,
    ).order_by(DeploymentFact.deployed_at, DeploymentFact.id)).all()
    return [row for row in rows if row.environment.lower() in production]


def load_releases(session: Session, connection_id: str) -> tuple[Release, ...]:
    return tuple(
        Release(tag=row.tag, name=row.name, sha=row.sha, url=row.url, published_at=row.published_at)
        for row in session.scalars(select(ReleaseFact).where(ReleaseFact.connection_id == connection_id)
                                   .order_by(ReleaseFact.published_at, ReleaseFact.id))
    )


def flag_keys(key: str, name: str, description: str, tags: Iterable[str],
              links: Mapping[str, Sequence[str]]) -> list[str]:
    """The issue keys a flag names, or is linked to on the panel."""
    # A flag key is an identifier like a branch name (any case); prose fields name keys in upper case.
    named = find_keys_in_branch(key) + find_keys(" ".join([name, description, *tags]))
    return sorted({*named, *links.get(key, [])})


def keys_a_flag_change_touches(session: Session, connection: Connection, provider: str, change: FlagChange,
                               links: Mapping[str, Sequence[str]]) -> set[str]:
    """Keys the flag names before this change and after it (an edit can rename what it names)."""
    row = session.scalar(select(FlagFact).where(
        FlagFact.connection_id == connection.id, FlagFact.provider == provider, FlagFact.key == change.key,
        FlagFact.environment == change.environment,
    ))
    after = flag_keys(change.key, change.name, change.description, change.tags, links)
    before = flag_keys(row.key, row.name, row.description, row.tags, links) if row is not None else []
    return {*after, *before}


def load_flags(session: Session, tenant_id: int, default_production: Iterable[str],
               links: dict[str, list[str]]) -> list[FlagState]:
    """The tenant's flags from its live connections; each flag's environment is judged by the
    production names of the connection it came through (a deleted connection's flags no longer
    count)."""
    states = []
    rows = session.execute(
        select(FlagFact, Connection).join(Connection, Connection.id == FlagFact.connection_id)
        .where(FlagFact.tenant_id == tenant_id, Connection.deleted_at.is_(None))
    ).all()
    for row, connection in rows:
        keys = flag_keys(row.key, row.name, row.description, row.tags, links)
        production = production_names(connection, default_production)
        states.append(FlagState(provider=row.provider, key=row.key, name=row.name, environment=row.environment,
                                on=row.on, changed_at=row.changed_at, issue_keys=tuple(keys), url=row.url,
                                production=row.environment.lower() in production))
    return states



def load_config_changes(session: Session, tenant_id: int, default_production: Iterable[str]) -> list[ConfigChange]:
    """The tenant's configuration changes from its live connections, in the order they count;
    each is judged by the production names of the connection that reported it, as flags are."""
    rows = session.execute(
        select(ConfigChangeFact, Connection).join(Connection, Connection.id == ConfigChangeFact.connection_id)
        .where(ConfigChangeFact.tenant_id == tenant_id, Connection.deleted_at.is_(None))
        .order_by(ConfigChangeFact.changed_at, ConfigChangeFact.delivery_id)
    ).all()
    return [
        ConfigChange(ref=f"config-{row.delivery_id}", environment=row.environment, change=row.change,
                     issue_keys=tuple(row.issue_keys), description=row.description, changed_at=row.changed_at,
                     url=row.url, arrival=row.delivery_id,
                     production=row.environment.lower() in production_names(connection, default_production))
        for row, connection in rows
    ]
def load_flag_events(session: Session, tenant_id: int, flags: Sequence[FlagState]) -> list[FlagState]:
    """Every recorded on/off event of the tenant's current flags, oldest first, each as the state
    it set (with the flag's name, links and production judgement): what the timeline shows."""
    current = {(flag.provider, flag.key, flag.environment): flag for flag in flags}
    rows = session.execute(
        select(FlagEvent.provider, FlagEvent.key, FlagEvent.environment, FlagEvent.on, FlagEvent.at)
        .join(Connection, Connection.id == FlagEvent.connection_id)
        .where(FlagEvent.tenant_id == tenant_id, Connection.deleted_at.is_(None))
        .order_by(FlagEvent.at, FlagEvent.id)
    ).all()
    events = []
    for provider, key, environment, on, at in rows:
        flag = current.get((provider, key, environment))
        if flag is not None:
            events.append(replace(flag, on=on, changed_at=at))
    return events
