"""`connect-app demo`: the whole FEAT-304 story on this machine, no Jira account needed.

It starts the app, the Jira sandbox (which hosts our iframes on an issue page) and a scripted
GitHub repository, installs through the real signed-install path, replays the story through real
webhooks and prints the URLs to open. The app is the same app as in production: nothing here is
special-cased inside it.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

from connect_app.sandbox.jira.host import sandbox_urls
from connect_app.sandbox.stack import ADMIN, Stack
from connect_app.sandbox.story import StoryWeek, revert_and_deploy, ship_feature


def print_assistant_access(stack: Stack) -> None:
    """A personal MCP token for the sandbox's signed-in user (Ada Admin), made the way the AI
    assistants page makes one (POST /api/mcp/tokens with her context JWT), so an assistant can be
    pointed at the demo at once."""
    made = stack.admin("POST", "/api/mcp/tokens", {"label": "Demo assistant"}, account_id=ADMIN)
    made.raise_for_status()
    token = made.json()
    print("\nAsk from an AI assistant (MCP over streamable HTTP, as Ada Admin):")
    print(f"  MCP URL:                                  {token['mcp_url']}")
    print(f"  Token (Authorization: Bearer ...):        {token['token']}")
    print("  Shown once here; list or revoke it on the AI assistants page (README: Ask from an AI assistant).")


def run_demo(*, port: int = 0, wait: bool = True) -> int:
    import logging

    # The loopback servers log every request; the story is what a newcomer should read.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="system-reality-demo-"))
    stack = Stack(workdir, port=port, strict_openapi=False)
    try:
        print("Starting the app, a Jira sandbox and a scripted GitHub repository...", flush=True)
        stack.start()
        stack.seed_jira()
        print("Installing the app into the Jira sandbox (signed install)...", flush=True)
        # The latest real week, so the report's "last 48 hours" finds the revert when it is recent.
        week = StoryWeek.latest_before(datetime.now(UTC))
        story = ship_feature(stack, week=week)
        print(f"Monday {week.monday:%d %b}: FEAT-304 'Payment retry logic v2' merged and deployed; "
              "the ticket is Done.", flush=True)
        revert = revert_and_deploy(stack, story)
        print(f"Wednesday {week.revert_at:%d %b} 23:04: commit {revert[:7]} reverts it; deployed to production "
              "at 23:31.", flush=True)
        issue = stack.jira.issues["FEAT-304"]
        prop = issue["properties"].get("system-reality", {})
        print(f"Jira now says: drift = {prop.get('drift')}, labels = {issue['labels']}, "
              f"{len(issue['comments'])} comment(s) on the ticket.\n", flush=True)
        urls = sandbox_urls(stack.jira, "FEAT-304")
        print("Open these in a browser:")
        print(f"  Issue page with the System reality panel: {urls['issue']}")
        print(f"  Stakeholder report:                       {urls['report']}")
        print(f"  Admin page:                               {urls['admin']}")
        print(f"  All issues, with their Drift column:      {urls['issues']}")
        print(f"  The app's descriptor:                     {stack.app_url}/atlassian-connect.json")
        print_assistant_access(stack)
        if not wait:
            return 0
        print("\nPress Ctrl-C to stop.", flush=True)
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        stack.start_background_worker()
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        print("Stopped.", flush=True)
