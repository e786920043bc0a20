"""How the app's costs grow with a tenant's history: tenants of 1k, 10k and 100k commits, each
measured through `connect-app serve` (gunicorn and its background worker) as users run it.

    .venv/bin/python benchmarks/scale.py [--sizes 1000,10000,100000] [--pushes 3] [--runs 5]

Per size, on a fresh SQLite database (or `--database-url`, emptied first):
- one push's cost: from sending a signed `push` delivery (one new commit naming FEAT-1) until every
  job it caused is done, Jira syncs aside (today: the delivery and the tenant's recompute);
- panel page, `GET /api/issues/FEAT-1/reality` and `GET /api/report?since=48h`: wall time on
  loopback (best of `--runs`), which is the server's time plus a loopback round trip;
- the background worker's peak resident memory (VmHWM).
Ratios are against the first size of the same run.

Seeding: delivering 100k commits through webhooks would take hours, so the history is written
with the app's own recorders (`store.facts.record_commit`, `record_segment`, one transaction, as
the webhook path records a push; about 7 ms a commit on a busy 2-core machine) or, with
`--seed rows`, as the same rows inserted in bulk (seconds for 100k), then one recompute is
queued and serve's worker runs it before anything is measured (the Jira syncs it queues for
every seeded issue are deleted, not run: at 100k that is 5,000 issues and half an hour).
The history: pushes of 20 commits on the default branch, one commit a minute ending now, every
commit naming one of size/20 issues (about 20 commits an issue, FEAT-1 included), and 1% reverts
of an earlier commit (one of them FEAT-1's). Every issue exists in the Jira simulator.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import create_engine, delete, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from connect_app.config import load_settings
from connect_app.jobs import kinds
from connect_app.reality.model import Commit, Segment
from connect_app.sandbox.github import payloads
from connect_app.sandbox.github.gitrepo import CommitInfo, FileChange, Person
from connect_app.sandbox.github.simulator import signature_256
from connect_app.sandbox.jira.simulator import JiraSimulator
from connect_app.sandbox.stack import ADMIN, free_port
from connect_app.services import Services
from connect_app.store.db import transaction
from connect_app.store.facts import record_commit, record_segment
from connect_app.store.models import CommitFact, Job, SegmentFact, Tenant

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = "acme/shop"
PUSH_SIZE = 20
COMMITS_PER_ISSUE = 20
REVERT_SHARE = 0.01
# The issue's goals, as multiples of the first size's figure (for the 100k row against 1k).
GOALS = {"push": 2.0, "panel": 2.0, "reality API": 2.0, "report 48h": 3.0}
RSS_GOAL_MB = 300


@dataclass
class Figures:
    size: int
    seed_seconds: float
    first_recompute_seconds: float
    push: float
    panel: float
    reality: float
    report: float
    worker_rss_mb: float


def _sha(size: int, n: int) -> str:
    return hashlib.sha1(f"scale-{size}-{n}".encode()).hexdigest()


def history(size: int, now: datetime) -> Iterator[Commit]:
    """`size` commits, oldest first, one a minute ending at `now` (see the module docstring)."""
    rng = random.Random(size)
    issues = max(1, size // COMMITS_PER_ISSUE)
    subjects: list[str] = []
    previous: str | None = None
    first_of_feat1: int | None = None
    for n in range(size):
        sha = _sha(size, n)
        if n > 10 and (rng.random() < REVERT_SHARE or (n == size // 2 and first_of_feat1 is not None)):
            target = first_of_feat1 if n == size // 2 and first_of_feat1 is not None else rng.randrange(n - 1)
            message = f'Revert "{subjects[target]}"\n\nThis reverts commit {_sha(size, target)}.'
        else:
            key = 1 if n % issues == 0 else 1 + rng.randrange(issues)
            message = f"FEAT-{key}: step {n} of the feature"
            if key == 1 and first_of_feat1 is None:
                first_of_feat1 = n
        subjects.append(message.split("\n", 1)[0])
        yield Commit(sha=sha, message=message, author="Bench <bench@example.com>",
                     timestamp=now - timedelta(minutes=size - n), files=(f"src/part{n % 50}/{n % 7}.py",),
                     parents=(previous,) if previous else (), url=f"https://github.com/{REPOSITORY}/commit/{sha}")
        previous = sha


def seed(svc: Services, connection_id: str, size: int, *, rows: bool = False) -> str:
    """Record the history in pushes of PUSH_SIZE commits and queue one recompute; returns the head.
    `rows`: the fast path, the same rows `record_commit`/`record_segment` write, inserted in bulk
    (right for a fresh tenant, where those recorders would find nothing to merge with)."""
    now = datetime.now(UTC)
    head: str | None = None
    commits: list[Commit] = []
    segments: list[Segment] = []
    for commit in history(size, now):
        commits.append(commit)
        if len(commits) % PUSH_SIZE == 0 or len(commits) == size:
            batch = tuple(c.sha for c in commits[-(len(commits) % PUSH_SIZE or PUSH_SIZE):])
            segments.append(Segment(before=head, after=batch[-1], commits=batch))
            head = batch[-1]
    with transaction(svc.sessions) as session:
        if rows:
            _insert_rows(session, connection_id, commits, segments)
        else:
            for commit in commits:
                record_commit(session, connection_id, commit)
            for segment in segments:
                record_segment(session, connection_id, segment)
        tenant = session.scalar(select(Tenant))
        assert tenant is not None and head is not None
        kinds.queue_recompute(session, tenant.id)
    return head


def _insert_rows(session: Session, connection_id: str, commits: list[Commit], segments: list[Segment]) -> None:
    for start in range(0, len(commits), 5000):
        session.execute(insert(CommitFact), [
            {"connection_id": connection_id, "sha": c.sha, "message": c.message, "author": c.author,
             "authored_at": c.timestamp, "files": list(c.files), "parents": list(c.parents),
             "brought_in": list(c.brought_in), "url": c.url} for c in commits[start:start + 5000]])
    session.execute(insert(SegmentFact), [
        {"connection_id": connection_id, "source": s.source, "before": s.before, "after": s.after,
         "commits": list(s.commits)} for s in segments])


class Served:
    """`connect-app serve` on a free port, against the Jira simulator."""

    def __init__(self, workdir: Path, database_url: str, jira: JiraSimulator, niceness: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
            "APP_BASE_URL": self.url, "DATABASE_URL": database_url, "INSTANCE_PATH": str(workdir / "instance"),
            "APP_SECRET_KEY": "benchmark-secret-key-that-is-long-enough-0123456789",
            "CONNECT_INSTALL_KEYS_URL": jira.keys_url, "ALLOWED_JIRA_BASE_URLS": "http://127.0.0.1:*",
            "ALLOWED_GITHUB_API_URLS": "http://127.0.0.1:*", "LOG_LEVEL": "WARNING",
            "WORKER_NICENESS": str(niceness),
        }
        self.log = workdir / "serve.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "connect_app.cli", "serve", "--bind", f"127.0.0.1:{self.port}"],
            env=self.env, cwd=ROOT, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("serve did not start:\n" + self.log.read_text(errors="replace")[-3000:])
            try:
                requests.get(f"{self.url}/healthz", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.2)
        self.svc = Services.build(load_settings(self.env))

    def stop(self) -> None:
        self.svc.engine.dispose()
        self.process.terminate()
        self.process.wait(timeout=60)

    def worker_peak_rss_mb(self) -> float:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        for pid in children:
            if "worker" in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " "):
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        raise SystemExit("serve's worker process was not found")

    def settle(self, since: datetime, timeout: float = 3600, *, drop_syncs: bool = False) -> float:
        """Wait until every job queued since `since` is done (the housekeeping schedule aside);
        returns the moment the last of them, Jira syncs and the bulk lane aside, finished.
        `drop_syncs`: the seeded history's Jira syncs are deleted instead of waited for (5,000
        issues at 100k commits would take half an hour on a busy machine; no figure needs them)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.svc.sessions() as session:
                if drop_syncs and not _dropped_syncs(session):
                    time.sleep(0.5)
                    continue
                jobs = session.scalars(select(Job).where(Job.created_at >= since, Job.kind != kinds.HOUSEKEEPING)).all()
                left = [j for j in jobs if j.status in ("queued", "running")]
                if jobs and not left:
                    parked = [j.last_error for j in jobs if j.status == "parked"]
                    if parked:
                        raise SystemExit(f"jobs failed: {parked[:3]}")
                    counted = [j.finished_at for j in jobs if j.kind != kinds.SYNC_ISSUE and j.kind not in kinds.BULK]
                    last = max(f for f in counted if f is not None)
                    return ((last if last.tzinfo else last.replace(tzinfo=UTC)) - since).total_seconds()
            time.sleep(0.02)
        raise SystemExit("the worker did not finish in time:\n" + self.log.read_text(errors="replace")[-3000:])


