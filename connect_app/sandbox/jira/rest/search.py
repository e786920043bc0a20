"""`/rest/api/3/search/jql` (GET and POST): JQL search with Jira's token paging."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from flask import Flask, Response, jsonify, request

from connect_app.sandbox.jira.jql import JqlError, Search
from connect_app.sandbox.jira.rest.common import JiraError, json_object_body, list_param, site_state

SEARCH_DEFAULT_PAGE = 50
SEARCH_MAX_PAGE_WITH_FIELDS = 100
SEARCH_MAX_PAGE_IDS = 5000


def register(app: Flask) -> None:
    app.add_url_rule("/rest/api/3/search/jql", view_func=search_get, methods=["GET"])
    app.add_url_rule("/rest/api/3/search/jql", view_func=search_post, methods=["POST"])


def search_get() -> Response:
    max_results = request.args.get("maxResults")
    return search(
        request.args.get("jql", ""),
        request.args.get("nextPageToken"),
        int(max_results) if max_results is not None else None,
        list_param("fields"),
        list_param("properties"),
    )


def search_post() -> Response:
    body = json_object_body(default_empty=True)
    return search(
        body.get("jql") or "",
        body.get("nextPageToken"),
        body.get("maxResults"),
        body.get("fields"),
        body.get("properties"),
    )


def _query_digest(jql: str) -> str:
    return hashlib.sha256(jql.encode()).hexdigest()[:16]


def page_token(jql: str, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"q": _query_digest(jql), "o": offset}).encode()).decode()


def token_offset(jql: str, token: str | None) -> int:
    if not token:
        return 0
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = int(decoded["o"])
    except (ValueError, KeyError, TypeError):
        raise JiraError(400, ["The nextPageToken is invalid."]) from None
    if decoded.get("q") != _query_digest(jql):
        raise JiraError(400, ["The nextPageToken does not belong to this query."])
    return offset


def search(
    jql: str, token: str | None, max_results: int | None, fields: list[str] | None, properties: list[str] | None
) -> Response:
    fields = fields or ["id"]
    only_ids = set(fields) <= {"id"}
    limit = SEARCH_MAX_PAGE_IDS if only_ids else SEARCH_MAX_PAGE_WITH_FIELDS
    size = max(1, min(max_results if max_results is not None else SEARCH_DEFAULT_PAGE, limit))
    state = site_state()
    with state.lock:
        try:
            query = Search(jql, state)
        except JqlError as exc:
            raise JiraError(400, [str(exc)]) from None
        offset = token_offset(jql, token)
        named = query.named_issues()
        candidates = state.issues_named(named) if named is not None else None
        matched = [issue for issue in (state.issues.values() if candidates is None else candidates)
                   if query.matches(issue)]
        # Without ORDER BY, newest first, as Jira's search does.
        ordered = query.sort(matched, default=lambda i: -int(i["id"]))
        page = ordered[offset : offset + size]
        issues: list[dict[str, Any]] = []
        for issue in page:
            if only_ids and not properties:
                issues.append({"id": issue["id"]})
            else:
                shown = [f for f in fields if f != "id"] or ["-*all"]
                issues.append(state.issue_json(issue, fields=shown, properties=properties))
        answer: dict[str, Any] = {"issues": issues, "isLast": offset + size >= len(ordered)}
        if not answer["isLast"]:
            answer["nextPageToken"] = page_token(jql, offset + size)
        return jsonify(answer)
