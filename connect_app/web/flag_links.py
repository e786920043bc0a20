"""Linking a feature flag to an issue from the panel, for flags whose key, name, tags and
description do not name the issue themselves."""

from __future__ import annotations

import re

from flask import Blueprint, Response, jsonify

from connect_app.connect.audited import jira_for
from connect_app.connect.auth import caller, context_jwt_required
from connect_app.connect.jira import JiraError
from connect_app.errors import BadRequest, Forbidden, NotFound
from connect_app.intake.store import request_json
from connect_app.jobs.kinds import queue_recompute
from connect_app.reality.keys import ISSUE_KEY
from connect_app.services import services
from connect_app.store.db import transaction
from connect_app.store.models import Tenant
from connect_app.web.panel import issue_grants, jira_unavailable

bp = Blueprint("flag_links", __name__)

FLAG_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,255}$")


def _require_issue(issue_key: str, *, edit: bool = False) -> None:
    """404 unless the user may browse the issue. With `edit`, also 403 unless they may edit it:
    a linked flag makes the app comment on the issue and, by policy, reopen it."""
    who = caller()
    if not ISSUE_KEY.match(issue_key):
        raise NotFound("That is not an issue key.", "unknown_issue")
    jira = jira_for(services(), who.tenant)
    try:
        issue = jira.get_issue(issue_key, fields=["project"])
    except JiraError as exc:
        if exc.status == 404:
            raise NotFound(f"{issue_key} does not exist or you cannot see it.", "unknown_issue") from exc
        raise jira_unavailable(exc) from exc
    issue_id = str(issue.get("id") or "")
    grants = issue_grants(jira, who.account_id, [issue_id],
                          ("BROWSE_PROJECTS", "EDIT_ISSUES") if edit else ("BROWSE_PROJECTS",))
    if issue_id not in grants["BROWSE_PROJECTS"]:
        raise NotFound(f"{issue_key} does not exist or you cannot see it.", "unknown_issue")
    if edit and issue_id not in grants["EDIT_ISSUES"]:
        raise Forbidden(f"Only people who can edit {issue_key} can link feature flags to it.", "cannot_edit")


def _links_of(tenant: Tenant, issue_key: str) -> list[str]:
    links = (tenant.settings or {}).get("flag_links") or {}
    return sorted(flag for flag, keys in links.items() if issue_key in keys)


@bp.get("/api/issues/<issue_key>/flags")
@context_jwt_required
def list_links(issue_key: str) -> Response:
    _require_issue(issue_key)
    return jsonify({"issue": issue_key, "flags": _links_of(caller().tenant, issue_key)})


@bp.post("/api/issues/<issue_key>/flags")
@context_jwt_required
def link_flag(issue_key: str) -> tuple[Response, int]:
    _require_issue(issue_key, edit=True)
    flag = request_json().get("flag")
    if not isinstance(flag, str) or not FLAG_KEY.match(flag):
        raise BadRequest("flag must be a feature flag key.")
    with transaction(services().sessions) as session:
        # Locked for the read-modify-write: two links made at once must not drop one another
        # (a row lock on PostgreSQL; SQLite already runs one writer at a time).
        tenant = session.get(Tenant, caller().tenant.id, with_for_update=True)
        assert tenant is not None
        links = dict((tenant.settings or {}).get("flag_links") or {})
        links[flag] = sorted({*links.get(flag, []), issue_key})
        tenant.settings = {**(tenant.settings or {}), "flag_links": links}
        queue_recompute(session, tenant.id)
        return jsonify({"issue": issue_key, "flags": _links_of(tenant, issue_key)}), 201


@bp.delete("/api/issues/<issue_key>/flags/<flag>")
@context_jwt_required
def unlink_flag(issue_key: str, flag: str) -> tuple[str, int]:
    _require_issue(issue_key, edit=True)
    with transaction(services().sessions) as session:
        tenant = session.get(Tenant, caller().tenant.id, with_for_update=True)
        assert tenant is not None
        links = dict((tenant.settings or {}).get("flag_links") or {})
        if issue_key not in links.get(flag, []):
            raise NotFound("That flag is not linked to this issue.", "unknown_link")
        remaining = [key for key in links[flag] if key != issue_key]
        if remaining:
            links[flag] = remaining
        else:
            links.pop(flag)
        tenant.settings = {**(tenant.settings or {}), "flag_links": links}
        queue_recompute(session, tenant.id)
    return "", 204
