"""The admin API behind the admin page: connections, settings, deliveries, jobs, audit, backfill.

Every route needs a context JWT of a user whom Jira's bulk permission check says holds
ADMINISTER on the caller's own site; everything read or written is scoped to that site.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from connect_app.connect import accounts
from connect_app.connect.audited import jira_for
from connect_app.connect.auth import caller, context_jwt_required
from connect_app.connect.jira import JiraError
from connect_app.connect.urls import url_allowed
from connect_app.errors import AppError, BadRequest, Forbidden, NotFound
from connect_app.intake.store import json_body, raw_body, request_json
from connect_app.jobs import queue
from connect_app.jobs.kinds import queue_backfill, queue_delivery_again, queue_recompute, queue_sync
from connect_app.reality.keys import PROJECT_KEY, project_of
from connect_app.reality.model import NOT_DRIFT
from connect_app.reality.record import drift_from_record, iso
from connect_app.services import services
from connect_app.store.db import transaction
from connect_app.store.models import (
    AuditEntry,
    Connection,
    Delivery,
    IssueReality,
    Job,
    ParentRollup,
    PostedComment,
    Tenant,
    utcnow,
)
from connect_app.store.secrets import new_token
from connect_app.sync.plan import plan_comment, plan_fields
from connect_app.sync.policy import project_policy, validate_settings
from connect_app.web.providers import REPOSITORY_HOSTS

bp = Blueprint("admin_api", __name__)

P = ParamSpec("P")
R = TypeVar("R")

_ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,29}-[1-9][0-9]{0,9}$")
# A repository's web or clone address: https://host/path, ssh://git@host/path, git@host:path.
_REPOSITORY_ADDRESS = re.compile(r"^(?:https?://(?:[^@/]+@)?(?P<host>[^/]+)/|ssh://git@(?P<ssh>[^/]+)/|git@(?P<scp>[^:]+):)"
                                 r"(?P<path>[^?#]+)")
_ADMIN_TTL = 60.0
_admin_cache: dict[tuple[str, int, str], tuple[float, bool]] = {}
_admin_lock = threading.Lock()


def _is_admin(tenant: Tenant, account_id: str) -> bool:
    """Jira decides who is an admin; the answer is cached briefly to spare a call per click."""
    key = (tenant.base_url, tenant.id, account_id)
    with _admin_lock:
        cached = _admin_cache.get(key)
    if cached and time.monotonic() - cached[0] < _ADMIN_TTL:
        return cached[1]
    try:
        answer = jira_for(services(), tenant).is_admin(account_id)
    except JiraError as exc:
        if exc.status in (400, 404):
            # Jira answered, and what it said is that it knows no such user: the token is
            # genuine but names nobody who could be an administrator. Not an outage.
            raise Forbidden("Jira does not know the account this token was issued for, so it cannot "
                            "administer System Reality.", "unknown_account") from exc
        raise AppError(502, "jira_unavailable", "Jira could not confirm your permissions; try again.") from exc
    with _admin_lock:
        _admin_cache[key] = (time.monotonic(), answer)
    return answer


@accounts.on_forget
def _forget_admin(account_id: str) -> None:
    """A closed account's cached admin answer goes (the personal data report calls this)."""
    with _admin_lock:
        for key in [key for key in _admin_cache if key[2] == account_id]:
            _admin_cache.pop(key, None)


def admin_required(view: Callable[P, R]) -> Callable[P, R]:
    @wraps(view)
    @context_jwt_required
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        who = caller()
        if not who.account_id or not _is_admin(who.tenant, who.account_id):
            raise Forbidden("Only Jira administrators can change System Reality settings.", "not_admin")
        return view(*args, **kwargs)

    return wrapper


# Path ids beyond what the database can hold name nothing; asking the database would only fail.
MAX_ID = 2**63 - 1


def webhook_url(connection_id: str, provider: str = "github") -> str:
    return f"{services().settings.app_base_url}{REPOSITORY_HOSTS[provider].webhook_path}{connection_id}"


