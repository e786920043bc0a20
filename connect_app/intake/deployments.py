"""Deployments reported by any CI/CD tool with the connection's deploy token."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, request

from connect_app.errors import BadRequest, Unauthorized
from connect_app.intake.parse import PayloadError, parse_ci_deployment
from connect_app.intake.store import (
    ActiveConnection,
    active_connection,
    json_body,
    raw_body,
    same_secret,
    store_delivery,
    stored_answer,
)
from connect_app.services import services
from connect_app.store.models import utcnow

bp = Blueprint("deployment_intake", __name__)


def bearer_valid(connection: ActiveConnection) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return False
    digest = services().box.digest(header[7:].strip())
    return same_secret(connection.deploy_token_digest, digest)


def reporting_connection(connection_id: str) -> ActiveConnection:
    """The connection a report (a deployment, a configuration change) names, when the report
    carries that connection's deploy token."""
    connection = active_connection(connection_id)
    if not bearer_valid(connection):
        raise Unauthorized("Send the connection's deploy token as `Authorization: Bearer <token>`.",
                           "bad_token")
    return connection


def store_report(connection: ActiveConnection, *, source: str, event: str, body: bytes) -> tuple[Response, int]:
    """Only the sender can tell a retry from a second report of the same thing: identical bodies
    are how a CI job rolls back to an earlier build, or how a configuration is reverted, applied
    and reverted again without a time. So a retry is recognised by its Idempotency-Key alone, and
    every call without one is a report of its own."""
    guid = request.headers.get("Idempotency-Key") or uuid.uuid4().hex
    if len(guid) > 100:
        raise BadRequest("Idempotency-Key must be at most 100 characters.")
    delivery_id, created = store_delivery(connection, source=source, event=event, guid=guid, body=body)
    return stored_answer(delivery_id, created)


def validate_deployment(data: dict[str, Any]) -> None:
    """The worker's own parser decides what a deployment report is; intake only says so first."""
    try:
        parse_ci_deployment(data, utcnow())
    except PayloadError as exc:
        raise BadRequest(f"{exc}.") from exc


@bp.post("/api/deployments/<connection_id>")
def report_deployment(connection_id: str) -> tuple[Response, int]:
    connection = reporting_connection(connection_id)
    body = raw_body()
    validate_deployment(json_body(body, refuse_unstorable=True))
    return store_report(connection, source="deploy", event="deployment", body=body)
