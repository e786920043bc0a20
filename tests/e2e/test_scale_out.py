"""The scale-out topology with real processes, no Docker: two `connect-app serve` (each with its
worker) and two `connect-app worker` on one PostgreSQL database, driven through the Jira and
GitHub simulators. GitHub sends every webhook to both web processes (one hook each, the same
delivery id, as a load balancer that retries elsewhere would), so both must answer and the
second copy must change nothing. Each change reaches Jira exactly once, and the jobs are shared
between worker processes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.github.simulator import GitHubSimulator
from connect_app.sandbox.jira.simulator import JiraSimulator
from connect_app.sandbox.stack import ADMIN, SANDBOX_GITHUB_TOKEN, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]
ROOT = Path(__file__).resolve().parents[2]
FEATURES = ("FEAT-1", "FEAT-2", "FEAT-3", "FEAT-4")


@dataclass
class Topology:
    jira: JiraSimulator
    github: GitHubSimulator
    database_url: str
    web_urls: list[str]
    logs: list[Path]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def admin(self, method: str, path: str, body: Any = None, *, web: int = 0) -> requests.Response:
        token = self.jira.context_token(ADMIN)
        return requests.request(method, f"{self.web_urls[web]}{path}", json=body, timeout=30,
                                headers={"Authorization": f"JWT {token}"})


def _env(workdir: Path, name: str, database_url: str, app_url: str, jira: JiraSimulator) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")},
        "DATABASE_URL": database_url,
        "APP_BASE_URL": app_url,  # one public URL for all, as behind a load balancer
        "INSTANCE_PATH": str(workdir / name),
        "CONNECT_INSTALL_KEYS_URL": jira.keys_url,
        "ALLOWED_JIRA_BASE_URLS": "http://127.0.0.1:*",
        "ALLOWED_GITHUB_API_URLS": "http://127.0.0.1:*",
        "APP_SECRET_KEY": "scale-out-secret-key-that-is-long-enough-0123456789",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "connect_app.cli", *argv], env=env, cwd=ROOT,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} never became healthy\n" + log.read_text(errors="replace")[-3000:])


@pytest.fixture
def topology(tmp_path: Path, database_url: str) -> Iterator[Topology]:
    if not database_url.startswith("postgresql"):
        pytest.skip("the scale-out topology needs PostgreSQL (TEST_DATABASE_URL)")
    with JiraSimulator() as jira:
        github = GitHubSimulator(GitRepo(tmp_path / "repo"), full_name="acme/shop").start()
        github.require_token(SANDBOX_GITHUB_TOKEN)
        ports = [free_port(), free_port()]
        web_urls = [f"http://127.0.0.1:{port}" for port in ports]
        logs = [tmp_path / f"{name}.log" for name in ("serve-1", "serve-2", "worker-1", "worker-2")]
        topo = Topology(jira, github, database_url, web_urls, logs)
        try:
            for n, port in enumerate(ports):
                env = _env(tmp_path, f"serve-{n + 1}", database_url, web_urls[0], jira)
                topo.processes.append(_start(["serve", "--bind", f"127.0.0.1:{port}", "--web-workers", "2"],
                                             env, logs[n]))
            for n, url in enumerate(web_urls):
                _wait_healthy(url, topo.processes[n], logs[n])
            for n in (1, 2):
                env = _env(tmp_path, f"worker-{n}", database_url, web_urls[0], jira)
                topo.processes.append(_start(["worker", "--poll", "0.1"], env, logs[1 + n]))
            yield topo
        finally:
            for process in topo.processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
            for process in topo.processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
            github.stop()


def _settle(topo: Topology, timeout: float = 90.0) -> None:
    """Until no job (but the housekeeping schedule) is waiting or running."""
    engine = create_engine(topo.database_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as db:
                busy = db.execute(text("SELECT kind, status, last_error FROM jobs WHERE status IN "
                                       "('queued', 'running') AND kind != 'housekeeping'")).all()
            if not busy:
                return
            time.sleep(0.2)
    finally:
        engine.dispose()
    pytest.fail(f"jobs never finished: {busy}")


def _jobs_run(topo: Topology) -> list[tuple[int, str, str]]:
    """(job id, outcome, worker) of every job any worker process logged."""
    runs = []
    for log in topo.logs:
        for line in log.read_text(errors="replace").splitlines():
            record = json.loads(line) if line.startswith("{") else {}
            event = str(record.get("event", ""))
            if event.startswith("job ") and " in " in event and " by " in event:
                words = event.split()
                runs.append((int(words[1]), words[3], words[-1]))
    return runs


def _property_writes(topo: Topology, key: str) -> list[dict[str, Any]]:
    writes = []
    for call in topo.jira.writes():
        if call.method == "PUT" and call.path == f"/rest/api/3/issue/{key}":
            writes += [p["value"] for p in (call.json or {}).get("properties", []) if p["key"] == "system-reality"]
    return writes


def _deliveries_all_answered(topo: Topology) -> None:
    answers: dict[str, set[int | None]] = {}
    for delivery in topo.github.deliveries:
        answers.setdefault(delivery.url.split("/github/")[0], set()).add(delivery.status)
    assert set(answers) == set(topo.web_urls), answers
    assert all(statuses <= {200, 202} for statuses in answers.values()), answers


def test_two_serve_and_two_worker_processes_share_the_work_and_apply_each_change_once(topology: Topology) -> None:
    topo = topology
    topo.jira.add_user(ADMIN, "Ada Admin", admin=True)
    topo.jira.add_project("FEAT", "Checkout features")
    for key in FEATURES:
        topo.jira.add_issue(key, f"Feature {key}", status="Done")
    topo.jira.install(topo.web_urls[0]).raise_for_status()
    assert topo.admin("PUT", "/api/settings", {"default_policy": "comment"}, web=1).status_code == 200
    created = topo.admin("POST", "/api/connections", {"provider": "github", "repository": "acme/shop",
                                                      "api_url": topo.github.api_url, "token": SANDBOX_GITHUB_TOKEN})
    assert created.status_code == 201, created.text
    hook = created.json()
    path = hook["webhook_url"].split("127.0.0.1", 1)[1].split("/", 1)[1]
    for url in topo.web_urls:
        topo.github.add_hook(f"{url}/{path}", hook["webhook_secret"])

    github = topo.github
    github.repo.commit("Initial shop", {"README.md": "shop\n"})
    github.push_branch()
    topo.jira.slow_next(0.3, count=8)  # Jira answers slowly: busy workers leave work to the others
    changes = {key: github.push(f"{key}: {key.lower()} goes live", {f"src/{key.lower()}.py": "ON = 1\n"})
               for key in FEATURES}
    _settle(topo)
    github.repo.revert(changes["FEAT-2"])
    github.push_branch()
    _settle(topo)

    _deliveries_all_answered(topo)
    for key in FEATURES:
        states = [write["drift"] for write in _property_writes(topo, key)]
        assert states == (["live", "reverted"] if key == "FEAT-2" else ["live"]), (key, states)
        assert len(topo.jira.issues[key]["comments"]) == (1 if key == "FEAT-2" else 0), key
    assert topo.jira.issues["FEAT-2"]["properties"]["system-reality"]["drift"] == "reverted"

    runs = _jobs_run(topo)
    ran = [job for job, outcome, _worker in runs if outcome == "done"]
    assert len(ran) == len(set(ran)), "a job ran to completion twice"
    workers = {worker for _job, _outcome, worker in runs}
    assert len(workers) >= 2, f"every job ran in one worker process: {workers}"
    for url in topo.web_urls:  # both web processes read the same state
        view = topo.admin("GET", "/api/issues/FEAT-2/reality", web=topo.web_urls.index(url))
        assert view.status_code == 200 and view.json()["drift"] == "reverted", view.text
