"""A repository API that answers like no real GitHub (the GitHub simulator's hostile mode,
sandbox/github/hostile.py): parent cycles, pagination that points back at itself or never ends,
`Link` headers and URLs that lead to other hosts and ports, answers that drip a byte at a time,
pages far larger than asked for. Each poisoned backfill ends within a
bounded time with a clear failure on its own connection, no request (let alone a token) reaches a
host or port outside the connection's origin, and another tenant's live revert still reaches Jira.
A last test counts the API requests a backfill costs per commit."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from connect_app.jobs import backfill
from connect_app.providers import base as provider
from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.github.hostile import MODES as HOSTILE_MODES
from connect_app.sandbox.github.simulator import GitHubSimulator
from connect_app.sandbox.jira.simulator import JiraSimulator
from connect_app.sandbox.stack import ADMIN, Stack

from .test_security_install import start_second_site

TOKEN = "hostile-tenant-token"
# Requests a poisoned backfill may send: the small page cap below, plus the few calls around the
# listing (repository, default branch, a retried slice). Work, not seconds, is what is bounded;
# the time bound only catches a frozen worker, with room for a loaded CI machine.
MAX_REQUESTS = 60
FROZEN = 120.0


def _as(site: JiraSimulator, stack: Stack, method: str, path: str, body: object = None) -> requests.Response:
    return requests.request(method, f"{stack.app_url}{path}", json=body, timeout=30,
                            headers={"Authorization": f"JWT {site.context_token(ADMIN)}"})


@pytest.fixture
def small_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Caps small enough for a test to hit them in seconds (production: 100,000 pages, 60 s and
    16 MB per answer)."""
    monkeypatch.setattr(backfill, "MAX_PAGES", 45)
    monkeypatch.setattr(provider, "READ_DEADLINE", 1.5)
    monkeypatch.setattr(provider, "MAX_ANSWER_BYTES", 1024 * 1024)


MODES = {
    "self-parent": "cycle",
    "parent-cycle": "cycle",
    "self-next": "already sent",
    "repeating": "twice",
    "endless": "did not end after",
    "other-host": "refused to send credentials to http://127.0.0.2",
    "other-port": "refused to send credentials to http://127.0.0.1:",
    "plain-http-subdomain": "refused to send credentials to http://api.localhost",
    "too-many-items": "1000 items",
    "too-many-bytes": "more than 1048576 bytes",
    "drip": "did not answer within 1.5 s",
}


def test_every_hostile_mode_of_the_simulator_is_tried() -> None:
    assert set(MODES) == set(HOSTILE_MODES)


@pytest.mark.parametrize("mode", list(MODES))
def test_a_poisoned_backfill_fails_on_its_connection_while_another_tenant_goes_on(
        stack: Stack, small_bounds: None, mode: str, tmp_path: Path) -> None:
    # Tenant A: an honest repository with live webhooks.
    stack.jira.add_issue("FEAT-1", "Coupons", status="Done")
    stack.install()
    honest = stack.start_github()
    stack.connect_repository()
    honest.repo.commit("Initial shop", {"README.md": "shop\n"})
    honest.push_branch()
    feature = honest.push("FEAT-1: Coupons", {"src/coupons.py": "ON = 1\n"})
    stack.settle()
    # Tenant B: a repository API that answers like no GitHub would.
    hostile = GitHubSimulator(GitRepo(tmp_path / "evil"), full_name="evil/repo").start()
    hostile.go_hostile(mode)
    site_b = start_second_site(stack)
    try:
        created = _as(site_b, stack, "POST", "/api/connections",
                      {"provider": "github", "repository": "evil/repo", "api_url": hostile.api_url, "token": TOKEN})
        assert created.status_code == 201, created.text
        connection_id = created.json()["id"]
        assert _as(site_b, stack, "POST", f"/api/connections/{connection_id}/backfill", {}).status_code == 202
        honest.repo.revert(feature)  # meanwhile, tenant A reverts its feature
        honest.push_branch()

        started = time.monotonic()
        stack.settle()
        elapsed = time.monotonic() - started

        progress = _as(site_b, stack, "GET", f"/api/connections/{connection_id}").json()["backfill"]
        assert progress["state"] == "failed", progress
        assert MODES[mode] in progress["note"], progress["note"]
        assert len(hostile.api_requests) <= MAX_REQUESTS, f"{len(hostile.api_requests)} requests to a poisoned API"
        assert elapsed < FROZEN, f"the poisoned backfill held the worker for {elapsed:.1f} s"
        assert hostile.traps_reached() == [], "a request left the allow-list"
        assert hostile.api_requests and all(path.startswith("/repos/evil/repo") for _m, path in hostile.api_requests)
        assert stack.jira.issues["FEAT-1"]["properties"]["system-reality"]["drift"] == "reverted"
    finally:
        hostile.stop()
        site_b.stop()


def test_a_backfill_costs_at_most_one_request_per_twenty_commits(stack: Stack) -> None:
    """History without keys: the listing (100 commits, messages and parents, per request) is all
    a backfill reads; no commit is fetched again one by one."""
    stack.install()
    github = stack.start_github()
    connection = stack.connect_repository()
    github.remove_hook(github.hooks[0].id)
    github.repo.commit("Initial shop", {"README.md": "shop\n"})
    for n in range(400):
        github.repo.commit(f"Tidy {n}", {f"docs/{n % 7}.md": f"{n}\n"})
    github.repo.branch("polish", "main")
    github.repo.checkout("polish")
    for n in range(50):
        github.repo.commit(f"Polish {n}")
    number = github.open_pull_request("polish", "Polish the docs")
    github.merge_pull_request(number, "merge")
    github.push_branch()
    github.api_requests.clear()
    assert stack.admin("POST", f"/api/connections/{connection.id}/backfill", {}).status_code == 202
    stack.settle()
    progress = stack.admin("GET", f"/api/connections/{connection.id}").json()["backfill"]
    commits = len(github.repo.commit_infos(github.repo.rev_list(None, github.repo.resolve("main"))))
    assert progress["state"] == "done" and progress["read"] == commits, progress
    history = [path for _method, path in github.api_requests if path.startswith("/repos/")]
    assert len(history) / commits <= 0.05, (len(history), commits, history)
