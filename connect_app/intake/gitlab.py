"""GitLab webhooks (GitLab.com and self-managed): verify, store, acknowledge. Processing happens
in the worker, through the same facts as GitHub's."""

from __future__ import annotations

import re

from flask import Blueprint, Response, request

from connect_app.errors import BadRequest, NotFound, Unauthorized
from connect_app.intake.parse_gitlab import EVENTS
from connect_app.intake.store import active_connection, json_body, raw_body, same_secret, store_delivery, stored_answer
from connect_app.services import services

bp = Blueprint("gitlab_intake", __name__)

_EVENT = re.compile(r"^[A-Za-z ]{1,60}$")
_GUID = re.compile(r"^[A-Za-z0-9-]{1,100}$")


def _delivery_id() -> str:
    """What makes a redelivery idempotent: `Idempotency-Key` (GitLab 17.4 and later: the same on
    every retry of one delivery), else `X-Gitlab-Event-UUID` (the event's own id)."""
    guid = request.headers.get("Idempotency-Key") or request.headers.get("X-Gitlab-Event-UUID", "")
    if not _GUID.match(guid):
        raise BadRequest("X-Gitlab-Event-UUID (or Idempotency-Key) is missing or malformed.", "missing_delivery_id")
    return guid


@bp.post("/gitlab/webhook/<connection_id>")
def receive(connection_id: str) -> tuple[Response, int]:
    connection = active_connection(connection_id)
    if connection.provider != "gitlab":
        raise NotFound("There is no such GitLab connection.", "unknown_connection")
    # GitLab's token is a header, not a signature of the body: checked before a byte of the body
    # is read, so nobody without it can make the app read 25 MB.
    secret = services().box.open(connection.webhook_secret_sealed)
    if not same_secret(secret, request.headers.get("X-Gitlab-Token", "")):
        raise Unauthorized("X-Gitlab-Token is missing or is not this connection's secret token.", "bad_token")
    body = raw_body()
    header = request.headers.get("X-Gitlab-Event", "")
    if not _EVENT.match(header):
        raise BadRequest("X-Gitlab-Event is missing or malformed.", "missing_event")
    guid = _delivery_id()
    json_body(body)  # refuse malformed JSON before anything is stored
    event = EVENTS.get(header)
    delivery_id, created = store_delivery(connection, source="gitlab", event=event or header.lower(), guid=guid,
                                          body=body, process=event is not None)
    return stored_answer(delivery_id, created, processed=event is not None)
