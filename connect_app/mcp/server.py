"""The MCP server (official Python SDK): the four tools of INTERFACES section 7, served over
streamable HTTP at `POST /mcp` by the same gunicorn processes as the rest of the app, and over
stdio by `connect-app mcp`.

HTTP: the SDK's streamable HTTP transport is an ASGI app; Flask is WSGI. `McpHttp` sits in front
of the Flask app and answers `/mcp` itself: it checks the bearer token first (401/403/429 JSON,
before a byte of the MCP message is read), then hands the request to the SDK through a2wsgi's
ASGI-to-WSGI adapter. The SDK runs stateless with JSON responses, so any request may land on
any gunicorn worker and no session lives in a process.

The token's user reaches the tools through a per-request key the gate writes into the request
(overwriting anything a client sent), never through a header a client could choose.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError

from connect_app.errors import AppError
from connect_app.mcp import tools
from connect_app.mcp.tokens import Principal, TokenRefused, authenticate, bearer
from connect_app.services import Services

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"
CALL_HEADER = "x-system-reality-call"
INSTRUCTIONS = (
    "System Reality tells what is actually live behind Jira issues: which features were reverted, "
    "rolled back, switched off by a flag or hotfixed after Jira marked them Done, under which epic, "
    "and what open work is left around them. Every answer holds only issues the token's Jira user "
    "may browse. Quote the text summaries to stakeholders; use the structured results for details."
)


# ---- output schemas ----------------------------------------------------------------------------


class Event(BaseModel):
    kind: str = Field(description="deployment, revert, rollback, flag, commit, pull-request, hotfix, release...")
    at: str | None = Field(description="ISO-8601 UTC time")
    environment: str | None
    ref: str | None = Field(description="short commit SHA or deployment reference")
    url: str | None
    text: str


class OpenIssue(BaseModel):
    key: str
    summary: str
    status: str
    why: str


class Feature(BaseModel):
    key: str
    summary: str
    status: str | None = Field(description="what Jira says, e.g. Done")
    drift: str = Field(description="live, pending-deploy, reverted, partially-reverted, rolled-back, flag-off "
                                   "or hotfixed")
    since: str | None
    events: list[Event]
    still_open: list[OpenIssue] | None = Field(
        description="open work around a drifted feature, as issue_reality lists it (empty when live; null when "
                    "not looked up: ask issue_reality)")


class Epic(BaseModel):
    key: str | None = Field(description="null for features not under an epic the user can see")
    summary: str | None
    status: str | None
    features: list[Feature]


class Window(BaseModel):
    since: str
    until: str


class RecentChanges(BaseModel):
    window: Window
    epics: list[Epic]


class IssueReality(BaseModel):
    """The `system-reality` issue property (drift, since, changes, reverted, environment; its
    `summary` sentence as `summary_text`) plus the issue as Jira has it, its timeline and the open
    work around it."""

    drift: str
    since: str | None
    summary_text: str
    changes: int
    reverted: int
    environment: str | None
    key: str
    summary: str
    status: str | None
    in_drift: bool
    timeline: list[Event] = Field(description="most recent first (at most 50)")
    timeline_total: int
    still_open: list[OpenIssue]


class DriftedIssue(BaseModel):
    key: str
    summary: str
    status: str | None
    drift: str
    since: str | None
    summary_text: str


class DriftedIssues(BaseModel):
    issues: list[DriftedIssue]


class ChangedIssue(BaseModel):
    key: str
    summary: str
    status: str | None
    drift: str


class Deployment(BaseModel):
    at: str | None
    environment: str | None
    ref: str | None
    url: str | None
    kind: str = Field(description="deploy, rollback or config")
    text: str
    issues: list[ChangedIssue]


class WhatChanged(BaseModel):
    window: Window
    deployments: list[Deployment]


# ---- the server --------------------------------------------------------------------------------

PrincipalFor = Callable[[Context], Principal]
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)


def _answer(run: Callable[[], tuple[dict[str, Any], str]]) -> CallToolResult:
    try:
        structured, text = run()
    except AppError as exc:
        raise ToolError(exc.detail) from exc
    except TokenRefused as exc:
        raise ToolError(exc.detail) from exc
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def build_server(svc: Services, principal_for: PrincipalFor) -> MCPServer:
    server = MCPServer("system-reality", title="System Reality for Jira", instructions=INSTRUCTIONS,
                       version="0.1.0", log_level="WARNING")

    @server.tool(title="Recent changes", annotations=READ_ONLY, structured_output=True)
    def recent_changes(
        ctx: Context,
        since: Annotated[str, Field(description="48h, 7d or an ISO-8601 time")] = "48h",
        until: Annotated[str | None, Field(description="48h, 7d or an ISO-8601 time; default now")] = None,
        project: Annotated[str | None, Field(description="a Jira project key such as FEAT")] = None,
        epic: Annotated[str | None, Field(description="an epic's issue key such as FEAT-300")] = None,
        active_epics_only: bool = True,
        states: Annotated[list[str] | None, Field(description="drift states to keep, e.g. [\"reverted\"]")] = None,
    ) -> Annotated[CallToolResult, RecentChanges]:
        """What was deployed, reverted, rolled back or switched off in a window, feature by feature,
        grouped under their (active) epics: the drift report's data, with the open work still
        around each feature that is no longer fully live."""
        who = principal_for(ctx)
        return _answer(lambda: tools.recent_changes(svc, who, since=since, until=until, project=project, epic=epic,
                                                    active_epics_only=active_epics_only, states=states))

    @server.tool(title="Issue reality", annotations=READ_ONLY, structured_output=True)
    def issue_reality(
        ctx: Context,
        issue_key: Annotated[str, Field(description="a Jira issue key such as FEAT-304")],
    ) -> Annotated[CallToolResult, IssueReality]:
        """Whether one issue's work is actually live: its drift, what happened and when, what Jira
        says, and the open work still around it (what the issue panel shows)."""
        who = principal_for(ctx)
        return _answer(lambda: tools.issue_reality(svc, who, issue_key))

    @server.tool(title="Drifted issues", annotations=READ_ONLY, structured_output=True)
    def drifted_issues(
        ctx: Context,
        state: Annotated[str | None, Field(description="one drift state, e.g. reverted")] = None,
        project: Annotated[str | None, Field(description="a Jira project key such as FEAT")] = None,
        since: Annotated[str | None, Field(description="drifted since: 48h, 7d or an ISO-8601 time")] = None,
    ) -> Annotated[CallToolResult, DriftedIssues]:
        """Every issue whose work is not fully live right now (reverted, rolled back, flag off...)."""
        who = principal_for(ctx)
        return _answer(lambda: tools.drifted_issues(svc, who, state=state, project=project, since=since))

    @server.tool(title="What changed", annotations=READ_ONLY, structured_output=True)
    def what_changed(
        ctx: Context,
        since: Annotated[str, Field(description="48h, 7d or an ISO-8601 time")] = "48h",
        environment: Annotated[str | None, Field(description="default production; \"all\" for every one")] = None,
    ) -> Annotated[CallToolResult, WhatChanged]:
        """Deployments, rollbacks and configuration changes in an environment since a time, with
        the issues each one carried."""
        who = principal_for(ctx)
        return _answer(lambda: tools.what_changed(svc, who, since=since, environment=environment or "production"))

    return server


# ---- HTTP: POST /mcp in front of the Flask app ---------------------------------------------------


class _Running:
    """Runs the SDK's session manager inside the adapter's event loop for as long as the process
    lives (a2wsgi sends no ASGI lifespan events), then serves each request through it."""

    def __init__(self, app: Any, manager: Any) -> None:
        self.app = app
        self.manager = manager
        self._ready: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._ready is None:  # one event loop thread: no other coroutine runs between check and set
            self._ready = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())
        await self._ready.wait()
        await self.app(scope, receive, send)

    async def _run(self) -> None:
        async with self.manager.run():
            assert self._ready is not None
            self._ready.set()
            await asyncio.Event().wait()


def _json(start_response: Callable[..., Any], status: int, error: str, detail: str,
          headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    phrases = {401: "Unauthorized", 403: "Forbidden", 405: "Method Not Allowed", 415: "Unsupported Media Type",
               429: "Too Many Requests", 503: "Service Unavailable"}
    body = json.dumps({"error": error, "detail": detail}).encode()
    start_response(f"{status} {phrases.get(status, 'Error')}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store"), *headers])
    return [body]


def _not_served(environ: dict[str, Any]) -> tuple[int, str, str, list[tuple[str, str]]] | None:
    """What the stateless server does not serve, refused with the contract's JSON body before the
    SDK sees it. A GET would open a server-sent event stream that never ends (stateless, there is
    nothing to stream), holding a web worker for as long as the client likes; a body that is not
    JSON gets the SDK's plain-text 400."""
    if environ.get("REQUEST_METHOD") != "POST":
        return (405, "method_not_allowed", "The MCP endpoint takes JSON-RPC messages by POST (streamable HTTP, "
                "stateless: no event stream to GET, no session to DELETE).", [("Allow", "POST")])
    if environ.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower() != "application/json":
        return 415, "unsupported_media_type", "Send the MCP message as Content-Type: application/json.", []
    return None


