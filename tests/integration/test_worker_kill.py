"""`kill -9` of a real worker process in the middle of a job: nothing is lost, nothing is applied
twice, and a second worker process finishes the job once the dead one's lease runs out.

The worker is blocked at a real point of its work by holding one HTTP answer of a simulator
(a WSGI gate around the simulator's app), so the app runs its ordinary code path throughout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from connect_app.jobs import kinds
from connect_app.sandbox.story import REVERT_AT, REVERT_DEPLOYED_AT, ship_feature
from connect_app.store.models import Delivery, Job, PostedComment, PullRequestFact

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]


class Gate:
    """WSGI middleware that, once armed, holds the answer to one matching request: the request is
    fully served (its effects happen), then the answer waits until `release` is set."""

    def __init__(self, inner: Callable[..., Iterable[bytes]], method: str, path_suffix: str) -> None:
        self.inner = inner
        self.method = method
        self.path_suffix = path_suffix
        self.armed = True
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        matches = environ["REQUEST_METHOD"] == self.method and environ["PATH_INFO"].endswith(self.path_suffix)
        if not (self.armed and matches):
            return self.inner(environ, start_response)
        self.armed = False
        body = b"".join(self.inner(environ, start_response))
        self.reached.set()
        self.release.wait(timeout=60)
        return [body]


def _gate(flask_app: Any, method: str, path_suffix: str) -> Gate:
    gate = Gate(flask_app.wsgi_app, method, path_suffix)
    flask_app.wsgi_app = gate
    return gate


def _worker_env(stack) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The environment `connect-app worker` would get in production, pointing at the stack's
    database, secrets and allowed hosts."""
    settings = stack.settings
    return {
        **os.environ,
        "APP_BASE_URL": stack.app_url,
        "DATABASE_URL": stack.database_url,
        "INSTANCE_PATH": str(settings.instance_path),
        "CONNECT_INSTALL_KEYS_URL": stack.jira.keys_url,
        "ALLOWED_JIRA_BASE_URLS": "http://127.0.0.1:*",
        "ALLOWED_GITHUB_API_URLS": "http://127.0.0.1:*",
        "APP_SECRET_KEY": settings.secret_key,
        "LOG_LEVEL": "INFO",
    }


def _start_worker(stack, log: Path) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "connect_app.cli", "worker", "--lease", "2", "--poll", "0.1"],
        env=_worker_env(stack), stdout=handle, stderr=subprocess.STDOUT,
        cwd=Path(__file__).resolve().parents[2],
    )


def _kill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_idle(stack, log: Path, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with stack.svc.sessions() as session:
            # Housekeeping is a schedule: it always has its next run queued.
            busy = session.scalars(select(Job).where(Job.status.in_(("queued", "running")),
                                                     Job.kind.not_in(kinds.SCHEDULED))).all()
        if not busy:
            return
        time.sleep(0.2)
    raise AssertionError(f"jobs never finished: {[(j.kind, j.status, j.last_error) for j in busy]}\n"
                         + log.read_text(errors="replace")[-4000:])


def _jobs(stack, kind: str) -> list[Job]:  # type: ignore[no-untyped-def]
    with stack.svc.sessions() as session:
        return list(session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id)))


def _assert_nothing_left_behind(stack) -> None:  # type: ignore[no-untyped-def]
    with stack.svc.sessions() as session:
        parked = session.scalars(select(Job).where(Job.status == "parked")).all()
        deliveries = session.scalars(select(Delivery)).all()
    assert parked == []
    assert deliveries and all(d.status == "processed" for d in deliveries), \
        [(d.event, d.status, d.error) for d in deliveries]


