"""System Reality for Jira: keeps Jira honest about what is actually live."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from werkzeug.exceptions import HTTPException

from connect_app.config import Settings, load_settings
from connect_app.errors import AppError, html_error, json_error
from connect_app.services import Services

PACKAGE = Path(__file__).resolve().parent
# The source checkout, when the package is installed editable (`pip install -e .`) or run from one.
ROOT = PACKAGE.parent
# GitHub caps webhook payloads at 25 MB; anything larger is refused before it is read.
MAX_BODY_BYTES = 25 * 1024 * 1024
HTML_PREFIXES = ("/panel", "/report", "/admin", "/assistants")
# Request headers we read: one field (name and value) up to 32 KB, room for any Connect JWT (and
# for an oversized one to be refused as a bad token); at most 100 fields and 64 KB in all.
# gunicorn's own limits (cli.py) sit above these, so that the refusal is ours: a 431 with the
# JSON body of every other refusal.
MAX_HEADER_FIELD_BYTES = 32 * 1024
MAX_HEADER_FIELDS = 100
MAX_HEADER_BYTES = 64 * 1024
# How long a client should wait before retrying while the database is unreachable.
UNAVAILABLE_RETRY_AFTER = 5


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
    from connect_app.intake.bitbucket import bp as bitbucket_bp
    from connect_app.intake.config_changes import bp as config_changes_bp
    from connect_app.intake.deployments import bp as deployments_bp
    from connect_app.intake.flags import bp as flags_bp
    from connect_app.intake.github import bp as github_bp
    from connect_app.intake.gitlab import bp as gitlab_bp
    from connect_app.intake.jira import bp as jira_webhooks_bp
    from connect_app.web.admin import bp as admin_bp
    from connect_app.web.admin_jira import bp as admin_jira_bp
    from connect_app.web.flag_links import bp as flag_links_bp
    from connect_app.web.openapi import bp as openapi_bp
    from connect_app.web.ops import bp as ops_bp
    from connect_app.web.pages import bp as pages_bp
    from connect_app.web.panel import bp as reality_bp
    from connect_app.web.tokens import bp as mcp_tokens_bp

    for blueprint in (
        lifecycle_bp,
        jira_webhooks_bp,
        github_bp,
        gitlab_bp,
        bitbucket_bp,
        deployments_bp,
        config_changes_bp,
        flags_bp,
        admin_bp,
        admin_jira_bp,
        reality_bp,
        flag_links_bp,
        pages_bp,
        ops_bp,
        mcp_tokens_bp,
        openapi_bp,
    ):
        app.register_blueprint(blueprint)

    _register_error_handlers(app)
    from connect_app.mcp.server import McpHttp

    # POST /mcp (the MCP streamable HTTP endpoint) is answered in front of Flask: its token is
    # checked before the body is read, then the SDK's ASGI app serves it (see mcp/server.py).
    app.wsgi_app = McpHttp(svc, app.wsgi_app)  # type: ignore[method-assign]
    return app


def _find_dir(name: str) -> Path:
    """templates/ and static/ sit at the top of the repository and ship inside the package as
    connect_app/templates and connect_app/static (pyproject.toml's package-dir). Installed from a
    wheel they are in the package; in an editable install the package is the checkout, so they are
    where that mapping takes them from. Never the working directory."""
    candidates = [PACKAGE / name]
    if (ROOT / "pyproject.toml").is_file():
        candidates.append(ROOT / name)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"{name}/ is missing from the installed package at {PACKAGE}; rebuild or reinstall it")


def _wants_html() -> bool:
    return request.path.startswith(HTML_PREFIXES)


def _headers_too_large() -> str | None:
    """Why the request's headers are refused, or None when they are within our limits."""
    count = total = 0
    for name, value in request.headers.items():
        size = len(name) + len(value) + 4  # "name: value\r\n"
        if size > MAX_HEADER_FIELD_BYTES:
            return f"The {name[:60]} header is larger than {MAX_HEADER_FIELD_BYTES // 1024} KB."
        count += 1
        total += size
    if count > MAX_HEADER_FIELDS:
        return f"The request carries more than {MAX_HEADER_FIELDS} headers."
    if total > MAX_HEADER_BYTES:
        return f"The request headers are larger than {MAX_HEADER_BYTES // 1024} KB in all."
    return None


def _database_unavailable(exc: Exception) -> bool:
    """Whether a database error means the database cannot be reached (or is too busy to answer)
    rather than that our statement is wrong."""
    if isinstance(exc, OperationalError | InterfaceError | SQLAlchemyTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _register_error_handlers(app: Flask) -> None:
    @app.before_request
    def _refuse_oversized_headers() -> Response | None:
        reason = _headers_too_large()
        if reason is None:
            return None
        if _wants_html():
            return html_error(431, reason)
        return json_error(431, "headers_too_large", reason)

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
        if isinstance(exc, SQLAlchemyError) and _database_unavailable(exc):
            # Nothing was acknowledged, so nothing is lost: the sender retries later.
            app.logger.warning("database unavailable on %s %s: %s", request.method, request.path,
                               type(exc).__name__)
            response = (html_error(503) if _wants_html() else json_error(
                503, "unavailable", "The service cannot reach its database; nothing was stored. Try again shortly."))
            response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
            return response
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_html():
            return html_error(500)
        return json_error(500, "internal_error", "Something went wrong on our side; nothing was changed.")
