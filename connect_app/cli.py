"""`connect-app`: serve | worker | db upgrade | demo | backfill | mcp."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.workers.gthread import ThreadWorker

from connect_app.config import ConfigError, Settings, load_settings
from connect_app.observe import logs, metrics

# Seconds a stopping worker gives its running job before handing it back; under the 10 s that
# `docker stop` waits before it kills.
DEFAULT_GRACE = 8.0
GRACE_HELP = ("on SIGTERM/SIGINT: seconds the running job may take to finish before it is handed back "
              "to the queue for another worker")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="connect-app", description="System Reality for Jira")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web app under gunicorn and the background worker")
    serve.add_argument("--bind", default="127.0.0.1:8000")
    serve.add_argument("--web-workers", type=int, default=2)
    serve.add_argument("--workers", type=int, default=1, help="background worker processes (Postgres: many)")
    serve.add_argument("--grace", type=float, default=DEFAULT_GRACE, help=GRACE_HELP)

    worker = commands.add_parser("worker", help="run only the background worker")
    worker.add_argument("--lease", type=float, default=300.0, help="seconds before an unfinished job is retaken")
    worker.add_argument("--poll", type=float, default=0.5)
    worker.add_argument("--grace", type=float, default=DEFAULT_GRACE, help=GRACE_HELP)

    db = commands.add_parser("db", help="database schema")
    db.add_argument("action", choices=["upgrade"])

    demo = commands.add_parser("demo", help="the FEAT-304 story on this machine, no Jira account needed")
    demo.add_argument("--port", type=int, default=0, help="the app's port (default: any free port, so a "
                      "running `serve` on 8000 is no obstacle)")
    demo.add_argument("--no-wait", action="store_true", help="replay the story, print the URLs and exit")

    backfill = commands.add_parser("backfill", help="read a connected repository's history through the API")
    backfill.add_argument("--connection", required=True)
    backfill.add_argument("--since", default=None, help="ISO date, e.g. 2026-01-01")

    commands.add_parser("mcp", help="an MCP server on stdio for local AI assistants; the personal token "
                        "comes from SYSTEM_REALITY_TOKEN")

    args = parser.parse_args(argv)
    logs.configure(os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "json"))
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"connect-app: {exc}", file=sys.stderr)
        return 2

    if args.command == "db":
        from connect_app.store.db import upgrade

        upgrade(settings.database_url)
        print("database is up to date")
        return 0
    if args.command == "worker":
        return run_worker(lease=args.lease, poll=args.poll, grace=args.grace)
    if args.command == "serve":
        return serve_app(settings, bind=args.bind, web_workers=args.web_workers, workers=args.workers,
                         grace=args.grace)
    if args.command == "backfill":
        from connect_app.jobs.backfill import backfill_from_cli

        return backfill_from_cli(settings, args.connection, args.since)
    if args.command == "mcp":
        return run_mcp(settings)
    if args.command == "demo":
        from connect_app.sandbox.demo import run_demo

        return run_demo(port=args.port, wait=not args.no_wait)
    return 2


def run_mcp(settings: Settings) -> int:
    """`connect-app mcp`: the MCP tools on stdin/stdout, as the user whose personal token is in
    SYSTEM_REALITY_TOKEN (made on the app's AI assistants page). stdout carries only MCP messages."""
    from connect_app.mcp.server import run_stdio
    from connect_app.mcp.tokens import TokenRefused
    from connect_app.services import Services
    from connect_app.store.db import upgrade

    token = (os.environ.get("SYSTEM_REALITY_TOKEN") or "").strip()
    if not token:
        print("connect-app mcp: set SYSTEM_REALITY_TOKEN to a personal token from the app's AI assistants page",
              file=sys.stderr)
        return 2
    upgrade(settings.database_url)
    svc = Services.build(settings)
    try:
        run_stdio(svc, token)
    except TokenRefused as exc:
        print(f"connect-app mcp: {exc.detail}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        svc.engine.dispose()
    return 0


def run_worker(*, lease: float, poll: float, grace: float) -> int:
    from connect_app import create_app
    from connect_app.jobs.handlers import Handlers
    from connect_app.jobs.queue import Interrupted

    app = create_app()
    svc = app.extensions["system-reality"]
    worker = Handlers(svc).worker(lease=timedelta(seconds=lease), poll_interval=poll)
    stop = _stop_gracefully(worker.interrupt, grace)
    logging.getLogger(__name__).info("worker %s started", worker.worker_id)
    with app.app_context():
        try:
            worker.run_forever(stop)
        except Interrupted as handed_back:
            logging.getLogger(__name__).info("worker %s stopped: %s", worker.worker_id, handed_back)
    return 0


def _stop_gracefully(interrupt: Callable[[], None], grace: float) -> threading.Event:
    """SIGTERM or SIGINT: claim nothing more; the running job has `grace` seconds to finish, then
    `interrupt` (run in the worker's own thread, where signal handlers run) hands it back."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        if stop.is_set():
            return
        stop.set()
        logging.getLogger(__name__).info("worker stopping (%s): no new jobs, %.0f s for the running one",
                                         signal.Signals(signum).name, grace)
        if grace > 0:
            signal.setitimer(signal.ITIMER_REAL, grace)
        else:
            interrupt()

    signal.signal(signal.SIGALRM, lambda *_: interrupt())
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, request_stop)
    return stop


# serve's worker yields the CPU to its web processes (see benchmarks/README.md for the effect).
DEFAULT_WORKER_NICENESS = 10


def _worker_niceness() -> int:
    """WORKER_NICENESS (0-19): how far below the web processes serve's worker runs."""
    try:
        return max(0, min(19, int(os.environ.get("WORKER_NICENESS", DEFAULT_WORKER_NICENESS))))
    except ValueError:
        return DEFAULT_WORKER_NICENESS


# gunicorn refuses oversized headers itself; its limits sit above the app's own
# (connect_app.MAX_HEADER_*), so the app is the one to refuse, with the JSON of the contract.
GUNICORN_LIMIT_REQUEST_FIELD_SIZE = 64 * 1024
GUNICORN_LIMIT_REQUEST_FIELDS = 200
# Threads in each web process: the admin page's "send a test delivery" calls the app's own public
# address while its request is open, and a process that handled one request at a time could not
# answer itself (with --web-workers 1 the check would always time out and say "unreachable").
GUNICORN_THREADS = 4
# What gunicorn refuses before the app sees the request (past its limits, or not HTTP at all), in
# the contract's words: (error, detail) by status.
GUNICORN_REFUSALS = {
    414: ("uri_too_long", "The URL is longer than 4 KB."),
    431: ("headers_too_large", "The request headers are too large."),
}
MALFORMED = ("bad_request", "The request could not be read as HTTP.")


def _json_refusal(sock: Any, status: int, reason: str, _message: str) -> None:
    """gunicorn's own refusal of a request it could not read, with the JSON body of every other
    refusal instead of its HTML page."""
    error, detail = GUNICORN_REFUSALS.get(status, MALFORMED if status < 500 else ("server_error", reason))
    body = json.dumps({"error": error, "detail": detail}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


class JsonRefusalWorker(ThreadWorker):
    """gunicorn's threaded worker (`--threads`), refusing unreadable requests in JSON (the
    `--worker-class` of `serve`)."""

    def init_process(self) -> None:
        # gunicorn writes those refusals through `util.write_error` alone (workers.base
        # handle_error); in this worker's own process they are JSON. It must be set before the
        # base class starts serving, which its init_process does last.
        gunicorn_util.write_error = _json_refusal
        super().init_process()


def gunicorn_argv(*, bind: str, web_workers: int) -> list[str]:
    """The command line `serve` runs the web app with."""
    return [
        sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(web_workers),
        "--threads", str(GUNICORN_THREADS),
        "--access-logfile", "-", "--forwarded-allow-ips", os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        "--limit-request-field_size", str(GUNICORN_LIMIT_REQUEST_FIELD_SIZE),
        "--limit-request-fields", str(GUNICORN_LIMIT_REQUEST_FIELDS),
        "--worker-class", "connect_app.cli.JsonRefusalWorker",
        "connect_app.wsgi:app",
    ]


def serve_app(settings: Settings, *, bind: str, web_workers: int, workers: int, grace: float = DEFAULT_GRACE) -> int:
    from connect_app.store.db import upgrade

    upgrade(settings.database_url)
    # Every child writes its metrics where /metrics (in any web process) sums them.
    metrics.prepare_multiprocess_dir(settings.instance_path)
    if settings.is_sqlite and workers > 1:
        logging.getLogger(__name__).warning("SQLite runs one background worker; use Postgres to scale out")
        workers = 1
    # Our own interpreter and fixed module names: nothing from outside reaches these argv lists.
    # The worker yields the CPU to the web processes: deliveries are acknowledged first, and
    # the work they queue runs in the time the web leaves free.
    worker_argv = [sys.executable, "-m", "connect_app.cli", "worker", "--grace", str(float(grace))]
    niceness = _worker_niceness()
    children = [subprocess.Popen(worker_argv, preexec_fn=lambda: os.nice(niceness))  # noqa: S603
                for _ in range(workers)]
    web = subprocess.Popen(gunicorn_argv(bind=bind, web_workers=web_workers))  # noqa: S603
    children.append(web)
    print(f"System Reality for Jira: serving on http://{bind} (descriptor at {settings.app_base_url}"
          "/atlassian-connect.json)", flush=True)

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        code = web.wait()
    except KeyboardInterrupt:
        code = 0
    stop()
    # Workers hand their running job back within `grace`; gunicorn finishes its open requests.
    deadline = time.monotonic() + grace + 5
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return code


if __name__ == "__main__":
    sys.exit(main())
