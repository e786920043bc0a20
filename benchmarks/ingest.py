"""Webhook intake throughput: the app under gunicorn against a no-op Flask endpoint under the same
gunicorn settings, in one run.

    .venv/bin/python benchmarks/ingest.py [--deliveries 2000] [--threads 16] [--web-workers 2] [--with-worker]

Both servers get the same number of signed `push` deliveries (a real captured payload, a fresh
`X-GitHub-Delivery` each) from a thread pool on loopback. The app verifies the signature, stores
the delivery and queues its job before answering. Without `--with-worker` no worker runs, so only
intake is measured. With it the app is `connect-app serve` as users run it (its web workers and
its background worker, at its lower CPU priority), and every push names FEAT-1, so the worker
records the commits, recomputes and syncs the issue to the Jira simulator while the load runs.
The goal is at least half the no-op endpoint's deliveries per second.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from flask import Flask, Response, jsonify

from connect_app.cli import gunicorn_argv
from connect_app.sandbox.github.simulator import signature_256
from connect_app.sandbox.jira.simulator import JiraSimulator
from connect_app.sandbox.stack import ADMIN, free_port

GOAL = 0.5
ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = ROOT / "connect_app" / "sandbox" / "github" / "payload_templates" / "captured-webhook-push-to-master.json"
TIME_LIMIT = 120.0  # seconds per target: the run stops early rather than hang on a sick server

noop_app = Flask("noop")


@noop_app.post("/github/webhook/<connection_id>")
def _noop(connection_id: str) -> tuple[Response, int]:
    noop_app.logger.debug("delivery for %s", connection_id)
    return jsonify({"status": "stored"}), 202


def _gunicorn(target: str, port: int, web_workers: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The same command line `connect-app serve` uses for its web processes."""
    # serve's own argv (worker class, threads, limits) with the no-op app in place of ours.
    argv = [*gunicorn_argv(bind=f"127.0.0.1:{port}", web_workers=web_workers)[:-1],
            "--pythonpath", str(ROOT / "benchmarks"), target]
    return subprocess.Popen(argv, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=ROOT)


