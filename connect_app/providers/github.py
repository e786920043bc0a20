"""What the worker asks GitHub's REST API when a payload lacks something.

Every request goes through a `connect.net.GuardedSession`: only hosts allowed by
ALLOWED_GITHUB_API_URLS are contacted, checked when each request is sent (pages named by `Link`
headers included), and the token goes only to the connection's own API origin. Listings are
read as JSON, a page at a time, with bounds on pages, items, bytes and time, so a hostile server
ends a read with `HostileAnswer` instead of holding a worker. Rate-limit exhaustion becomes a
`RateLimited` carrying the reset time, so callers pause instead of hammering the API. PyGithub
is used only to sign a GitHub App's JWT.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from github import Auth

from connect_app.config import Settings
from connect_app.connect.urls import OriginPattern, url_allowed
from connect_app.providers import base
from connect_app.providers.base import Comparison, HistoryPage, HostileAnswer, ProviderUnavailable, RateLimited
from connect_app.reality.model import Commit
from connect_app.services import Services
from connect_app.store.models import Connection, Tenant

# GitHub's compare endpoint returns at most 250 commits per page; listings at most 100.
COMPARE_PAGE = 250
PER_PAGE = 100


# The host-neutral names, under the names this module has always used.
GitHubUnavailable = ProviderUnavailable


@dataclass(frozen=True)
class GitHubApp:
    """A GitHub App's identity: installation tokens read repositories saved without a token, within
    the scope the operator declared (API host, GitHub owners, Jira sites)."""

    app_id: str
    private_key: str  # PEM
    api_urls: tuple[OriginPattern, ...] = ()
    owners: frozenset[str] = frozenset()
    jira_sites: tuple[OriginPattern, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> GitHubApp | None:
        if not settings.github_app_id or not settings.github_app_private_key:
            return None
        return cls(settings.github_app_id, settings.github_app_private_key, settings.github_app_api_urls,
                   settings.github_app_owners, settings.github_app_jira_sites)

    def serves(self, *, api_url: str, repository: str, jira_base_url: str) -> bool:
        """Whether this connection may read through the app. The app's JWT goes only to its own API
        host, and only for owners and Jira sites the operator named: a tenant can neither send our
        credentials to a host it chose nor read another organisation's installation."""
        owner = repository.split("/", 1)[0].lower()
        return (url_allowed(api_url, list(self.api_urls)) and owner in self.owners
                and url_allowed(jira_base_url, list(self.jira_sites)))


def app_for(settings: Settings, *, api_url: str, repository: str, jira_base_url: str) -> GitHubApp | None:
    app = GitHubApp.from_settings(settings)
    if app is None or not app.serves(api_url=api_url, repository=repository, jira_base_url=jira_base_url):
        return None
    return app


class _Conditional:
    """ETags of recent GET answers, so asking again for something unchanged costs a 304 (which
    GitHub does not count against the rate limit). Keyed by credential too: one tenant never
    reads another's cached answer."""

    def __init__(self, size: int = 256, max_body: int = 512 * 1024) -> None:
        self._entries: OrderedDict[tuple[str, str], tuple[str, Any, dict[str, str]]] = OrderedDict()
        self._size, self._max_body = size, max_body
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[str, Any, dict[str, str]] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: tuple[str, str], etag: str, body: Any, headers: dict[str, str], size: int) -> None:
        if size > self._max_body:
            return
        with self._lock:
            self._entries[key] = (etag, body, headers)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


_CONDITIONAL = _Conditional()


