"""Entity properties of issues (`/rest/api/3/issue/{idOrKey}/properties`), comments
(`/rest/api/3/comment/{commentId}/properties`) and projects (`/rest/api/3/project/{projectIdOrKey}/properties`)."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify

from connect_app.sandbox.jira.rest.common import (
    JiraError,
    check_property,
    issue_or_404,
    json_body,
    no_content,
    site_state,
)
from connect_app.sandbox.jira.state import JiraState

ISSUE_PROPERTY = "/rest/api/3/issue/<id_or_key>/properties/<property_key>"
COMMENT_PROPERTY = "/rest/api/3/comment/<comment_id>/properties/<property_key>"
PROJECT_PROPERTY = "/rest/api/3/project/<id_or_key>/properties/<property_key>"


def register(app: Flask) -> None:
    app.add_url_rule("/rest/api/3/issue/<id_or_key>/properties", view_func=list_issue_properties, methods=["GET"])
    app.add_url_rule(ISSUE_PROPERTY, view_func=get_issue_property, methods=["GET"])
    app.add_url_rule(ISSUE_PROPERTY, view_func=put_issue_property, methods=["PUT"])
    app.add_url_rule(ISSUE_PROPERTY, view_func=delete_issue_property, methods=["DELETE"])
    app.add_url_rule(COMMENT_PROPERTY, view_func=get_comment_property, methods=["GET"])
    app.add_url_rule(COMMENT_PROPERTY, view_func=put_comment_property, methods=["PUT"])
    app.add_url_rule(COMMENT_PROPERTY, view_func=delete_comment_property, methods=["DELETE"])
    app.add_url_rule(PROJECT_PROPERTY, view_func=get_project_property, methods=["GET"])
    app.add_url_rule(PROJECT_PROPERTY, view_func=put_project_property, methods=["PUT"])
    app.add_url_rule(PROJECT_PROPERTY, view_func=delete_project_property, methods=["DELETE"])


# ---- shared by both entities ----------------------------------------------------------------


def _get(entity: dict[str, Any], property_key: str) -> Response:
    if property_key not in entity["properties"]:
        raise JiraError(404, [f"The property with key '{property_key}' does not exist."])
    return jsonify({"key": property_key, "value": entity["properties"][property_key]})


def _value() -> Any:
    value = json_body()
    if value is None:
        raise JiraError(400, ["The property value must be valid JSON."])
    return value


def _put(entity: dict[str, Any], property_key: str, value: Any) -> Response:
    check_property(property_key, value)
    created = property_key not in entity["properties"]
    entity["properties"][property_key] = value
    return Response(status=201 if created else 200)


def _delete(entity: dict[str, Any], property_key: str) -> Response:
    if entity["properties"].pop(property_key, None) is None:
        raise JiraError(404, [f"The property with key '{property_key}' does not exist."])
    return no_content()


# ---- issue properties -----------------------------------------------------------------------


def list_issue_properties(id_or_key: str) -> Response:
    state = site_state()
    with state.lock:
        issue = issue_or_404(state, id_or_key)
        keys = [
            {"key": key, "self": state.url(f"/rest/api/3/issue/{issue['id']}/properties/{key}")}
            for key in issue["properties"]
        ]
        return jsonify({"keys": keys})


def get_issue_property(id_or_key: str, property_key: str) -> Response:
    state = site_state()
    with state.lock:
        return _get(issue_or_404(state, id_or_key), property_key)


def put_issue_property(id_or_key: str, property_key: str) -> Response:
    value = _value()
    state = site_state()
    with state.lock:
        return _put(issue_or_404(state, id_or_key), property_key, value)


def delete_issue_property(id_or_key: str, property_key: str) -> Response:
    state = site_state()
    with state.lock:
        return _delete(issue_or_404(state, id_or_key), property_key)


# ---- comment properties ---------------------------------------------------------------------


def _comment_or_404(state: JiraState, comment_id: str) -> dict[str, Any]:
    found = state.find_comment(comment_id)
    if found is None:
        raise JiraError(404, [f"Can not find a comment for the id: {comment_id}."])
    _issue, comment = found
    return comment


def get_comment_property(comment_id: str, property_key: str) -> Response:
    state = site_state()
    with state.lock:
        return _get(_comment_or_404(state, comment_id), property_key)


def put_comment_property(comment_id: str, property_key: str) -> Response:
    value = _value()
    state = site_state()
    with state.lock:
        return _put(_comment_or_404(state, comment_id), property_key, value)


def delete_comment_property(comment_id: str, property_key: str) -> Response:
    state = site_state()
    with state.lock:
        return _delete(_comment_or_404(state, comment_id), property_key)


# ---- project properties ---------------------------------------------------------------------


def _project_or_404(state: JiraState, id_or_key: str) -> dict[str, Any]:
    project = state.find_project(id_or_key)
    if project is None:
        raise JiraError(404, [f"No project could be found with key '{id_or_key}'."])
    return project


def get_project_property(id_or_key: str, property_key: str) -> Response:
    state = site_state()
    with state.lock:
        return _get(_project_or_404(state, id_or_key), property_key)


def put_project_property(id_or_key: str, property_key: str) -> Response:
    value = _value()
    state = site_state()
    with state.lock:
        return _put(_project_or_404(state, id_or_key), property_key, value)


def delete_project_property(id_or_key: str, property_key: str) -> Response:
    state = site_state()
    with state.lock:
        return _delete(_project_or_404(state, id_or_key), property_key)
