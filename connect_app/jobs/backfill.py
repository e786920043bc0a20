"""Reading a connected repository's history through the GitHub API.

The default branch's first-parent chain becomes API segments (push data, where we have it,
still wins on order), merges record what they brought in, and pull requests are not needed:
their merge commits and messages carry the keys. Progress is kept on the connection so the
admin page and the terminal show it.

History is read from the commit listing (100 commits, messages and parents, per request); a
commit's files are fetched only when a rule may need them. A backfill runs in bounded slices:
each job run reads at most SLICE_PAGES pages (or records SLICE_STEPS first-parent steps), saves
its cursor on the connection and queues the next slice, so live jobs run in between. In the
worker a slice also ends early, after the page or batch of steps in hand, when a live job is
ready: a revert on its way to Jira runs next, not when the slice's time is up. A rate limit
hands the job back until GitHub's reset instead of sleeping in a worker, after which the
listing goes on where it stopped. A server whose answers cannot be a repository's (parent
cycles, endless or repeating pagination, huge or dripping answers) ends the backfill with a
failure on that connection.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import select
from tqdm import tqdm

from connect_app.config import Settings
from connect_app.jobs import queue
from connect_app.jobs.kinds import BULK, queue_backfill, queue_deployment_compare, queue_recompute
from connect_app.providers.access import reader_for
from connect_app.providers.base import MAX_PAGES, HistoryReader, HostileAnswer, ProviderUnavailable, RateLimited
from connect_app.reality.history import ParentCycle, first_parent_steps
from connect_app.reality.keys import find_keys
from connect_app.reality.model import Commit, Segment
from connect_app.reality.reverts import looks_like_revert
from connect_app.services import Services
from connect_app.store.db import transaction, upgrade
from connect_app.store.facts import record_commits, record_segments
from connect_app.store.models import CommitFact, Connection, Job, utcnow

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
# Asked between units of work: True when live work waits and the slice should end now.
LiveWaiting = Callable[[], bool]
# One job run reads at most this many pages of 100 commits, or records this many steps.
SLICE_PAGES = 20
SLICE_STEPS = 2000
# ... and ends after the page or batch of steps that passes this many seconds: on SQLite with one worker a
# live job (a revert on its way to Jira) waits for the slice in hand, so a slice must stay short.
SLICE_SECONDS = 2.0
# Steps recorded per transaction: progress is saved, and waiting live work looked for, per batch.
RECORD_BATCH = 100
# The last page URLs of a listing, kept across slices to notice pagination that comes back.
RECENT_PAGES = 50


@dataclass(frozen=True)
class Slice:
    finished: bool
    read: int
    recorded: int
    total: int | None


def _connection(svc: Services, connection_id: str) -> Connection:
    with svc.sessions() as session:
        connection = session.get(Connection, connection_id)
        if connection is None or connection.deleted_at is not None:
            raise LookupError(f"no connection {connection_id}")
        session.expunge(connection)
        return connection


def _never() -> bool:
    return False


def backfill_slice(svc: Services, connection_id: str, since: datetime | None, *,
                   pages: int | None = None, steps: int | None = None,
                   live_waiting: LiveWaiting = _never) -> Slice:
    """One bounded step of a backfill, resuming at the cursor saved on the connection. It ends
    early, its progress saved, once `live_waiting` says live work should have the worker.

    Raises RateLimited (the cursor is kept: the next slice goes on from there), HostileAnswer
    and ProviderUnavailable.
    """
    pages, steps = pages or SLICE_PAGES, steps or SLICE_STEPS
    connection = _connection(svc, connection_id)
    # The same access rules as every other read: the connection's token, else the GitHub App
    # within its declared scope, never an anonymous rate limit.
    reader = reader_for(svc, connection)
    if reader is None:
        raise ProviderUnavailable(f"System Reality cannot read {connection.repository}: connect it again with an "
                                  "access token (on GitHub, or install the GitHub App on it). If it has one, its "
                                  "API address is not one System Reality may call; ask whoever runs the app.")
    try:
        cursor = dict((connection.backfill or {}).get("cursor") or {})
        if not cursor:
            cursor = {"phase": "reading", "branch": reader.default_branch(), "next": None, "pages": 0,
                      "read": 0, "recent": []}
        if cursor["phase"] == "reading":
            _read(svc, connection_id, reader, since, cursor, pages, live_waiting)
            if cursor["phase"] == "reading":
                return Slice(False, cursor["read"], 0, None)
        return _record(svc, connection, cursor, steps, live_waiting)
    finally:
        reader.close()


def _read(svc: Services, connection_id: str, reader: HistoryReader, since: datetime | None,
          cursor: dict[str, Any], pages: int, live_waiting: LiveWaiting) -> None:
    """Read up to `pages` pages of the listing, recording each page's commits as facts and the
    cursor with them, in one transaction per page."""
    deadline = time.monotonic() + SLICE_SECONDS
    budget = max(1, MAX_PAGES - int(cursor["pages"]))
    recent: list[str] = list(cursor.get("recent") or [])
    seen: set[str] = set()
    listing = reader.history_pages(cursor["branch"], since, start_url=cursor["next"], max_pages=budget)
    for count, page in enumerate(listing, start=1):
        if page.url in recent or (page.next_url is not None and page.next_url in recent):
            raise HostileAnswer("GitHub's pagination came back to a page it had already sent")
        commits = []
        for commit in page.commits:
            if commit.sha in seen:
                raise HostileAnswer(f"GitHub listed commit {commit.sha[:12]} twice")
            seen.add(commit.sha)
            commits.append(_with_files(reader, commit))
        first = cursor.get("head") is None and bool(commits)
        if first:
            # From here on the listing starts at the head it began at, not at the branch name: a
            # push during the backfill would shift every later page (commits listed twice).
            cursor["head"] = cursor["branch"] = commits[0].sha
        with transaction(svc.sessions) as session:
            record_commits(session, connection_id, commits)
            cursor["pages"] = int(cursor["pages"]) + 1
            cursor["read"] = int(cursor["read"]) + len(commits)
            cursor["next"] = _listing_at(page.next_url, commits[0].sha) if first else page.next_url
            recent = [*recent, page.url][-RECENT_PAGES:]
            cursor["recent"] = recent
            if page.next_url is None:
                cursor.update(phase="recording", recorded=0, recent=[])
            _save(session, connection_id, cursor, state="reading", read=cursor["read"], note=None)
        if page.next_url is None or count >= pages or first or time.monotonic() > deadline or live_waiting():
            return  # after the first page, the next slice goes on from the pinned head


def _listing_at(url: str | None, sha: str) -> str | None:
    """The listing's next-page URL with `sha` in place of the branch name."""
    if url is None:
        return None
    parts = urlsplit(url)
    query = [(name, sha if name == "sha" else value) for name, value in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _record(svc: Services, connection: Connection, cursor: dict[str, Any], limit: int,
            live_waiting: LiveWaiting) -> Slice:
    """Turn the recorded listing into first-parent segments, `limit` steps per slice, in batches.
    Live work ends the slice only once it has recorded for as long as it took to load the listing:
    a history reloaded for every few steps would make each slice mostly overhead."""
    connection_id, read = connection.id, int(cursor["read"])
    head = cursor.get("head")
    if head is None:  # an empty listing
        _finish(svc, connection, read=0, total=0)
        return Slice(True, 0, 0, 0)
    loading = time.monotonic()
    with svc.sessions() as session:
        rows = session.execute(select(CommitFact.sha, CommitFact.parents, CommitFact.authored_at)
                               .where(CommitFact.connection_id == connection_id)).all()
    known = [Commit(sha=sha, message="", timestamp=at, parents=tuple(parents or ())) for sha, parents, at in rows]
    try:
        steps = first_parent_steps(known, head)
    except ParentCycle as exc:
        raise HostileAnswer(f"GitHub answered an impossible history: {exc}") from exc
    started = time.monotonic()
    deadline, paid_at = started + SLICE_SECONDS, started + (started - loading)
    cursor["recorded"] = int(cursor.get("recorded") or 0)
    end = min(len(steps), cursor["recorded"] + limit)
    while cursor["recorded"] < end:
        batch = steps[cursor["recorded"]:min(end, cursor["recorded"] + RECORD_BATCH)]
        _record_steps(svc, connection_id, batch, cursor, read=read, total=len(steps))
        now = time.monotonic()
        if now > deadline or (now >= paid_at and live_waiting()):
            break
    if cursor["recorded"] < len(steps):
        return Slice(False, read, cursor["recorded"], len(steps))
    _finish(svc, connection, read=read, total=len(steps))
    return Slice(True, read, len(steps), len(steps))


def _record_steps(svc: Services, connection_id: str, batch: list[tuple[Commit, tuple[str, ...]]],
                  cursor: dict[str, Any], *, read: int, total: int) -> None:
    """Record the batch of first-parent steps that follows the cursor and move the cursor past it,
    in one transaction."""
    with transaction(svc.sessions) as session:
        record_commits(session, connection_id,
                       [Commit(sha=commit.sha, message="", brought_in=brought) for commit, brought in batch])
        # A merge's own date is when it brought its commits in; other dates say when written.
        record_segments(session, connection_id, [
            Segment(before=commit.parents[0] if commit.parents else None, after=commit.sha,
                    commits=(*brought, commit.sha), source="api", at=commit.timestamp if brought else None)
            for commit, brought in batch])
        cursor["recorded"] = int(cursor["recorded"]) + len(batch)
        _save(session, connection_id, cursor, state="recording", read=read, recorded=cursor["recorded"], total=total)


def _finish(svc: Services, connection: Connection, *, read: int, total: int) -> None:
    with transaction(svc.sessions) as session:
        if total:
            queue_recompute(session, connection.tenant_id)
            queue_deployment_compare(session, connection.id, connection.tenant_id)
        row = session.get(Connection, connection.id)
        if row is not None:
            row.backfill = {key: value for key, value in (row.backfill or {}).items() if key != "cursor"} | {
                "state": "done", "read": read, "recorded": total, "total": total, "note": None,
                "finished": utcnow().isoformat(), "updated": utcnow().isoformat()}


def _save(session: Any, connection_id: str, cursor: dict[str, Any], **fields: Any) -> None:
    row = session.get(Connection, connection_id)
    if row is not None:
        row.backfill = {**(row.backfill or {}), **fields, "cursor": dict(cursor), "updated": utcnow().isoformat()}


def _with_files(reader: HistoryReader, commit: Commit) -> Commit:
    """Files matter for the hotfix rule, so they are read for commits that name a key, call
    themselves a hotfix or revert something; everything else keeps the cheap listing data."""
    subject = commit.subject.lower()
    if not (find_keys(commit.message) or "hotfix" in subject or looks_like_revert(commit.subject)):
        return commit
    return replace(commit, files=reader.commit(commit.sha).files)


def _set_progress(svc: Services, connection_id: str, **fields: Any) -> None:
    with transaction(svc.sessions) as session:
        connection = session.get(Connection, connection_id)
        if connection is not None:
            connection.backfill = {**(connection.backfill or {}), **fields, "updated": utcnow().isoformat()}


def run_backfill(svc: Services, job: Job, *, sleep: Callable[[float], None] = time.sleep) -> None:
    """The backfill job: one slice per run, ended early when a live job is ready (the claim takes
    that first). An unfinished backfill queues its next slice; a rate limit hands the job back
    until GitHub's reset (the wait shows on the connection); a hostile server ends the backfill
    with a failure on the connection, without retries."""
    connection_id = job.payload["connection_id"]
    since = job.payload.get("since")
    try:
        done = backfill_slice(svc, connection_id, datetime.fromisoformat(since) if since else None,
                              live_waiting=lambda: queue.live_work_ready(svc.sessions, BULK))
    except LookupError:
        return  # the connection was deleted meanwhile
    except RateLimited as exc:
        _set_progress(svc, connection_id, state="waiting", note=str(exc))
        raise queue.Retry(exc.wait_seconds, str(exc)) from exc
    except HostileAnswer as exc:
        log.warning("backfill of %s ended: %s", connection_id, exc)
        _set_progress(svc, connection_id, state="failed", note=str(exc), cursor=None)
        return
    except ProviderUnavailable as exc:
        _set_progress(svc, connection_id, state="failed", note=str(exc))
        raise
    if not done.finished:
        with transaction(svc.sessions) as session:
            queue_backfill(session, connection_id, job.tenant_id or _connection(svc, connection_id).tenant_id, since)


def backfill_connection(svc: Services, connection_id: str, since: datetime | None, *,
                        sleep: Callable[[float], None] = time.sleep, progress: Progress | None = None) -> int:
    """The whole backfill in this process (the command line): slice after slice, sleeping through
    rate limits. Returns the number of first-parent commits recorded."""
    _set_progress(svc, connection_id, cursor=None)
    while True:
        try:
            done = backfill_slice(svc, connection_id, since)
        except RateLimited as exc:
            log.info("%s; pausing", exc)
            _set_progress(svc, connection_id, state="waiting", note=str(exc))
            sleep(exc.wait_seconds)
            continue
        except HostileAnswer as exc:
            _set_progress(svc, connection_id, state="failed", note=str(exc), cursor=None)
            raise
        if progress:
            progress(done.recorded if done.total is not None else done.read, done.total)
        if done.finished:
            return done.recorded


def backfill_from_cli(settings: Settings, connection_id: str, since: str | None) -> int:
    upgrade(settings.database_url)
    svc = Services.build(settings)
    bar = tqdm(unit="commit", desc=f"backfill {connection_id}", file=sys.stderr)

    def progress(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.reset(total=total)
            bar.set_description("recording")
        bar.n = done
        bar.refresh()

    try:
        read = backfill_connection(svc, connection_id, datetime.fromisoformat(since) if since else None,
                                   progress=progress)
    except LookupError as exc:
        print(f"connect-app: {exc}", file=sys.stderr)
        return 2
    except ProviderUnavailable as exc:
        print(f"connect-app: the repository host is not reachable for this connection: {exc}", file=sys.stderr)
        return 1
    finally:
        bar.close()
    print(f"read {read} commits of the default branch; drift is recomputed by the worker")
    return 0
