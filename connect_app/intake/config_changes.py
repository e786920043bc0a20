"""Configuration changes reported by any tool (Argo CD, a pipeline, Terraform, a config service)
with the connection's deploy token: `POST /api/config-changes/<connection_id>`."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, jsonify, request

from connect_app.errors import BadRequest, Unauthorized
from connect_app.intake.deployments import bearer_valid
from connect_app.intake.parse import PayloadError, parse_config_change
from connect_app.intake.store import active_connection, json_body, raw_body, store_delivery
from connect_app.store.models import utcnow

bp = Blueprint("config_change_intake", __name__)


def validate_config_change(data: dict[str, Any]) -> None:
    """The worker's own parser decides what a configuration change is; intake only says so first."""
    try:
        parse_config_change(data, utcnow())
    except PayloadError as exc:
        raise BadRequest(f"{exc}.", "malformed_config_change") from exc


@bp.post("/api/config-changes/<connection_id>")
def report_config_change(connection_id: str) -> tuple[Response, int]:
    connection = active_connection(connection_id)
    if not bearer_valid(connection):
        raise Unauthorized("Send the connection's deploy token as `Authorization: Bearer <token>`.",
                           "bad_token")
    body = raw_body()
    validate_config_change(json_body(body))
    # Like deployments: reverting, applying and reverting again without a time sends the same body
    # twice, and both reverts count. Only the sender's Idempotency-Key marks a retry.
    guid = request.headers.get("Idempotency-Key") or uuid.uuid4().hex
    if len(guid) > 100:
        raise BadRequest("Idempotency-Key must be at most 100 characters.")
    delivery_id, created = store_delivery(connection, source="config", event="config_change", guid=guid,
                                          body=body)
    return jsonify({"status": "stored" if created else "duplicate", "delivery": delivery_id}), (
        202 if created else 200
    )
