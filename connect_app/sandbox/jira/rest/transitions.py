"""`/rest/api/3/issue/{idOrKey}/transitions`: the workflow moves an issue has, and making one."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request

from connect_app.sandbox.jira.rest.common import (
    JiraError,
    acting_user,
    check_comment_body,
    field_error,
    issue_or_404,
    json_object_body,
    no_content,
    record_history,
    set_properties,
    site_state,
)
from connect_app.sandbox.jira.state import STATUSES, JiraState


def register(app: Flask) -> None:
    app.add_url_rule("/rest/api/3/issue/<id_or_key>/transitions", view_func=list_transitions, methods=["GET"])
    app.add_url_rule("/rest/api/3/issue/<id_or_key>/transitions", view_func=do_transition, methods=["POST"])


def transition_json(state: JiraState, transition_id: str, name: str, target: str) -> dict[str, Any]:
    return {
        "id": transition_id,
        "name": name,
        "to": state.status_json(target),
        "hasScreen": False,
        "isGlobal": True,
        "isInitial": False,
        "isAvailable": True,
        "isConditional": False,
        "isLooped": False,
    }


def list_transitions(id_or_key: str) -> Response:
    state = site_state()
    with state.lock:
        issue = issue_or_404(state, id_or_key)
        wanted = request.args.get("transitionId")
        transitions = [
            transition_json(state, tid, name, target)
            for tid, name, target in state.transitions_for(issue)
            if wanted is None or wanted == tid
        ]
        return jsonify({"expand": "transitions", "transitions": transitions})


def do_transition(id_or_key: str) -> Response:
    body = json_object_body()
    state = site_state()
    with state.lock:
        issue = issue_or_404(state, id_or_key)
        transition_id = str((body.get("transition") or {}).get("id") or "")
        if not transition_id:
            raise JiraError(400, ["Missing 'transition' identifier"])
        offered = {tid: target for tid, _name, target in state.transitions_for(issue)}
        if transition_id not in offered:
            raise JiraError(400, [f"Transition id '{transition_id}' is not valid for this issue."])
        documents = _riding_comments(body)
        holder: dict[str, Any] = {"properties": {}}
        set_properties(holder, body.get("properties"))
        before = issue["status"]
        state.change_status(issue, offered[transition_id])
        for document in documents:
            state.new_comment(issue, acting_user(), document)
        issue["properties"].update(holder["properties"])
        record_history(issue, [_status_change(before, issue["status"])])
        return no_content()


def _riding_comments(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The comments a transition adds. The simulated workflow has no transition screens: only a
    comment (and, into Done, a resolution) can ride on a transition, as on a screenless Jira
    workflow; any other field is refused."""
    update = dict(body.get("update") or {})
    comments = update.pop("comment", [])
    fields = dict(body.get("fields") or {})
    fields.pop("resolution", None)
    for name in list(fields) + list(update):
        raise field_error(name)
    documents = []
    for operation in comments:
        if not isinstance(operation, dict) or not isinstance(operation.get("add"), dict):
            raise JiraError(400, [], {"comment": "Only 'add' is supported for comments on a transition."})
        documents.append(check_comment_body(operation["add"].get("body")))
    return documents


def _status_change(before: str, after: str) -> dict[str, Any]:
    return {
        "field": "status",
        "fieldtype": "jira",
        "fieldId": "status",
        "from": STATUSES[before][0],
        "fromString": before,
        "to": STATUSES[after][0],
        "toString": after,
    }
