"""What the admin page asks Jira for, so a Jira admin picks instead of typing ids: people fields
(names shown, ids stored), projects, a project's statuses (for "reopen to" and which statuses
count as Done), epics; and the flag-source "send a test delivery" check.

Same guard as the rest of the admin API: a context JWT of a user Jira says holds ADMINISTER.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from flask import Blueprint, Response, jsonify, request

from connect_app.connect.audited import jira_for
from connect_app.connect.auth import caller
from connect_app.connect.jira import JiraClient, JiraError, is_done
from connect_app.errors import AppError, BadRequest
from connect_app.intake.flags import FLAG_SERVICES, TEST_HEADER, test_signature
from connect_app.intake.store import json_body, raw_body
from connect_app.reality.keys import PROJECT_KEY
from connect_app.services import services
from connect_app.web.admin import _own_connection, admin_required

bp = Blueprint("admin_jira", __name__)

T = TypeVar("T")
EPICS_SHOWN = 100
TEST_TIMEOUT = 10.0


def _ask_jira(call: Callable[[JiraClient], T]) -> T:
    try:
        return call(jira_for(services(), caller().tenant))
    except JiraError as exc:
        if exc.status == 404:
            raise AppError(404, "not_found", "Jira does not know that project, or the app cannot see it.") from exc
        raise AppError(502, "jira_unavailable", "Jira did not answer; try again in a moment.") from exc


def _project_key(value: str | None) -> str:
    if not value or not PROJECT_KEY.match(value):
        raise BadRequest("project must be a Jira project key such as FEAT.", "invalid_project")
    return value


def _is_people_field(field: dict[str, Any]) -> bool:
    schema = field.get("schema") or {}
    return schema.get("type") == "user" or (schema.get("type") == "array" and schema.get("items") == "user")


@bp.get("/api/jira/people-fields")
@admin_required
def people_fields() -> Response:
    """Custom fields that hold people: the candidates for the business-owner field."""
    fields = _ask_jira(lambda jira: jira.fields())
    people = [{"id": str(f["id"]), "name": str(f.get("name") or f["id"]),
               "multiple": (f.get("schema") or {}).get("type") == "array"}
              for f in fields if f.get("custom") and str(f.get("id", "")).startswith("customfield_")
              and _is_people_field(f)]
    return jsonify(sorted(people, key=lambda f: f["name"].casefold()))


@bp.get("/api/jira/projects")
@admin_required
def projects() -> Response:
    return jsonify(sorted(_ask_jira(lambda jira: jira.projects()), key=lambda p: p["key"]))


@bp.get("/api/jira/projects/<project>/statuses")
@admin_required
def project_statuses(project: str) -> Response:
    """The project's statuses; `done` says whether Jira's Done category holds it (the default)."""
    key = _project_key(project)
    statuses = _ask_jira(lambda jira: jira.project_statuses(key))
    return jsonify([{"id": str(s.get("id") or ""), "name": str(s["name"]), "done": is_done(s),
                     "category": str((s.get("statusCategory") or {}).get("name") or "")} for s in statuses])


@bp.get("/api/jira/epics")
@admin_required
def epics() -> Response:
    key = _project_key(request.args.get("project"))
    jql = f"project = {key} AND issuetype = Epic ORDER BY updated DESC"
    found = _ask_jira(lambda jira: _first(jira.search_jql(jql, fields=["summary"], max_results=EPICS_SHOWN)))
    return jsonify([{"key": str(i.get("key")), "summary": str((i.get("fields") or {}).get("summary") or "")}
                    for i in found])


def _first(issues: Any) -> list[dict[str, Any]]:
    shown = []
    for issue in issues:
        shown.append(issue)
        if len(shown) >= EPICS_SHOWN:
            break
    return shown


@bp.post("/api/connections/<connection_id>/test-delivery")
@admin_required
def test_delivery(connection_id: str) -> Response:
    """Send a signed test event to the flag URL the admin gives their flag service, through the
    app's public address, and say whether it came back to this app."""
    svc = services()
    with svc.sessions() as session:  # another site's connection is unknown here, whatever the body
        connection = _own_connection(session, connection_id)
        secret = svc.box.open(connection.webhook_secret_sealed)
    provider = (json_body(raw_body() or b"{}") or {}).get("provider", "generic")
    if provider not in FLAG_SERVICES:
        raise BadRequest(f"provider must be one of {', '.join(FLAG_SERVICES)}.", "unknown_provider")
    url = f"{svc.settings.app_base_url}/flags/{provider}/{connection_id}"
    nonce = secrets.token_hex(8)
    body = json.dumps({"systemRealityTest": nonce}).encode()
    return jsonify(_send_test(url, body, test_signature(secret, body), nonce))


def _send_test(url: str, body: bytes, signature: str, nonce: str) -> dict[str, Any]:
    started = time.monotonic()
    try:
        answer = requests.post(url, data=body, timeout=TEST_TIMEOUT, allow_redirects=False,
                               headers={"Content-Type": "application/json", TEST_HEADER: signature})
    except requests.RequestException:
        return {"reached": False, "url": url, "message": (
            f"The test delivery did not reach System Reality at {url}. Your flag service would fail the "
            "same way: this address must be reachable from the internet. Ask whoever runs System "
            "Reality for your company to check it.")}
    elapsed = round((time.monotonic() - started) * 1000)
    try:
        reply = answer.json() if answer.status_code == 200 else None
    except ValueError:
        reply = None
    # Whatever answers at a wrong public address (a proxy, another app) may say any JSON at all.
    echoed = reply.get("test") if isinstance(reply, dict) else None
    if echoed != nonce:
        return {"reached": False, "url": url, "status": answer.status_code, "message": (
            f"Something answered at {url} (HTTP {answer.status_code}), but not System Reality for this "
            "repository. Ask whoever runs System Reality to check the app's public address.")}
    return {"reached": True, "url": url, "elapsed_ms": elapsed,
            "message": f"The test delivery reached System Reality in {elapsed} ms. Flag changes sent to this "
                       "address will be received."}
