"""Prometheus metrics that add up across processes.

`connect-app serve` runs several gunicorn workers and background workers; each keeps its own
counters. With `PROMETHEUS_MULTIPROC_DIR` set (serve sets it for its children), every process
writes its samples there and `/metrics` sums them, as prometheus_client's multiprocess mode
documents. Labels name kinds, lanes, sources and statuses, never a tenant, issue or secret.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

DELIVERIES = Counter("system_reality_deliveries_received", "Deliveries acknowledged, by source and outcome.",
                     ["source", "outcome"])
JOB_SECONDS = Histogram("system_reality_job_seconds", "How long a job ran, by kind, lane and outcome.",
                        ["kind", "lane", "outcome"], buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
JOB_WAIT_SECONDS = Histogram("system_reality_job_wait_seconds", "From ready to claimed, by kind and lane.",
                             ["kind", "lane"], buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800))
CALL_SECONDS = Histogram("system_reality_call_seconds", "Calls to Jira and repository APIs, by service, method "
                         "and status.", ["service", "method", "status"])
RATE_LIMIT_WAIT = Counter("system_reality_rate_limit_wait_seconds", "Seconds waited because a service asked "
                          "us to (Retry-After, rate limit resets), by service.", ["service"])


def prepare_multiprocess_dir(instance_path: Path) -> str:
    """A fresh folder for this `serve`'s processes; set in the environment its children inherit."""
    folder = instance_path / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(folder)
    return str(folder)


def exposition(extra: Iterable[str] = ()) -> bytes:
    """The text format: this process's (or every process's) samples, then `extra` lines."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    lines = "".join(f"{line}\n" for line in extra)
    return generate_latest(registry) + lines.encode()
