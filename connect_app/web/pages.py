"""The iframe pages Jira loads: the System reality panel, the issue context, the report and the
admin page. Server-rendered from `templates/`; every string from a repository is escaped by
Jinja's autoescaping (a commit message is hostile input)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from connect_app.connect.auth import caller, iframe_jwt_required
from connect_app.connect.descriptor import APP_KEY
from connect_app.errors import BadRequest
from connect_app.mcp.tokens import RATE_LIMIT, mcp_enabled
from connect_app.reality.keys import ISSUE_KEY
from connect_app.services import services
from connect_app.web.panel import WINDOWS, issue_view

bp = Blueprint("pages", __name__)
REPORT_PAGE_KEY = "drift-report"


def _page(template: str, **context: object) -> Response:
    who = caller()
    response = Response(render_template(
        template,
        host_base_url=who.tenant.base_url,
        # Jira's own copy of the Connect JavaScript API; the iframe talks to its host through it.
        connect_js=f"{who.tenant.base_url}/atlassian-connect/all.js",
        **context,
    ), mimetype="text/html")
    # Jira frames these pages; nothing else should. Scripts come only from us and from Jira's
    # Connect JS, so a commit message that slipped past escaping still could not run.
    host = who.tenant.base_url
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' {host}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        f"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {host}"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _issue_key() -> str:
    key = request.args.get("issueKey", "")
    if not ISSUE_KEY.match(key):
        raise BadRequest("This page must be opened from a Jira issue.")
    return key


@bp.get("/panel/issue")
@iframe_jwt_required
def panel() -> Response:
    who = caller()
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    view = issue_view(services(), who.tenant, who.account_id, _issue_key(), page=page)
    # Jira's URL of the app's report page (a general page: /plugins/servlet/ac/<app>/<module>).
    report_url = f"{who.tenant.base_url}/plugins/servlet/ac/{APP_KEY}/{REPORT_PAGE_KEY}"
    return _page("panel.html", view=view, report_url=report_url)


@bp.get("/panel/context")
@iframe_jwt_required
def issue_context() -> Response:
    who = caller()
    view = issue_view(services(), who.tenant, who.account_id, _issue_key())
    return _page("context.html", view=view)


@bp.get("/report")
@iframe_jwt_required
def report_page() -> Response:
    return _page("report.html", windows=list(WINDOWS), project=request.args.get("projectKey") or "")


@bp.get("/admin")
@iframe_jwt_required
def admin_page() -> Response:
    settings = services().settings
    return _page("admin.html", app_base_url=settings.app_base_url,
                 raw_payload_retention_days=settings.raw_payload_retention_days,
                 uninstalled_purge_days=settings.uninstalled_purge_days)


@bp.get("/assistants")
@iframe_jwt_required
def assistants_page() -> Response:
    """The "AI assistants" page: personal MCP tokens and how to connect an assistant."""
    return _page("assistants.html", mcp_url=f"{services().settings.app_base_url}/mcp",
                 enabled=mcp_enabled(caller().tenant.settings), rate_limit=RATE_LIMIT)
