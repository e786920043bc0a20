"""Live work behind bulk work: how long a pushed revert takes to reach Jira (the issue property
written) when the worker is idle and while a backfill reads the repository's history, on SQLite
with `connect-app serve`'s one worker and on PostgreSQL with two workers; and how many GitHub
API requests the backfill spends per commit.

    .venv/bin/python benchmarks/lanes.py [--history 2000] [--samples 3]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/NAME]   (emptied!)

The repository lives in the GitHub simulator (a real git repository): an initial commit, then
`--history` commits that name no issue (no hotfix candidates, nothing for a rule to fetch files
for), then FEAT-9's change, pushed through the webhook. Each sample pushes a revert of the last
change (a revert, then a revert of the revert, ...) and times the push until the Jira simulator
holds the new state in FEAT-9's property. The ratio is during-backfill over idle, per database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.github.simulator import GitHubSimulator
from connect_app.sandbox.jira.simulator import JiraSimulator
from connect_app.sandbox.stack import ADMIN, SANDBOX_GITHUB_TOKEN, free_port

ROOT = Path(__file__).resolve().parents[1]
LATENCY_GOAL = 2.0
REQUESTS_GOAL = 0.05
STATES = ("reverted", "live")  # what FEAT-9 says after an odd and an even number of reverts


@dataclass
class Lanes:
    database: str
    idle: list[float]
    during: list[float]
    backfill_seconds: float
    requests_per_commit: float
    commits: int


def _fast_history(repo: GitRepo, count: int, start: datetime) -> None:
    """`count` commits naming no issue, written with `git fast-import` (seconds, not minutes)."""
    lines = []
    for n in range(count):
        stamp = int((start + timedelta(minutes=n)).timestamp())
        message = f"Tidy module {n % 50}, pass {n}\n"
        content = f"pass {n}\n"
        lines += [f"commit refs/heads/{repo.default_branch}", f"committer Bench <bench@example.com> {stamp} +0000",
                  f"data {len(message.encode())}", message.rstrip("\n")]
        if n == 0:
            lines.append(f"from {repo.rev_parse('HEAD')}")
        lines += [f"M 100644 inline src/tidy/{n % 50}.txt", f"data {len(content.encode())}", content.rstrip("\n"), ""]
    subprocess.run(["git", "fast-import", "--quiet"], input="\n".join(lines) + "\n", text=True, cwd=repo.path,
                   check=True, capture_output=True)
    subprocess.run(["git", "reset", "--hard", "-q"], cwd=repo.path, check=True)
    repo.advance_clock(start + timedelta(minutes=count + 1))


def _env(workdir: Path, database_url: str, app_url: str, jira: JiraSimulator, niceness: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "APP_BASE_URL": app_url, "DATABASE_URL": database_url, "INSTANCE_PATH": str(workdir / "instance"),
        "APP_SECRET_KEY": "benchmark-secret-key-that-is-long-enough-0123456789",
        "CONNECT_INSTALL_KEYS_URL": jira.keys_url, "ALLOWED_JIRA_BASE_URLS": "http://127.0.0.1:*",
        "ALLOWED_GITHUB_API_URLS": "http://127.0.0.1:*", "LOG_LEVEL": "WARNING", "WORKER_NICENESS": str(niceness),
    }


def _serve(workdir: Path, env: dict[str, str], port: int, workers: int) -> subprocess.Popen[bytes]:
    log = workdir / "serve.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "connect_app.cli", "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
        env=env, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("serve did not start:\n" + log.read_text(errors="replace")[-3000:])
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
            return process
        except requests.RequestException:
            time.sleep(0.2)


def _state(jira: JiraSimulator) -> str | None:
    return ((jira.issues["FEAT-9"].get("properties") or {}).get("system-reality") or {}).get("drift")


def _until(condition, timeout: float, what: str, every: float = 0.005) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(every)
    return time.perf_counter() - started


class Bench:
    def __init__(self, jira: JiraSimulator, github: GitHubSimulator, app_url: str, connection_id: str) -> None:
        self.jira, self.github, self.app_url, self.connection_id = jira, github, app_url, connection_id
        self.last_change = ""
        self.reverts = 0

    def admin(self, method: str, path: str, body: object = None) -> requests.Response:
        return requests.request(method, f"{self.app_url}{path}", json=body, timeout=60,
                                headers={"Authorization": f"JWT {self.jira.context_token(ADMIN)}"})

    def backfill(self) -> dict[str, object]:
        return dict(self.admin("GET", f"/api/connections/{self.connection_id}").json().get("backfill") or {})

    def backfill_state(self) -> str:
        return str(self.backfill().get("state"))

    def revert_seconds(self) -> float:
        """Push a revert of the last change; seconds until Jira's property says so."""
        self.last_change = self.github.repo.revert(self.last_change)
        self.reverts += 1
        wanted = STATES[(self.reverts + 1) % 2]
        started = time.perf_counter()
        self.github.push_branch()
        return time.perf_counter() - started + _until(lambda: _state(self.jira) == wanted, 600, f"FEAT-9 {wanted}")


