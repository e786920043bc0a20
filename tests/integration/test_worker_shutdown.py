"""Stopping a real worker process (`connect-app worker`, or `connect-app serve` and its worker)
with SIGTERM in the middle of a job: it claims nothing more, lets the job finish within its grace
period, and otherwise hands the job back so the next worker takes it at once, not after the lease.

The job is held at a real point of its work (the GitHub simulator's answer for a pull request's
commits waits behind a gate), so the app runs its ordinary code path throughout.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from connect_app.sandbox.stack import Stack, free_port
from connect_app.sandbox.story import ship_feature
from connect_app.store.models import Delivery, Job
from tests.integration.test_worker_kill import Gate, _gate, _stop, _wait_until_idle, _worker_env

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[2]


def _held_pull_request_delivery(stack: Stack) -> tuple[Gate, int]:
    """A merged pull request whose delivery, once a worker runs it, waits on GitHub's answer."""
    ship_feature(stack)
    github = stack.github
    assert github is not None
    github.repo.branch("feat-305-dashboard", github.default_branch)
    github.repo.checkout("feat-305-dashboard")
    github.repo.commit("Dashboard for retries", {"checkout/dashboard.py": "SHOW = True\n"})
    number = github.open_pull_request("feat-305-dashboard", "FEAT-305: Retry analytics dashboard")
    gate = _gate(github.rest_app, "GET", f"/pulls/{number}/commits")
    github.merge_pull_request(number, "merge")
    return gate, number


def _start(stack: Stack, command: str, grace: float, log: Path) -> subprocess.Popen[bytes]:
    """`connect-app worker` (default lease: five minutes) or `connect-app serve` with its worker."""
    argv = [sys.executable, "-m", "connect_app.cli", command, "--grace", str(grace)]
    if command == "serve":
        argv += ["--bind", f"127.0.0.1:{free_port()}", "--web-workers", "1"]
    else:
        argv += ["--poll", "0.1"]
    return subprocess.Popen(argv, env=_worker_env(stack), stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=ROOT)


def _pull_request_job(stack: Stack) -> Job:
    assert stack.svc is not None
    with stack.svc.sessions() as session:
        delivery = session.scalar(select(Delivery).where(Delivery.event == "pull_request").order_by(Delivery.id.desc()))
        assert delivery is not None
        jobs = session.scalars(select(Job).where(Job.kind == "delivery")).all()
        [job] = [j for j in jobs if j.payload["delivery_id"] == delivery.id]
        return job


def _exits_within(process: subprocess.Popen[bytes], seconds: float, log: Path) -> int:
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {seconds:.0f} s after SIGTERM\n" + log.read_text(errors="replace")[-3000:])


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_a_job_that_outlasts_the_grace_period_is_handed_back_at_once(stack: Stack, tmp_path: Path,
                                                                    command: str) -> None:
    gate, _number = _held_pull_request_delivery(stack)
    log = tmp_path / "worker.log"
    first = _start(stack, command, grace=1.0, log=log)
    try:
        assert gate.reached.wait(timeout=60), "the worker never asked for the PR's commits\n" + log.read_text()
        first.send_signal(signal.SIGTERM)
        assert _exits_within(first, 15, log) == 0
    finally:
        gate.release.set()
        _stop(first)
    job = _pull_request_job(stack)
    assert (job.status, job.locked_by, job.locked_until, job.attempts) == ("queued", None, None, 0), \
        "handed back, ready now, the interrupted attempt not counted"

    second = _start(stack, "worker", grace=8.0, log=log)
    try:
        _wait_until_idle(stack, log, timeout=60)  # far less than the first worker's 5-minute lease
    finally:
        _stop(second)
    job = _pull_request_job(stack)
    assert (job.status, job.attempts) == ("done", 1)
    assert stack.jira.issues["FEAT-305"]["properties"]["system-reality"]["drift"] == "pending-deploy"


def test_a_job_that_ends_within_the_grace_period_finishes_and_nothing_new_is_claimed(
        stack: Stack, tmp_path: Path) -> None:
    gate, _number = _held_pull_request_delivery(stack)
    log = tmp_path / "worker.log"
    worker = _start(stack, "worker", grace=30.0, log=log)
    try:
        assert gate.reached.wait(timeout=60), "the worker never asked for the PR's commits\n" + log.read_text()
        worker.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert worker.poll() is None, "the worker waits for its running job"
        gate.release.set()
        assert _exits_within(worker, 15, log) == 0
    finally:
        gate.release.set()
        _stop(worker)
    job = _pull_request_job(stack)
    assert (job.status, job.attempts) == ("done", 1)
    assert stack.svc is not None
    with stack.svc.sessions() as session:
        left = session.scalars(select(Job).where(Job.status.in_(("queued", "running")),
                                                 Job.kind != "housekeeping")).all()
    # The delivery queued its follow-up work, which the stopping worker left for the next one.
    assert left and {j.status for j in left} == {"queued"}, [(j.kind, j.status) for j in left]
