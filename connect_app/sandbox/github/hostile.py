"""Hostile mode of the GitHub simulator: the repository API answers like no real GitHub would, the
way a server a tenant admin chose (or one that broke) can (issue 9).

`GitHubSimulator.go_hostile(mode)` switches it on. The repository's own answers (`/repos/{full_name}`
and its commit listing) are then poisoned as `mode` says; every other endpoint answers as usual.
Two trap servers stand by for the modes that point elsewhere, one on another port of the same
address and one on another loopback address: `traps_reached()` says whether anything got there.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from connect_app.sandbox.server import ServedApp

if TYPE_CHECKING:
    from connect_app.sandbox.github.simulator import GitHubSimulator

Answer = tuple[str, list[tuple[str, str]], Iterable[bytes]]

MODES = (
    "self-parent",  # the head commit's first parent is the head itself
    "parent-cycle",  # head -> a -> b -> head
    "self-next",  # `Link: rel="next"` names the page it is on
    "repeating",  # a new page number every time, the same commits on each
    "endless",  # new commits on every page, for ever
    "other-host",  # the next page is on another address (and the repository's `url` too)
    "other-port",  # the next page is on another port of the same address
    "plain-http-subdomain",  # the next page is on a subdomain of the API host
    "too-many-items",  # a page of 1000 commits when 100 were asked for
    "too-many-bytes",  # a chunked answer that never ends (no Content-Length)
    "drip",  # one byte every 20 ms
)
DRIP_INTERVAL = 0.02
OVERSIZED_PAGE = 1000


def _sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()  # noqa: S324 - names, not security


def _commit(sha: str, parents: list[str], message: str = "Tidy") -> dict[str, Any]:
    return {"sha": sha, "commit": {"message": message, "author": {"name": "Eve", "date": "2026-01-01T00:00:00Z"}},
            "parents": [{"sha": p} for p in parents], "html_url": f"https://example.invalid/{sha}"}


class Trap:
    """A loopback server nothing may ever reach; it records what does (method, path, whether an
    Authorization header came along)."""

    def __init__(self, host: str) -> None:
        self.seen: list[tuple[str, str, bool]] = []
        self._server = ServedApp(self._answer, host=host).start()
        self.url = self._server.url

    def _answer(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        self.seen.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), "HTTP_AUTHORIZATION" in environ))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"[]"]

    def stop(self) -> None:
        self._server.stop()


class HostileAnswers:
    """WSGI middleware in front of the simulator's API: the repository's answers, poisoned while the
    simulator is in a hostile mode."""

    def __init__(self, simulator: GitHubSimulator, app: Callable[..., Iterable[bytes]]) -> None:
        self.simulator = simulator
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        simulator = self.simulator
        mode = simulator.hostile_mode
        route = environ.get("PATH_INFO", "").removeprefix("/api/v3")
        repo = f"/repos/{simulator.full_name}"
        if mode is None or not (route == repo or route.startswith(f"{repo}/commits")):
            return self.app(environ, start_response)
        query = environ.get("QUERY_STRING", "")
        with simulator._lock:
            simulator.api_requests.append((environ["REQUEST_METHOD"], route + (f"?{query}" if query else "")))
        status, headers, body = self._answer(mode, route, repo, query)
        start_response(status, headers)
        return body

    def _answer(self, mode: str, route: str, repo: str, query: str) -> Answer:
        traps = self.simulator.traps
        assert traps is not None
        if route == repo:
            return _json({"full_name": self.simulator.full_name, "default_branch": self.simulator.default_branch,
                          "url": f"{traps[1].url}{repo}"})
        if route.startswith(f"{repo}/commits/"):
            sha = route.rsplit("/", 1)[1]
            return _json({**_commit(sha, []), "files": [{"filename": "x.py"}]})
        page = int((parse_qs(query).get("page") or ["1"])[0] or 1)
        return self._page(mode, page, f"{repo}/commits", query)

    def _next(self, base: str, path: str, query: str, page: int) -> str:
        args = {k: v[0] for k, v in parse_qs(query).items()}
        args["page"] = str(page)
        return f'<{base}{path}?{urlencode(args)}>; rel="next"'

    def _page(self, mode: str, page: int, path: str, query: str) -> Answer:
        api, (other_port, other_host) = self.simulator.api_url, self.simulator.traps or ()
        head, a, b = _sha("head"), _sha("a"), _sha("b")
        if mode == "self-parent":
            return _json([_commit(head, [head])])
        if mode == "parent-cycle":
            return _json([_commit(head, [a]), _commit(a, [b]), _commit(b, [head])])
        if mode == "self-next":
            return _json([_commit(head, [])], self._next(api, path, query, page))
        if mode == "repeating":
            return _json([_commit(head, [a])], self._next(api, path, query, page + 1))
        if mode == "endless":
            commits = [_commit(_sha(page, i), [_sha(page, i + 1)]) for i in range(100)]
            return _json(commits, self._next(api, path, query, page + 1))
        if mode in ("other-host", "other-port"):
            base = other_host.url if mode == "other-host" else other_port.url
            return _json([_commit(head, [a])], self._next(base, path, query, 2))
        if mode == "plain-http-subdomain":
            port = api.rsplit(":", 1)[1]
            return _json([_commit(head, [a])], self._next(f"http://api.localhost:{port}", path, query, 2))
        if mode == "too-many-items":
            return _json([_commit(_sha(i), [_sha(i + 1)]) for i in range(OVERSIZED_PAGE)])
        if mode == "too-many-bytes":
            return "200 OK", [("Content-Type", "application/json")], _endless(head)
        return "200 OK", [("Content-Type", "application/json")], _drip(json.dumps([_commit(head, [])] * 20).encode())


def _json(body: Any, link: str | None = None) -> Answer:
    headers = [("Content-Type", "application/json")]
    if link:
        headers.append(("Link", link))
    return "200 OK", headers, [json.dumps(body).encode()]


def _endless(head: str) -> Iterator[bytes]:
    """Chunked, without Content-Length: only counting bytes stops a reader."""
    yield b'[{"sha": "' + head.encode() + b'", "commit": {"message": "'
    while True:
        yield b"x" * 65536


def _drip(body: bytes) -> Iterator[bytes]:
    """Each read is quick; the answer as a whole never ends in time."""
    for byte in body:
        time.sleep(DRIP_INTERVAL)
        yield bytes([byte])
