"""The Jira Cloud REST endpoints the app uses, as a Flask app over a `JiraState`.

Handlers only implement Jira's behaviour; authentication, fault injection, spec validation
and recording wrap them in `connect_app.sandbox.jira` (see `JiraSimulator._before` and
`_after`), so every route here may assume a verified app and a spec-valid request.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, jsonify, request

from connect_app.sandbox.adf import adf_problems
from connect_app.sandbox.jira_state import EDITABLE_FIELDS, STATUSES, now_iso
from connect_app.sandbox.jql import JqlError, Search

if TYPE_CHECKING:
    from connect_app.sandbox.jira import JiraSimulator

ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."
MAX_PROPERTY_BYTES = 32768
SEARCH_DEFAULT_PAGE = 50
SEARCH_MAX_PAGE_WITH_FIELDS = 100
SEARCH_MAX_PAGE_IDS = 5000


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


def _no_content() -> Response:
    return Response(status=204)


def _json_body() -> Any:
    raw = request.get_data(cache=True)
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise JiraError(400, ["Unexpected character in the request body: it is not valid JSON."]) from None


def _list_param(name: str) -> list[str] | None:
    values = request.args.getlist(name)
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def build_rest_app(sim: JiraSimulator) -> Flask:
    state = sim.state
    app = Flask("jira-simulator")
    app.before_request(sim._before)
    app.after_request(sim._after)

    @app.errorhandler(JiraError)
    def jira_error(error: JiraError) -> Response:
        return error.response()

    @app.errorhandler(404)
    def not_found(_error: Exception) -> Response:
        return JiraError(404, [f"No REST resource at {request.method} {request.path}."]).response()

    @app.errorhandler(405)
    def not_allowed(_error: Exception) -> Response:
        return JiraError(405, [f"Method {request.method} is not allowed on {request.path}."]).response()

    def issue_or_404(id_or_key: str) -> dict[str, Any]:
        issue = state.find_issue(id_or_key)
        if issue is None:
            raise JiraError(404, [ISSUE_NOT_FOUND])
        return issue

    def acting_user() -> str:
        return str(g.jira_user)

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

    def check_property(key: str, value: Any) -> None:
        if not key or len(key) > 255:
            raise JiraError(400, ["The property key cannot be longer than 255 characters."])
        if len(json.dumps(value).encode()) > MAX_PROPERTY_BYTES:
            raise JiraError(400, [f"The property value cannot be longer than {MAX_PROPERTY_BYTES} bytes."])

    def field_error(name: str) -> JiraError:
        return JiraError(
            400, [], {name: f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."}
        )

    def check_labels(labels: Any, name: str = "labels") -> list[str]:
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise JiraError(400, [], {name: "Labels must be an array of strings."})
        for label in labels:
            if not label or any(ch.isspace() for ch in label):
                raise JiraError(400, [], {name: "The label '" + label + "' contains spaces which is invalid."})
            if len(label) > 255:
                raise JiraError(400, [], {name: "The label '" + label + "' is longer than 255 characters."})
        return labels

    def apply_edit(issue: dict[str, Any], body: dict[str, Any], *, allowed: frozenset[str]) -> list[dict[str, Any]]:
        """Apply `fields` and `update`; returns changelog items. Validates before changing."""
        fields = body.get("fields") or {}
        update = body.get("update") or {}
        for name in set(fields) & set(update):
            raise JiraError(
                400, [], {name: f"Field '{name}' cannot be set in both 'fields' and 'update' in one request."}
            )
        for name in list(fields) + list(update):
            if name not in allowed and name not in issue["fields"]:
                raise field_error(name)
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
        changes: list[dict[str, Any]] = []
        if labels != issue["labels"]:
            changes.append(
                {
                    "field": "labels",
                    "fieldtype": "jira",
                    "fieldId": "labels",
                    "from": None,
                    "fromString": " ".join(issue["labels"]),
                    "to": None,
                    "toString": " ".join(labels),
                }
            )
            issue["labels"] = labels
        simple = {name: value for name, value in fields.items() if name != "labels"}
        for name, operations in update.items():
            if name == "labels":
                continue
            for operation in operations or []:
                if isinstance(operation, dict) and "set" in operation:
                    simple[name] = operation["set"]
                else:
                    raise JiraError(400, [], {name: f"Only 'set' is supported for field '{name}'."})
        for name, value in simple.items():
            if name in ("assignee", "reporter"):
                account = value.get("accountId") if isinstance(value, dict) else None
                if value is not None and account not in state.users:
                    raise JiraError(400, [], {name: f"User '{account}' cannot be assigned issues."})
                old, issue[name] = issue[name], account
            elif name in ("summary", "description"):
                if name == "summary" and (not isinstance(value, str) or not value.strip()):
                    raise JiraError(400, [], {"summary": "You must specify a summary of the issue."})
                if name == "description" and value is not None:
                    problems = adf_problems(value)
                    if problems:
                        raise JiraError(400, [], {"description": "; ".join(problems)})
                old, issue[name] = issue[name], value
            else:
                old = issue["fields"].get(name)
                issue["fields"][name] = value
            changes.append(
                {
                    "field": name,
                    "fieldtype": "jira",
                    "fieldId": name,
                    "from": None,
                    "fromString": str(old),
                    "to": None,
                    "toString": str(value),
                }
            )
        if changes:
            issue["updated"] = now_iso()
        return changes

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

    # ---- issues --------------------------------------------------------------------------

    @app.get("/rest/api/3/issue/<id_or_key>")
    def get_issue(id_or_key: str) -> Response:
        with state.lock:
            issue = issue_or_404(id_or_key)
            return jsonify(state.issue_json(issue, fields=_list_param("fields"), properties=_list_param("properties")))

    @app.put("/rest/api/3/issue/<id_or_key>")
    def edit_issue(id_or_key: str) -> Response:
        body = _json_body()
        if not isinstance(body, dict):
            raise JiraError(400, ["The request body must be a JSON object."])
        with state.lock:
            issue = issue_or_404(id_or_key)
            if body.get("transition"):
                raise JiraError(400, ["Use the transitions resource to change the status of an issue."])
            snapshot = json.dumps(issue, default=str)
            try:
                items = apply_edit(issue, body, allowed=EDITABLE_FIELDS)
                set_properties(issue, body.get("properties"))
            except JiraError:
                issue.clear()
                issue.update(json.loads(snapshot))
                raise
            record_history(issue, items)
            if request.args.get("returnIssue", "false").lower() == "true":
                return jsonify(state.issue_json(issue))
            return _no_content()

    # ---- comments ------------------------------------------------------------------------

    @app.get("/rest/api/3/issue/<id_or_key>/comment")
    def list_comments(id_or_key: str) -> Response:
        with state.lock:
            issue = issue_or_404(id_or_key)
            start = int(request.args.get("startAt", 0))
            size = min(int(request.args.get("maxResults", 5000)), 5000)
            with_properties = "properties" in (_list_param("expand") or [])
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

    def check_comment_body(body: Any) -> dict[str, Any]:
        if body is None or body == "":
            raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
        if isinstance(body, str):
            raise JiraError(
                400, [], {"comment": "Comment body must be an Atlassian Document Format document in API v3."}
            )
        problems = adf_problems(body)
        if problems:
            raise JiraError(400, ["INVALID_INPUT"], {"comment": "; ".join(problems)})
        return body

    @app.post("/rest/api/3/issue/<id_or_key>/comment")
    def add_comment(id_or_key: str) -> Response:
        body = _json_body()
        if not isinstance(body, dict):
            raise JiraError(400, ["The request body must be a JSON object."])
        with state.lock:
            issue = issue_or_404(id_or_key)
            document = check_comment_body(body.get("body"))
            holder: dict[str, Any] = {"properties": {}}
            set_properties(holder, body.get("properties"))
            comment = state.new_comment(issue, acting_user(), document)
            comment["properties"].update(holder["properties"])
            answer = jsonify(state.comment_json(issue, comment, with_properties=bool(holder["properties"])))
            answer.status_code = 201
            return answer

    def comment_or_404(comment_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        found = state.find_comment(comment_id)
        if found is None:
            raise JiraError(404, [f"Can not find a comment for the id: {comment_id}."])
        return found

    @app.get("/rest/api/3/comment/<comment_id>/properties/<property_key>")
    def get_comment_property(comment_id: str, property_key: str) -> Response:
        with state.lock:
            _issue, comment = comment_or_404(comment_id)
            if property_key not in comment["properties"]:
                raise JiraError(404, [f"The property with key '{property_key}' does not exist."])
            return jsonify({"key": property_key, "value": comment["properties"][property_key]})

    @app.put("/rest/api/3/comment/<comment_id>/properties/<property_key>")
    def put_comment_property(comment_id: str, property_key: str) -> Response:
        value = _json_body()
        if value is None:
            raise JiraError(400, ["The property value must be valid JSON."])
        with state.lock:
            _issue, comment = comment_or_404(comment_id)
            check_property(property_key, value)
            created = property_key not in comment["properties"]
            comment["properties"][property_key] = value
            return Response(status=201 if created else 200)

    @app.delete("/rest/api/3/comment/<comment_id>/properties/<property_key>")
    def delete_comment_property(comment_id: str, property_key: str) -> Response:
        with state.lock:
            _issue, comment = comment_or_404(comment_id)
            if comment["properties"].pop(property_key, None) is None:
                raise JiraError(404, [f"The property with key '{property_key}' does not exist."])
            return _no_content()

    # ---- transitions ---------------------------------------------------------------------

    def transition_json(transition_id: str, name: str, target: str) -> dict[str, Any]:
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

    @app.get("/rest/api/3/issue/<id_or_key>/transitions")
    def list_transitions(id_or_key: str) -> Response:
        with state.lock:
            issue = issue_or_404(id_or_key)
            wanted = request.args.get("transitionId")
            transitions = [
                transition_json(tid, name, target)
                for tid, name, target in state.transitions_for(issue)
                if wanted is None or wanted == tid
            ]
            return jsonify({"expand": "transitions", "transitions": transitions})

    @app.post("/rest/api/3/issue/<id_or_key>/transitions")
    def do_transition(id_or_key: str) -> Response:
        body = _json_body()
        if not isinstance(body, dict):
            raise JiraError(400, ["The request body must be a JSON object."])
        with state.lock:
            issue = issue_or_404(id_or_key)
            transition_id = str((body.get("transition") or {}).get("id") or "")
            if not transition_id:
                raise JiraError(400, ["Missing 'transition' identifier"])
            offered = {tid: target for tid, _name, target in state.transitions_for(issue)}
            if transition_id not in offered:
                raise JiraError(400, [f"Transition id '{transition_id}' is not valid for this issue."])
            # The simulated workflow has no transition screens: only a comment (and, into
            # Done, a resolution) can ride on a transition, as on a screenless Jira workflow.
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
            holder: dict[str, Any] = {"properties": {}}
            set_properties(holder, body.get("properties"))
            before = issue["status"]
            state.change_status(issue, offered[transition_id])
            for document in documents:
                state.new_comment(issue, acting_user(), document)
            issue["properties"].update(holder["properties"])
            record_history(
                issue,
                [
                    {
                        "field": "status",
                        "fieldtype": "jira",
                        "fieldId": "status",
                        "from": STATUSES[before][0],
                        "fromString": before,
                        "to": STATUSES[issue["status"]][0],
                        "toString": issue["status"],
                    }
                ],
            )
            return _no_content()

    # ---- issue properties ----------------------------------------------------------------

    @app.get("/rest/api/3/issue/<id_or_key>/properties")
    def list_issue_properties(id_or_key: str) -> Response:
        with state.lock:
            issue = issue_or_404(id_or_key)
            keys = [
                {"key": key, "self": state.url(f"/rest/api/3/issue/{issue['id']}/properties/{key}")}
                for key in issue["properties"]
            ]
            return jsonify({"keys": keys})

    @app.get("/rest/api/3/issue/<id_or_key>/properties/<property_key>")
    def get_issue_property(id_or_key: str, property_key: str) -> Response:
        with state.lock:
            issue = issue_or_404(id_or_key)
            if property_key not in issue["properties"]:
                raise JiraError(404, [f"The property with key '{property_key}' does not exist."])
            return jsonify({"key": property_key, "value": issue["properties"][property_key]})

    @app.put("/rest/api/3/issue/<id_or_key>/properties/<property_key>")
    def put_issue_property(id_or_key: str, property_key: str) -> Response:
        value = _json_body()
        if value is None:
            raise JiraError(400, ["The property value must be valid JSON."])
        with state.lock:
            issue = issue_or_404(id_or_key)
            check_property(property_key, value)
            created = property_key not in issue["properties"]
            issue["properties"][property_key] = value
            return Response(status=201 if created else 200)

    @app.delete("/rest/api/3/issue/<id_or_key>/properties/<property_key>")
    def delete_issue_property(id_or_key: str, property_key: str) -> Response:
        with state.lock:
            issue = issue_or_404(id_or_key)
            if issue["properties"].pop(property_key, None) is None:
                raise JiraError(404, [f"The property with key '{property_key}' does not exist."])
            return _no_content()

    # ---- search --------------------------------------------------------------------------

    def page_token(jql: str, offset: int) -> str:
        digest = hashlib.sha256(jql.encode()).hexdigest()[:16]
        return base64.urlsafe_b64encode(json.dumps({"q": digest, "o": offset}).encode()).decode()

    def token_offset(jql: str, token: str | None) -> int:
        if not token:
            return 0
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            offset = int(decoded["o"])
        except (ValueError, KeyError, TypeError):
            raise JiraError(400, ["The nextPageToken is invalid."]) from None
        if decoded.get("q") != hashlib.sha256(jql.encode()).hexdigest()[:16]:
            raise JiraError(400, ["The nextPageToken does not belong to this query."])
        return offset

    def search(
        jql: str, token: str | None, max_results: int | None, fields: list[str] | None, properties: list[str] | None
    ) -> Response:
        fields = fields or ["id"]
        only_ids = set(fields) <= {"id"}
        limit = SEARCH_MAX_PAGE_IDS if only_ids else SEARCH_MAX_PAGE_WITH_FIELDS
        size = max(1, min(max_results if max_results is not None else SEARCH_DEFAULT_PAGE, limit))
        with state.lock:
            try:
                query = Search(jql, state)
            except JqlError as exc:
                raise JiraError(400, [str(exc)]) from None
            offset = token_offset(jql, token)
            matched = [issue for issue in state.issues.values() if query.matches(issue)]
            # Without ORDER BY, newest first, as Jira's search does.
            ordered = query.sort(matched, default=lambda i: -int(i["id"]))
            page = ordered[offset : offset + size]
            issues = []
            for issue in page:
                if only_ids and not properties:
                    issues.append({"id": issue["id"]})
                else:
                    issues.append(
                        state.issue_json(
                            issue, fields=[f for f in fields if f != "id"] or ["-*all"], properties=properties
                        )
                    )
            answer: dict[str, Any] = {"issues": issues, "isLast": offset + size >= len(ordered)}
            if not answer["isLast"]:
                answer["nextPageToken"] = page_token(jql, offset + size)
            return jsonify(answer)

    @app.get("/rest/api/3/search/jql")
    def search_get() -> Response:
        max_results = request.args.get("maxResults")
        return search(
            request.args.get("jql", ""),
            request.args.get("nextPageToken"),
            int(max_results) if max_results is not None else None,
            _list_param("fields"),
            _list_param("properties"),
        )

    @app.post("/rest/api/3/search/jql")
    def search_post() -> Response:
        body = _json_body() or {}
        if not isinstance(body, dict):
            raise JiraError(400, ["The request body must be a JSON object."])
        return search(
            body.get("jql") or "",
            body.get("nextPageToken"),
            body.get("maxResults"),
            body.get("fields"),
            body.get("properties"),
        )

    # ---- projects, users, permissions ----------------------------------------------------

    @app.get("/rest/api/3/project/search")
    def project_search() -> Response:
        with state.lock:
            keys = {k.upper() for k in _list_param("keys") or []}
            ids = set(_list_param("id") or [])
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

    @app.get("/rest/api/3/project/<id_or_key>")
    def get_project(id_or_key: str) -> Response:
        with state.lock:
            project = state.find_project(id_or_key)
            if project is None:
                raise JiraError(404, [f"No project could be found with key '{id_or_key}'."])
            return jsonify(state.project_json(project, full=True))

    @app.get("/rest/api/3/myself")
    def myself() -> Response:
        with state.lock:
            return jsonify(state.user_json(acting_user()))

    @app.get("/rest/api/3/user")
    def get_user() -> Response:
        account_id = request.args.get("accountId")
        with state.lock:
            if not account_id:
                raise JiraError(400, ["The accountId query parameter needs to be provided."])
            if account_id not in state.users:
                raise JiraError(404, ["Specified user does not exist or you do not have required permissions"])
            return jsonify(state.user_json(account_id))

    @app.post("/rest/api/3/permissions/check")
    def check_permissions() -> Response:
        body = _json_body() or {}
        if not isinstance(body, dict):
            raise JiraError(400, ["The request body must be a JSON object."])
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
                    issues = []
                    for issue_id in grant.get("issues") or []:
                        issue = state.find_issue(str(issue_id))
                        if issue is not None and state.holds(account_id, permission, issue["project"], issue):
                            issues.append(issue_id)
                    projects = []
                    for project_id in grant.get("projects") or []:
                        project = state.find_project(str(project_id))
                        if project is not None and state.holds(account_id, permission, project["key"]):
                            projects.append(project_id)
                    if issues or projects:
                        project_grants.append({"permission": permission, "issues": issues, "projects": projects})
            return jsonify({"globalPermissions": granted_global, "projectPermissions": project_grants})

    # The sandbox's issue view, app pages and Connect JS host share Jira's origin, as in Jira.
    from connect_app.sandbox.host import register_host_pages

    register_host_pages(app, sim)
    return app