class RepositoryReader(base.GuardedReader):
    """A small GitHub REST client for one connection, over a `GuardedSession`: every request (the
    pages a `Link` header names included) is checked against ALLOWED_GITHUB_API_URLS when it is
    sent, and the token goes only to the exact origin of the connection's `api_url`. Answers are
    JSON read under a wall-clock budget and a size cap; URLs inside answers are never followed."""

    host = "GitHub"

    def __init__(self, *, api_url: str, repository: str, token: str | None,
                 allowed_api_urls: tuple[OriginPattern, ...], timeout: int = 15, app: GitHubApp | None = None) -> None:
        if not url_allowed(api_url, list(allowed_api_urls)):
            # Shown to Jira admins on the admin page, who cannot change the allow-list themselves.
            raise GitHubUnavailable(f"System Reality may not call {api_url}; ask whoever runs it for your "
                                    "company to allow this address")
        # A connection's own token wins; the app is the fallback for connections saved without one.
        self._app = None if token else app
        super().__init__(base.guarded_session(allowed_api_urls, api_url, timeout),
                         has_credentials=bool(token) or self._app is not None)
        self._api = api_url.rstrip("/")
        self._token = token
        self._name = repository
        owner, _, name = repository.partition("/")
        self._repo_path = f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"
        self._installation_id: int | None = None
        self._installation_token: tuple[str, float] | None = None  # token, expires at (epoch)

    # --- transport ------------------------------------------------------------------------------

    def _authorization(self) -> str | None:
        if self._token:
            return f"token {self._token}"
        if self._app is None:
            return None
        if self._installation_token is None or self._installation_token[1] - time.time() < 60:
            app = self._app
            try:
                self._installation_token = self._new_installation_token(app)
            except GitHubUnavailable as exc:
                raise GitHubUnavailable(f"GitHub App {app.app_id} has no usable installation on "
                                        f"{self._name}: {exc}") from exc
        return f"token {self._installation_token[0]}"

    def _new_installation_token(self, app: GitHubApp) -> tuple[str, float]:
        """An installation token for the app's installation on this repository, signed with the
        app's JWT (the installation is looked up once per reader)."""
        jwt = f"Bearer {Auth.AppAuth(app.app_id, app.private_key).create_jwt()}"
        if self._installation_id is None:
            found = self._send("GET", f"{self._repo_path}/installation", authorization=jwt)
            if not isinstance(found, dict) or not isinstance(found.get("id"), int):
                raise HostileAnswer("GitHub answered an installation without an id")
            self._installation_id = found["id"]
        issued = self._send("POST", f"/app/installations/{self._installation_id}/access_tokens",
                            authorization=jwt, expect=(201,))
        if not isinstance(issued, dict) or not isinstance(issued.get("token"), str):
            raise HostileAnswer("GitHub answered an installation token request without a token")
        expires = issued.get("expires_at")
        try:
            expires_at = datetime.fromisoformat(str(expires).replace("Z", "+00:00")).timestamp()
        except ValueError:
            expires_at = time.time() + 600
        return issued["token"], expires_at

    def _get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> tuple[Any, requests.Response]:
        response = self._request("GET", path_or_url, params=params, authorization=self._authorization())
        return _decoded(response), response

    def _send(self, method: str, path_or_url: str, *, authorization: str | None,
              expect: tuple[int, ...] = (200,)) -> Any:
        return _decoded(self._request(method, path_or_url, authorization=authorization, expect=expect))

    def _request(self, method: str, path_or_url: str, *, params: Mapping[str, Any] | None = None,
                 authorization: str | None, expect: tuple[int, ...] = (200,)) -> requests.Response:
        url = path_or_url if "://" in path_or_url else self._api + path_or_url
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                   "User-Agent": "system-reality-for-jira"}
        if authorization:
            headers["Authorization"] = authorization
        prepared = self._session.prepare_request(requests.Request(method, url, params=dict(params or {}),
                                                                  headers=headers))
        cache_key = (prepared.url or "", hashlib.sha256((authorization or "").encode()).hexdigest())
        cached = _CONDITIONAL.get(cache_key) if method == "GET" else None
        if cached is not None:
            prepared.headers["If-None-Match"] = cached[0]
        self.requests_sent += 1
        with base.guarded_answers(f"GitHub did not answer at {self._api}: check the API address of this connection"):
            # Redirects are not followed: an API answer that moves elsewhere is an error here.
            response = self._session.send(prepared, allow_redirects=False)
        if response.status_code == 304 and cached is not None:
            response.status_code = 200
            response._content = json.dumps(cached[1]).encode()
            return response
        _raise_for_limits(response)
        if response.status_code not in expect:
            raise GitHubUnavailable(_answer(response))
        etag = response.headers.get("ETag")
        if etag and method == "GET":
            try:
                body = response.json()
            except ValueError:
                body = None
            if body is not None:
                _CONDITIONAL.put(cache_key, etag, body, {}, len(response.content))
        return response

    def _pages(self, path: str, params: Mapping[str, Any], *, start_url: str | None = None,
               max_pages: int | None = None, per_page: int = PER_PAGE,
               items: Callable[[Any], Any] = lambda body: body) -> Iterator[base.ListingPage]:
        """A listing's pages, bounded as `base.listing_pages` says; `items` finds the list in an answer
        that wraps it."""

        def read(url: str, query: Mapping[str, Any] | None) -> base.ListingPage:
            body, response = self._get(url, query)
            return base.ListingPage(response.url or url, items(body), base.next_link(response))

        return base.listing_pages(read, self._api + path, {**params, "per_page": per_page}, host=self.host,
                             per_page=per_page, start_url=start_url, max_pages=max_pages)

    # --- what the app asks ----------------------------------------------------------------------

    def _read_default_branch(self) -> Any:
        body, _ = self._get(self._repo_path)
        return body.get("default_branch") if isinstance(body, dict) else None

    def commit(self, sha: str) -> Commit:
        body, _ = self._get(f"{self._repo_path}/commits/{quote(sha, safe='')}")
        return _to_commit(body, with_files=True)

    def compare(self, base: str, head: str) -> Comparison:
        """What `head` has that `base` lacks and the reverse, paging past 250 commits."""
        forward, added = self._compare(base, head)
        status = str(forward.get("status") or "")
        removed: tuple[str, ...] = ()
        if forward.get("behind_by"):
            _, removed = self._compare(head, base)
        return Comparison(status=status, added=added if forward.get("ahead_by") else (), removed=removed)

    def _compare(self, base: str, head: str) -> tuple[dict[str, Any], tuple[str, ...]]:
        first: dict[str, Any] = {}
        shas: list[str] = []
        path = f"{self._repo_path}/compare/{quote(base, safe='')}...{quote(head, safe='')}"

        def commits_of(body: Any) -> Any:
            if not isinstance(body, dict):
                return None
            if not first:
                first.update(body)
            return body.get("commits")

        for page in self._pages(path, {}, per_page=COMPARE_PAGE, items=commits_of):
            shas.extend(_sha_of(item) for item in page.items)
        return first, tuple(shas)

    def tag_commit(self, tag: str) -> str:
        """The SHA of the commit a tag points at (annotated tags are peeled)."""
        return self.commit(tag).sha

    def pull_commits(self, number: int) -> tuple[str, ...]:
        shas: list[str] = []
        for page in self._pages(f"{self._repo_path}/pulls/{int(number)}/commits", {}):
            shas.extend(_sha_of(item) for item in page.items)
        return tuple(shas)

    def merged_commit(self, number: int) -> str | None:
        body, _ = self._get(f"{self._repo_path}/pulls/{int(number)}")
        sha = body.get("merge_commit_sha") if isinstance(body, dict) else None
        return sha if isinstance(sha, str) and base.FULL_SHA.fullmatch(sha) else None

    def history_pages(self, branch: str, since: datetime | None = None, *, start_url: str | None = None,
                      max_pages: int | None = None) -> Iterator[HistoryPage]:
        """The branch's listing, page by page, newest first, with messages and parents (no files):
        one request per 100 commits. `start_url` resumes a listing at a page a previous run saved."""
        params: dict[str, Any] = {"sha": branch}
        if since is not None:
            params["since"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for page in self._pages(f"{self._repo_path}/commits", params, start_url=start_url, max_pages=max_pages):
            yield HistoryPage(url=page.url, commits=tuple(_to_commit(item, with_files=False) for item in page.items),
                              next_url=page.next_url)


def _decoded(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise GitHubUnavailable(f"GitHub answered {response.status_code} with something other than JSON") from exc


def _raise_for_limits(response: requests.Response) -> None:
    status = response.status_code
    if status not in (403, 429):
        return
    headers = response.headers
    if headers.get("x-ratelimit-remaining") == "0":
        try:
            reset = float(headers.get("x-ratelimit-reset", ""))
        except ValueError:
            reset = time.time() + 60
        raise RateLimited(reset)
    retry_after = headers.get("retry-after", "")
    if retry_after.strip().isdigit():  # a secondary rate limit
        raise RateLimited(time.time() + int(retry_after))


def _answer(response: requests.Response) -> str:
    message = None
    try:
        body = response.json()
        message = body.get("message") if isinstance(body, dict) else None
    except ValueError:
        pass
    return f"GitHub answered {response.status_code}" + (f" ({str(message)[:200]})" if message else "")


def _sha_of(item: Any) -> str:
    return base.sha_in(item, "sha", "GitHub")


def _to_commit(data: Any, *, with_files: bool) -> Commit:
    sha = _sha_of(data)
    info = data.get("commit") if isinstance(data.get("commit"), dict) else {}
    author = info.get("author") if isinstance(info.get("author"), dict) else {}
    raw_files = data.get("files") if with_files and isinstance(data.get("files"), list) else []
    files = tuple(str(f.get("filename", "")) for f in raw_files if isinstance(f, dict))
    raw_parents = data.get("parents") if isinstance(data.get("parents"), list) else []
    parents = tuple(_sha_of(p) for p in raw_parents)
    message = info.get("message")
    url = data.get("html_url")
    return Commit(
        sha=sha,
        message=message if isinstance(message, str) else "",
        author=str(author.get("name") or ""),
        timestamp=base.timestamp_of(author.get("date")),
        files=files,
        parents=parents,
        url=url if isinstance(url, str) else None,
    )


def reader_for(svc: Services, connection: Connection) -> RepositoryReader | None:
    """API access for a connection (its own token, else the GitHub App's installation), or None
    when it has neither (public reads still need credentials here: we never spend an anonymous
    rate limit shared by every tenant on one host)."""
    token = svc.box.open(connection.token_sealed) if connection.token_sealed else None
    with svc.sessions() as session:
        tenant = session.get(Tenant, connection.tenant_id)
    app = None if token or tenant is None else app_for(
        svc.settings, api_url=connection.api_url, repository=connection.repository, jira_base_url=tenant.base_url)
    try:
        reader = RepositoryReader(api_url=connection.api_url, repository=connection.repository, token=token,
                                  allowed_api_urls=svc.settings.allowed_github_api_urls, app=app)
    except GitHubUnavailable:
        return None
    return reader if reader.has_credentials else None
