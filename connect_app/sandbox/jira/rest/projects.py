"""`/rest/api/3/project/search` and `/rest/api/3/project/{idOrKey}`."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request

from connect_app.sandbox.jira.rest.common import JiraError, list_param, site_state


def register(app: Flask) -> None:
    app.add_url_rule("/rest/api/3/project/search", view_func=project_search, methods=["GET"])
    app.add_url_rule("/rest/api/3/project/<id_or_key>", view_func=get_project, methods=["GET"])


def project_search() -> Response:
    state = site_state()
    with state.lock:
        keys = {k.upper() for k in list_param("keys") or []}
        ids = set(list_param("id") or [])
        text = (request.args.get("query") or "").lower()
        projects = [
            p
            for p in sorted(state.projects.values(), key=lambda p: p["key"])
            if (not keys or p["key"] in keys)
            and (not ids or p["id"] in ids)
            and (not text or text in p["key"].lower() or text in p["name"].lower())
        ]
        start = int(request.args.get("startAt", 0))
        size = min(int(request.args.get("maxResults", 50)), 100)
        page = projects[start : start + size]
        answer: dict[str, Any] = {
            "self": state.url(request.full_path.rstrip("?")),
            "maxResults": size,
            "startAt": start,
            "total": len(projects),
            "isLast": start + size >= len(projects),
            "values": [state.project_json(p) for p in page],
        }
        if not answer["isLast"]:
            answer["nextPage"] = state.url(f"/rest/api/3/project/search?startAt={start + size}&maxResults={size}")
        return jsonify(answer)


def get_project(id_or_key: str) -> Response:
    state = site_state()
    with state.lock:
        project = state.find_project(id_or_key)
        if project is None:
            raise JiraError(404, [f"No project could be found with key '{id_or_key}'."])
        return jsonify(state.project_json(project, full=True))
