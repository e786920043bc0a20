"""Configuration changes reported by any tool (Argo CD, a pipeline, Terraform, a config service)
with the connection's deploy token: `POST /api/config-changes/<connection_id>`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from connect_app.errors import BadRequest
from connect_app.intake.deployments import reporting_connection, store_report
from connect_app.intake.parse import PayloadError, parse_config_change
from connect_app.intake.store import json_body, raw_body
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
    connection = reporting_connection(connection_id)
    body = raw_body()
    validate_config_change(json_body(body))
    return store_report(connection, source="config", event="config_change", body=body)
