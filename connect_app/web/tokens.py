"""Personal MCP tokens behind the "AI assistants" page: a Jira user makes, names, lists and revokes
their own tokens with the page's context JWT (INTERFACES sections 2 and 7)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from connect_app.connect.auth import caller, context_jwt_required
from connect_app.errors import BadRequest, Forbidden, NotFound
from connect_app.intake.store import request_json
from connect_app.mcp.server import MCP_PATH
from connect_app.mcp.tokens import (
    RATE_LIMIT,
    clean_label,
    create_token,
    list_tokens,
    mcp_enabled,
    revoke_token,
    token_view,
)
from connect_app.services import services
from connect_app.web.admin import MAX_ID

bp = Blueprint("mcp_tokens", __name__)


def mcp_url() -> str:
    return f"{services().settings.app_base_url}{MCP_PATH}"


def _account() -> str:
    who = caller()
    if not who.account_id:
        raise Forbidden("Sign in to Jira to make a token for your AI assistant.", "no_user")
    return who.account_id


@bp.get("/api/mcp/tokens")
@context_jwt_required
def tokens() -> Response:
    who = caller()
    mine = list_tokens(services(), who.tenant.id, _account())
    return jsonify({"tokens": [token_view(t) for t in mine], "mcp_url": mcp_url(),
                    "enabled": mcp_enabled(who.tenant.settings), "rate_limit_per_minute": RATE_LIMIT})


@bp.post("/api/mcp/tokens")
@context_jwt_required
def make_token() -> tuple[Response, int]:
    who = caller()
    account = _account()
    if not mcp_enabled(who.tenant.settings):
        raise Forbidden("A Jira administrator turned off AI assistants for this site.", "mcp_disabled")
    body = request_json()
    try:
        label = clean_label(body.get("label"))
        token, plain = create_token(services(), who.tenant.id, account, label)
    except ValueError as exc:
        raise BadRequest(str(exc), "invalid_token_request") from exc
    # The token is shown this once; only its digest is kept.
    return jsonify({"id": token.id, "token": plain, "label": token.label, "created": token_view(token)["created"],
                    "mcp_url": mcp_url()}), 201


@bp.delete("/api/mcp/tokens/<int:token_id>")
@context_jwt_required
def delete_token(token_id: int) -> Response:
    who = caller()
    account = _account()
    if token_id > MAX_ID or not revoke_token(services(), who.tenant.id, account, token_id):
        raise NotFound("You have no such token.", "unknown_token")
    return Response(status=204)