def _dropped_syncs(session: Session) -> bool:
    """Delete the seeded history's queued Jira syncs; False while the worker holds SQLite's write
    lock longer than its busy timeout (the first full recomputation at 100k commits does)."""
    try:
        session.execute(delete(Job).where(Job.kind == kinds.SYNC_ISSUE, Job.status == "queued"))
        session.commit()
    except OperationalError:
        session.rollback()
        return False
    return True


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as db:
        db.execute(text("DROP SCHEMA public CASCADE"))
        db.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@contextmanager
def served_tenant(database_url: str | None, size: int,
                  niceness: int) -> Iterator[tuple[Served, JiraSimulator, dict[str, str]]]:
    # The simulator skips its OpenAPI checks (no spec file at that path): the tests keep the
    # app's calls in spec, and here the bench process should spend its CPU answering, not checking.
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp, \
            JiraSimulator(openapi_spec_path=Path(tmp) / "no-spec") as jira:
        workdir = Path(tmp)
        if database_url:
            _reset_postgres(database_url)
        app = Served(workdir, database_url or f"sqlite:///{workdir / 'app.db'}", jira, niceness)
        try:
            jira.add_user(ADMIN, "Ada Admin", admin=True)
            jira.add_project("FEAT", "Checkout features")
            # Every issue the history names exists (the report asks Jira about each one it shows).
            for key in range(1, max(1, size // COMMITS_PER_ISSUE) + 1):
                jira.add_issue(f"FEAT-{key}", f"Feature {key}", status="Done")
            jira.install(app.url).raise_for_status()
            created = _admin(jira, app, "POST", "/api/connections", {
                "provider": "github", "repository": REPOSITORY, "api_url": "http://127.0.0.1:9"})
            created.raise_for_status()
            yield app, jira, created.json()
        finally:
            app.stop()


def _admin(jira: JiraSimulator, app: Served, method: str, path: str, body: object = None) -> requests.Response:
    return requests.request(method, f"{app.url}{path}", json=body, timeout=600,
                            headers={"Authorization": f"JWT {jira.context_token(ADMIN)}"})


def push_payload(before: str, n: int) -> tuple[bytes, str]:
    """A push of one new commit naming FEAT-1 onto `before`, shaped as GitHub sends it."""
    sha = hashlib.sha1(f"scale-push-{uuid.uuid4()}".encode()).hexdigest()
    when = datetime.now(UTC)
    person = Person("Bench", "bench@example.com", when)
    info = CommitInfo(sha=sha, tree=sha, parents=(before,), author=person, committer=person,
                      message=f"FEAT-1: follow-up {n}", files=(FileChange("src/feat1.py", "modified", 1, 0, sha),))
    ident = payloads.RepoIdentity(full_name=REPOSITORY, default_branch="main", api_url="http://127.0.0.1:9")
    entry = payloads.push_commit(info, ident)
    payload = payloads.push_payload(ident, ref="refs/heads/main", before=before, after=sha, commits=[entry],
                                    head_commit=entry)
    return json.dumps(payload).encode(), sha


def one_push_seconds(app: Served, hook: dict[str, str], head: str, n: int) -> tuple[float, str]:
    body, sha = push_payload(head, n)
    since = datetime.now(UTC)
    response = requests.post(hook["webhook_url"], data=body, timeout=60, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature_256(hook["webhook_secret"], body), "User-Agent": "GitHub-Hookshot/bench"})
    response.raise_for_status()
    return app.settle(since), sha


def best_get(runs: int, url: str, headers: dict[str, str] | None = None, fresh_url=None) -> float:  # type: ignore[no-untyped-def]
    """Best wall time of `runs` GETs; a failed GET (gunicorn's 30 s worker timeout answers 500)
    is reported as its time, negative, and ends the series."""
    times = []
    for _ in range(runs):
        target = fresh_url() if fresh_url else url
        started = time.perf_counter()
        response = requests.get(target, headers=headers, timeout=600)
        times.append(time.perf_counter() - started)
        if response.status_code >= 400:
            print(f"GET {target.split('?')[0]} answered {response.status_code} after {times[-1]:.1f} s", flush=True)
            return -times[-1]
    return min(times)


def measure(size: int, pushes: int, runs: int, database_url: str | None, rows: bool, niceness: int) -> Figures:
    with served_tenant(database_url, size, niceness) as (app, jira, hook):
        started = time.perf_counter()
        head = seed(app.svc, hook["id"], size, rows=rows)
        seeded = time.perf_counter()
        app.settle(datetime.now(UTC) - timedelta(hours=1), drop_syncs=True)
        recomputed = time.perf_counter()
        # One push not timed: its sync of FEAT-1 is the first to learn the issue's Done date and
        # queues a full pass (the seeded issues' syncs were dropped), which no later push pays.
        _, head = one_push_seconds(app, hook, head, pushes)
        push_times = []
        for n in range(pushes):
            seconds, head = one_push_seconds(app, hook, head, n)
            push_times.append(seconds)
        auth = {"Authorization": f"JWT {jira.context_token(ADMIN)}"}
        panel = best_get(runs, "", fresh_url=lambda: jira.iframe_url(
            app.url, "/panel/issue?issueKey={issue.key}&issueId={issue.id}", account_id=ADMIN,
            context={"issue.key": "FEAT-1"}))
        reality = best_get(runs, f"{app.url}/api/issues/FEAT-1/reality", auth)
        report = best_get(runs, f"{app.url}/api/report?since=48h", auth)
        return Figures(size, seeded - started, recomputed - seeded, statistics.median(push_times), panel, reality,
                       report, app.worker_peak_rss_mb())


def report_table(figures: list[Figures]) -> None:
    print(f"\n{'commits':>28}" + "".join(f"{f.size:>12,}" for f in figures) + "   ratio last/first (goal)")
    rows = [("seeding (s)", "seed_seconds", None), ("first recompute (s)", "first_recompute_seconds", None),
            ("one push (ms)", "push", "push"), ("panel (ms)", "panel", "panel"),
            ("reality API (ms)", "reality", "reality API"), ("report 48h (ms)", "report", "report 48h"),
            ("worker peak RSS (MB)", "worker_rss_mb", None)]
    for label, attr, goal in rows:
        scale = 1000 if "(ms)" in label else 1
        values = [getattr(f, attr) * scale for f in figures]
        ratio = values[-1] / values[0] if values[0] else float("nan")
        wanted = f" (<= {GOALS[goal]:g})" if goal else (f" (< {RSS_GOAL_MB} MB at 100k)" if "RSS" in label else "")
        print(f"{label:>28}" + "".join(f"{v:12.1f}" for v in values) + f"   {ratio:6.2f}{wanted}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="commit counts, comma-separated, smallest first")
    parser.add_argument("--pushes", type=int, default=3, help="pushes measured per size (the median is shown)")
    parser.add_argument("--runs", type=int, default=5, help="GETs per page (the best is shown)")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL URL to use (emptied!) instead of SQLite")
    parser.add_argument("--seed", choices=["recorders", "rows"], default="recorders",
                        help="record the history through store.facts' recorders, or insert their rows in bulk "
                             "(fast; for 100k)")
    parser.add_argument("--worker-niceness", type=int, default=0,
                        help="WORKER_NICENESS for serve's worker; 0 on a machine shared with other work, where a "
                             "lowered worker would measure the neighbours' load rather than the app")
    args = parser.parse_args(argv)
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"worker niceness {args.worker_niceness}; seeding through {args.seed}; {database}", flush=True)
    figures = []
    for size in (int(s) for s in args.sizes.split(",")):
        figures.append(measure(size, args.pushes, args.runs, args.database_url, args.seed == "rows",
                               args.worker_niceness))
        f = figures[-1]
        print(f"{size:,} commits: seeded in {f.seed_seconds:.1f} s, first recompute {f.first_recompute_seconds:.1f} s, "
              f"push {f.push * 1000:.0f} ms, panel {f.panel * 1000:.0f} ms, reality {f.reality * 1000:.0f} ms, "
              f"report {f.report * 1000:.0f} ms, worker RSS {f.worker_rss_mb:.0f} MB", flush=True)
    report_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
