"""System Reality for Jira: keeps Jira honest about what is actually live."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from connect_app.config import Settings, load_settings
from connect_app.errors import AppError, html_error, json_error
from connect_app.services import Services

ROOT = Path(__file__).resolve().parent.parent
# GitHub caps webhook payloads at 25 MB; anything larger is refused before it is read.
MAX_BODY_BYTES = 25 * 1024 * 1024
HTML_PREFIXES = ("/panel", "/report", "/admin", "/assistants")


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> Flask:
    settings = settings or load_settings()
    app = Flask(
        __name__,
        template_folder=str(_find_dir("templates")),
        static_folder=str(_find_dir("static")),
        instance_path=str(settings.instance_path),
    )
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["JSON_SORT_KEYS"] = False
    svc = Services.build(settings)
    app.extensions["system-reality"] = svc
    if migrate:
        from connect_app.store.db import upgrade

        upgrade(settings.database_url)

    from connect_app.connect.lifecycle import bp as lifecycle_bp
    from connect_app.intake.deployments import bp as deployments_bp
    from connect_app.intake.flags import bp as flags_bp
    from connect_app.intake.github import bp as github_bp
    from connect_app.intake.jira import bp as jira_webhooks_bp
    from connect_app.web.admin import bp as admin_bp
    from connect_app.web.flag_links import bp as flag_links_bp
    from connect_app.web.ops import bp as ops_bp
    from connect_app.web.pages import bp as pages_bp
    from connect_app.web.panel import bp as reality_bp
    from connect_app.web.tokens import bp as mcp_tokens_bp

    for blueprint in (
        lifecycle_bp,
        jira_webhooks_bp,
        github_bp,
        deployments_bp,
        flags_bp,
        admin_bp,
        reality_bp,
        flag_links_bp,
        pages_bp,
        ops_bp,
        mcp_tokens_bp,
    ):
        app.register_blueprint(blueprint)

    _register_error_handlers(app)
    from connect_app.mcp.server import McpHttp

    # POST /mcp (the MCP streamable HTTP endpoint) is answered in front of Flask: its token is
    # checked before the body is read, then the SDK's ASGI app serves it (see mcp/server.py).
    app.wsgi_app = McpHttp(svc, app.wsgi_app)  # type: ignore[method-assign]
    return app


def _find_dir(name: str) -> Path:
    """Templates and static files live at the top of the repository (the design card's layout)."""
    for candidate in (ROOT / name, Path.cwd() / name):
        if candidate.is_dir():
            return candidate
    return ROOT / name


def _wants_html() -> bool:
    return request.path.startswith(HTML_PREFIXES)


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AppError)
    def _app_error(exc: AppError) -> Response:
        if _wants_html():
            return html_error(exc.status, exc.detail)
        return json_error(exc.status, exc.error, exc.detail)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        name = (exc.name or "error").lower().replace(" ", "_")
        if status == 413:
            detail = f"The body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MB."
        else:
            detail = exc.description or ""
        if _wants_html():
            return html_error(status, detail)
        return json_error(status, name, detail)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_html():
            return html_error(500)
        return json_error(500, "internal_error", "Something went wrong on our side; nothing was changed.")
