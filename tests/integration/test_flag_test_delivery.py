"""The admin page's flag-source test delivery, against whatever answers at the app's public address."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connect_app.web.admin_jira import _send_test


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