def test_worker_killed_while_posting_the_drift_comment(stack, tmp_path: Path) -> None:
    """The worst moment: Jira has the comment, the worker dies before recording it."""
    story = ship_feature(stack)
    github = stack.github
    github.repo.checkout(github.default_branch)
    revert = github.repo.revert(story.feature_merge, mainline=1, when=REVERT_AT)
    github.push_branch()
    github.deploy(revert, "production", when=REVERT_DEPLOYED_AT)
    gate = _gate(stack.jira._rest, "POST", "/rest/api/3/issue/FEAT-304/comment")

    log = tmp_path / "workers.log"
    first = _start_worker(stack, log)
    try:
        assert gate.reached.wait(timeout=60), "the worker never got to post the comment\n" + log.read_text()
        _kill(first)
    finally:
        gate.release.set()
        _stop(first)
    [sync_job] = [j for j in _jobs(stack, "sync_issue") if j.payload["issue_key"] == "FEAT-304"
                  and j.status == "running"]
    assert len(stack.jira.issues["FEAT-304"]["comments"]) == 1, "Jira got the comment before the kill"

    second = _start_worker(stack, log)
    try:
        _wait_until_idle(stack, log)
    finally:
        _stop(second)

    issue = stack.jira.issues["FEAT-304"]
    assert len(issue["comments"]) == 1, "the second worker found the comment instead of posting again"
    assert revert[:7] in str(issue["comments"][0]["body"])
    assert issue["properties"]["system-reality"]["drift"] == "reverted"
    assert "drift-reverted" in issue["labels"]
    finished = next(j for j in _jobs(stack, "sync_issue") if j.id == sync_job.id)
    assert finished.status == "done" and finished.attempts == 2
    with stack.svc.sessions() as session:
        [posted] = session.scalars(select(PostedComment).where(PostedComment.issue_key == "FEAT-304")).all()
    assert posted.jira_comment_id == str(issue["comments"][0]["id"])
    _assert_nothing_left_behind(stack)


def test_worker_killed_while_reading_a_pull_request_from_github(stack, tmp_path: Path) -> None:
    """Killed mid-delivery (waiting on GitHub's API): the delivery is processed once, by the next
    worker, and what it says reaches Jira."""
    ship_feature(stack)
    github = stack.github
    repo = github.repo
    repo.branch("feat-305-dashboard", github.default_branch)
    repo.checkout("feat-305-dashboard")
    repo.commit("Dashboard for retries", {"checkout/dashboard.py": "SHOW = True\n"})
    number = github.open_pull_request("feat-305-dashboard", "FEAT-305: Retry analytics dashboard")
    gate = _gate(github.rest_app, "GET", f"/pulls/{number}/commits")
    merge = github.merge_pull_request(number, "merge")
    with stack.svc.sessions() as session:
        stored = session.scalars(select(Delivery).where(Delivery.status == "stored")).all()
    assert {d.event for d in stored} == {"push", "pull_request"}

    log = tmp_path / "workers.log"
    first = _start_worker(stack, log)
    try:
        assert gate.reached.wait(timeout=60), "no request for the PR's commits\n" + log.read_text()
        _kill(first)
    finally:
        gate.release.set()
        _stop(first)
    with stack.svc.sessions() as session:
        pr_delivery = session.scalar(select(Delivery).where(Delivery.event == "pull_request",
                                                            Delivery.status == "stored"))
        assert pr_delivery is not None, "the interrupted delivery is still there, unprocessed"
        assert session.get(PullRequestFact, (pr_delivery.connection_id, number)) is None

    second = _start_worker(stack, log)
    try:
        _wait_until_idle(stack, log)
    finally:
        _stop(second)

    _assert_nothing_left_behind(stack)
    with stack.svc.sessions() as session:
        fact = session.get(PullRequestFact, (pr_delivery.connection_id, number))
        assert fact is not None and fact.merge_commit_sha == merge
        assert fact.commit_shas == github.pull_commits(number)
    [job] = [j for j in _jobs(stack, "delivery") if j.payload["delivery_id"] == pr_delivery.id]
    assert job.status == "done" and job.attempts == 2
    asked = [path for _method, path in github.api_requests
             if path.startswith(f"/repos/{github.full_name}/pulls/{number}/commits")]
    assert len(asked) == 2, "asked once by the killed worker and once by the one that finished"
    issue = stack.jira.issues["FEAT-305"]
    # Production deployments are tracked on this connection: merged, not deployed yet.
    assert issue["properties"]["system-reality"]["drift"] == "pending-deploy"
    assert issue["comments"] == []
