"""`/rest/api/3/field` (every field of the site, system and custom) and
`/rest/api/3/project/{projectIdOrKey}/statuses` (the statuses of a project, per issue type)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify

from connect_app.sandbox.jira.rest.common import JiraError, site_state
from connect_app.sandbox.jira.state import CUSTOM_FIELDS, ISSUE_TYPES, STATUSES, SYSTEM_FIELDS


def register(app: Flask) -> None:
    app.add_url_rule("/rest/api/3/field", view_func=list_fields, methods=["GET"])
    app.add_url_rule("/rest/api/3/project/<id_or_key>/statuses", view_func=project_statuses, methods=["GET"])


def _field(field_id: str, name: str, schema: dict[str, Any], *, custom: bool) -> dict[str, Any]:
    clause = [field_id, f"cf[{field_id.removeprefix('customfield_')}]", name] if custom else [field_id]
    return {"id": field_id, "key": field_id, "name": name, "custom": custom, "orderable": True, "navigable": True,
            "searchable": True, "clauseNames": clause, "schema": schema}


def list_fields() -> Response:
    fields = [_field(fid, name, {"type": kind, "system": fid}, custom=False)
              for fid, (name, kind) in SYSTEM_FIELDS.items()]
    for fid, (name, kind, items, custom_type) in CUSTOM_FIELDS.items():
        custom_id = int(fid.removeprefix("customfield_"))
        schema: dict[str, Any] = {"type": kind, "custom": custom_type, "customId": custom_id}
        if items:
            schema["items"] = items
        fields.append(_field(fid, name, schema, custom=True))
    return jsonify(fields)


def project_statuses(id_or_key: str) -> Response:
    state = site_state()
    with state.lock:
        project = state.find_project(id_or_key)
        if project is None:
            raise JiraError(404, [f"No project could be found with key '{id_or_key}'."])
        statuses = [{**state.status_json(name), "untranslatedName": name} for name in STATUSES]
        return jsonify([
            {"self": state.url(f"/rest/api/3/issueType/{type_id}"), "id": type_id, "name": name,
             "subtask": level < 0, "statuses": statuses}
            for name, (type_id, level) in ISSUE_TYPES.items()
        ])
