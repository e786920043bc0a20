"""What the Jira REST resources share: Jira's error shape, request parsing, the site's state of
the current app, and Jira's rules for properties, labels, comment bodies and history."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, g, jsonify, request

from connect_app.sandbox.jira.adf import adf_problems
from connect_app.sandbox.jira.state import JiraState, now_iso

STATE_CONFIG_KEY = "JIRA_STATE"
ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."
MAX_PROPERTY_BYTES = 32768


class JiraError(Exception):
    """An error answer in Jira's `ErrorCollection` shape."""

    def __init__(self, status: int, messages: list[str] | None = None, errors: dict[str, str] | None = None):
        super().__init__(f"{status}: {messages} {errors}")
        self.status = status
        self.messages = messages or []
        self.errors = errors or {}

    def response(self) -> Response:
        answer = jsonify({"errorMessages": self.messages, "errors": self.errors})
        answer.status_code = self.status
        return answer


def site_state() -> JiraState:
    """The state of the site serving this request."""
    return current_app.config[STATE_CONFIG_KEY]


def no_content() -> Response:
    return Response(status=204)


def json_body() -> Any:
    raw = request.get_data(cache=True)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise JiraError(400, ["Unexpected character in the request body: it is not valid JSON."]) from None


def json_object_body(*, default_empty: bool = False) -> dict[str, Any]:
    body = json_body()
    if default_empty:
        body = body or {}
    if not isinstance(body, dict):
        raise JiraError(400, ["The request body must be a JSON object."])
    return body


def list_param(name: str) -> list[str] | None:
    values = request.args.getlist(name)
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def acting_user() -> str:
    return str(g.jira_user)


def issue_or_404(state: JiraState, id_or_key: str) -> dict[str, Any]:
    issue = state.find_issue(id_or_key)
    if issue is None:
        raise JiraError(404, [ISSUE_NOT_FOUND])
    return issue


def check_property(key: str, value: Any) -> None:
    if not key or len(key) > 255:
        raise JiraError(400, ["The property key cannot be longer than 255 characters."])
    if len(json.dumps(value).encode()) > MAX_PROPERTY_BYTES:
        raise JiraError(400, [f"The property value cannot be longer than {MAX_PROPERTY_BYTES} bytes."])


def set_properties(target: dict[str, Any], entries: Any) -> None:
    if entries is None:
        return
    if not isinstance(entries, list):
        raise JiraError(400, ["properties must be an array of {key, value}."])
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str) or "value" not in entry:
            raise JiraError(400, ["Each property needs a 'key' and a 'value'."])
        check_property(entry["key"], entry["value"])
    for entry in entries:
        target["properties"][entry["key"]] = entry["value"]


def field_error(name: str) -> JiraError:
    return JiraError(400, [], {name: f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."})


def check_comment_body(body: Any) -> dict[str, Any]:
    if body is None or body == "":
        raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
    if isinstance(body, str):
        raise JiraError(400, [], {"comment": "Comment body must be an Atlassian Document Format document in API v3."})
    problems = adf_problems(body)
    if problems:
        raise JiraError(400, ["INVALID_INPUT"], {"comment": "; ".join(problems)})
    return body


def record_history(issue: dict[str, Any], items: list[dict[str, Any]]) -> None:
    if items:
        issue.setdefault("history", []).append(
            {
                "id": str(len(issue.get("history", [])) + 1),
                "author": acting_user(),
                "created": now_iso(),
                "items": items,
            }
        )


def change_item(name: str, old: Any, new: Any) -> dict[str, Any]:
    """One changelog item of a field edit."""
    return {"field": name, "fieldtype": "jira", "fieldId": name, "from": None, "fromString": old, "to": None,
            "toString": new}
