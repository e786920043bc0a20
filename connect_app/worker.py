"""Job handlers: turn stored deliveries into facts, compare deployments, backfill history,
recompute drift and reconcile Jira. Each handler is idempotent; jobs.py runs them."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from connect_app import jobs
from connect_app.db import transaction
from connect_app.facts import (
    ReleaseEvent,
    parse_release,
    production_deployments,
    production_names,
    record_commit,
    record_deployment,
    record_flag,
    record_pull_request,
    record_release,
    record_segment,
)
from connect_app.github_api import GitHubUnavailable, RateLimited, RepositoryReader, app_for
from connect_app.intake.parse import (
    ZERO_SHA,
    PayloadError,
    parse_ci_deployment,
    parse_deployment,
    parse_flag_changes,
    parse_pull_request,
    parse_push,
)
from connect_app.models import Connection, Delivery, DeploymentFact, Job, Tenant, utcnow
from connect_app.reality.history import order_branch
from connect_app.reality.model import Segment
from connect_app.services import Services

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_MERGE_SUBJECT = ("Merge pull request ", "Merge branch ", "Merge remote-tracking branch ")


def reader_for(svc: Services, connection: Connection) -> RepositoryReader | None:
    """API access for a connection (its own token, else the GitHub App's installation), or None
    when it has neither (public reads still need credentials here: we never spend an anonymous
    rate limit shared by every tenant on one host)."""
    token = svc.box.open(connection.token_sealed) if connection.token_sealed else None
    with svc.sessions() as session:
        tenant = session.get(Tenant, connection.tenant_id)
    app = None if token or tenant is None else app_for(
        svc.settings, api_url=connection.api_url, repository=connection.repository, jira_base_url=tenant.base_url)
    try:
        reader = RepositoryReader(api_url=connection.api_url, repository=connection.repository, token=token,
                                  allowed_api_urls=svc.settings.allowed_github_api_urls, app=app)
    except GitHubUnavailable:
        return None
    return reader if reader.has_credentials else None


def queue_recompute(session: Session, tenant_id: int, delay: float = 0.0) -> None:
    jobs.enqueue(session, "recompute", {"tenant_id": tenant_id}, tenant_id=tenant_id,
                 dedupe_key=f"recompute:{tenant_id}", delay=delay)


def queue_deployment_compare(session: Session, connection_id: str, tenant_id: int) -> None:
    jobs.enqueue(session, "compare_deployments", {"connection_id": connection_id}, tenant_id=tenant_id,
                 dedupe_key=f"compare:{connection_id}")


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


class Handlers:
    """The job kinds the worker knows, bound to one process's services."""

    def __init__(self, svc: Services, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.svc = svc
        self.sleep = sleep

    def mapping(self) -> Mapping[str, jobs.Handler]:
        from connect_app.recompute import recompute_tenant
        from connect_app.sync import sync_issue

        return {
            "delivery": self.process_delivery,
            "compare_deployments": self.compare_deployments,
            "backfill": self.backfill,
            "recompute": lambda job: recompute_tenant(self.svc, int(job.payload["tenant_id"])),
            "sync_issue": lambda job: sync_issue(self.svc, int(job.payload["tenant_id"]), job.payload["issue_key"]),
        }

    # ---- deliveries ---------------------------------------------------------------------------

    def process_delivery(self, job: Job) -> None:
        with transaction(self.svc.sessions) as session:
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
                self._apply(session, delivery, connection, payload)
            except PayloadError as exc:
                # Malformed content never blocks the queue: the delivery is kept, marked, and shown.
                delivery.status, delivery.error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
                return
            delivery.status, delivery.error, delivery.processed_at = "processed", None, utcnow()

    def _apply(self, session: Session, delivery: Delivery, connection: Connection, payload: dict[str, Any]) -> None:
        tenant_id = connection.tenant_id
        if delivery.source == "github" and delivery.event == "push":
            if self._record_push(session, connection, payload):
                queue_recompute(session, tenant_id)
                # A deployment may have named a SHA we had not seen; now we might have it.
                queue_deployment_compare(session, connection.id, tenant_id)
        elif delivery.source == "github" and delivery.event == "pull_request":
            pr = _parsed(parse_pull_request, payload)
            if pr is not None and pr.base_ref in ("", connection.default_branch):
                commit_shas: tuple[str, ...] = ()
                reader = reader_for(self.svc, connection)
                if reader is not None:
                    try:
                        commit_shas = reader.pull_commits(pr.number)
                    except RateLimited as exc:
                        raise jobs.Retry(exc.wait_seconds, str(exc)) from exc
                    except GitHubUnavailable as exc:
                        log.info("PR commits unavailable for %s#%s: %s", connection.repository, pr.number, exc)
                record_pull_request(session, connection.id, pr, commit_shas)
                queue_recompute(session, tenant_id)
        elif delivery.source == "github" and delivery.event in ("deployment", "deployment_status"):
            event = _parsed(parse_deployment, delivery.event, payload)
            record_deployment(session, connection.id, "github", event, event.external_id)
            queue_deployment_compare(session, connection.id, tenant_id)
        elif delivery.source == "github" and delivery.event == "release":
            released = _parsed(parse_release, payload)
            if released is not None:
                record_release(session, connection.id, self._with_tag_commit(connection, released))
        elif delivery.source == "deploy":
            event = _parsed(parse_ci_deployment, payload, delivery.received_at)
            record_deployment(session, connection.id, "ci", event, f"delivery-{delivery.id}")
            queue_deployment_compare(session, connection.id, tenant_id)
        elif delivery.source.startswith("flag:"):
            provider = delivery.source.split(":", 1)[1]
            for change in _parsed(parse_flag_changes, provider, payload, delivery.received_at):
                record_flag(session, connection, provider, change)
            queue_recompute(session, tenant_id)

    def _with_tag_commit(self, connection: Connection, released: ReleaseEvent) -> ReleaseEvent:
        """A release payload usually names a branch, not the tagged commit: ask GitHub for it.
        Without API access the release is kept without a commit and shown on no timeline."""
        if not released.out or released.release.sha is not None:
            return released
        reader = reader_for(self.svc, connection)
        if reader is None:
            return released
        try:
            sha = reader.tag_commit(released.release.tag)
        except RateLimited as exc:
            raise jobs.Retry(exc.wait_seconds, str(exc)) from exc
        except GitHubUnavailable as exc:
            log.info("tag %s of %s unavailable: %s", released.release.tag, connection.repository, exc)
            return released
        return replace(released, release=replace(released.release, sha=sha))

    def _record_push(self, session: Session, connection: Connection, payload: dict[str, Any]) -> bool:
        push = _parsed(parse_push, payload)
        if push.default_branch and push.default_branch != connection.default_branch:
            connection.default_branch = push.default_branch
        if not push.to_default_branch or push.deleted or not push.commits:
            return False
        listed = list(push.commits)
        # A merge brings in the commits listed before it in the same push (GitHub lists a merged
        # branch's commits, then the merge); with API access the real parents say it exactly.
        reader = None
        pending: list[str] = []
        for commit in listed:
            if commit.subject.startswith(_MERGE_SUBJECT):
                reader = reader or reader_for(self.svc, connection)
                exact = _brought_in_by(reader, commit.sha) if reader is not None else None
                commit = replace(commit, brought_in=exact if exact is not None else tuple(pending))
                pending = []
            else:
                pending.append(commit.sha)
            record_commit(session, connection.id, commit)
        before = None if push.before == ZERO_SHA else push.before
        record_segment(session, connection.id, Segment(before=before, after=push.after,
                                                       commits=tuple(c.sha for c in listed), source="push"))
        return True

    # ---- deployments --------------------------------------------------------------------------

    def compare_deployments(self, job: Job) -> None:
        """Fill in what each production deployment added and removed against the one before it.

        Runs over the whole chain so that a deployment reported late (out of order) re-bases the
        ones after it; unchanged comparisons are kept.
        """
        with transaction(self.svc.sessions) as session:
            connection = session.get(Connection, job.payload["connection_id"])
            if connection is None:
                return
            production = production_names(connection, self.svc.settings.production_environments)
            rows = production_deployments(session, connection.id, production)
            reader = reader_for(self.svc, connection)
            branch = self._branch_order(session, connection.id)
            changed = False
            previous: DeploymentFact | None = None
            for row in rows:
                base = previous.sha if previous is not None else None
                # Without API access the recorded branch is the only source, and it grows as pushes
                # arrive, so local differences are recomputed every time (they are cheap).
                if reader is None or not row.compared or row.compared_base != base:
                    difference = self._difference(reader, branch, base, row.sha)
                    if difference is not None and (
                        not row.compared or (row.added, row.removed) != difference or row.compared_base != base
                    ):
                        row.added, row.removed = difference
                        row.compared, row.compared_base = True, base
                        changed = True
                previous = row
            if changed:
                queue_recompute(session, connection.tenant_id)

    def _branch_order(self, session: Session, connection_id: str) -> list[str]:
        from connect_app.models import SegmentFact

        segments = [Segment(before=r.before, after=r.after, commits=tuple(r.commits), source=r.source)  # type: ignore[arg-type]
                    for r in session.scalars(select(SegmentFact).where(SegmentFact.connection_id == connection_id))]
        return order_branch(segments)

    def _difference(self, reader: RepositoryReader | None, branch: list[str], base: str | None,
                    head: str) -> tuple[list[str], list[str]] | None:
        if reader is not None:
            try:
                if base is None:
                    return [c.sha for c in reader.history(head)][::-1], []
                result = reader.compare(base, head)
                return list(result.added), list(result.removed)
            except RateLimited as exc:
                raise jobs.Retry(exc.wait_seconds, str(exc)) from exc
            except GitHubUnavailable as exc:
                log.info("compare unavailable, using recorded history: %s", exc)
        return _difference_on_branch(branch, base, head)

    # ---- backfill -----------------------------------------------------------------------------

    def backfill(self, job: Job) -> None:
        from connect_app.backfill import run_backfill

        run_backfill(self.svc, job, sleep=self.sleep)


def _brought_in_by(reader: RepositoryReader, merge: str) -> tuple[str, ...] | None:
    """What a merge brought into the default branch, from its real parents: the commits the
    merge has that its mainline parent lacks. None when the API cannot say."""
    try:
        parents = reader.commit(merge).parents
        if len(parents) < 2:
            return None
        return tuple(sha for sha in reader.compare(parents[0], merge).added if sha != merge)
    except RateLimited as exc:
        raise jobs.Retry(exc.wait_seconds, str(exc)) from exc
    except GitHubUnavailable as exc:
        log.info("merge parents of %s unavailable, keeping the push's guess: %s", merge[:7], exc)
        return None


def _difference_on_branch(branch: list[str], base: str | None,
                          head: str) -> tuple[list[str], list[str]] | None:
    """Without API access, positions on the recorded default branch tell ahead from behind.
    None while the deployed SHA has not reached us through a push yet."""
    position = {sha: i for i, sha in enumerate(branch)}
    head_at = _position(position, head)
    if head_at is None:
        return None
    if base is None:
        return branch[: head_at + 1], []
    base_at = _position(position, base)
    if base_at is None:
        return branch[: head_at + 1], []
    if head_at >= base_at:
        return branch[base_at + 1: head_at + 1], []
    return [], branch[head_at + 1: base_at + 1]


def _position(position: Mapping[str, int], sha: str) -> int | None:
    if sha in position:
        return position[sha]
    matches = [i for s, i in position.items() if s.startswith(sha.lower())]
    return matches[0] if len(matches) == 1 else None

