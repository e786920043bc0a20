"""The admin page's flag-source test delivery, against whatever answers at the app's public address,
and through `connect-app serve`'s gunicorn with a single web worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.github.simulator import GitHubSimulator
from connect_app.sandbox.jira.simulator import JiraSimulator
from connect_app.sandbox.stack import ADMIN
from connect_app.web.admin_jira import TEST_TIMEOUT, _send_test

from ..served import served_by_gunicorn


class _NotTheApp(BaseHTTPRequestHandler):
    """Something else at the public address: a proxy or another app answering 200 with a JSON list."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'["ok"]'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def not_the_app() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotTheApp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/flags/generic/c1"
    server.shutdown()
    server.server_close()


def test_another_service_answering_json_at_the_public_address_is_named_not_a_crash(not_the_app: str) -> None:
    result = _send_test(not_the_app, b"{}", "sha256=00", "nonce")
    assert result["reached"] is False
    assert result["status"] == 200
    assert "not System Reality" in result["message"]


@pytest.fixture
def one_web_worker(tmp_path: Path) -> Iterator[tuple[str, JiraSimulator]]:
    """`connect-app serve --web-workers 1`'s web app (serve's own gunicorn options), installed
    on a Jira simulator: the smallest deployment an operator may run."""
    jira = JiraSimulator().start()
    env = {"CONNECT_INSTALL_KEYS_URL": jira.keys_url, "ALLOWED_JIRA_BASE_URLS": "http://127.0.0.1:*",
           "ALLOWED_GITHUB_API_URLS": "http://127.0.0.1:*"}
    try:
        with served_by_gunicorn(tmp_path, env) as url:
            jira.add_user(ADMIN, "Ada Admin", admin=True)
            jira.install(url).raise_for_status()
            yield url, jira
    finally:
        jira.stop()


def test_a_test_delivery_reaches_an_app_served_by_one_web_worker(one_web_worker, tmp_path: Path) -> None:
    """The check calls the app's own public address while the admin's request is still open: the
    one web process must answer it too, or the admin is told the address is unreachable."""
    url, jira = one_web_worker
    github = GitHubSimulator(GitRepo(tmp_path / "repo"), full_name="acme/shop").start()
    try:
        headers = {"Authorization": f"JWT {jira.context_token(ADMIN)}"}
        connection = requests.post(f"{url}/api/connections", headers=headers, timeout=30, json={
            "provider": "github", "repository": "acme/shop", "api_url": github.api_url}).json()
        started = time.monotonic()
        answer = requests.post(f"{url}/api/connections/{connection['id']}/test-delivery", headers=headers,
                               json={"provider": "generic"}, timeout=30).json()
    finally:
        github.stop()
    assert answer["reached"] is True, answer["message"]
    assert time.monotonic() - started < TEST_TIMEOUT
