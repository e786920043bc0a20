"""Storing what arrived, and queueing its processing, in one transaction."""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge

from connect_app.errors import AppError, BadRequest, NotFound
from connect_app.jobs.kinds import queue_stored_delivery
from connect_app.services import services
from connect_app.store.models import Connection, Delivery, Tenant, utcnow
from connect_app.store.text import first_unstorable


@dataclass(frozen=True, slots=True)
class ActiveConnection:
    """What intake needs to know about a connection: whom it belongs to and how senders prove
    themselves. A plain row rather than an ORM object: intake is the hottest path in the app and
    never changes the connection through it."""

    id: str
    tenant_id: int
    webhook_secret_sealed: str
    deploy_token_digest: str
    provider: str = "github"  # which host's webhooks it takes: github | gitlab | bitbucket


# One query answers both questions an intake URL raises (does the connection exist, does its
# Jira site still have the app), read fresh on every request: nothing about authorisation is
# cached, so deleting a connection or disabling the app takes effect on the very next delivery.
_ACTIVE_CONNECTION = (
    select(Connection.id, Connection.tenant_id, Connection.webhook_secret_sealed,
           Connection.deploy_token_digest, Connection.provider, Tenant.installed, Tenant.enabled)
    .outerjoin(Tenant, Tenant.id == Connection.tenant_id)
    .where(Connection.id == bindparam("connection_id"), Connection.deleted_at.is_(None))
)


def active_connection(connection_id: str) -> ActiveConnection:
    """The connection an intake URL names, if it exists and its Jira site still has the app."""
    if len(connection_id) > 40:
        raise NotFound("There is no such connection.", "unknown_connection")
    with services().engine.connect() as db:
        row = db.execute(_ACTIVE_CONNECTION, {"connection_id": connection_id}).first()
    if row is None:
        raise NotFound("There is no such connection.", "unknown_connection")
    if not (row.installed and row.enabled):
        raise AppError(403, "tenant_inactive", "The app is disabled or uninstalled on the Jira site.")
    return ActiveConnection(row.id, row.tenant_id, row.webhook_secret_sealed, row.deploy_token_digest,
                            row.provider or "github")


# No sender we serve nests JSON anywhere near this deep; a body that does would make every
# recursive reader (the JSON parser, the payload parsers, jsonify) run out of stack.
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST = re.compile(rb"\[\]|\{\}")


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text `raw` nests arrays and objects deeper than `limit`, found without
    recursing: strings are blanked out, then each pass takes away the innermost empty pairs."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    for _ in range(limit):
        if not brackets:
            return False
        reduced = _INNERMOST.sub(b"", brackets)
        if len(reduced) == len(brackets):
            return False  # unbalanced: malformed, which the JSON parser says in its own words
        brackets = reduced
    return bool(brackets)


def json_body(raw: bytes, *, refuse_unstorable: bool = False) -> dict[str, Any]:
    """The body as a JSON object, or a 400: malformed, not an object, or nested too deeply.

    `refuse_unstorable` for senders who can fix their own text (CI tools and scripts holding our
    token, admins, Jira users): a NUL or lone surrogate anywhere, keys included, is refused with
    the field named, since replacing it would silently change what they meant (an environment
    `production\\u0000` would match no production). Hosts' webhooks keep it: their facts are
    stored with the character replaced (store.text) rather than lost."""
    if json_too_deep(raw):
        raise BadRequest(f"The body nests JSON deeper than {MAX_JSON_DEPTH} levels.", "malformed_json")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("The body is not valid JSON.", "malformed_json") from exc
    except RecursionError as exc:
        raise BadRequest(f"The body nests JSON deeper than {MAX_JSON_DEPTH} levels.", "malformed_json") from exc
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.", "malformed_json")
    where = first_unstorable(data) if refuse_unstorable else None
    if where is not None:
        raise BadRequest(f"{where} contains a character no database can store (NUL, \\u0000, or an unpaired "
                         "surrogate such as \\ud800): send the text without it.", "unstorable_text")
    return data


def same_secret(expected: str, given: str) -> bool:
    """Constant-time equality of a secret (or signature) and what a sender presented. Compared as
    bytes: `hmac.compare_digest` raises on a str with non-ASCII characters, which any header can
    carry."""
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass"))


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


def request_json(*, refuse_unstorable: bool = True) -> dict[str, Any]:
    """The request's JSON object, read with the same size rule as every signed body."""
    return json_body(raw_body(), refuse_unstorable=refuse_unstorable)


# Built once: a statement whose values come as parameters is compiled once per process and then
# served from SQLAlchemy's statement cache.
_STORE = insert(Delivery.__table__)
_TOUCH = (update(Connection.__table__).where(Connection.__table__.c.id == bindparam("connection_id"))
          .values(last_delivery_at=bindparam("now")))


def store_delivery(
    connection: ActiveConnection, *, source: str, event: str, guid: str, body: bytes, process: bool = True
) -> tuple[int, bool]:
    """Store a delivery and queue its processing in one transaction. Returns (delivery id, newly
    stored).

    A redelivery is told apart by the unique (connection, source, guid) constraint rather than a
    lookup first: almost every delivery is new, so the common case is plain inserts, and the
    constraint is what settles a redelivery racing in on another process anyway.
    """
    engine = services().engine
    now = utcnow()
    try:
        with engine.begin() as db:
            delivery_id: int = db.execute(_STORE, {
                "tenant_id": connection.tenant_id, "connection_id": connection.id, "source": source,
                "event": event, "guid": guid, "body": body, "received_at": now,
                "status": "stored" if process else "ignored",
            }).inserted_primary_key[0]
            if process:
                queue_stored_delivery(db, delivery_id, connection.tenant_id)
            # Last, so that on PostgreSQL the connection's row lock is held for the shortest time.
            db.execute(_TOUCH, {"connection_id": connection.id, "now": now})
    except IntegrityError:
        with engine.connect() as db:
            existing = db.scalar(
                select(Delivery.id).where(
                    Delivery.connection_id == connection.id, Delivery.source == source, Delivery.guid == guid
                )
            )
        if existing is None:
            raise
        return existing, False
    return delivery_id, True


def stored_answer(delivery_id: int, created: bool, *, processed: bool = True) -> tuple[Response, int]:
    """What an intake URL answers once a delivery is stored: `stored` (202), `ignored` (202: kept,
    but not an event the app reads), or `duplicate` (200: a redelivery of one already stored)."""
    status = "duplicate" if not created else "stored" if processed else "ignored"
    return jsonify({"status": status, "delivery": delivery_id}), 202 if created else 200
