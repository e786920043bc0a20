"""The real entry points: `connect-app db upgrade`, `serve` (gunicorn + worker) and `demo`."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from connect_app.cli import main


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "APP_BASE_URL", "APP_SECRET_KEY")}
    env.update({"INSTANCE_PATH": str(tmp_path / "instance"), **extra})
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_db_upgrade_creates_the_default_sqlite_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in _env(tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "instance" / "system-reality.db").exists()
    assert "up to date" in capsys.readouterr().out


def test_https_base_url_without_secret_key_is_refused_at_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("APP_BASE_URL", "https://reality.example.com")
    monkeypatch.delenv("APP_SECRET_KEY", raising=False)
    assert main(["db", "upgrade"]) == 2
    assert "APP_SECRET_KEY" in capsys.readouterr().err


def test_serve_runs_gunicorn_and_worker_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "connect_app.cli", "serve", "--bind", f"127.0.0.1:{port}", "--web-workers", "1"],
        env=_env(tmp_path, APP_BASE_URL=f"http://127.0.0.1:{port}"), start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "serve did not start within a minute"
                time.sleep(0.3)
        assert health.json() == {"status": "ok", "database": True}
        descriptor = requests.get(f"http://127.0.0.1:{port}/atlassian-connect.json", timeout=5).json()
        assert descriptor["baseUrl"] == f"http://127.0.0.1:{port}"
        assert requests.post(f"http://127.0.0.1:{port}/github/webhook/nope", data=b"{}", timeout=5).status_code == 404
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0 or process.returncode == -signal.SIGTERM


def test_demo_replays_the_story_and_prints_urls_that_open(tmp_path: Path) -> None:
    port = _free_port()
    result = subprocess.run([sys.executable, "-m", "connect_app.cli", "demo", "--no-wait", "--port", str(port)],
                            env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "drift = reverted" in out and "labels = ['drift-reverted']" in out and "1 comment(s)" in out
    urls = re.findall(r"https?://127\.0\.0\.1:\d+/\S+", out)
    assert any("/browse/FEAT-304" in url for url in urls)
    assert any("/plugins/servlet/ac/" in url for url in urls)
