"""The descriptor and the tenant lifecycle: installed, uninstalled, enabled, disabled.

With `signed-install`, installed and uninstalled arrive signed by Atlassian (RS256, key by `kid`)
rather than by the shared secret, which is what makes a re-install that rotates the secret
safe to accept. Enabled and disabled are signed with the tenant's shared secret.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from connect_app.connect import jwt as connect_jwt
from connect_app.connect.auth import authenticate
from connect_app.connect.descriptor import APP_KEY, load_descriptor
from connect_app.connect.urls import base_url_allowed, url_allowed
from connect_app.errors import AppError, BadRequest, Forbidden, NotFound, Unauthorized
from connect_app.intake.store import request_json
from connect_app.services import services
from connect_app.store.db import transaction
from connect_app.store.models import Tenant, utcnow

bp = Blueprint("lifecycle", __name__)


@bp.get("/atlassian-connect.json")
def descriptor() -> Response:
    response = jsonify(load_descriptor(services().settings.app_base_url))
    response.headers["Cache-Control"] = "no-cache"
    return response


def _install_payload() -> dict[str, Any]:
    payload = request_json()
    for field in ("clientKey", "baseUrl"):
        if not isinstance(payload.get(field), str) or not payload[field]:
            raise BadRequest(f"The lifecycle body lacks {field}.", "missing_field")
    if payload.get("key") not in (None, APP_KEY):
        raise BadRequest("This lifecycle event is for another app.", "wrong_app")
    return payload


def _signed_install_payload() -> dict[str, Any]:
    """The body of an installed/uninstalled call, read only once Atlassian's signature on the
    request holds: nothing an anonymous sender posts is parsed."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("JWT "):
        raise Unauthorized("Lifecycle events must be signed by Atlassian.", "missing_token")
    settings = services().settings
    try:
        claims = connect_jwt.verify_install_token(
            header[4:].strip(),
            method=request.method,
            path=request.path,
            query=request.query_string.decode("utf-8", "replace"),
            app_base_url=settings.app_base_url,
            keys_url=settings.install_keys_url,
        )
    except connect_jwt.JwtError as exc:
        raise AppError(exc.status, "invalid_token", exc.reason) from exc
    payload = _install_payload()
    if claims.get("iss") != payload["clientKey"]:
        raise Unauthorized("The token was issued for another Jira site.", "wrong_issuer")
    return payload


@bp.post("/lifecycle/installed")
def installed() -> tuple[str, int]:
    payload = _signed_install_payload()
    svc = services()
    if not url_allowed(payload["baseUrl"], svc.settings.allowed_jira_base_urls):
        raise Forbidden("This Jira site address is not allowed to install the app.", "base_url_not_allowed")
    if not base_url_allowed(payload["baseUrl"], svc.settings.allowed_jira_base_urls):
        raise BadRequest("baseUrl must be the site's address: scheme, host and at most a plain path.",
                         "bad_base_url")
    secret = payload.get("sharedSecret")
    if not isinstance(secret, str) or len(secret) < 32:
        raise BadRequest("The install carries no usable shared secret.", "missing_field")
    with transaction(svc.sessions) as session:
        tenant = session.scalar(select(Tenant).where(Tenant.client_key == payload["clientKey"]))
        if tenant is None:
            tenant = Tenant(client_key=payload["clientKey"], settings={})
            session.add(tenant)
        # Re-install rotates the secret; the RS256 signature above is what lets us trust the new one.
        tenant.base_url = payload["baseUrl"].rstrip("/")
        tenant.display_url = payload.get("displayUrl")
        tenant.product_type = payload.get("productType") or "jira"
        tenant.shared_secret_sealed = svc.box.seal(secret)
        tenant.installed = True
        tenant.enabled = True
        tenant.uninstalled_at = None
        tenant.known_projects_at = None
        # This install's start: Jira Software data sent to an earlier install is sent again (sync.devops).
        tenant.installed_at = utcnow()
    return "", 204


@bp.post("/lifecycle/uninstalled")
def uninstalled() -> tuple[str, int]:
    payload = _signed_install_payload()
    svc = services()
    with transaction(svc.sessions) as session:
        tenant = session.scalar(select(Tenant).where(Tenant.client_key == payload["clientKey"]))
        if tenant is None:
            raise NotFound("This Jira site never installed the app.", "unknown_tenant")
        # History stays: a re-install picks up where the site left off.
        tenant.installed = False
        tenant.enabled = False
        tenant.uninstalled_at = utcnow()
    return "", 204


def _set_enabled(enabled: bool) -> tuple[str, int]:
    who = authenticate(from_query=False, allow_context_qsh=False, require_active=False)
    payload = _install_payload()
    if who.tenant.client_key != payload["clientKey"] or not who.tenant.installed:
        raise Unauthorized("This Jira site has not installed the app.", "unknown_tenant")
    with transaction(services().sessions) as session:
        tenant = session.get(Tenant, who.tenant.id)
        if tenant is not None:
            tenant.enabled = enabled
    return "", 204


@bp.post("/lifecycle/enabled")
def enabled() -> tuple[str, int]:
    return _set_enabled(True)


@bp.post("/lifecycle/disabled")
def disabled() -> tuple[str, int]:
    return _set_enabled(False)
