"""A repository API that answers like no real GitHub: parent cycles, pagination that points back
at itself or never ends, `Link` headers and URLs that lead to other hosts and ports, answers that
drip a byte at a time, pages far larger than asked for. Each poisoned backfill ends within a
bounded time with a clear failure on its own connection, no request (let alone a token) reaches a
host or port outside the connection's origin, and another tenant's live revert still reaches Jira.
A last test counts the API requests a backfill costs per commit."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
import requests
from werkzeug.serving import make_server

from connect_app.jobs import backfill
from connect_app.providers import github as provider
from connect_app.sandbox.jira.simulator import JiraSimulator
from connect_app.sandbox.stack import ADMIN, Stack

from .test_security_install import start_second_site

TOKEN = "hostile-tenant-token"
BOUND = 20.0  # seconds a poisoned backfill may take, all slices included


def _sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()


def _commit(sha: str, parents: list[str], message: str = "Tidy") -> dict[str, Any]:
    return {"sha": sha, "commit": {"message": message, "author": {"name": "Eve", "date": "2026-01-01T00:00:00Z"}},
            "parents": [{"sha": p} for p in parents], "html_url": f"https://example.invalid/{sha}"}


@dataclass
class Server:
    """A tiny HTTP server on a loopback address that answers through `handler` and counts what
    reaches it (method, path, whether an Authorization header came along)."""

    host: str
    handler: Any
    seen: list[tuple[str, str, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        def app(environ: dict[str, Any], start_response: Any) -> Any:
            path = environ["PATH_INFO"] + (f"?{environ['QUERY_STRING']}" if environ.get("QUERY_STRING") else "")
            self.seen.append((environ["REQUEST_METHOD"], path, "HTTP_AUTHORIZATION" in environ))
            status, headers, body = self.handler(environ, path)
            start_response(status, headers)
            return body

        self._server = make_server(self.host, 0, app, threaded=True)
        self.url = f"http://{self.host}:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()


def _trap(environ: dict[str, Any], path: str) -> tuple[str, list[tuple[str, str]], list[bytes]]:
    return "200 OK", [("Content-Type", "application/json")], [b"[]"]


class HostileGitHub:
    """The GitHub API of `evil/repo`, poisoned the way `mode` says. The traps are loopback servers
    on another port and another address: nothing may ever reach them."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.other_port = Server("127.0.0.1", _trap)
        self.other_host = Server("127.0.0.2", _trap)
        self.api = Server("127.0.0.1", self.answer)

    def stop(self) -> None:
        for server in (self.api, self.other_port, self.other_host):
            server.stop()

    def answer(self, environ: dict[str, Any], path: str) -> tuple[str, list[tuple[str, str]], Any]:
        route, _, query = path.partition("?")
        if route == "/repos/evil/repo":
            return self._json({"full_name": "evil/repo", "default_branch": "main",
                               "url": f"{self.other_host.url}/repos/evil/repo"})
        if route == "/repos/evil/repo/commits":
            page = int(parse_qs(query).get("page", ["1"])[0])
            return self._page(page, query)
        if route.startswith("/repos/evil/repo/commits/"):
            sha = route.rsplit("/", 1)[1]
            return self._json({**_commit(sha, []), "files": [{"filename": "x.py"}]})
        return "404 Not Found", [("Content-Type", "application/json")], [b'{"message": "Not Found"}']

    def _json(self, body: Any, link: str | None = None) -> tuple[str, list[tuple[str, str]], list[bytes]]:
        headers = [("Content-Type", "application/json")]
        if link:
            headers.append(("Link", link))
        return "200 OK", headers, [json.dumps(body).encode()]

    def _next(self, base: str, query: str, page: int) -> str:
        args = {k: v[0] for k, v in parse_qs(query).items()}
        args["page"] = str(page)
        return f'<{base}/repos/evil/repo/commits?{urlencode(args)}>; rel="next"'

    def _page(self, page: int, query: str) -> tuple[str, list[tuple[str, str]], Any]:
        mode = self.mode
        head = _sha("head")
        if mode == "self-parent":  # the head's first parent is the head itself
            return self._json([_commit(head, [head])])
        if mode == "parent-cycle":  # head -> a -> b -> head
            a, b = _sha("a"), _sha("b")
            return self._json([_commit(head, [a]), _commit(a, [b]), _commit(b, [head])])
        if mode == "self-next":  # `Link: next` names the page it is on
            return self._json([_commit(head, [])], self._next(self.api.url, query, page))
        if mode == "repeating":  # a new page number every time, the same commits on each
            return self._json([_commit(head, [_sha("a")])], self._next(self.api.url, query, page + 1))
        if mode == "endless":  # new commits on every page, for ever
            commits = [_commit(_sha(page, i), [_sha(page, i + 1)]) for i in range(100)]
            return self._json(commits, self._next(self.api.url, query, page + 1))
        if mode in ("other-host", "other-port"):
            base = self.other_host.url if mode == "other-host" else self.other_port.url
            return self._json([_commit(head, [_sha("a")])], self._next(base, query, 2))
        if mode == "plain-http-subdomain":
            port = self.api.url.rsplit(":", 1)[1]
            return self._json([_commit(head, [_sha("a")])], self._next(f"http://api.localhost:{port}", query, 2))
        if mode == "too-many-items":
            return self._json([_commit(_sha(i), [_sha(i + 1)]) for i in range(1000)])
        if mode == "too-many-bytes":  # chunked, no Content-Length: only counting bytes stops it
            def endless_body() -> Iterator[bytes]:
                yield b'[{"sha": "' + head.encode() + b'", "commit": {"message": "'
                while True:
                    yield b"x" * 65536
            return "200 OK", [("Content-Type", "application/json")], endless_body()
        if mode == "drip":  # one byte every 20 ms: each read is quick, the answer never ends in time
            body = json.dumps([_commit(head, [])] * 20).encode()

            def dripping() -> Iterator[bytes]:
                for byte in body:
                    time.sleep(0.02)
                    yield bytes([byte])
            return "200 OK", [("Content-Type", "application/json")], dripping()
        raise AssertionError(mode)


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


@pytest.mark.parametrize("mode", list(MODES))
def test_a_poisoned_backfill_fails_on_its_connection_while_another_tenant_goes_on(
        stack: Stack, small_bounds: None, mode: str) -> None:
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
    hostile = HostileGitHub(mode)
    site_b = start_second_site(stack)
    try:
        created = _as(site_b, stack, "POST", "/api/connections",
                      {"provider": "github", "repository": "evil/repo", "api_url": hostile.api.url, "token": TOKEN})
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
        assert elapsed < BOUND, f"the poisoned backfill held the worker for {elapsed:.1f} s"
        assert hostile.other_port.seen == [] and hostile.other_host.seen == [], "a request left the allow-list"
        assert all(path.startswith("/repos/evil/repo") for _m, path, _auth in hostile.api.seen)
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