def _prepare(workdir: Path, history: int) -> tuple[GitRepo, str]:
    repo = GitRepo(workdir / "repo")
    start = datetime.now(UTC) - timedelta(minutes=history + 10)
    repo.commit("Initial shop", {"README.md": "shop\n"}, when=start)
    _fast_history(repo, history, start + timedelta(minutes=1))
    return repo, repo.rev_parse("HEAD")


def measure(database_url: str | None, workers: int, history: int, samples: int, niceness: int) -> Lanes:
    with tempfile.TemporaryDirectory(prefix="lanes-bench-") as tmp, \
            JiraSimulator(openapi_spec_path=Path(tmp) / "no-spec") as jira:
        workdir = Path(tmp)
        if database_url:
            engine = create_engine(database_url)
            with engine.begin() as db:
                db.execute(text("DROP SCHEMA public CASCADE"))
                db.execute(text("CREATE SCHEMA public"))
            engine.dispose()
        repo, _head = _prepare(workdir, history)
        github = GitHubSimulator(repo, full_name="acme/shop").start()  # the history counts as pushed
        github.require_token(SANDBOX_GITHUB_TOKEN)
        port = free_port()
        app_url = f"http://127.0.0.1:{port}"
        env = _env(workdir, database_url or f"sqlite:///{workdir / 'app.db'}", app_url, jira, niceness)
        server = _serve(workdir, env, port, workers)
        try:
            return _run(jira, github, app_url, history, samples, database_url)
        finally:
            server.terminate()
            server.wait(timeout=60)
            github.stop()


def _run(jira: JiraSimulator, github: GitHubSimulator, app_url: str, history: int, samples: int,
         database_url: str | None) -> Lanes:
    jira.add_user(ADMIN, "Ada Admin", admin=True)
    jira.add_project("FEAT", "Checkout features")
    jira.add_issue("FEAT-9", "Express checkout", status="Done")
    jira.install(app_url).raise_for_status()
    created = requests.post(f"{app_url}/api/connections", timeout=60,
                            headers={"Authorization": f"JWT {jira.context_token(ADMIN)}"},
                            json={"provider": "github", "repository": "acme/shop", "api_url": github.api_url,
                                  "token": SANDBOX_GITHUB_TOKEN})
    created.raise_for_status()
    github.add_hook(created.json()["webhook_url"], created.json()["webhook_secret"])
    bench = Bench(jira, github, app_url, created.json()["id"])
    bench.last_change = github.push("FEAT-9: Express checkout", {"src/express.py": "ON = 1\n"})
    _until(lambda: _state(jira) == "live", 600, "FEAT-9 live")
    idle = [bench.revert_seconds() for _ in range(samples)]

    asked_before = len(github.api_requests)
    started = time.perf_counter()
    assert bench.admin("POST", f"/api/connections/{bench.connection_id}/backfill", {}).status_code == 202
    _until(lambda: bench.backfill_state() in ("reading", "recording"), 600, "the backfill to start", every=0.05)
    during = []
    while len(during) < samples:
        seconds = bench.revert_seconds()
        if bench.backfill_state() in ("done", "failed"):
            break  # the backfill ended first: this sample is not "during"
        during.append(seconds)
    _until(lambda: bench.backfill_state() in ("done", "failed"), 3600, "the backfill to finish", every=0.25)
    if bench.backfill_state() == "failed":
        raise SystemExit(f"the backfill failed: {bench.backfill()}")
    backfill_seconds = time.perf_counter() - started
    flips_cost = 0  # reverts pushed during the backfill ask the API nothing (no merges, no files)
    asked = len(github.api_requests) - asked_before - flips_cost
    commits = history + 2 + bench.reverts
    if not during:
        raise SystemExit("the backfill finished before a revert could be pushed during it: raise --history")
    return Lanes("PostgreSQL" if database_url else "SQLite", idle, during, backfill_seconds, asked / commits, commits)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--history", type=int, default=2000, help="commits in the repository before FEAT-9's")
    parser.add_argument("--samples", type=int, default=3, help="reverts timed idle and during the backfill")
    parser.add_argument("--database-url", default=None, help="also measure PostgreSQL with two workers (emptied!)")
    parser.add_argument("--worker-niceness", type=int, default=0,
                        help="WORKER_NICENESS for serve's workers (0 on a machine shared with other work)")
    args = parser.parse_args(argv)
    runs = [measure(None, 1, args.history, args.samples, args.worker_niceness)]
    if args.database_url:
        runs.append(measure(args.database_url, 2, args.history, args.samples, args.worker_niceness))
    print(f"history {args.history} commits; {args.samples} reverts timed idle and during the backfill; "
          f"worker niceness {args.worker_niceness}")
    for run in runs:
        idle, during = statistics.median(run.idle), statistics.median(run.during)
        workers = "one worker" if run.database == "SQLite" else "two workers"
        print(f"{run.database} ({workers}): revert -> property idle {idle * 1000:.0f} ms "
              f"{[round(s * 1000) for s in run.idle]}, during backfill {during * 1000:.0f} ms "
              f"{[round(s * 1000) for s in run.during]}; ratio {during / idle:.2f} (goal <= {LATENCY_GOAL:g})")
        print(f"  backfill of {run.commits} commits: {run.backfill_seconds:.1f} s, "
              f"{run.requests_per_commit:.3f} GitHub requests per commit (goal <= {REQUESTS_GOAL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
