"""GitHub webhooks: verify, store, acknowledge. Processing happens in the worker."""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import parse_qs

from flask import Blueprint, Response, jsonify, request

from connect_app.errors import BadRequest, NotFound, Unauthorized
from connect_app.intake.store import active_connection, json_body, raw_body, same_secret, store_delivery, stored_answer
from connect_app.services import services

bp = Blueprint("github_intake", __name__)

PROCESSED_EVENTS = frozenset({"push", "pull_request", "deployment", "deployment_status", "release"})
_EVENT = re.compile(r"^[a-z_]{1,60}$")
_GUID = re.compile(r"^[A-Za-z0-9-]{1,100}$")


def signature_valid(secret: str, body: bytes, header: str) -> bool:
    if not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return same_secret(expected, header.strip())


def _payload_bytes(body: bytes) -> bytes:
    """GitHub sends JSON, or a form with the JSON in `payload` when the hook is form-encoded."""
    if request.mimetype == "application/x-www-form-urlencoded":
        fields = parse_qs(body.decode("utf-8", "replace"))
        if "payload" not in fields:
            raise BadRequest("A form-encoded delivery must carry the JSON in a `payload` field.")
        return fields["payload"][0].encode()
    return body


@bp.post("/github/webhook/<connection_id>")
def receive(connection_id: str) -> tuple[Response, int]:
    connection = active_connection(connection_id)
    if connection.provider != "github":
        raise NotFound("There is no such GitHub connection.", "unknown_connection")
    body = raw_body()
    secret = services().box.open(connection.webhook_secret_sealed)
    if not signature_valid(secret, body, request.headers.get("X-Hub-Signature-256", "")):
        raise Unauthorized("X-Hub-Signature-256 is missing or does not match this connection's secret.",
                           "bad_signature")
    event = request.headers.get("X-GitHub-Event", "")
    guid = request.headers.get("X-GitHub-Delivery", "")
    if not _EVENT.match(event):
        raise BadRequest("X-GitHub-Event is missing or malformed.", "missing_event")
    if not _GUID.match(guid):
        raise BadRequest("X-GitHub-Delivery is missing or malformed.", "missing_delivery_id")
    payload = _payload_bytes(body)
    json_body(payload)  # refuse malformed JSON before anything is stored
    if event == "ping":
        return jsonify({"status": "pong", "connection": connection.id}), 200
    delivery_id, created = store_delivery(
        connection, source="github", event=event, guid=guid, body=payload, process=event in PROCESSED_EVENTS
    )
    return stored_answer(delivery_id, created, processed=event in PROCESSED_EVENTS)
