"""GET /openapi.json: the OpenAPI 3.1 description of every endpoint outside Connect (INTERFACES 2).

The document is built here and nowhere else. Connect's own surface (the descriptor, lifecycle
callbacks, iframe pages and the Jira webhook the descriptor declares) is Atlassian's contract, not
ours to describe. tests/unit/test_openapi.py fails when a route is added without a description.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from flask import Blueprint, Response, jsonify

from connect_app.intake.github import PROCESSED_EVENTS
from connect_app.reality import keys
from connect_app.services import services

bp = Blueprint("openapi", __name__)

Schema = dict[str, Any]

DRIFT_STATES = ["live", "pending-deploy", "reverted", "partially-reverted", "rolled-back", "flag-off", "hotfixed"]
REFUSALS = {
    400: "Malformed request: bad JSON, a missing or wrongly typed field.",
    401: "Missing or bad credentials; nothing was changed.",
    403: "The credentials are good but not allowed to do this (not an admin, app disabled on the site...).",
    404: "Unknown connection, issue, token or other id.",
    413: "The body is larger than 25 MB.",
    414: "The URL is longer than 4 KB.",
    415: "The body is not sent as application/json.",
    429: "Too many calls with this token; wait for Retry-After seconds.",
    431: "The request headers are too large.",
    502: "Jira did not answer; try again.",
    503: "The database is unreachable; nothing was stored. Retry after Retry-After seconds.",
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _string(description: str = "", **extra: Any) -> Schema:
    return {"type": "string", **({"description": description} if description else {}), **extra}


def _nullable(schema: Schema) -> Schema:
    return {**schema, "type": [schema["type"], "null"]}


def _obj(properties: dict[str, Schema], required: tuple[str, ...] = (), **extra: Any) -> Schema:
    return {"type": "object", "properties": properties, **({"required": list(required)} if required else {}),
            **extra}


def _json(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: Schema, *, required: bool = True, description: str = "") -> Schema:
    return {"required": required, "description": description, "content": {"application/json": {"schema": schema}}}


def _path(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": schema or {"type": "string"}}


def _query(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _header(name: str, description: str, *, required: bool = False, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "header", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


CONNECTION_ID = _path("connection_id", "The connection's id, as `POST /api/connections` answered it.")
ISSUE_KEY = _path("issue_key", "A Jira issue key such as FEAT-304.")


def _operation(summary: str, tag: str, responses: dict[str, Schema], *, refusals: tuple[int, ...],
               security: list[dict[str, list[str]]] | None = None, parameters: list[Schema] | None = None,
               body: Schema | None = None, description: str = "") -> Schema:
    """One operation. Every refusal answers the JSON error body; any request may be refused for
    an oversized URL (414) or headers (431), or answered 503 while the database is unreachable."""
    codes = sorted({*refusals, 414, 431, 503} | ({400, 413} if body else set()))
    operation: Schema = {"summary": summary, "tags": [tag], "responses": {
        **responses, **{str(code): {"$ref": f"#/components/responses/Error{code}"} for code in codes}}}
    if description:
        operation["description"] = description
    operation["security"] = security if security is not None else []
    if parameters:
        operation["parameters"] = parameters
    if body:
        operation["requestBody"] = body
    return operation


STORED = {"202": _json(_ref("Stored"), "Stored; processed by the worker."),
          "200": _json(_ref("Stored"), "A redelivery of something already stored (`status` = duplicate), "
                                       "or GitHub's `ping`.")}
CONTEXT_JWT = [{"connectContextJwt": []}]


def _intake_paths() -> dict[str, Schema]:
    webhook_body = _body({"type": "object", "description": "The event payload exactly as the sender signs it."})
    return {
        "/github/webhook/{connection_id}": {"post": _operation(
            "A GitHub webhook delivery", "intake", STORED, refusals=(400, 401, 403, 404),
            security=[{"githubSignature": []}],
            parameters=[CONNECTION_ID,
                        _header("X-GitHub-Event", "GitHub's event name; other events are stored and ignored",
                                required=True, schema=_string(enum=[*sorted(PROCESSED_EVENTS), "ping"])),
                        _header("X-GitHub-Delivery", "GitHub's delivery GUID; a redelivery is recognised by it",
                                required=True)],
            body={"required": True, "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/x-www-form-urlencoded": {"schema": _obj({"payload": _string("the JSON payload")},
                                                                     ("payload",))}}})},
        "/gitlab/webhook/{connection_id}": {"post": _operation(
            "A GitLab webhook delivery (GitLab.com or self-managed)", "intake", STORED,
            refusals=(400, 401, 403, 404), security=[{"gitlabToken": []}],
            parameters=[CONNECTION_ID, _header("X-Gitlab-Event", "GitLab's event name, e.g. Push Hook"),
                        _header("X-Gitlab-Event-UUID", "makes a redelivery idempotent"),
                        _header("Idempotency-Key", "makes a redelivery idempotent (GitLab 17.4 on)")],
            body=webhook_body)},
        "/bitbucket/webhook/{connection_id}": {"post": _operation(
            "A Bitbucket Cloud webhook delivery", "intake", STORED, refusals=(400, 401, 403, 404),
            security=[{"bitbucketSignature": []}],
            parameters=[CONNECTION_ID, _header("X-Event-Key", "Bitbucket's event key, e.g. repo:push"),
                        _header("X-Request-UUID", "makes a redelivery idempotent")],
            body=webhook_body)},
        "/api/deployments/{connection_id}": {"post": _operation(
            "A deployment reported by any CI/CD tool", "intake", STORED, refusals=(400, 401, 403, 404),
            security=[{"deployToken": []}],
            parameters=[CONNECTION_ID, _header("Idempotency-Key", "repeat it on a retry of the same report "
                                                                  "(at most 100 characters)")],
            body=_body(_ref("DeploymentReport")))},
        "/api/config-changes/{connection_id}": {"post": _operation(
            "A configuration change applied or reverted", "intake", STORED, refusals=(400, 401, 403, 404),
            security=[{"deployToken": []}],
            description="A `reverted` change in a production environment makes every issue it names "
                        "`rolled-back` until a later `applied` change for the same keys there.",
            parameters=[CONNECTION_ID, _header("Idempotency-Key", "repeat it on a retry of the same report")],
            body=_body(_ref("ConfigChange")))},
        "/flags/{provider}/{connection_id}": {"post": _operation(
            "A feature-flag change", "intake", STORED, refusals=(400, 401, 403, 404),
            security=[{"launchdarklySignature": []}, {"unleashAuthorization": []}, {"deployToken": []}],
            description="LaunchDarkly signs the body (`X-LD-Signature`), Unleash sends the webhook secret as "
                        "`Authorization`, `generic` uses the connection's deploy token.",
            parameters=[_path("provider", "who sends it", {"type": "string",
                                                           "enum": ["launchdarkly", "unleash", "generic"]}),
                        CONNECTION_ID, _header("X-Delivery-Id", "makes a redelivery idempotent")],
            body=_body({"anyOf": [_ref("GenericFlag"), _ref("LaunchDarklyFlag"), _ref("UnleashEvent")]}))},
    }


def _admin_paths() -> dict[str, Schema]:
    admin = {"security": CONTEXT_JWT, "refusals": (401, 403, 502)}
    connection = _path("connection_id", "The connection's id.")
    return {
        "/api/connections": {
            "get": _operation("The site's repository connections", "admin",
                              {"200": _json({"type": "array", "items": _ref("Connection")}, "No secrets.")},
                              **admin),
            "post": _operation("Connect a repository", "admin",
                               {"201": _json(_ref("NewConnection"), "The secrets, shown this once.")},
                               body=_body(_ref("ConnectionRequest")), **admin)},
        "/api/connections/{connection_id}": {
            "get": _operation("One connection, with its backfill progress", "admin",
                              {"200": _json(_ref("Connection"), "The connection.")}, parameters=[connection],
                              security=CONTEXT_JWT, refusals=(401, 403, 404, 502)),
            "delete": _operation("Disconnect a repository (its facts stay)", "admin",
                                 {"204": {"description": "Disconnected."}}, parameters=[connection],
                                 security=CONTEXT_JWT, refusals=(401, 403, 404, 502))},
        "/api/connections/{connection_id}/backfill": {"post": _operation(
            "Read the repository's history through its provider's API", "admin",
            {"202": _json(_ref("Connection"), "Queued; `backfill` shows the progress.")}, parameters=[connection],
            body=_body(_obj({"since": _string("read commits from this date on", format="date")}), required=False),
            security=CONTEXT_JWT, refusals=(401, 403, 404, 502))},
        "/api/settings": {
            "get": _operation("The site's settings", "admin", {"200": _json(_ref("Settings"), "Settings.")},
                              **admin),
            "put": _operation("Replace the site's settings", "admin", {"200": _json(_ref("Settings"), "Saved.")},
                              body=_body(_ref("Settings")), **admin)},
        "/api/deliveries": {"get": _operation(
            "The 50 latest deliveries", "admin", {"200": _json({"type": "array", "items": _ref("Delivery")},
                                                               "Newest first.")},
            parameters=[_query("status", "stored, processed, ignored or failed")], **admin)},
        "/api/deliveries/{delivery_id}/retry": {"post": _operation(
            "Process a delivery again", "admin", {"202": _json(_ref("Queued"), "Queued.")},
            parameters=[_path("delivery_id", "The delivery's id.", {"type": "integer", "minimum": 0})],
            security=CONTEXT_JWT, refusals=(400, 401, 403, 404, 502))},
        "/api/jobs": {"get": _operation(
            "The 50 latest jobs in a status", "admin", {"200": _json({"type": "array", "items": _ref("Job")},
                                                                     "Newest first.")},
            parameters=[_query("status", "queued, running, done or parked (default)")], **admin)},
        "/api/jobs/{job_id}/retry": {"post": _operation(
            "Run a parked job again now", "admin", {"202": _json(_ref("Queued"), "Queued.")},
            parameters=[_path("job_id", "The job's id.", {"type": "integer", "minimum": 0})],
            security=CONTEXT_JWT, refusals=(400, 401, 403, 404, 502))},
        "/api/audit": {"get": _operation(
            "The 100 latest Jira calls the app made", "admin",
            {"200": _json({"type": "array", "items": {"type": "object"}}, "Newest first.")}, **admin)},
        "/api/dry-run": {"get": _operation(
            "The Jira calls the app would make under the current policy", "admin",
            {"200": _json(_obj({"project": _nullable(_string()), "issues": {"type": "array",
                                                                             "items": {"type": "object"}}}),
                          "Per issue, the calls.")},
            parameters=[_query("project", "a Jira project key"), _query("epic", "an epic's issue key")], **admin),
            "post": _operation(
                "The same, under settings not saved yet (the admin page's form as it stands)", "admin",
                {"200": _json(_obj({"project": _nullable(_string()), "issues": {"type": "array",
                                                                                 "items": {"type": "object"}}}),
                              "Per issue, what would change, in words.")},
                body=_body(_obj({"settings": _ref("Settings"), "project": _nullable(_string()),
                                 "epic": _nullable(_string())}, ("settings",))), **admin)},
        "/api/connections/{connection_id}/test-delivery": {"post": _operation(
            "Send a signed test event to the connection's flag URL through the app's public address", "admin",
            {"200": _json({"type": "object"}, "Whether the test event came back to this app, and how long it took.")},
            parameters=[connection],
            body=_body(_obj({"provider": _string("launchdarkly, unleash or generic (default)")}), required=False),
            security=CONTEXT_JWT, refusals=(400, 401, 403, 404, 502))},
        **_jira_picker_paths(admin),
    }


def _jira_picker_paths(admin: dict[str, Any]) -> dict[str, Schema]:
    """What the admin page's pickers list, read from Jira for the signed-in admin."""
    named = {"type": "array", "items": {"type": "object"}}
    return {
        "/api/jira/people-fields": {"get": _operation(
            "Custom fields that hold people (business-owner candidates)", "admin",
            {"200": _json(named, "`id`, `name`, `multiple`, by name.")}, **admin)},
        "/api/jira/projects": {"get": _operation(
            "The site's projects", "admin", {"200": _json(named, "By key.")}, **admin)},
        "/api/jira/projects/{project}/statuses": {"get": _operation(
            "A project's statuses; `done` says whether Jira's Done category holds each", "admin",
            {"200": _json(named, "`id`, `name`, `done`, `category`.")},
            parameters=[_path("project", "A Jira project key.", _string(pattern=keys.PROJECT_KEY.pattern))],
            security=CONTEXT_JWT, refusals=(400, 401, 403, 502))},
        "/api/jira/epics": {"get": _operation(
            "A project's epics, most recently updated first", "admin",
            {"200": _json(named, "`key`, `summary`.")},
            parameters=[_query("project", "a Jira project key (required)")],
            security=CONTEXT_JWT, refusals=(400, 401, 403, 502))},
    }


