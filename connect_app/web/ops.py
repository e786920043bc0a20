"""Operator endpoints. Neither says anything about any tenant."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import func, select

from connect_app.jobs import kinds
from connect_app.observe import metrics as observed
from connect_app.services import services
from connect_app.store.db import ping
from connect_app.store.models import Delivery, Job

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    if ping(services().engine):
        return jsonify({"status": "ok", "database": True}), 200
    # A 503 like every other: the contract's error fields, beside what a probe reads.
    return jsonify({"status": "unavailable", "database": False, "error": "unavailable",
                    "detail": "The service cannot reach its database."}), 503


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format, summed over every tenant and, under `serve`, every process: jobs
    waiting per kind and lane, deliveries by status (from the database), and the counters and
    histograms of `observe.metrics` (job latency, Jira and GitHub calls, rate-limit waits)."""
    with services().sessions() as session:
        jobs = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        deliveries = dict(session.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all())
        waiting = session.execute(select(Job.kind, func.count()).where(Job.status == "queued")
                                  .group_by(Job.kind)).all()
    lines = [
        "# HELP system_reality_jobs Background jobs by status.",
        "# TYPE system_reality_jobs gauge",
        *(f'system_reality_jobs{{status="{status}"}} {jobs.get(status, 0)}'
          for status in ("queued", "running", "done", "parked")),
        "# HELP system_reality_jobs_waiting Queued jobs by kind and lane.",
        "# TYPE system_reality_jobs_waiting gauge",
        *(f'system_reality_jobs_waiting{{kind="{_label(kind)}",lane="{"bulk" if kind in kinds.BULK else "live"}"}} '
          f"{count}" for kind, count in waiting),
        "# HELP system_reality_deliveries Stored deliveries by processing status.",
        "# TYPE system_reality_deliveries gauge",
        *(f'system_reality_deliveries{{status="{status}"}} {deliveries.get(status, 0)}'
          for status in ("stored", "processed", "ignored", "failed")),
    ]
    return Response(observed.exposition(lines), mimetype="text/plain; version=0.0.4")


def _label(value: str) -> str:
    return "".join(ch for ch in value if ch.isalnum() or ch in "_-:")[:40]
