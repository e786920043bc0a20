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
from pathlib import Path

from connect_app.sandbox.jira.host import sandbox_urls
from connect_app.sandbox.stack import ADMIN, Stack
from connect_app.sandbox.story import REVERT_REASON, build_story


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
    # Python turns Ctrl-C into KeyboardInterrupt only when it inherits SIGINT's default handling;
    # a demo started as a background job of a non-interactive shell (as CI starts its test run)
    # inherits SIGINT ignored, and "Press Ctrl-C to stop" would then never stop it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    workdir = Path(tempfile.mkdtemp(prefix="system-reality-demo-"))
    stack = Stack(workdir, port=port, strict_openapi=False)
    try:
        print("Starting the app, a Jira sandbox and a scripted GitHub repository...", flush=True)
        stack.start()
        stack.seed_jira()
        print("Installing the app into the Jira sandbox (signed install)...", flush=True)
        # Relative to now, so the report's "last 48 hours" and `driftSince >= -2d` find it any day.
        story = build_story(stack)
        print("3 days ago: FEAT-304 'Payment retry logic v2' merged and deployed; the ticket is Done.")
        print(f"20 hours ago: the on-call engineer's revert {story.revert_sha[:7]} went live in production "
              f"(\"{REVERT_REASON}\").")
        print("Since then: a hotfix changed saved cards (FEAT-306) after Done, production was rolled back "
              "past OPS-12, the pay-later flag (FEAT-307) was switched off, and BUG-901 was opened.")
        for key in ("FEAT-304", "OPS-12", "FEAT-306", "FEAT-307"):
            issue = stack.jira.issues[key]
            prop = issue["properties"].get("system-reality", {})
            print(f"  Jira now says {key}: drift = {prop.get('drift')}, labels = {issue['labels']}, "
                  f"{len(issue['comments'])} comment(s).")
        print(flush=True)
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