def connection_view(connection: Connection) -> dict[str, Any]:
    return {
        "id": connection.id,
        "provider": connection.provider,
        "repository": connection.repository,
        "api_url": connection.api_url,
        "webhook_url": webhook_url(connection.id, connection.provider),
        "created": iso(connection.created_at),
        "last_delivery": iso(connection.last_delivery_at),
        "production_environments": connection.production_environments,
        "backfill": connection.backfill or None,
    }


def _own_connection(session: Any, connection_id: str) -> Connection:
    connection = session.get(Connection, connection_id) if len(connection_id) <= 40 else None
    if connection is None or connection.tenant_id != caller().tenant.id or connection.deleted_at is not None:
        raise NotFound("There is no such connection on this Jira site.", "unknown_connection")
    return connection


@bp.get("/api/connections")
@admin_required
def list_connections() -> Response:
    with services().sessions() as session:
        rows = session.scalars(select(Connection).where(
            Connection.tenant_id == caller().tenant.id, Connection.deleted_at.is_(None)
        ).order_by(Connection.created_at)).all()
        return jsonify([connection_view(row) for row in rows])


@bp.get("/api/connections/<connection_id>")
@admin_required
def get_connection(connection_id: str) -> Response:
    with services().sessions() as session:
        return jsonify(connection_view(_own_connection(session, connection_id)))


def repository_path(text: str, provider: str = "github") -> str:
    """owner/name from what an admin pastes: owner/name itself, or the repository's web or clone
    address (github.com/owner/name, .git, GitLab's group/sub/name, Bitbucket's workspace/repo),
    ignoring what follows it (/tree/main, /-/merge_requests, /src/main). A GitLab project keeps
    its whole path on any host: a self-managed one is rarely called gitlab (git.example.com)."""
    text = text.strip()
    match = _REPOSITORY_ADDRESS.match(text)
    if match is None:
        return text.removesuffix(".git")
    host = (match.group("host") or match.group("ssh") or match.group("scp") or "").lower()
    path = match.group("path").split("/-/")[0].strip("/")
    parts = [part for part in path.split("/") if part]
    if provider != "gitlab" and "gitlab" not in host:
        parts = parts[:2]  # GitHub and Bitbucket: owner/name, then pages of the repository
    return "/".join(parts).removesuffix(".git")


def _connection_request(data: dict[str, Any]) -> dict[str, Any]:
    svc = services()
    name = data.get("provider", "github")
    provider = REPOSITORY_HOSTS.get(name) if isinstance(name, str) else None
    if provider is None:
        raise BadRequest('provider must be "github", "gitlab" or "bitbucket".')
    repository = data.get("repository")
    repository = repository_path(repository, provider.name) if isinstance(repository, str) else repository
    if not isinstance(repository, str) or not provider.repository.match(repository):
        raise BadRequest(f"Name the repository as {provider.repository_form}, or paste its address such as "
                         f"{provider.web_example}.")
    api_url = data.get("api_url") or provider.default_api_url
    if not isinstance(api_url, str) or not url_allowed(api_url.rstrip("/").removesuffix("/api/v3"),
                                                       svc.settings.allowed_github_api_urls):
        raise BadRequest(f"System Reality may not call {str(api_url)[:200]!r}. For {provider.label}'s cloud service "
                         f"use {provider.default_api_url}; for a server your company runs, ask whoever runs "
                         "System Reality for your company to allow its address.",
                         "api_url_not_allowed")
    if not api_url.rstrip("/").endswith(provider.api_suffix):
        raise BadRequest(f"api_url must be the {provider.label} API address, ending in {provider.api_suffix} "
                         f"(for example {provider.default_api_url}).", "api_url_not_allowed")
    token = data.get("token")
    if token is not None and (not isinstance(token, str) or not 0 < len(token) <= 500):
        raise BadRequest(f"token must be a {provider.label} access token string.")
    environments = data.get("production_environments")
    if environments is not None and (not isinstance(environments, list) or not all(
            isinstance(e, str) and 0 < len(e) <= 100 for e in environments)):
        raise BadRequest("production_environments must be a list of environment names.")
    return {"provider": provider.name, "repository": repository, "api_url": api_url.rstrip("/"), "token": token,
            "production_environments": environments}


