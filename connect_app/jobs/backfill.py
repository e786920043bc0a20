"""Reading a connected repository's history through the GitHub API.

The default branch's first-parent chain becomes API segments (push data, where we have it,
still wins on order), merges record what they brought in, and pull requests are not needed:
their merge commits and messages carry the keys. Progress is kept on the connection so the
admin page and the terminal show it. Exhausting the rate limit pauses until GitHub's reset.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from tqdm import tqdm

from connect_app.config import Settings
from connect_app.jobs.kinds import queue_deployment_compare, queue_recompute
from connect_app.providers.github import GitHubUnavailable, RateLimited, RepositoryReader, reader_for
from connect_app.reality.history import first_parent_steps
from connect_app.reality.keys import find_keys
from connect_app.reality.model import Commit, Segment
from connect_app.reality.reverts import looks_like_revert
from connect_app.services import Services
from connect_app.store.db import transaction, upgrade
from connect_app.store.facts import record_commit, record_segment
from connect_app.store.models import Connection, Job, utcnow

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
BATCH = 200


def backfill_connection(svc: Services, connection_id: str, since: datetime | None, *,
                        sleep: Callable[[float], None] = time.sleep, progress: Progress | None = None) -> int:
    """Read history and record it as facts. Returns the number of first-parent commits read."""
    with svc.sessions() as session:
        connection = session.get(Connection, connection_id)
        if connection is None or connection.deleted_at is not None:
            raise LookupError(f"no connection {connection_id}")
        repository, tenant_id = connection.repository, connection.tenant_id
    # The same access rules as every other read: the connection's token, else the GitHub App
    # within its declared scope, never an anonymous rate limit.
    reader = reader_for(svc, connection)
    if reader is None:
        raise GitHubUnavailable(f"{repository} has no token, no GitHub App covers it, or its API address "
                                "is not allowed (ALLOWED_GITHUB_API_URLS)")
    # Every pause shows on the admin page; before this the page said "queued" for as long as the
    # rate limit lasted (caught by test_backfill_pauses_on_rate_limit_and_resumes).
    def waiting(exc: RateLimited) -> None:
        _set_progress(svc, connection_id, state="waiting", note=str(exc))

    branch = _patiently(reader.default_branch, sleep, waiting)
    commits: list[Commit] = []
    history = reader.history(branch, since)
    while True:
        try:
            commit = next(history)
        except StopIteration:
            break
        except RateLimited as exc:
            _set_progress(svc, connection_id, state="waiting", note=str(exc))
            sleep(exc.wait_seconds)
            history = reader.history(branch, since)  # start the listing again after the reset
            commits = []
            continue
        commits.append(commit)
        if len(commits) % BATCH == 0:
            _set_progress(svc, connection_id, state="reading", read=len(commits))
            if progress:
                progress(len(commits), None)
    if not commits:
        _set_progress(svc, connection_id, state="done", read=0, finished=utcnow().isoformat())
        return 0
    steps = first_parent_steps(commits, commits[0].sha)
    by_sha = {c.sha: c for c in commits}
    for index in range(0, len(steps), BATCH):
        chunk = steps[index:index + BATCH]
        with transaction(svc.sessions) as session:
            for commit, brought in chunk:
                detailed = _with_files(reader, commit, sleep, waiting)
                for inner in brought:
                    record_commit(session, connection_id, _with_files(reader, by_sha[inner], sleep, waiting))
                record_commit(session, connection_id, replace(detailed, brought_in=brought))
                parents = commit.parents
                record_segment(session, connection_id, Segment(
                    before=parents[0] if parents else None, after=commit.sha,
                    commits=(*brought, commit.sha), source="api"))
        done = min(index + BATCH, len(steps))
        _set_progress(svc, connection_id, state="recording", read=len(commits), recorded=done, total=len(steps))
        if progress:
            progress(done, len(steps))
    with transaction(svc.sessions) as session:
        queue_recompute(session, tenant_id)
        queue_deployment_compare(session, connection_id, tenant_id)
    _set_progress(svc, connection_id, state="done", read=len(commits), recorded=len(steps), total=len(steps),
                  finished=utcnow().isoformat())
    return len(steps)


def _with_files(reader: RepositoryReader, commit: Commit, sleep: Callable[[float], None],
                on_wait: Callable[[RateLimited], None] | None = None) -> Commit:
    """Files matter for the hotfix rule, so they are read for commits that name a key, call
    themselves a hotfix or revert something; everything else keeps the cheap listing data."""
    subject = commit.subject.lower()
    if not (find_keys(commit.message) or "hotfix" in subject or looks_like_revert(commit.subject)):
        return commit
    detailed = _patiently(lambda: reader.commit(commit.sha), sleep, on_wait)
    return replace(commit, files=detailed.files)


def _patiently(call: Callable[[], Any], sleep: Callable[[float], None],
               on_wait: Callable[[RateLimited], None] | None = None) -> Any:
    while True:
        try:
            return call()
        except RateLimited as exc:
            log.info("%s; pausing", exc)
            if on_wait is not None:
                on_wait(exc)
            sleep(exc.wait_seconds)


def _set_progress(svc: Services, connection_id: str, **fields: Any) -> None:
    with transaction(svc.sessions) as session:
        connection = session.get(Connection, connection_id)
        if connection is not None:
            connection.backfill = {**(connection.backfill or {}), **fields, "updated": utcnow().isoformat()}


def run_backfill(svc: Services, job: Job, *, sleep: Callable[[float], None] = time.sleep) -> None:
    """The backfill job. However long it reads, the worker keeps its lease renewed."""
    since = job.payload.get("since")
    try:
        backfill_connection(svc, job.payload["connection_id"],
                            datetime.fromisoformat(since) if since else None, sleep=sleep)
    except GitHubUnavailable as exc:
        _set_progress(svc, job.payload["connection_id"], state="failed", note=str(exc))
        raise


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
    except GitHubUnavailable as exc:
        print(f"connect-app: GitHub is not reachable for this connection: {exc}", file=sys.stderr)
        return 1
    finally:
        bar.close()
    print(f"read {read} commits of the default branch; drift is recomputed by the worker")
    return 0