def _reading_paths() -> dict[str, Schema]:
    user = {"security": CONTEXT_JWT}
    flag = _path("flag", "A feature flag key.")
    flags_view = _json(_obj({"issue": _string(), "flags": {"type": "array", "items": _string()}}),
                       "The flags linked to the issue.")
    return {
        "/api/issues/{issue_key}/reality": {"get": _operation(
            "What the issue panel shows: drift, timeline, open work", "reality",
            {"200": _json(_ref("IssueReality"), "The issue's reality.")},
            parameters=[ISSUE_KEY, _query("page", "timeline page, newest first",
                                          {"type": "integer", "minimum": 1})],
            refusals=(400, 401, 403, 404, 502), **user)},
        "/api/issues/{issue_key}/flags": {
            "get": _operation("Flags linked to the issue on its panel", "reality", {"200": flags_view},
                              parameters=[ISSUE_KEY], refusals=(401, 403, 404, 502), **user),
            "post": _operation("Link a flag to the issue (needs EDIT_ISSUES)", "reality", {"201": flags_view},
                               parameters=[ISSUE_KEY], body=_body(_obj({"flag": _string()}, ("flag",))),
                               refusals=(401, 403, 404, 502), **user)},
        "/api/issues/{issue_key}/flags/{flag}": {"delete": _operation(
            "Unlink a flag from the issue", "reality", {"204": {"description": "Unlinked."}},
            parameters=[ISSUE_KEY, flag], refusals=(401, 403, 404, 502), **user)},
        "/api/report": {"get": _operation(
            "Deployments and reversions in a window, by epic", "reality",
            {"200": {"description": "The report.", "content": {
                "application/json": {"schema": _ref("Report")}, "text/csv": {"schema": _string()}}}},
            parameters=[_query("since", "24h, 48h (default), 72h, 7d, <n>h, <n>d or an ISO-8601 time"),
                        _query("until", "the same forms; default now"),
                        _query("epics", "active (default) or all", {"type": "string", "enum": ["active", "all"]}),
                        _query("project", "a Jira project key"), _query("epic", "an epic's issue key"),
                        _query("state", "drift states separated by commas"),
                        _query("format", "csv for a spreadsheet", {"type": "string", "enum": ["json", "csv"]})],
            refusals=(400, 401, 403, 502), **user)},
        "/api/mcp/tokens": {
            "get": _operation("Your personal MCP tokens", "mcp", {"200": _json(_ref("TokenList"), "Never a token.")},
                              refusals=(401, 403), **user),
            "post": _operation("Make a personal MCP token", "mcp",
                               {"201": _json(_ref("NewToken"), "The token, shown this once.")},
                               body=_body(_obj({"label": _string(maxLength=100)}), required=False),
                               refusals=(401, 403), **user)},
        "/api/mcp/tokens/{token_id}": {"delete": _operation(
            "Revoke a token (at once)", "mcp", {"204": {"description": "Revoked."}},
            parameters=[_path("token_id", "The token's id.", {"type": "integer", "minimum": 0})],
            refusals=(401, 403, 404), **user)},
        "/mcp": {"post": _operation(
            "MCP streamable HTTP (protocol 2025-06-18): the tools of INTERFACES section 7", "mcp",
            {"200": _json({"type": "object", "description": "A JSON-RPC 2.0 response."}, "The MCP answer."),
             "202": {"description": "A notification or response was accepted."}},
            security=[{"mcpToken": []}], refusals=(401, 403, 415, 429),
            description="The token is checked before any MCP message is read. Once it passed, a message "
                        "the protocol refuses (malformed JSON-RPC, 400; an Accept without application/json, "
                        "406) is answered with a JSON-RPC error object, as MCP clients expect.",
            body=_body(_ref("JsonRpcRequest")))},
    }