@bp.post("/api/connections")
@admin_required
def create_connection() -> tuple[Response, int]:
    fields = _connection_request(request_json())
    svc = services()
    webhook_secret = secrets.token_urlsafe(32)
    deploy_token = new_token("srdeploy")
    connection_id = "c" + secrets.token_hex(12)
    with transaction(svc.sessions) as session:
        session.add(Connection(
            id=connection_id, tenant_id=caller().tenant.id, provider=fields["provider"],
            repository=fields["repository"],
            api_url=fields["api_url"], token_sealed=svc.box.seal(fields["token"]) if fields["token"] else None,
            webhook_secret_sealed=svc.box.seal(webhook_secret), deploy_token_digest=svc.box.digest(deploy_token),
            production_environments=fields["production_environments"], backfill={},
        ))
    url = webhook_url(connection_id, fields["provider"])
    return jsonify({
        "id": connection_id,
        "webhook_url": url,
        "webhook_secret": webhook_secret,
        "deploy_token": deploy_token,
        f"{fields['provider']}_settings": REPOSITORY_HOSTS[fields["provider"]].webhook_settings(url),
        "deployments_url": f"{svc.settings.app_base_url}/api/deployments/{connection_id}",
        "flags_urls": {p: f"{svc.settings.app_base_url}/flags/{p}/{connection_id}"
                       for p in ("launchdarkly", "unleash", "generic")},
    }), 201


@bp.delete("/api/connections/<connection_id>")
@admin_required
def delete_connection(connection_id: str) -> tuple[str, int]:
    with transaction(services().sessions) as session:
        connection = _own_connection(session, connection_id)
        # Facts stay (the drift history is the tenant's), but nothing new arrives or is processed.
        connection.deleted_at = utcnow()
        queue_recompute(session, connection.tenant_id)
    return "", 204


@bp.post("/api/connections/<connection_id>/backfill")
@admin_required
def start_backfill(connection_id: str) -> tuple[Response, int]:
    data = json_body(raw_body() or b"{}")
    since = data.get("since")
    if since is not None:
        try:
            datetime.fromisoformat(str(since))
        except ValueError as exc:
            raise BadRequest("since must be a date such as 2026-01-01.") from exc
    with transaction(services().sessions) as session:
        connection = _own_connection(session, connection_id)
        connection.backfill = {"state": "queued", "since": since, "read": 0, "queued_at": iso(utcnow())}
        queue_backfill(session, connection.id, connection.tenant_id, since)
        return jsonify(connection_view(connection)), 202


@bp.get("/api/settings")
@admin_required
def get_settings() -> Response:
    settings = dict(caller().tenant.settings or {})
    settings.setdefault("default_policy", "comment")
    settings.setdefault("projects", {})
    settings.setdefault("production_environments", list(services().settings.production_environments))
    settings.setdefault("mcp_enabled", True)
    return jsonify(settings)


@bp.put("/api/settings")
@admin_required
def put_settings() -> Response:
    try:
        clean = validate_settings(request_json())
    except ValueError as exc:
        raise BadRequest(str(exc), "invalid_settings") from exc
    with transaction(services().sessions) as session:
        # Locked: flag links kept here are written by the panel at the same time (a row lock on
        # PostgreSQL; SQLite already runs one writer at a time).
        tenant = session.get(Tenant, caller().tenant.id, with_for_update=True)
        assert tenant is not None
        kept = {k: v for k, v in (tenant.settings or {}).items() if k == "flag_links"}
        before = dict(tenant.settings or {})
        tenant.settings = {**kept, **clean}
        queue_recompute(session, tenant.id)
        _resync_where_policy_changed(session, tenant, before)
        return jsonify(tenant.settings)


