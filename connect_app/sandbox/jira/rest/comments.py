"""`/rest/api/3/issue/{idOrKey}/comment`: list and add comments."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request

from connect_app.sandbox.jira.rest.common import (
    acting_user,
    check_comment_body,
    issue_or_404,
    json_object_body,
    list_param,
    set_properties,
    site_state,
)


def register(app: Flask) -> None:
    app.add_url_rule("/rest/api/3/issue/<id_or_key>/comment", view_func=list_comments, methods=["GET"])
    app.add_url_rule("/rest/api/3/issue/<id_or_key>/comment", view_func=add_comment, methods=["POST"])


def list_comments(id_or_key: str) -> Response:
    state = site_state()
    with state.lock:
        issue = issue_or_404(state, id_or_key)
        start = int(request.args.get("startAt", 0))
        size = min(int(request.args.get("maxResults", 5000)), 5000)
        with_properties = "properties" in (list_param("expand") or [])
        comments = list(issue["comments"])
        if request.args.get("orderBy", "created").lstrip("+") == "-created":
            comments.reverse()
        page = comments[start : start + size]
        return jsonify(
            {
                "startAt": start,
                "maxResults": size,
                "total": len(comments),
                "comments": [state.comment_json(issue, c, with_properties=with_properties) for c in page],
            }
        )


def add_comment(id_or_key: str) -> Response:
    body = json_object_body()
    state = site_state()
    with state.lock:
        issue = issue_or_404(state, id_or_key)
        document = check_comment_body(body.get("body"))
        holder: dict[str, Any] = {"properties": {}}
        set_properties(holder, body.get("properties"))
        comment = state.new_comment(issue, acting_user(), document)
        comment["properties"].update(holder["properties"])
        answer = jsonify(state.comment_json(issue, comment, with_properties=bool(holder["properties"])))
        answer.status_code = 201
        return answer