def _serve(port: int, web_workers: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`connect-app serve`: the same gunicorn command line plus the background worker."""
    return subprocess.Popen(
        [sys.executable, "-m", "connect_app.cli", "serve", "--bind", f"127.0.0.1:{port}",
         "--web-workers", str(web_workers)],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
    )


def _naming_an_issue(payload: dict) -> dict:  # type: ignore[type-arg]
    """The captured push with every commit naming FEAT-1 and no merge commit (a merge would ask
    the repository API, which this benchmark does not run)."""
    commits = [c for c in payload["commits"] if not c["message"].startswith("Merge")]
    for n, commit in enumerate(commits):
        commit["message"] = f"FEAT-1: step {n} of the checkout change"
    payload["commits"] = commits
    payload["head_commit"] = commits[-1]
    payload["after"] = commits[-1]["id"]
    return payload


def _jobs_left(workdir: Path) -> int:
    import sqlite3

    with sqlite3.connect(workdir / "app.db") as db:
        return int(db.execute("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running') "
                              "AND kind != 'housekeeping'").fetchone()[0])


def _wait_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120  # a busy machine starts gunicorn slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"server did not start:\n{log.read_text(errors='replace')[-3000:]}")


def _blast(url: str, secret: str, body: bytes, count: int, threads: int) -> tuple[float, int]:
    """Send `count` deliveries; returns (deliveries per second, failures)."""
    local = threading.local()
    signature = signature_256(secret, body)
    deadline = time.monotonic() + TIME_LIMIT

    def send(_n: int) -> bool:
        if time.monotonic() > deadline:
            return False
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        response = session.post(url, data=body, timeout=30, headers={
            "Content-Type": "application/json", "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": signature,
            "User-Agent": "GitHub-Hookshot/044aadd"})
        return response.status_code == 202

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, range(min(50, count))))  # warm up connections and worker processes
        started = time.perf_counter()
        results = list(pool.map(send, range(count)))
        elapsed = time.perf_counter() - started
    return sum(results) / elapsed, results.count(False)


def _app_env(workdir: Path, port: int, jira: JiraSimulator) -> dict[str, str]:
    return {
        **os.environ,
        "APP_BASE_URL": f"http://127.0.0.1:{port}",
        "DATABASE_URL": f"sqlite:///{workdir / 'app.db'}",
        "INSTANCE_PATH": str(workdir / "instance"),
        "APP_SECRET_KEY": "benchmark-secret-key-that-is-long-enough-0123456789",
        "CONNECT_INSTALL_KEYS_URL": jira.keys_url,
        "ALLOWED_JIRA_BASE_URLS": "http://127.0.0.1:*",
        "ALLOWED_GITHUB_API_URLS": "http://127.0.0.1:*",
        "LOG_LEVEL": "WARNING",
    }


def _connect(jira: JiraSimulator, app_url: str) -> tuple[str, str]:
    """Install the app on the simulated Jira and create a connection through the admin API."""
    jira.add_user(ADMIN, "Ada Admin", admin=True)
    jira.install(app_url).raise_for_status()
    token = jira.context_token(ADMIN)
    response = requests.post(f"{app_url}/api/connections", timeout=30, headers={"Authorization": f"JWT {token}"},
                             json={"provider": "github", "repository": "Codertocat/Hello-World",
                                   "api_url": "http://127.0.0.1:9"})
    response.raise_for_status()
    data = response.json()
    return data["webhook_url"], data["webhook_secret"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--with-worker", action="store_true",
                        help="run the app as `connect-app serve` with its background worker")
    args = parser.parse_args(argv)
    payload = json.loads(PAYLOAD.read_text())
    body = json.dumps(_naming_an_issue(payload) if args.with_worker else payload).encode()

    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp, JiraSimulator() as jira:
        workdir = Path(tmp)
        log = workdir / "gunicorn.log"
        app_port, noop_port = free_port(), free_port()
        env = _app_env(workdir, app_port, jira)
        subprocess.run([sys.executable, "-m", "connect_app.cli", "db", "upgrade"], env=env, check=True,
                       cwd=ROOT, stdout=subprocess.DEVNULL)
        jira.add_issue("FEAT-1", "Checkout change", status="Done")
        app = (_serve(app_port, args.web_workers, env, log) if args.with_worker
               else _gunicorn("connect_app.wsgi:app", app_port, args.web_workers, env, log))
        servers = [app, _gunicorn("ingest:noop_app", noop_port, args.web_workers, env, log)]
        try:
            app_url, noop_url = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{noop_port}"
            _wait_up(app_url + "/atlassian-connect.json", servers[0], log)
            _wait_up(noop_url, servers[1], log)
            webhook_url, secret = _connect(jira, app_url)
            connection_id = webhook_url.rsplit("/", 1)[1]
            noop_rate, noop_failed = _blast(f"{noop_url}/github/webhook/{connection_id}", secret, body,
                                            args.deliveries, args.threads)
            app_rate, app_failed = _blast(webhook_url, secret, body, args.deliveries, args.threads)
            left = _jobs_left(workdir) if args.with_worker else 0
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=15)
    ratio = app_rate / noop_rate
    print(f"deliveries: {args.deliveries} per target, {args.threads} client threads, "
          f"{args.web_workers} gunicorn workers, {len(body)} byte push payload")
    print(f"no-op Flask endpoint: {noop_rate:8.1f} deliveries/s ({noop_failed} failed)")
    what = "app (serve + worker):" if args.with_worker else "app webhook intake:  "
    print(f"{what} {app_rate:8.1f} deliveries/s ({app_failed} failed)")
    if args.with_worker:
        print(f"jobs the worker still had queued when the load ended: {left}")
    print(f"ratio app/no-op: {ratio:.2f} (goal >= {GOAL})")
    return 0 if ratio >= GOAL and app_failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