class McpHttp:
    """WSGI middleware: `/mcp` goes to the MCP server after the token check, everything else to
    the wrapped app."""

    def __init__(self, svc: Services, app: Callable[..., Iterable[bytes]]) -> None:
        self.svc = svc
        self.app = app
        self._calls: dict[str, Principal] = {}
        self._lock = threading.Lock()
        self._asgi: Any = None

    def _principal(self, ctx: Context) -> Principal:
        key = (ctx.headers or {}).get(CALL_HEADER, "")
        principal = self._calls.get(key)
        if principal is None:
            raise ToolError("This call was not authenticated.")
        return principal

    def _adapter(self) -> Any:
        # Built on first use, in the serving process: a gunicorn worker forked from a parent that
        # had built it would inherit an event-loop thread that does not exist in the child.
        with self._lock:
            if self._asgi is None:
                from a2wsgi import ASGIMiddleware

                server = build_server(self.svc, self._principal)
                starlette = server.streamable_http_app(
                    streamable_http_path=MCP_PATH, stateless_http=True, json_response=True,
                    # Every call carries a bearer token a browser never adds on its own, so DNS
                    # rebinding reaches nothing; the app's public host varies by deployment.
                    transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False))
                self._asgi = ASGIMiddleware(_Running(starlette, server.session_manager))
            return self._asgi

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != MCP_PATH:
            return self.app(environ, start_response)
        try:
            principal = authenticate(self.svc, bearer(environ.get("HTTP_AUTHORIZATION")))
        except TokenRefused as exc:
            headers = [("WWW-Authenticate", 'Bearer realm="system-reality"')] if exc.status == 401 else []
            if exc.retry_after:
                headers.append(("Retry-After", str(exc.retry_after)))
            return _json(start_response, exc.status, exc.error, exc.detail, headers)
        except OperationalError:
            log.warning("database unreachable while checking an MCP token", exc_info=True)
            return _json(start_response, 503, "unavailable", "The database is unreachable; try again shortly.",
                         [("Retry-After", "5")])
        refused = _not_served(environ)
        if refused is not None:
            status, error, detail, headers = refused
            return _json(start_response, status, error, detail, headers)
        key = secrets.token_urlsafe(24)
        environ["HTTP_" + CALL_HEADER.upper().replace("-", "_")] = key
        self._calls[key] = principal
        return self._serve(key, environ, start_response)

    def _serve(self, key: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            yield from self._adapter()(environ, start_response)
        finally:
            self._calls.pop(key, None)


# ---- stdio: connect-app mcp --------------------------------------------------------------------


def run_stdio(svc: Services, token: str) -> None:
    """Serve the tools on stdin/stdout as the token's user. The token is checked at start and again
    on every call, so revoking it on the AI assistants page stops this process's answers at once."""
    import anyio

    authenticate(svc, token)  # refuse to start at all with a bad token
    server = build_server(svc, lambda _ctx: authenticate(svc, token))
    anyio.run(server.run_stdio_async)
