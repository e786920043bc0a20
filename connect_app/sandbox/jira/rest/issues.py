"""`/rest/api/3/issue/{idOrKey}`: read an issue, edit its fields, labels and properties."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, jsonify, request

from connect_app.sandbox.jira.adf import adf_problems
from connect_app.sandbox.jira.rest.common import (
    JiraError,
    change_item,
    field_error,
    issue_or_404,
    json_object_body,
    list_param,
    no_content,
    record_history,
    set_properties,
    site_state,
)
from connect_app.sandbox.jira.state import EDITABLE_FIELDS, JiraState, now_iso


def register(app: Flask) -> None:
    app.add_url_rule("/rest/api/3/issue/<id_or_key>", view_func=get_issue, methods=["GET"])
    app.add_url_rule("/rest/api/3/issue/<id_or_key>", view_func=edit_issue, methods=["PUT"])


def get_issue(id_or_key: str) -> Response:
    state = site_state()
    with state.lock:
        issue = issue_or_404(state, id_or_key)
        return jsonify(state.issue_json(issue, fields=list_param("fields"), properties=list_param("properties")))


def edit_issue(id_or_key: str) -> Response:
    body = json_object_body()
    state = site_state()
    with state.lock:
        issue = issue_or_404(state, id_or_key)
        if body.get("transition"):
            raise JiraError(400, ["Use the transitions resource to change the status of an issue."])
        snapshot = json.dumps(issue, default=str)
        try:
            items = apply_edit(state, issue, body, allowed=EDITABLE_FIELDS)
            set_properties(issue, body.get("properties"))
        except JiraError:
            issue.clear()
            issue.update(json.loads(snapshot))
            raise
        record_history(issue, items)
        if request.args.get("returnIssue", "false").lower() == "true":
            return jsonify(state.issue_json(issue))
        return no_content()


def check_labels(labels: Any, name: str = "labels") -> list[str]:
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise JiraError(400, [], {name: "Labels must be an array of strings."})
    for label in labels:
        if not label or any(ch.isspace() for ch in label):
            raise JiraError(400, [], {name: "The label '" + label + "' contains spaces which is invalid."})
        if len(label) > 255:
            raise JiraError(400, [], {name: "The label '" + label + "' is longer than 255 characters."})
    return labels


def apply_edit(
    state: JiraState, issue: dict[str, Any], body: dict[str, Any], *, allowed: frozenset[str]
) -> list[dict[str, Any]]:
    """Apply `fields` and `update`; returns changelog items. Validates before changing."""
    fields = body.get("fields") or {}
    update = body.get("update") or {}
    for name in set(fields) & set(update):
        raise JiraError(400, [], {name: f"Field '{name}' cannot be set in both 'fields' and 'update' in one request."})
    for name in list(fields) + list(update):
        if name not in allowed and name not in issue["fields"]:
            raise field_error(name)
    changes = _apply_labels(issue, fields, update)
    for name, value in _simple_values(fields, update).items():
        old = _set_simple(state, issue, name, value)
        changes.append(change_item(name, str(old), str(value)))
    if changes:
        issue["updated"] = now_iso()
    return changes


def _apply_labels(issue: dict[str, Any], fields: dict[str, Any], update: dict[str, Any]) -> list[dict[str, Any]]:
    labels = list(issue["labels"])
    if "labels" in fields:
        labels = list(dict.fromkeys(check_labels(fields["labels"])))
    for operation in update.get("labels", []):
        if not isinstance(operation, dict) or len(operation) != 1:
            raise JiraError(400, [], {"labels": "Each update operation must be one of add, remove or set."})
        verb, value = next(iter(operation.items()))
        if verb == "add":
            check_labels([value])
            if value not in labels:
                labels.append(value)
        elif verb == "remove":
            labels = [label for label in labels if label != value]
        elif verb == "set":
            labels = list(dict.fromkeys(check_labels(value)))
        else:
            raise JiraError(400, [], {"labels": f"Operation '{verb}' is not supported for labels."})
    if labels == issue["labels"]:
        return []
    change = change_item("labels", " ".join(issue["labels"]), " ".join(labels))
    issue["labels"] = labels
    return [change]


def _simple_values(fields: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Every field but labels with the value it is set to, from `fields` or `update` `set`s."""
    simple = {name: value for name, value in fields.items() if name != "labels"}
    for name, operations in update.items():
        if name == "labels":
            continue
        for operation in operations or []:
            if isinstance(operation, dict) and "set" in operation:
                simple[name] = operation["set"]
            else:
                raise JiraError(400, [], {name: f"Only 'set' is supported for field '{name}'."})
    return simple


def _set_simple(state: JiraState, issue: dict[str, Any], name: str, value: Any) -> Any:
    """Set one field after Jira's checks; returns its old value."""
    if name in ("assignee", "reporter"):
        account = value.get("accountId") if isinstance(value, dict) else None
        if value is not None and account not in state.users:
            raise JiraError(400, [], {name: f"User '{account}' cannot be assigned issues."})
        old, issue[name] = issue[name], account
        return old
    if name in ("summary", "description"):
        if name == "summary" and (not isinstance(value, str) or not value.strip()):
            raise JiraError(400, [], {"summary": "You must specify a summary of the issue."})
        if name == "description" and value is not None:
            problems = adf_problems(value)
            if problems:
                raise JiraError(400, [], {"description": "; ".join(problems)})
        old, issue[name] = issue[name], value
        return old
    old = issue["fields"].get(name)
    issue["fields"][name] = value
    return old
