"""Operator endpoints. Neither says anything about any tenant."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import func, select

from connect_app.services import services
from connect_app.store.db import ping
from connect_app.store.models import Delivery, Job

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    healthy = ping(services().engine)
    return jsonify({"status": "ok" if healthy else "unavailable", "database": healthy}), 200 if healthy else 503


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format: queue depth and delivery outcomes, summed over every tenant."""
    with services().sessions() as session:
        jobs = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        deliveries = dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
    lines = [
        "# HELP system_reality_jobs Background jobs by status.",
        "# TYPE system_reality_jobs gauge",
        *(f'system_reality_jobs{{status="{status}"}} {jobs.get(status, 0)}'
          for status in ("queued", "running", "done", "parked")),
        "# HELP system_reality_deliveries Stored deliveries by processing status.",
        "# TYPE system_reality_deliveries gauge",
        *(f'system_reality_deliveries{{status="{status}"}} {deliveries.get(status, 0)}'
          for status in ("stored", "processed", "ignored", "failed")),
    ]
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