def _mcp_protocol_refusals(paths: dict[str, Schema]) -> dict[str, Schema]:
    """/mcp answers what MCP itself refuses in the protocol's shape, not the contract's."""
    refusal = _json(_ref("JsonRpcError"), "Refused by the MCP protocol (JSON-RPC error object).")
    paths["/mcp"]["post"]["responses"] |= {"400": refusal, "406": refusal}
    return paths


def _operator_paths() -> dict[str, Schema]:
    health = _obj({"status": _string(enum=["ok", "unavailable"]), "database": {"type": "boolean"}},
                  ("status", "database"))
    return {
        "/healthz": {"get": _operation("Whether the app reaches its database", "operators",
                                       {"200": _json(health, "Healthy.")}, refusals=())},
        "/metrics": {"get": _operation("Prometheus metrics summed over every tenant and process", "operators",
                                       {"200": {"description": "Prometheus text format.",
                                                "content": {"text/plain": {"schema": _string()}}}}, refusals=())},
        "/openapi.json": {"get": _operation("This document", "operators",
                                            {"200": _json({"type": "object"}, "OpenAPI 3.1.")}, refusals=())},
    }


def _schemas() -> dict[str, Schema]:
    time = _string("ISO-8601 with a time zone", format="date-time")
    link = _string("an http(s) link of at most 500 characters", format="uri", maxLength=500)
    any_object = {"type": "object"}
    return {
        "Error": _obj({"error": _string("short machine-readable reason"),
                       "detail": _string("what went wrong, in words")}, ("error", "detail")),
        "Stored": _obj({"status": _string(enum=["stored", "duplicate", "ignored", "pong"]),
                        "delivery": {"type": "integer"}, "connection": _string()}, ("status",)),
        "JsonRpcRequest": _obj({
            "jsonrpc": _string(enum=["2.0"]), "id": {"type": ["integer", "string"]},
            "method": _string("e.g. initialize, tools/list, tools/call"), "params": any_object},
            ("jsonrpc", "method"), description="A JSON-RPC 2.0 request or notification (MCP)"),
        "JsonRpcError": _obj({"jsonrpc": _string(enum=["2.0"]), "id": {"type": ["integer", "string", "null"]},
                              "error": _obj({"code": {"type": "integer"}, "message": _string()}, ("code", "message"))},
                             ("jsonrpc", "error")),
        "Queued": _obj({"status": _string(enum=["queued"])}, ("status",)),
        "DeploymentReport": _obj({
            "environment": _string("e.g. production", pattern=r"^[\w .:/-]{1,100}$"),
            "sha": _string("the deployed commit", pattern="^[0-9a-fA-F]{7,40}$"),
            "status": _string(enum=["success", "failure", "error", "in_progress", "queued", "pending", "inactive"],
                              default="success"),
            "deployed_at": time, "url": link}, ("environment", "sha")),
        "ConfigChange": _obj({
            "environment": _string("e.g. production"), "change": _string(enum=["applied", "reverted"]),
            "issue_keys": {"type": "array", "items": _string(pattern=keys.ISSUE_KEY.pattern)},
            "description": _string(), "changed_at": time, "url": link},
            ("environment", "change", "issue_keys")),
        "GenericFlag": _obj({"key": _string(), "on": {"type": "boolean"}, "name": _string(),
                             "environment": _string(default="production"), "changed_at": time,
                             "description": _string(), "tags": {"type": "array", "items": _string()}, "url": link},
                            ("key", "on")),
        "LaunchDarklyFlag": _obj({"kind": _string("flag for a flag change"), "_id": _string(), "date": any_object,
                                  "currentVersion": any_object, "_links": any_object}, ("kind",),
                                 description="LaunchDarkly's flag webhook"),
        "UnleashEvent": _obj({"id": {"type": "integer"}, "type": _string("feature-environment-enabled or -disabled"),
                              "featureName": _string(), "environment": _string(), "createdAt": time,
                              "data": any_object, "tags": {"type": "array"}}, ("type",),
                             description="Unleash's webhook addon event"),
        "ConnectionRequest": _obj({
            "provider": _string(enum=["github", "gitlab", "bitbucket"], default="github"),
            "repository": _string("owner/name; GitLab: group/sub/name; Bitbucket: workspace/repo_slug"),
            "api_url": _string("https://api.github.com, https://gitlab.com/api/v4 or https://api.bitbucket.org/2.0 "
                               "(within ALLOWED_GITHUB_API_URLS)"),
            "token": _string("for history and compare", maxLength=500),
            "production_environments": {"type": "array", "items": _string(maxLength=100)}}, ("repository",)),
        "NewConnection": _obj({"id": _string(), "webhook_url": _string(), "webhook_secret": _string(),
                               "deploy_token": _string()}, ("id", "webhook_url", "webhook_secret", "deploy_token")),
        "Connection": _obj({
            "id": _string(), "provider": _string(), "repository": _string(), "api_url": _string(),
            "webhook_url": _string(), "created": _nullable(time), "last_delivery": _nullable(time),
            "backfill": {"type": ["object", "null"], "properties": {
                "state": _string(enum=["queued", "reading", "done", "failed"]), "read": {"type": "integer"},
                "total": {"type": "integer"}, "error": _nullable(_string())}}},
            ("id", "provider", "repository", "api_url", "webhook_url", "created", "last_delivery")),
        "Settings": _obj({
            "default_policy": _string(enum=["observe", "comment", "reopen"]),
            "business_owner_field": _string("customfield_<n>", pattern="^customfield_[0-9]+$"),
            "projects": {"type": "object", "additionalProperties": _obj({
                "policy": _string(enum=["observe", "comment", "reopen"]), "reopen_to": _string(maxLength=100)},
                ("policy",))},
            "production_environments": {"type": "array", "items": _string(maxLength=100)},
            "mcp_enabled": {"type": "boolean"}}),
        "Delivery": _obj({"id": {"type": "integer"}, "connection": _string(), "source": _string(),
                          "event": _string(), "guid": _string(), "received": _nullable(time), "status": _string(),
                          "error": _nullable(_string()), "body_kept": {"type": "boolean"}}),
        "Job": _obj({"id": {"type": "integer"}, "kind": _string(), "status": _string(),
                     "attempts": {"type": "integer"}, "error": _nullable(_string()), "created": _nullable(time),
                     "finished": _nullable(time)}),
        "IssueReality": _obj({
            "issue": any_object, "drift": _string(enum=DRIFT_STATES), "in_drift": {"type": "boolean"},
            "summary": _string(), "since": _nullable(time), "changes": {"type": "integer"},
            "reverted": {"type": "integer"}, "timeline": {"type": "array", "items": any_object},
            "still_open": {"type": "array", "items": any_object}, "property": any_object},
            ("issue", "drift", "timeline")),
        "Report": any_object | {"description": "Per epic, the features touched in the window and their events."},
        "TokenList": _obj({"tokens": {"type": "array", "items": _obj({
            "id": {"type": "integer"}, "label": _string(), "created": _nullable(time),
            "last_used": _nullable(time)})}, "mcp_url": _string(), "enabled": {"type": "boolean"},
            "rate_limit_per_minute": {"type": "integer"}}),
        "NewToken": _obj({"id": {"type": "integer"}, "token": _string(), "label": _string(), "created": time,
                          "mcp_url": _string()}, ("id", "token", "label", "created")),
    }


