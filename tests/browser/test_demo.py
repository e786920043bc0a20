"""`connect-app demo`, run as a person runs it: its printed URLs open in a browser, an AI assistant
pointed at its printed MCP URL and token gets FEAT-304's reality (issue 12), and Ctrl-C stops it.
One demo serves all three: starting it replays the whole story."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# CI runs the suite as a background job of a non-interactive shell, which starts every process
# with SIGINT ignored; the demo is started the same way here, so Ctrl-C must stop it regardless.
SIGINT_IGNORED = ["/bin/sh", "-c", 'trap "" INT; exec "$0" "$@"']


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call_tool(url: str, token: str, name: str, arguments: dict[str, object]) -> requests.Response:
    return requests.post(url, timeout=60, json={
        "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream",
                 "MCP-Protocol-Version": "2025-06-18"})


def test_demo_urls_open_its_mcp_token_answers_and_ctrl_c_stops_it(tmp_path: Path, page) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "APP_BASE_URL", "APP_SECRET_KEY")}
    env["INSTANCE_PATH"] = str(tmp_path / "instance")
    env["PYTHONFAULTHANDLER"] = "1"  # a demo that will not stop shows where each thread stands
    demo = subprocess.Popen([*SIGINT_IGNORED, sys.executable, "-m", "connect_app.cli", "demo",
                             "--port", str(_free_port())],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    printed: list[str] = []
    ready = threading.Event()
    # Read everything it prints until it exits, as a terminal does: a full pipe would block it.
    reader = threading.Thread(target=_read_lines, args=(demo, printed, ready), daemon=True)
    reader.start()
    try:
        assert ready.wait(240), "".join(printed)
        out = "".join(printed)
        urls = dict(re.findall(r"^\s+(Issue page|Stakeholder report|Admin page)[^:]*:\s+(\S+)", out, re.MULTILINE))
        assert set(urls) == {"Issue page", "Stakeholder report", "Admin page"}, out

        page.goto(urls["Issue page"])
        panel = page.frame_locator("#system-reality-panel")
        expect(panel.locator("h1")).to_contain_text("No longer live", timeout=15_000)
        page.goto(urls["Stakeholder report"])
        expect(page.frame_locator("#app-page").locator("h1")).to_have_text("Drift report", timeout=15_000)
        page.goto(urls["Admin page"])
        expect(page.frame_locator("#app-page").locator("h1")).to_have_text("System Reality", timeout=15_000)

        _assert_the_printed_mcp_token_answers(out)
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
            demo.wait(timeout=10)
            reader.join(timeout=5)
            pytest.fail("Ctrl-C did not stop the demo within 30 s:\n" + "".join(printed[-200:]))
    assert demo.returncode == 0


def _assert_the_printed_mcp_token_answers(out: str) -> None:
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


def _read_lines(demo: subprocess.Popen[str], printed: list[str], ready: threading.Event) -> None:
    assert demo.stdout is not None
    for line in demo.stdout:
        printed.append(line)
        if "Press Ctrl-C" in line:
            ready.set()
