"""`connect-app demo` prints the MCP URL and a working token for its sandbox user (issue 12): an
assistant pointed at them gets FEAT-304's reality, and the token was made through the tokens API
(it is listed there, for the sandbox user)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call_tool(url: str, token: str, name: str, arguments: dict[str, object]) -> requests.Response:
    return requests.post(url, timeout=60, json={
        "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
                 "MCP-Protocol-Version": "2025-06-18"})


def test_demo_prints_an_mcp_url_and_a_token_an_assistant_can_use(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "APP_BASE_URL", "APP_SECRET_KEY")}
    env["INSTANCE_PATH"] = str(tmp_path / "instance")
    demo = subprocess.Popen([sys.executable, "-m", "connect_app.cli", "demo", "--port", str(_free_port())],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    printed: list[str] = []
    try:
        deadline = time.monotonic() + 240
        assert demo.stdout is not None
        for line in demo.stdout:
            printed.append(line)
            if "Press Ctrl-C" in line:
                break
            assert time.monotonic() < deadline, "".join(printed)
        out = "".join(printed)
        url = re.search(r"MCP URL:\s+(\S+)", out)
        token = re.search(r"Token \(Authorization: Bearer \.\.\.\):\s+(\S+)", out)
        assert url and token, out
        assert url.group(1).endswith("/mcp")

        answer = call_tool(url.group(1), token.group(1), "issue_reality", {"issue_key": "FEAT-304"})
        assert answer.status_code == 200, answer.text
        result = answer.json()["result"]
        assert not result.get("isError"), result
        assert result["structuredContent"]["key"] == "FEAT-304"
        assert result["structuredContent"]["drift"] == "reverted"

        forged = call_tool(url.group(1), token.group(1) + "x", "issue_reality", {"issue_key": "FEAT-304"})
        assert forged.status_code == 401
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=30)
    assert demo.returncode == 0


def test_the_demo_token_is_made_through_the_tokens_api(stack, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """No back door: the token the demo prints is one the tokens API lists for the sandbox user."""
    from connect_app.sandbox.demo import print_assistant_access
    from connect_app.sandbox.stack import ADMIN

    stack.install()
    calls: list[tuple[str, str]] = []
    real = stack.admin

    def spy(method: str, path: str, json=None, *, account_id: str = ADMIN):  # type: ignore[no-untyped-def]
        calls.append((method, path))
        return real(method, path, json, account_id=account_id)

    monkeypatch.setattr(stack, "admin", spy)
    print_assistant_access(stack)
    assert calls == [("POST", "/api/mcp/tokens")]
    listed = real("GET", "/api/mcp/tokens").json()
    assert [t["label"] for t in listed["tokens"]] == ["Demo assistant"]
    assert listed["mcp_url"] in capsys.readouterr().out
