"""Bitbucket Cloud webhooks: verify, store, acknowledge. Processing happens in the worker,
through the same facts as GitHub's."""

from __future__ import annotations

import re

from flask import Blueprint, Response, request

from connect_app.errors import BadRequest, NotFound, Unauthorized
from connect_app.intake.github import signature_valid
from connect_app.intake.parse_bitbucket import PROCESSED
from connect_app.intake.store import active_connection, json_body, raw_body, store_delivery, stored_answer
from connect_app.services import services

bp = Blueprint("bitbucket_intake", __name__)

_EVENT = re.compile(r"^[a-z_]{1,30}:[a-z_]{1,30}$")
_GUID = re.compile(r"^\{?[A-Za-z0-9-]{1,98}\}?$")


@bp.post("/bitbucket/webhook/<connection_id>")
def receive(connection_id: str) -> tuple[Response, int]:
    connection = active_connection(connection_id)
    if connection.provider != "bitbucket":
        raise NotFound("There is no such Bitbucket Cloud connection.", "unknown_connection")
    body = raw_body()
    secret = services().box.open(connection.webhook_secret_sealed)
    # Bitbucket Cloud signs with the webhook's secret as `X-Hub-Signature: sha256=<hex HMAC>`.
    if not signature_valid(secret, body, request.headers.get("X-Hub-Signature", "")):
        raise Unauthorized("X-Hub-Signature is missing or does not match this connection's secret.", "bad_signature")
    event = request.headers.get("X-Event-Key", "")
    guid = request.headers.get("X-Request-UUID", "")
    if not _EVENT.match(event):
        raise BadRequest("X-Event-Key is missing or malformed.", "missing_event")
    if not _GUID.match(guid):
        raise BadRequest("X-Request-UUID is missing or malformed.", "missing_delivery_id")
    json_body(body)  # refuse malformed JSON before anything is stored
    process = event in PROCESSED
    delivery_id, created = store_delivery(connection, source="bitbucket", event=event, guid=guid.strip("{}"),
                                          body=body, process=process)
    return stored_answer(delivery_id, created, processed=process)
