"""The web app as `connect-app serve` runs it (gunicorn with serve's own options), for tests that
need what only gunicorn does: its worker class, its threads, its own refusals."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

from connect_app.cli import gunicorn_argv
from connect_app.sandbox.stack import free_port
from connect_app.store.db import upgrade

SANDBOX_SECRET = "sandbox-secret-key-that-is-long-enough-0123456789"


@contextmanager
def served_by_gunicorn(tmp_path: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """One web worker on a free port, over a fresh SQLite database; yields its base URL once it
    answers `/healthz` (the port answers as soon as gunicorn binds it, its worker may still boot)."""
    database_url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade(database_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, "DATABASE_URL": database_url, "APP_BASE_URL": url,
                "INSTANCE_PATH": str(tmp_path / "instance"), "APP_SECRET_KEY": SANDBOX_SECRET, **(env or {})}
    server = subprocess.Popen(gunicorn_argv(bind=f"127.0.0.1:{port}", web_workers=1), env=full_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/healthz", timeout=10)
                break
            except (requests.ConnectionError, requests.Timeout):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
