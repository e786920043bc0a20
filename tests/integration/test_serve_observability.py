"""`connect-app serve` as operators run it: metrics summed over its processes, JSON log lines
that carry the job they are about, and a worker that runs live work before bulk work."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from tests.integration.test_cli import _env, _free_port


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "connect_app.cli", "serve", "--bind", f"127.0.0.1:{port}", "--web-workers", "2"],
        env=_env(tmp_path, APP_BASE_URL=f"http://127.0.0.1:{port}", LOG_FORMAT="json"),
        start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{url}/healthz", timeout=2)
            break
        except (requests.ConnectionError, requests.Timeout):
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "serve did not start within a minute"
            time.sleep(0.3)
    try:
        yield url, tmp_path / "instance" / "system-reality.db", process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _queue_job(database: Path, kind: str) -> None:
    """A job no handler knows: the worker claims it and records it as failed."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    with sqlite3.connect(database) as db:
        db.execute("INSERT INTO jobs (kind, payload, status, attempts, run_after, created_at) "
                   "VALUES (?, '{}', 'queued', 7, ?, ?)", (kind, now, now))


def test_metrics_add_up_across_the_web_and_worker_processes(served) -> None:
    url, database, _process = served
    _queue_job(database, "unknown_kind")
    deadline = time.monotonic() + 30
    seen = ""
    while time.monotonic() < deadline:
        # Either web process answers; the worker's histogram must show in both.
        seen = requests.get(f"{url}/metrics", timeout=5).text
        if 'system_reality_job_seconds_count{kind="unknown_kind",lane="live",outcome="failed"} 1.0' in seen:
            break
        time.sleep(0.3)
    else:
        pytest.fail(f"the worker's job never showed in /metrics:\n{seen[-2000:]}")
    assert 'system_reality_jobs{status="parked"} 1' in seen


def test_log_lines_are_json_and_name_the_job(served) -> None:
    url, database, process = served
    _queue_job(database, "mystery_kind")
    deadline = time.monotonic() + 30
    while 'system_reality_jobs{status="parked"} 1' not in requests.get(f"{url}/metrics", timeout=5).text:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    os.killpg(process.pid, signal.SIGTERM)
    output = process.stdout.read() if process.stdout else ""
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert records, output[-2000:]
    failed = [r for r in records if r.get("job_kind") == "mystery_kind"]
    assert failed and all(isinstance(r.get("job_id"), int) for r in failed), records[-5:]
