"""What the worker asks GitHub, through PyGithub, when a payload lacks something.

Only hosts allowed by ALLOWED_GITHUB_API_URLS are ever contacted. Rate-limit exhaustion becomes a
`RateLimited` carrying the reset time, so callers pause instead of hammering the API.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from github import Auth, Github, GithubException, GithubIntegration, RateLimitExceededException
from github.Repository import Repository

from connect_app.config import Settings
from connect_app.connect.urls import OriginPattern, url_allowed
from connect_app.reality.model import Commit
from connect_app.services import Services
from connect_app.store.models import Connection, Tenant

# GitHub's compare endpoint returns at most 250 commits per page.
COMPARE_PAGE = 250


class GitHubUnavailable(Exception):
    """No usable API access (no token, host not allowed, or GitHub answered with an error)."""


class RateLimited(Exception):
    def __init__(self, reset_at: float) -> None:
        super().__init__(f"GitHub rate limit exhausted until {datetime.fromtimestamp(reset_at, UTC):%H:%M:%S} UTC")
        self.reset_at = reset_at

    @property
    def wait_seconds(self) -> float:
        return max(1.0, self.reset_at - time.time())


@dataclass(frozen=True)
class Comparison:
    status: str  # ahead | behind | diverged | identical
    added: tuple[str, ...]  # in head, not in base (oldest first)
    removed: tuple[str, ...]  # in base, not in head (oldest first)


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


def github_app_auth(app: GitHubApp, api_url: str, repository: str, timeout: int = 15) -> Auth.AppInstallationAuth:
    """Installation auth for the app's installation on `repository` (one API call, signed with the
    app's JWT). PyGithub then fetches and renews the short-lived installation token itself."""
    owner, name = repository.split("/", 1)
    app_auth = Auth.AppAuth(app.app_id, app.private_key)
    integration = GithubIntegration(auth=app_auth, base_url=api_url, timeout=timeout, retry=None,
                                    seconds_between_requests=None, seconds_between_writes=None)
    try:
        installation = integration.get_repo_installation(owner, name)
    finally:
        integration.close()
    return Auth.AppInstallationAuth(app_auth, installation.id)


class RepositoryReader:
    def __init__(self, *, api_url: str, repository: str, token: str | None,
                 allowed_api_urls: tuple[str, ...], timeout: int = 15, app: GitHubApp | None = None) -> None:
        if not url_allowed(api_url, allowed_api_urls):
            raise GitHubUnavailable(f"{api_url} is not in ALLOWED_GITHUB_API_URLS")
        # A connection's own token wins; the app is the fallback for connections saved without one.
        self._app = None if token else app
        self.has_credentials = bool(token) or self._app is not None
        self._api_url, self._timeout = api_url, timeout
        self._client: Github | None = None if self._app is not None else self._github_with(
            Auth.Token(token) if token else None)
        self._name = repository
        self._repo: Repository | None = None

    def _github_with(self, auth: Auth.Auth | None) -> Github:
        # Retries and throttling are ours: PyGithub's default retry would sleep inside a job.
        return Github(auth=auth, base_url=self._api_url, timeout=self._timeout, retry=None, per_page=100,
                      seconds_between_requests=None, seconds_between_writes=None)

    @property
    def _github(self) -> Github:
        """The client, looking up the app's installation on first use so that building a reader
        costs no API call and a refused app key surfaces where callers already handle errors."""
        if self._client is None:
            assert self._app is not None
            app = self._app
            try:
                auth = self._call(github_app_auth, app, self._api_url, self._name, self._timeout)
            except GitHubUnavailable as exc:
                raise GitHubUnavailable(f"GitHub App {app.app_id} has no usable installation on "
                                        f"{self._name}: {exc}") from exc
            self._client = self._github_with(auth)
        return self._client

    def _call(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return fn(*args, **kwargs)
        except RateLimitExceededException as exc:
            reset = exc.headers.get("x-ratelimit-reset") if exc.headers else None
            raise RateLimited(float(reset) if reset else time.time() + 60) from exc
        except GithubException as exc:
            if exc.status == 403 and exc.headers and exc.headers.get("x-ratelimit-remaining") == "0":
                raise RateLimited(float(exc.headers.get("x-ratelimit-reset", time.time() + 60))) from exc
            raise GitHubUnavailable(_answer(exc)) from exc

    @property
    def repo(self) -> Repository:
        if self._repo is None:
            self._repo = self._call(self._github.get_repo, self._name)
        return self._repo

    def default_branch(self) -> str:
        return str(self.repo.default_branch)

    def commit(self, sha: str) -> Commit:
        raw = self._call(self.repo.get_commit, sha)
        return _to_commit(raw, with_files=True)

    def compare(self, base: str, head: str) -> Comparison:
        """What `head` has that `base` lacks and the reverse, paging past 250 commits."""
        forward = self._call(self.repo.compare, base, head, comparison_commits_per_page=COMPARE_PAGE)
        status = str(forward.status)
        added = tuple(c.sha for c in self._call(list, forward.commits)) if forward.ahead_by else ()
        removed: tuple[str, ...] = ()
        if forward.behind_by:
            backward = self._call(self.repo.compare, head, base, comparison_commits_per_page=COMPARE_PAGE)
            removed = tuple(c.sha for c in self._call(list, backward.commits))
        return Comparison(status=status, added=added, removed=removed)

    def tag_commit(self, tag: str) -> str:
        """The SHA of the commit a tag points at (annotated tags are peeled)."""
        return str(self._call(self.repo.get_commit, tag).sha)

    def pull_commits(self, number: int) -> tuple[str, ...]:
        pull = self._call(self.repo.get_pull, number)
        return tuple(c.sha for c in self._call(list, pull.get_commits()))

    def history(self, branch: str, since: datetime | None = None) -> Iterator[Commit]:
        """Commits reachable from the branch head, newest first, with parents (no files)."""
        kwargs = {"sha": branch}
        if since is not None:
            kwargs["since"] = since
        pages = self._call(self.repo.get_commits, **kwargs)
        iterator = iter(pages)
        while True:
            try:
                raw = self._call(next, iterator)
            except StopIteration:
                return
            yield _to_commit(raw, with_files=False)


def _answer(exc: GithubException) -> str:
    message = exc.data.get("message") if isinstance(exc.data, dict) else None
    return f"GitHub answered {exc.status}" + (f" ({str(message)[:200]})" if message else "")


def _to_commit(raw, *, with_files: bool) -> Commit:  # type: ignore[no-untyped-def]
    data = raw.raw_data
    info = data.get("commit") or {}
    author = info.get("author") or {}
    files = tuple(f.get("filename", "") for f in data.get("files") or []) if with_files else ()
    when = author.get("date")
    return Commit(
        sha=data["sha"],
        message=info.get("message") or "",
        author=author.get("name") or "",
        timestamp=datetime.fromisoformat(when.replace("Z", "+00:00")) if when else None,
        files=files,
        parents=tuple(p["sha"] for p in data.get("parents") or []),
        url=data.get("html_url"),
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