def _resync_where_policy_changed(session: Any, tenant: Tenant, before: dict[str, Any]) -> None:
    """Issues in drift whose project's policy changed (mode, reopen target, Done statuses) are
    synced once under the new one: what counts as Done, for one, is only known by asking Jira."""
    rows = session.scalars(select(IssueReality).where(IssueReality.tenant_id == tenant.id,
                                                      IssueReality.state.not_in(NOT_DRIFT))).all()
    for row in rows:
        project = project_of(row.issue_key)
        if project_policy(before, project) != project_policy(tenant.settings, project):
            queue_sync(session, tenant.id, row.issue_key)


@bp.get("/api/deliveries")
@admin_required
def list_deliveries() -> Response:
    status = request.args.get("status")
    with services().sessions() as session:
        query = select(Delivery).where(Delivery.tenant_id == caller().tenant.id)
        if status:
            query = query.where(Delivery.status == status)
        rows = session.scalars(query.order_by(Delivery.id.desc()).limit(50)).all()
        return jsonify([{
            "id": row.id, "connection": row.connection_id, "source": row.source, "event": row.event,
            "guid": row.guid, "received": iso(row.received_at), "status": row.status, "error": row.error,
            # False once housekeeping dropped the raw body after the retention period.
            "body_kept": bool(row.body),
        } for row in rows])


@bp.post("/api/deliveries/<int:delivery_id>/retry")
@admin_required
def retry_delivery(delivery_id: int) -> tuple[Response, int]:
    with transaction(services().sessions) as session:
        delivery = session.get(Delivery, delivery_id) if delivery_id <= MAX_ID else None
        if delivery is None or delivery.tenant_id != caller().tenant.id:
            raise NotFound("There is no such delivery on this Jira site.")
        if not delivery.body:
            raise BadRequest("This delivery's raw body was dropped after the retention period; "
                             "the facts read from it are kept.", "body_dropped")
        delivery.status, delivery.error = "stored", None
        queue_delivery_again(session, delivery.id, delivery.tenant_id)
    return jsonify({"status": "queued"}), 202


@bp.get("/api/jobs")
@admin_required
def list_jobs() -> Response:
    status = request.args.get("status", "parked")
    with services().sessions() as session:
        rows = session.scalars(select(Job).where(Job.tenant_id == caller().tenant.id, Job.status == status)
                               .order_by(Job.id.desc()).limit(50)).all()
        return jsonify([{
            "id": row.id, "kind": row.kind, "status": row.status, "attempts": row.attempts,
            "error": row.last_error, "created": iso(row.created_at), "finished": iso(row.finished_at),
        } for row in rows])


@bp.post("/api/jobs/<int:job_id>/retry")
@admin_required
def retry_job(job_id: int) -> tuple[Response, int]:
    with transaction(services().sessions) as session:
        job = session.get(Job, job_id) if job_id <= MAX_ID else None
        if job is None or job.tenant_id != caller().tenant.id:
            raise NotFound("There is no such job on this Jira site.")
        if not queue.retry_now(session, job_id):
            raise BadRequest("Only parked jobs can be retried.")
    return jsonify({"status": "queued"}), 202


@bp.get("/api/audit")
@admin_required
def audit_log() -> Response:
    with services().sessions() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.tenant_id == caller().tenant.id)
                               .order_by(AuditEntry.id.desc()).limit(100)).all()
        return jsonify([{
            "at": iso(row.at), "issue": row.issue_key, "method": row.method, "path": row.path,
            "status": row.status, "duration_ms": row.duration_ms, "note": row.note,
        } for row in rows])


@bp.get("/api/dry-run")
@admin_required
def dry_run() -> Response:
    """Per issue, the Jira calls the app would make under the saved policy, without making them:
    sync's own plan, run against what was last applied instead of against Jira."""
    return jsonify(_dry_run(caller().tenant.settings or {}, _project(request.args.get("project")),
                            _epic(request.args.get("epic")), preview=False))