def _security_schemes() -> dict[str, Schema]:
    def header(name: str, description: str) -> Schema:
        return {"type": "apiKey", "in": "header", "name": name, "description": description}

    return {
        "githubSignature": header("X-Hub-Signature-256", "sha256=<HMAC-SHA256 of the body with the connection's "
                                                         "webhook secret>"),
        "gitlabToken": header("X-Gitlab-Token", "the connection's webhook secret"),
        "bitbucketSignature": header("X-Hub-Signature", "sha256=<HMAC-SHA256 of the body with the connection's "
                                                        "webhook secret>"),
        "launchdarklySignature": header("X-LD-Signature", "hex HMAC-SHA256 of the body with the webhook secret"),
        "unleashAuthorization": header("Authorization", "the connection's webhook secret, verbatim"),
        "deployToken": {"type": "http", "scheme": "bearer", "description": "the connection's deploy token"},
        "connectContextJwt": header("Authorization", "`JWT <token>`: a Connect context JWT (HS256, the site's "
                                                     "shared secret, qsh `context-qsh`) from AP.context.getToken()"),
        "mcpToken": {"type": "http", "scheme": "bearer", "description": "a personal MCP token"},
    }


def _error_responses() -> dict[str, Schema]:
    responses = {}
    for code, description in REFUSALS.items():
        response = _json(_ref("Error"), description)
        if code in (429, 503):
            response["headers"] = {"Retry-After": {"description": "seconds to wait",
                                                   "schema": {"type": "integer"}}}
        responses[f"Error{code}"] = response
    return responses


DOCUMENT: Schema = {
    "openapi": "3.1.0",
    "info": {"title": "System Reality for Jira", "version": "0.1.0",
             "description": "Every endpoint outside Atlassian Connect. Every refusal (4xx, 503) answers "
                            '`{"error": "...", "detail": "..."}`.'},
    "paths": {**_intake_paths(), **_admin_paths(), **_mcp_protocol_refusals(_reading_paths()), **_operator_paths()},
    "components": {"schemas": _schemas(), "responses": _error_responses(), "securitySchemes": _security_schemes()},
}


def document(base_url: str) -> Schema:
    """The description, with this deployment's address as its server."""
    return {**deepcopy(DOCUMENT), "servers": [{"url": base_url}]}


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document(services().settings.app_base_url))
