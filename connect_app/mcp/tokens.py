"""Personal MCP tokens: made, listed and revoked by a Jira user on the "AI assistants" page; each
acts as that user on that site. Only a keyed digest is stored; the token is shown once.

`authenticate` is the one gate every MCP call passes (HTTP and stdio alike): a missing, forged
or revoked token, a site that uninstalled or disabled the app, or one whose admin switched MCP
off, is refused before any MCP message is read; a token past its rate limit is told to wait.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from connect_app.reality.record import iso
from connect_app.services import Services
from connect_app.store.models import McpToken, Tenant, utcnow
from connect_app.store.secrets import new_token

TOKEN_PREFIX = "srmcp"  # noqa: S105 - the prefix tokens carry, not a secret
# Calls (HTTP requests to /mcp, or tool calls on stdio) per token per minute, shared by every
# web process because it is counted in the database.
RATE_LIMIT = 60
RATE_WINDOW = timedelta(minutes=1)
MAX_TOKENS_PER_USER = 25
MAX_LABEL = 100


def mcp_enabled(settings: Mapping[str, Any] | None) -> bool:
    """The admin's switch (`mcp_enabled` in the site's settings); on unless turned off."""
    return (settings or {}).get("mcp_enabled", True) is not False


@dataclass(frozen=True)
class Principal:
    """Who an MCP call acts as: one Jira user on one site."""

    tenant: Tenant
    account_id: str
    token_id: int


class TokenRefused(Exception):
    def __init__(self, status: int, error: str, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.retry_after = retry_after


def token_view(token: McpToken) -> dict[str, Any]:
    return {"id": token.id, "label": token.label, "created": iso(token.created_at),
            "last_used": iso(token.last_used_at)}


def clean_label(value: Any) -> str:
    if value is None:
        return "AI assistant"
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > MAX_LABEL:
        raise ValueError(f"label must be a name of 1 to {MAX_LABEL} characters")
    return " ".join(value.split())


def create_token(svc: Services, tenant_id: int, account_id: str, label: str) -> tuple[McpToken, str]:
    """A new token for this user; the plain token is returned once and never stored."""
    plain = new_token(TOKEN_PREFIX)
    with svc.sessions() as session:
        active = session.scalar(select(func.count()).select_from(McpToken).where(
            McpToken.tenant_id == tenant_id, McpToken.account_id == account_id, McpToken.revoked_at.is_(None)))
        if (active or 0) >= MAX_TOKENS_PER_USER:
            raise ValueError(f"you already have {MAX_TOKENS_PER_USER} tokens; revoke one first")
        token = McpToken(tenant_id=tenant_id, account_id=account_id, label=label,
                         token_digest=svc.box.digest(plain), window_calls=0)
        session.add(token)
        session.commit()
        session.refresh(token)
        session.expunge(token)
    return token, plain


def list_tokens(svc: Services, tenant_id: int, account_id: str) -> list[McpToken]:
    with svc.sessions() as session:
        tokens = list(session.scalars(select(McpToken).where(
            McpToken.tenant_id == tenant_id, McpToken.account_id == account_id, McpToken.revoked_at.is_(None),
        ).order_by(McpToken.created_at.desc(), McpToken.id.desc())))
        session.expunge_all()
    return tokens


def revoke_token(svc: Services, tenant_id: int, account_id: str, token_id: int) -> bool:
    """Revoke one of this user's own tokens at once; False when there is no such live token."""
    with svc.sessions() as session:
        token = session.scalar(select(McpToken).where(
            McpToken.id == token_id, McpToken.tenant_id == tenant_id, McpToken.account_id == account_id,
            McpToken.revoked_at.is_(None)))
        if token is None:
            return False
        token.revoked_at = utcnow()
        session.commit()
    return True


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header, or None."""
    scheme, _, value = (header or "").strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or " " in value:
        return None
    return value


def authenticate(svc: Services, token: str | None, *, now: datetime | None = None) -> Principal:
    """The user and site a token acts for, with this call counted against its rate limit."""
    if not token:
        raise TokenRefused(401, "missing_token", "An MCP token is required: Authorization: Bearer <token>.")
    if not token.startswith(f"{TOKEN_PREFIX}_") or len(token) > 200:
        raise TokenRefused(401, "invalid_token", "That is not a System Reality MCP token.")
    now = now or utcnow()
    digest = svc.box.digest(token)
    with svc.sessions() as session:
        row = session.scalar(select(McpToken).where(McpToken.token_digest == digest).with_for_update())
        if row is None or row.revoked_at is not None:
            raise TokenRefused(401, "invalid_token", "The token is unknown or was revoked.")
        tenant = session.get(Tenant, row.tenant_id)
        if tenant is None or not tenant.active:
            raise TokenRefused(401, "invalid_token", "The app is no longer installed or enabled on that Jira site.")
        if not mcp_enabled(tenant.settings):
            raise TokenRefused(403, "mcp_disabled", "A Jira administrator turned off AI assistants for this site.")
        if row.window_started_at is None or now - row.window_started_at >= RATE_WINDOW:
            row.window_started_at, row.window_calls = now, 0
        if row.window_calls >= RATE_LIMIT:
            wait = max(1, int((row.window_started_at + RATE_WINDOW - now).total_seconds() + 0.999))
            session.rollback()
            raise TokenRefused(429, "rate_limited", f"At most {RATE_LIMIT} calls a minute per token; "
                               f"try again in {wait} seconds.", retry_after=wait)
        row.window_calls += 1
        row.last_used_at = now
        principal = Principal(tenant=tenant, account_id=row.account_id, token_id=row.id)
        session.commit()
        session.expunge(tenant)
    return principal