@bp.post("/api/dry-run")
@admin_required
def dry_run_preview() -> Response:
    """The same, under a policy not saved yet (`{"settings": {...}, "project": "KEY"}`): the
    admin page sends the form as it stands, so a switch can be judged before it is saved."""
    data = request_json()
    try:
        settings = validate_settings(data.get("settings") if isinstance(data, dict) else None)
    except ValueError as exc:
        raise BadRequest(str(exc), "invalid_settings") from exc
    return jsonify(_dry_run(settings, _project(data.get("project")), _epic(data.get("epic")), preview=True))


def _project(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not PROJECT_KEY.match(value):
        raise BadRequest("project must be a Jira project key such as FEAT.", "invalid_project")
    return value


def _epic(value: Any) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _ISSUE_KEY.match(value):
        raise BadRequest("epic must be an issue key such as FEAT-300.", "invalid_epic")
    return value


def _epic_features(epic: str) -> list[str]:
    """The epic and its children, as Jira says now (the app keeps no parent of its own)."""
    try:
        children = jira_for(services(), caller().tenant).search_jql(f"parent = {epic}", fields=["summary"])
        return [epic, *(str(issue["key"]) for issue in children if issue.get("key"))]
    except JiraError as exc:
        raise AppError(502, "jira_unavailable", "Jira did not answer; try again in a moment.") from exc


def _dry_run(settings: dict[str, Any], project: str | None, epic: str | None, *, preview: bool) -> dict[str, Any]:
    tenant = caller().tenant
    features = _epic_features(epic) if epic else None
    with services().sessions() as session:
        query = select(IssueReality).where(IssueReality.tenant_id == tenant.id)
        if project:
            query = query.where(IssueReality.issue_key.like(f"{project}-%"))
        if features is not None:
            query = query.where(IssueReality.issue_key.in_(features))
        posted = {(row.issue_key, row.change_id) for row in session.scalars(
            select(PostedComment).where(PostedComment.tenant_id == tenant.id,
                                        PostedComment.jira_comment_id.is_not(None)))}
        realities = session.scalars(query.order_by(IssueReality.issue_key).limit(200)).all()
        parents = set(session.scalars(select(ParentRollup.parent_key).where(ParentRollup.tenant_id == tenant.id)))
        plans = [_dry_run_issue(settings, reality, posted, parent=reality.issue_key in parents)
                 for reality in realities]
    return {"project": project, "epic": epic, "preview": preview, "issues": plans}


def _dry_run_issue(settings: dict[str, Any], reality: IssueReality,
                   posted: set[tuple[str, str | None]], *, parent: bool) -> dict[str, Any]:
    key = reality.issue_key
    policy = project_policy(settings, project_of(key))
    drift = drift_from_record(key, reality.desired, reality.title or key)
    applied_labels = [reality.applied_label] if reality.applied_label else []
    fields = plan_fields(reality.applied_property, applied_labels, drift, policy)
    if parent:  # as sync does: a parent's property is the roll-up's to write (sync.rollup)
        fields = replace(fields, property=None)
    calls = []
    edits = [*(["update its Drift field"] if fields.property is not None else []),
             *(f"add the label {label}" for label in fields.add),
             *(f"remove the label {label}" for label in fields.remove)]
    if edits:
        calls.append(" and ".join(edits)[0].upper() + " and ".join(edits)[1:])
    comment = plan_comment(drift, change_id=reality.change_id, restore_of=reality.restore_of,
                           drift_comment_posted=(key, reality.restore_of) in posted, policy=policy, done=True)
    if comment is not None and (key, comment.change) not in posted:
        if comment.reopen:
            calls.append("Reopen it with a comment explaining why, if it is Done")
        else:
            calls.append(("Comment that it is live again" if comment.kind == "restore"
                          else "Comment explaining what happened") + ", if it is Done")
    return {"issue": key, "drift": drift.state, "policy": policy.mode, "calls": calls}
