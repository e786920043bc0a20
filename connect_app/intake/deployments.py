"""Deployments reported by any CI/CD tool with the connection's deploy token."""

from __future__ import annotations

import hmac
import re
import uuid
from datetime import datetime

from flask import Blueprint, Response, jsonify, request

from connect_app.errors import BadRequest, Unauthorized
from connect_app.intake.store import ActiveConnection, active_connection, json_body, raw_body, store_delivery
from connect_app.services import services

bp = Blueprint("deployment_intake", __name__)

STATUSES = frozenset({"success", "failure", "error", "in_progress", "queued", "pending", "inactive"})
_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
_ENVIRONMENT = re.compile(r"^[\w .:/-]{1,100}$")


def bearer_valid(connection: ActiveConnection) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return False
    digest = services().box.digest(header[7:].strip())
    return hmac.compare_digest(digest, connection.deploy_token_digest)


def parse_time(value: object, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be an ISO-8601 time such as 2026-11-26T23:31:00Z.")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{field} must be an ISO-8601 time such as 2026-11-26T23:31:00Z.") from exc
    if parsed.tzinfo is None:
        raise BadRequest(f"{field} must carry a time zone (Z or +hh:mm).")
    return parsed


def validate_deployment(data: dict[str, object]) -> None:
    environment, sha, status = data.get("environment"), data.get("sha"), data.get("status", "success")
    if not isinstance(environment, str) or not _ENVIRONMENT.match(environment):
        raise BadRequest("environment is required, for example \"production\".")
    if not isinstance(sha, str) or not _SHA.match(sha):
        raise BadRequest("sha must be a commit SHA of 7 to 40 hex digits.")
    if status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(sorted(STATUSES))}.")
    parse_time(data.get("deployed_at"), "deployed_at")
    url = data.get("url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("https://", "http://"))
                            or len(url) > 500):
        raise BadRequest("url must be an http(s) link to the deployment.")


@bp.post("/api/deployments/<connection_id>")
def report_deployment(connection_id: str) -> tuple[Response, int]:
    connection = active_connection(connection_id)
    if not bearer_valid(connection):
        raise Unauthorized("Send the connection's deploy token as `Authorization: Bearer <token>`.",
                           "bad_token")
    body = raw_body()
    data = json_body(body)
    validate_deployment(data)
    # Only the sender can tell a retry from a second deployment of the same build: identical
    # bodies are how a CI job rolls back to an earlier build. So a retry is recognised by its
    # Idempotency-Key alone, and every call without one is a deployment of its own.
    guid = request.headers.get("Idempotency-Key") or uuid.uuid4().hex
    if len(guid) > 100:
        raise BadRequest("Idempotency-Key must be at most 100 characters.")
    delivery_id, created = store_delivery(connection, source="deploy", event="deployment", guid=guid,
                                          body=body)
    return jsonify({"status": "stored" if created else "duplicate", "delivery": delivery_id}), (
        202 if created else 200
    )
