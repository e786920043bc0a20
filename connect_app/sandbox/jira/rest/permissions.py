"""`POST /rest/api/3/permissions/check`: which global and project permissions a user holds."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify

from connect_app.sandbox.jira.rest.common import JiraError, acting_user, json_object_body, site_state
from connect_app.sandbox.jira.state import JiraState


def register(app: Flask) -> None:
    app.add_url_rule("/rest/api/3/permissions/check", view_func=check_permissions, methods=["POST"])


def check_permissions() -> Response:
    body = json_object_body(default_empty=True)
    state = site_state()
    with state.lock:
        account_id = body.get("accountId") or acting_user()
        user = state.users.get(account_id)
        if user is None:
            raise JiraError(400, [f"The user with accountId '{account_id}' does not exist."])
        is_app = user["accountType"] == "app"
        granted_global = [
            permission
            for permission in body.get("globalPermissions") or []
            if permission == "BROWSE_USERS" or (permission == "ADMINISTER" and (user["admin"] or is_app))
        ]
        project_grants = []
        for grant in body.get("projectPermissions") or []:
            # Answered per permission: issue security and browse-only users make the issues
            # and projects granted differ from one permission to the next.
            for permission in grant.get("permissions") or []:
                issues = _granted_issues(state, account_id, permission, grant.get("issues") or [])
                projects = _granted_projects(state, account_id, permission, grant.get("projects") or [])
                if issues or projects:
                    project_grants.append({"permission": permission, "issues": issues, "projects": projects})
        return jsonify({"globalPermissions": granted_global, "projectPermissions": project_grants})


def _granted_issues(state: JiraState, account_id: str, permission: str, wanted: list[Any]) -> list[Any]:
    granted = []
    for issue_id in wanted:
        issue = state.find_issue(str(issue_id))
        if issue is not None and state.holds(account_id, permission, issue["project"], issue):
            granted.append(issue_id)
    return granted


def _granted_projects(state: JiraState, account_id: str, permission: str, wanted: list[Any]) -> list[Any]:
    granted = []
    for project_id in wanted:
        project = state.find_project(str(project_id))
        if project is not None and state.holds(account_id, permission, project["key"]):
            granted.append(project_id)
    return granted
