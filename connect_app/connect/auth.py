"""Inbound Connect authentication for iframe pages and the API they call.

Iframe pages carry Jira's JWT in the `jwt` query parameter with a `qsh` of that very request;
API routes carry a context token (`qsh` = "context-qsh") from `AP.context.getToken()` in the
`Authorization: JWT ...` header. Either way the tenant is found by `iss` and the token must be
signed with that tenant's shared secret.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from flask import g, request
from sqlalchemy import select

from connect_app.connect import jwt as connect_jwt
from connect_app.errors import AppError, Forbidden, Unauthorized
from connect_app.services import services
from connect_app.store.models import Tenant

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Caller:
    tenant: Tenant
    account_id: str | None
    claims: dict[str, Any]


def _token_from_request(*, from_query: bool) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("JWT "):
        return header[4:].strip()
    if from_query:
        return request.args.get("jwt")
    return None


def authenticate(*, from_query: bool, allow_context_qsh: bool, require_active: bool = True) -> Caller:
    """Who is calling, proven by a tenant-signed JWT. `require_active=False` is for the enabled
    and disabled lifecycle events, which a disabled site must still be able to send."""
    token = _token_from_request(from_query=from_query)
    if not token:
        raise Unauthorized("A Connect JWT is required.", "missing_token")
    try:
        client_key = connect_jwt.unverified_issuer(token)
    except connect_jwt.JwtError as exc:
        raise AppError(exc.status, "invalid_token", exc.reason) from exc
    svc = services()
    with svc.sessions() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.client_key == client_key))
    if tenant is None:
        raise Unauthorized("The token was not issued by a Jira site that installed this app.", "unknown_tenant")
    try:
        claims = connect_jwt.verify_tenant_token(
            token,
            shared_secret=svc.box.open(tenant.shared_secret_sealed),
            client_key=tenant.client_key,
            method=request.method,
            path=request.path,
            query=request.query_string.decode("utf-8", "replace"),
            allow_context_qsh=allow_context_qsh,
        )
    except connect_jwt.JwtError as exc:
        raise AppError(exc.status, "invalid_token", exc.reason) from exc
    if require_active and not tenant.active:
        raise Forbidden("The app is disabled or uninstalled on this Jira site.", "tenant_inactive")
    return Caller(tenant=tenant, account_id=claims.get("sub"), claims=claims)


def _guard(*, from_query: bool, allow_context_qsh: bool) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            g.caller = authenticate(from_query=from_query, allow_context_qsh=allow_context_qsh)
            return view(*args, **kwargs)

        return wrapper

    return decorator


# Iframe pages Jira loads: the token's qsh must describe this exact request.
iframe_jwt_required = _guard(from_query=True, allow_context_qsh=False)
# API routes the iframe calls with AP.context.getToken(): context-qsh tokens are accepted.
context_jwt_required = _guard(from_query=False, allow_context_qsh=True)


def caller() -> Caller:
    return g.caller
