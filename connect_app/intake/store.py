"""Storing what arrived, and queueing its processing, in one transaction."""

from __future__ import annotations

import json
from typing import Any

from flask import request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge

from connect_app import jobs
from connect_app.db import transaction
from connect_app.errors import AppError, BadRequest, NotFound
from connect_app.models import Connection, Delivery, Tenant, utcnow
from connect_app.services import services


def active_connection(connection_id: str) -> tuple[Connection, Tenant]:
    """The connection an intake URL names, if it exists and its Jira site still has the app."""
    if len(connection_id) > 40:
        raise NotFound("There is no such connection.", "unknown_connection")
    with services().sessions() as session:
        connection = session.get(Connection, connection_id)
        if connection is None or connection.deleted_at is not None:
            raise NotFound("There is no such connection.", "unknown_connection")
        tenant = session.get(Tenant, connection.tenant_id)
    if tenant is None or not tenant.active:
        raise AppError(403, "tenant_inactive", "The app is disabled or uninstalled on the Jira site.")
    return connection, tenant


def json_body(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The body is not valid JSON.", "malformed_json") from exc
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.", "malformed_json")
    return data


def raw_body() -> bytes:
    """The exact bytes signed by the sender; a body above MAX_CONTENT_LENGTH is refused (413)."""
    body = request.get_data(cache=True)
    limit = request.max_content_length
    if limit is not None and request.content_length is None and len(body) >= limit:
        # A chunked body has no Content-Length for Werkzeug to refuse up front, and Werkzeug's
        # limited stream then stops silently at the limit: the truncated body would fail its
        # signature (401) or its JSON (400) instead of being refused as too large. One more byte
        # from the server's own stream tells whether the sender had more to send.
        # (Caught by tests/e2e/test_security_intake.py::test_body_over_25_mb_is_refused_as_too_large.)
        if request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    return body


def request_json() -> dict[str, Any]:
    """The request's JSON object, read with the same size rule as every signed body."""
    return json_body(raw_body())


def store_delivery(
    connection: Connection, *, source: str, event: str, guid: str, body: bytes, process: bool = True
) -> tuple[int, bool]:
    """Store a delivery and queue its processing. Returns (delivery id, newly stored)."""
    svc = services()
    try:
        with transaction(svc.sessions) as session:
            existing = _existing(session, connection.id, source, guid)
            if existing is not None:
                return existing, False
            delivery = Delivery(
                tenant_id=connection.tenant_id,
                connection_id=connection.id,
                source=source,
                event=event,
                guid=guid,
                body=body,
                status="stored" if process else "ignored",
            )
            session.add(delivery)
            session.flush()
            stored = session.get(Connection, connection.id)
            if stored is not None:
                stored.last_delivery_at = utcnow()
            if process:
                jobs.enqueue(session, "delivery", {"delivery_id": delivery.id}, tenant_id=connection.tenant_id)
            return delivery.id, True
    except IntegrityError:
        # The same delivery raced in on another process; the first one stored it.
        with svc.sessions() as session:
            existing = _existing(session, connection.id, source, guid)
        if existing is None:
            raise
        return existing, False


def _existing(session: Session, connection_id: str, source: str, guid: str) -> int | None:
    return session.scalar(
        select(Delivery.id).where(
            Delivery.connection_id == connection_id, Delivery.source == source, Delivery.guid == guid
        )
    )
