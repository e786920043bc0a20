"""What the worker asks GitLab's REST API (v4, GitLab.com or self-managed) through `python-gitlab`.

python-gitlab's requests session is a `connect.net.GuardedSession`, so every request it sends
(pagination links and redirects included) is checked against ALLOWED_GITHUB_API_URLS when it is
sent, and the token (`PRIVATE-TOKEN`) goes only to the connection's own API origin. Its own
retrying and rate-limit sleeping are turned off: a 429 becomes `RateLimited` with GitLab's reset
time, so the job is handed back instead of a worker sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import gitlab
import requests
from gitlab.exceptions import GitlabError, GitlabHttpError

from connect_app.connect.urls import OriginPattern, url_allowed
from connect_app.providers import base
from connect_app.providers.base import (
    Comparison,
    HistoryPage,
    HostileAnswer,
    ProviderUnavailable,
    RateLimited,
    compared,
)
from connect_app.reality.model import Commit

PER_PAGE = 100
API_SUFFIX = "/api/v4"


class GitLabReader(base.GuardedReader):
    """One GitLab project (`group/sub/name`) read through python-gitlab over a GuardedSession."""

    host = "GitLab"

    def __init__(self, *, api_url: str, repository: str, token: str | None,
                 allowed_api_urls: tuple[OriginPattern, ...], timeout: int = 15) -> None:
        api_url = api_url.rstrip("/")
        if not url_allowed(api_url, list(allowed_api_urls)):
            raise ProviderUnavailable(f"{api_url} is not in ALLOWED_GITHUB_API_URLS")
        if not api_url.endswith(API_SUFFIX):
            raise ProviderUnavailable(f"{api_url} is not a GitLab API v4 address (it ends in {API_SUFFIX})")
        super().__init__(base.guarded_session(allowed_api_urls, api_url, timeout), has_credentials=bool(token))
        self._session.hooks["response"].append(self._note_limits)
        self._reset_at: float | None = None
        self._gl = gitlab.Gitlab(api_url.removesuffix(API_SUFFIX), private_token=token, timeout=timeout,
                                 session=self._session, user_agent="system-reality-for-jira")
        self._api = api_url
        self._project = f"/projects/{quote(repository, safe='')}"

    # --- transport ------------------------------------------------------------------------------

    def _note_limits(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        reset = response.headers.get("RateLimit-Reset", "")
        if response.status_code == 429:
            retry_after = response.headers.get("Retry-After", "")
            self._reset_at = (float(reset) if reset.isdigit() else
                              time.time() + (int(retry_after) if retry_after.isdigit() else 60))

    def _response(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> requests.Response:
        self.requests_sent += 1
        self._reset_at = None
        try:
            with base.guarded_answers("GitLab could not be reached"):
                # Retries and rate-limit sleeps are ours to decide (a job handed back), not the library's.
                return self._gl.http_request("get", path_or_url, query_data=dict(params or {}),
                                             obey_rate_limit=False, retry_transient_errors=False)
        except GitlabHttpError as exc:
            if exc.response_code == 429 or self._reset_at is not None:
                raise RateLimited(self._reset_at or time.time() + 60, "GitLab") from exc
            raise ProviderUnavailable(f"GitLab answered {exc.response_code} ({str(exc.error_message)[:200]})") from exc
        except GitlabError as exc:
            raise ProviderUnavailable(f"GitLab answered an error: {str(exc)[:200]}") from exc

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return _json(self._response(self._project + path, params))

    def _pages(self, path: str, params: dict[str, Any], *, start_url: str | None = None,
               max_pages: int | None = None) -> Iterator[base.ListingPage]:
        """A listing's pages, bounded as `base.listing_pages` says."""

        def read(url: str, query: Mapping[str, Any] | None) -> base.ListingPage:
            response = self._response(url, query)
            return base.ListingPage(response.url or url, _json(response), base.next_link(response))

        return base.listing_pages(read, self._api + self._project + path, {**params, "per_page": PER_PAGE},
                             host=self.host, per_page=PER_PAGE, start_url=start_url, max_pages=max_pages)

    # --- what the app asks ----------------------------------------------------------------------

    def _read_default_branch(self) -> Any:
        body = self._get("")
        return body.get("default_branch") if isinstance(body, dict) else None

    def commit(self, sha: str) -> Commit:
        path = f"/repository/commits/{quote(sha, safe='')}"
        body = self._get(path)
        files: list[str] = []
        for page in self._pages(f"{path}/diff", {}):
            files.extend(str(d.get("new_path") or d.get("old_path") or "") for d in page.items if isinstance(d, dict))
        return _to_commit(body, files=tuple(files))

    def compare(self, base: str, head: str) -> Comparison:
        return compared(self._between(base, head), self._between(head, base))

    def _between(self, base: str, head: str) -> tuple[str, ...]:
        # `straight=false` compares from the merge base (git's `base...head`): what head adds.
        body = self._get("/repository/compare", {"from": base, "to": head, "straight": "false"})
        commits = body.get("commits") if isinstance(body, dict) else None
        if not isinstance(commits, list):
            raise HostileAnswer("GitLab answered a comparison without commits")
        return tuple(_sha_of(item) for item in commits)

    def tag_commit(self, tag: str) -> str:
        body = self._get(f"/repository/tags/{quote(tag, safe='')}")
        return _sha_of(body.get("commit") if isinstance(body, dict) else None)

    def pull_commits(self, number: int) -> tuple[str, ...]:
        shas: list[str] = []
        for page in self._pages(f"/merge_requests/{int(number)}/commits", {}):
            shas.extend(_sha_of(item) for item in page.items)
        return tuple(reversed(shas))  # GitLab lists them newest first

    def merged_commit(self, number: int) -> str | None:
        """The merge commit, or with fast-forward merges the squash commit, of merge request !N."""
        body = self._get(f"/merge_requests/{int(number)}")
        if not isinstance(body, dict):
            return None
        for field in ("merge_commit_sha", "squash_commit_sha"):
            sha = body.get(field)
            if isinstance(sha, str) and base.FULL_SHA.fullmatch(sha):
                return sha
        return None

    def history_pages(self, branch: str, since: datetime | None = None, *, start_url: str | None = None,
                      max_pages: int | None = None) -> Iterator[HistoryPage]:
        params: dict[str, Any] = {"ref_name": branch}
        if since is not None:
            params["since"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for page in self._pages("/repository/commits", params, start_url=start_url, max_pages=max_pages):
            yield HistoryPage(url=page.url, commits=tuple(_to_commit(item) for item in page.items),
                              next_url=page.next_url)


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderUnavailable("GitLab answered with something other than JSON") from exc


def _sha_of(item: Any) -> str:
    return base.sha_in(item, "id", "GitLab").lower()


def _to_commit(data: Any, files: tuple[str, ...] = ()) -> Commit:
    sha = _sha_of(data)
    parents = data.get("parent_ids") if isinstance(data.get("parent_ids"), list) else []
    message, url = data.get("message"), data.get("web_url")
    return Commit(
        sha=sha,
        message=message if isinstance(message, str) else "",
        author=str(data.get("author_name") or ""),
        timestamp=base.timestamp_of(data.get("authored_date") or data.get("created_at")),
        files=files,
        parents=tuple(_sha_of({"id": parent}) for parent in parents),
        url=url if isinstance(url, str) else None,
    )
