"""A stored delivery becomes facts: what a push, pull request, deployment, release or flag event
says is recorded once, and the stages that depend on it are queued. Idempotent: a delivery
already processed is left alone, so a retried job changes nothing."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from connect_app.intake.parse import (
    ZERO_SHA,
    MergedPullRequest,
    PayloadError,
    PushEvent,
    parse_ci_deployment,
    parse_config_change,
    parse_deployment,
    parse_flag_changes,
    parse_pull_request,
    parse_push,
)
from connect_app.intake.parse_bitbucket import (
    parse_bitbucket_deployment_status,
    parse_bitbucket_pull_request,
    parse_bitbucket_push,
)
from connect_app.intake.parse_gitlab import (
    parse_gitlab_deployment,
    parse_gitlab_merge_request,
    parse_gitlab_push,
    parse_gitlab_release,
)
from connect_app.jobs import queue
from connect_app.jobs.kinds import (
    queue_deployment_compare,
    queue_flag_recompute,
    queue_push_recompute,
    queue_recompute,
)
from connect_app.providers.access import reader_for
from connect_app.providers.base import HistoryReader, ProviderUnavailable, RateLimited
from connect_app.reality.model import Commit, Segment
from connect_app.services import Services
from connect_app.store.db import transaction
from connect_app.store.facts import (
    ReleaseEvent,
    keys_a_flag_change_touches,
    parse_release,
    record_commit,
    record_config_change,
    record_deployment,
    record_flag,
    record_pull_request,
    record_release,
    record_segment,
)
from connect_app.store.models import Connection, Delivery, Job, Tenant, utcnow

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# GitHub's, GitLab's (`Merge branch 'x' into 'main'`) and Bitbucket Cloud's (`Merged in x (pull
# request #N)`) merge commit subjects.
_MERGE_SUBJECT = ("Merge pull request ", "Merge branch ", "Merge remote-tracking branch ", "Merged in ")


def _parsed(parse: Callable[..., _T], *args: Any) -> _T:
    """Run a payload parser, turning what it raises into PayloadError. A body of the wrong shape
    (a list where an object belongs, a missing key) fails the same way on every attempt, so
    retrying it would only park the job later; errors raised elsewhere must stay retryable."""
    try:
        return parse(*args)
    except PayloadError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PayloadError(f"{type(exc).__name__}: {exc}") from exc


def process_delivery(svc: Services, job: Job) -> None:
    try:
        _process_delivery(svc, job)
    except DataError as exc:
        # The database refused a value (text longer than its column, a number out of range): the
        # same body fails the same way on every attempt, so retrying would only leave it `stored`
        # for hours and then park it. It ends `failed` now, with the reason the admin sees.
        reason = str(exc.orig or exc).strip().splitlines()[0]
        with transaction(svc.sessions) as session:
            delivery = session.get(Delivery, int(job.payload["delivery_id"]))
            if delivery is not None:
                delivery.status, delivery.error = "failed", f"the database refused a value: {reason}"[:2000]


def _process_delivery(svc: Services, job: Job) -> None:
    with transaction(svc.sessions) as session:
        delivery = session.get(Delivery, int(job.payload["delivery_id"]))
        if delivery is None or delivery.status == "processed":
            return
        connection = session.get(Connection, delivery.connection_id)
        tenant = session.get(Tenant, delivery.tenant_id)
        # Connections are soft-deleted: a delivery queued before the deletion must not go on
        # to change Jira for a repository the admin has just removed.
        if connection is None or connection.deleted_at is not None or tenant is None or not tenant.active:
            delivery.status, delivery.error = "ignored", "connection removed or app disabled"
            return
        # Only a malformed body is permanent (see _parsed). Anything else, such as a GitHub
        # call failing in an unforeseen way, propagates: the job retries with backoff and, if
        # it never succeeds, is parked where the admin sees it rather than silently dropped.
        try:
            payload = _parsed(json.loads, delivery.body)
            _apply(svc, session, delivery, connection, payload)
        except PayloadError as exc:
            # Malformed content never blocks the queue: the delivery is kept, marked, and shown.
            delivery.status, delivery.error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
            return
        delivery.status, delivery.error, delivery.processed_at = "processed", None, utcnow()


# What each host's events say, parsed into the same records: one path per kind of fact after this.
_PUSHES: dict[tuple[str, str], Callable[[dict[str, Any]], PushEvent]] = {
    ("github", "push"): parse_push, ("gitlab", "push"): parse_gitlab_push}
_REQUESTS: dict[tuple[str, str], Callable[[dict[str, Any]], MergedPullRequest | None]] = {
    ("github", "pull_request"): parse_pull_request, ("gitlab", "merge_request"): parse_gitlab_merge_request,
    ("bitbucket", "pullrequest:fulfilled"): parse_bitbucket_pull_request}
_RELEASES: dict[tuple[str, str], Callable[[dict[str, Any]], ReleaseEvent | None]] = {
    ("github", "release"): parse_release, ("gitlab", "release"): parse_gitlab_release}


def _apply(svc: Services, session: Session, delivery: Delivery, connection: Connection,
           payload: dict[str, Any]) -> None:
    tenant_id = connection.tenant_id
    kind = (delivery.source, delivery.event)
    if kind in _PUSHES:
        if _record_push(svc, session, connection, _parsed(_PUSHES[kind], payload), delivery.received_at):
            # Judged incrementally when it only extends the known branch tip (jobs.incremental).
            queue_push_recompute(session, tenant_id)
            # A deployment may have named a SHA we had not seen; now we might have it.
            queue_deployment_compare(session, connection.id, tenant_id)
    elif kind == ("bitbucket", "repo:push"):
        pushes = _parsed(parse_bitbucket_push, payload, _bitbucket_default_branch(svc, connection))
        if any([_record_push(svc, session, connection, push, delivery.received_at) for push in pushes]):
            queue_recompute(session, tenant_id)
            queue_deployment_compare(session, connection.id, tenant_id)
    elif kind in _REQUESTS:
        _record_pull_request(svc, session, connection, _parsed(_REQUESTS[kind], payload))
    elif kind in _RELEASES:
        released = _parsed(_RELEASES[kind], payload)
        if released is not None:
            record_release(session, connection.id, _with_tag_commit(svc, connection, released))
            # The release shows on the stored timelines of the features its tag carries.
            queue_recompute(session, tenant_id)
    elif delivery.source == "github" and delivery.event in ("deployment", "deployment_status"):
        event = _parsed(parse_deployment, delivery.event, payload)
        record_deployment(session, connection.id, "github", event, event.external_id)
        queue_deployment_compare(session, connection.id, tenant_id)
    elif kind == ("gitlab", "deployment"):
        event = _parsed(parse_gitlab_deployment, payload)
        record_deployment(session, connection.id, "gitlab", event, event.external_id)
        queue_deployment_compare(session, connection.id, tenant_id)
    elif delivery.source == "bitbucket" and delivery.event.startswith("repo:commit_status_"):
        status = _parsed(parse_bitbucket_deployment_status, payload)
        if status is not None:
            record_deployment(session, connection.id, "bitbucket", status, status.external_id)
            queue_deployment_compare(session, connection.id, tenant_id)
    elif delivery.source == "deploy":
        event = _parsed(parse_ci_deployment, payload, delivery.received_at)
        record_deployment(session, connection.id, "ci", event, f"delivery-{delivery.id}")
        queue_deployment_compare(session, connection.id, tenant_id)
    elif delivery.source.startswith("flag:"):
        provider = delivery.source.split(":", 1)[1]
        links = (session.get(Tenant, tenant_id).settings or {}).get("flag_links") or {}  # type: ignore[union-attr]
        touched: set[str] = set()
        for change in _parsed(parse_flag_changes, provider, payload, delivery.received_at):
            touched |= keys_a_flag_change_touches(session, connection, provider, change, links)
            record_flag(session, connection, provider, change)
        queue_flag_recompute(session, tenant_id, touched)
    elif delivery.source == "config":
        event = _parsed(parse_config_change, payload, delivery.received_at)
        record_config_change(session, connection, delivery.id, event)
        queue_recompute(session, tenant_id)


def _bitbucket_default_branch(svc: Services, connection: Connection) -> str:
    """Bitbucket's push names no default branch: the API's `mainbranch` does, when we may ask."""
    reader = reader_for(svc, connection)
    if reader is None:
        return connection.default_branch
    try:
        return reader.default_branch()
    except RateLimited as exc:
        raise queue.Retry(exc.wait_seconds, str(exc)) from exc
    except ProviderUnavailable as exc:
        log.info("main branch of %s unavailable: %s", connection.repository, exc)
        return connection.default_branch
    finally:
        reader.close()


def _record_pull_request(svc: Services, session: Session, connection: Connection,
                         pr: MergedPullRequest | None) -> None:
    if pr is None or pr.base_ref not in ("", connection.default_branch):
        return
    commit_shas: tuple[str, ...] = ()
    reader = reader_for(svc, connection)
    if reader is not None:
        try:
            commit_shas = reader.pull_commits(pr.number)
            if pr.merge_commit_sha is None:
                # GitLab's merge request event names no merge commit, Bitbucket's only an
                # abbreviated one; the API says which commit it is.
                pr = replace(pr, merge_commit_sha=reader.merged_commit(pr.number))
        except RateLimited as exc:
            raise queue.Retry(exc.wait_seconds, str(exc)) from exc
        except ProviderUnavailable as exc:
            log.info("request commits unavailable for %s!%s: %s", connection.repository, pr.number, exc)
        finally:
            reader.close()
    record_pull_request(session, connection.id, pr, commit_shas)
    queue_recompute(session, connection.tenant_id)


def _with_tag_commit(svc: Services, connection: Connection, released: ReleaseEvent) -> ReleaseEvent:
    """A release payload usually names a branch, not the tagged commit: ask GitHub for it.
    Without API access the release is kept without a commit and shown on no timeline."""
    if not released.out or released.release.sha is not None:
        return released
    reader = reader_for(svc, connection)
    if reader is None:
        return released
    try:
        sha = reader.tag_commit(released.release.tag)
    except RateLimited as exc:
        raise queue.Retry(exc.wait_seconds, str(exc)) from exc
    except ProviderUnavailable as exc:
        log.info("tag %s of %s unavailable: %s", released.release.tag, connection.repository, exc)
        return released
    return replace(released, release=replace(released.release, sha=sha))


def _record_push(svc: Services, session: Session, connection: Connection, push: PushEvent,
                 received_at: datetime) -> bool:
    if push.default_branch and push.default_branch != connection.default_branch:
        connection.default_branch = push.default_branch
    if not push.to_default_branch or push.deleted or not push.commits:
        return False
    listed = _all_pushed(svc, connection, push)
    # A merge brings in the commits listed before it in the same push (GitHub lists a merged
    # branch's commits, then the merge); with API access the real parents say it exactly.
    reader = None
    pending: list[str] = []
    for commit in listed:
        if commit.subject.startswith(_MERGE_SUBJECT):
            reader = reader or reader_for(svc, connection)
            exact = _brought_in_by(reader, commit.sha) if reader is not None else None
            commit = replace(commit, brought_in=exact if exact is not None else tuple(pending))
            pending = []
        else:
            pending.append(commit.sha)
        record_commit(session, connection.id, commit)
    before = None if push.before == ZERO_SHA else push.before
    # The push's arrival is when these commits reached the branch (their dates say when written).
    record_segment(session, connection.id, Segment(before=before, after=push.after, at=received_at,
                                                   commits=tuple(c.sha for c in listed), source="push"))
    return True


def _all_pushed(svc: Services, connection: Connection, push: PushEvent) -> list[Commit]:
    """The push's commits in order. GitLab lists only the newest 20 (Bitbucket Cloud 5): the rest
    are read through the API; without API access the listed ones are what we know."""
    listed = list(push.commits)
    if push.complete or push.before == ZERO_SHA:
        return listed
    reader = reader_for(svc, connection)
    if reader is None:
        return listed
    known = {commit.sha: commit for commit in listed}
    try:
        added = reader.compare(push.before, push.after).added
        return [known.get(sha) or reader.commit(sha) for sha in added]
    except RateLimited as exc:
        raise queue.Retry(exc.wait_seconds, str(exc)) from exc
    except ProviderUnavailable as exc:
        log.info("the rest of a push to %s is unavailable: %s", connection.repository, exc)
        return listed
    finally:
        reader.close()


def _brought_in_by(reader: HistoryReader, merge: str) -> tuple[str, ...] | None:
    """What a merge brought into the default branch, from its real parents: the commits the
    merge has that its mainline parent lacks. None when the API cannot say."""
    try:
        parents = reader.commit(merge).parents
        if len(parents) < 2:
            return None
        return tuple(sha for sha in reader.compare(parents[0], merge).added if sha != merge)
    except RateLimited as exc:
        raise queue.Retry(exc.wait_seconds, str(exc)) from exc
    except ProviderUnavailable as exc:
        log.info("merge parents of %s unavailable, keeping the push's guess: %s", merge[:7], exc)
        return None
