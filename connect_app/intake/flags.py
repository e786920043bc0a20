"""Feature-flag changes from LaunchDarkly, Unleash, or anything that speaks our generic shape.

Each provider is checked with its own scheme: LaunchDarkly signs the body (`X-LD-Signature`,
HMAC-SHA256 with the webhook secret), Unleash's webhook addon sends the configured
`Authorization` value verbatim (we configure it to the webhook secret), and `generic` uses the
connection's deploy token as a bearer token.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid

from flask import Blueprint, Response, jsonify, request

from connect_app.errors import BadRequest, NotFound, Unauthorized
from connect_app.intake.deployments import bearer_valid
from connect_app.intake.parse import PayloadError, parse_flag_changes
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

bp = Blueprint("flag_intake", __name__)

FLAG_SERVICES = ("launchdarkly", "unleash", "generic")
# The admin page's "send a test delivery": the app calls its own public flag URL, signed with the
# connection's webhook secret, to prove the address a flag service is given reaches this app.
TEST_HEADER = "X-System-Reality-Test"


def test_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _authentic(provider: str, connection: ActiveConnection, body: bytes) -> bool:
    if provider == "generic":
        return bearer_valid(connection)
    secret = services().box.open(connection.webhook_secret_sealed)
    if provider == "launchdarkly":
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return same_secret(expected, request.headers.get("X-LD-Signature", "").strip())
    return same_secret(secret, request.headers.get("Authorization", "").strip())


def _event_id(provider: str, data: dict[str, object]) -> str | None:
    """The provider's own id of the change, which its retries repeat. Not a hash of the body: a
    flag switched off, on and off again sends the same body twice, and both 'off's count."""
    value = data.get("_id") if provider == "launchdarkly" else data.get("id") if provider == "unleash" else None
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


@bp.post("/flags/<provider>/<connection_id>")
def receive_flag(provider: str, connection_id: str) -> tuple[Response, int]:
    if provider not in FLAG_SERVICES:
        raise NotFound(f"Unknown flag provider; use one of {', '.join(FLAG_SERVICES)}.", "unknown_provider")
    connection = active_connection(connection_id)
    body = raw_body()
    if request.headers.get(TEST_HEADER):
        return _test_delivery(connection, body)
    if not _authentic(provider, connection, body):
        raise Unauthorized("The flag event is not signed for this connection.", "bad_signature")
    # Our own generic shape is sent with our token by a script that can fix its text; the flag
    # services' events are kept (store.text replaces what cannot be stored).
    data = json_body(body, refuse_unstorable=provider == "generic")
    try:
        parse_flag_changes(provider, data, utcnow())
    except PayloadError as exc:
        raise BadRequest(f"The flag event is not understood: {exc}.", "malformed_flag_event") from exc
    guid = request.headers.get("X-Delivery-Id") or _event_id(provider, data) or uuid.uuid4().hex
    delivery_id, created = store_delivery(connection, source=f"flag:{provider}", event="flag",
                                          guid=guid[:100], body=body)
    return stored_answer(delivery_id, created)


def _test_delivery(connection: ActiveConnection, body: bytes) -> tuple[Response, int]:
    """Acknowledge a genuine test delivery without storing anything: it carries no flag change."""
    secret = services().box.open(connection.webhook_secret_sealed)
    if not same_secret(test_signature(secret, body), request.headers.get(TEST_HEADER, "").strip()):
        raise Unauthorized("The test delivery is not signed for this connection.", "bad_signature")
    nonce = json_body(body).get("systemRealityTest")
    return jsonify({"status": "test", "connection": connection.id, "test": str(nonce or "")[:64]}), 200
