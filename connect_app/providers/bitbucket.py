"""What the worker asks Bitbucket Cloud's REST API 2.0, through the app's guarded requests session:
every request (the `next` pages named inside answers included) is checked against
ALLOWED_GITHUB_API_URLS when it is sent, and the token goes only to the connection's API origin.

Authentication: a repository, project or workspace access token (`Bearer`), or an app password
given as `username:app_password` (`Basic`)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from connect_app.connect.urls import OriginPattern, url_allowed
from connect_app.providers import base
from connect_app.providers.base import Comparison, HistoryPage, ProviderUnavailable, RateLimited, compared
from connect_app.reality.model import Commit

PAGELEN = 100
_SHORT = re.compile(r"[0-9a-fA-F]{7,40}")


class BitbucketReader(base.GuardedReader):
    """One Bitbucket Cloud repository (`workspace/repo_slug`)."""

    host = "Bitbucket"

    def __init__(self, *, api_url: str, repository: str, token: str | None,
                 allowed_api_urls: tuple[OriginPattern, ...], timeout: int = 15) -> None:
        api_url = api_url.rstrip("/")
        if not url_allowed(api_url, list(allowed_api_urls)):
            raise ProviderUnavailable(f"{api_url} is not in ALLOWED_GITHUB_API_URLS")
        super().__init__(base.guarded_session(allowed_api_urls, api_url, timeout), has_credentials=bool(token))
        if token and ":" in token:
            self._session.auth = tuple(token.split(":", 1))  # type: ignore[assignment]
        elif token:
            self._session.headers["Authorization"] = f"Bearer {token}"
        workspace, _, slug = repository.partition("/")
        self._repo = f"{api_url}/repositories/{quote(workspace, safe='')}/{quote(slug, safe='')}"

    # --- transport ------------------------------------------------------------------------------

    def _get(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        self.requests_sent += 1
        with base.guarded_answers("Bitbucket could not be reached"):
            response = self._session.get(url, params=params, allow_redirects=False)
        if response.status_code == 429:
            wait = response.headers.get("Retry-After", "")
            raise RateLimited(time.time() + (int(wait) if wait.isdigit() else 60), "Bitbucket")
        if response.status_code != 200:
            raise ProviderUnavailable(f"Bitbucket answered {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderUnavailable("Bitbucket answered with something other than JSON") from exc

    def _pages(self, url: str, params: dict[str, Any], *, start_url: str | None = None,
               max_pages: int | None = None) -> Iterator[base.ListingPage]:
        """A listing's pages, bounded as `base.listing_pages` says. Bitbucket names the next page inside
        the answer (`next`), which is checked like any other destination when it is requested."""

        def read(here: str, query: Mapping[str, Any] | None) -> base.ListingPage:
            body = self._get(here, query)
            if not isinstance(body, dict):
                return base.ListingPage(here, None, None)
            nxt = body.get("next")
            return base.ListingPage(here, body.get("values"), nxt if isinstance(nxt, str) else None)

        return base.listing_pages(read, url, {**params, "pagelen": PAGELEN}, host=self.host, per_page=PAGELEN,
                             start_url=start_url, max_pages=max_pages)

    # --- what the app asks ----------------------------------------------------------------------

    def _read_default_branch(self) -> Any:
        body = self._get(self._repo)
        main = body.get("mainbranch") if isinstance(body, dict) else None
        return main.get("name") if isinstance(main, dict) else None

    def commit(self, sha: str) -> Commit:
        body = self._get(f"{self._repo}/commit/{quote(sha, safe='')}")
        files: list[str] = []
        for page in self._pages(f"{self._repo}/diffstat/{quote(_sha_of(body), safe='')}", {}):
            for entry in page.items:
                side = (entry.get("new") or entry.get("old")) if isinstance(entry, dict) else None
                if isinstance(side, dict) and isinstance(side.get("path"), str):
                    files.append(side["path"])
        return _to_commit(body, files=tuple(files))

    def _between(self, include: str, exclude: str) -> tuple[str, ...]:
        shas: list[str] = []
        for page in self._pages(f"{self._repo}/commits", {"include": include, "exclude": exclude}):
            shas.extend(_sha_of(item) for item in page.items)
        return tuple(reversed(shas))  # listed newest first

    def compare(self, base: str, head: str) -> Comparison:
        return compared(self._between(head, base), self._between(base, head))

    def tag_commit(self, tag: str) -> str:
        body = self._get(f"{self._repo}/refs/tags/{quote(tag, safe='')}")
        return _sha_of(body.get("target") if isinstance(body, dict) else None)

    def pull_commits(self, number: int) -> tuple[str, ...]:
        shas: list[str] = []
        for page in self._pages(f"{self._repo}/pullrequests/{int(number)}/commits", {}):
            shas.extend(_sha_of(item) for item in page.items)
        return tuple(reversed(shas))

    def merged_commit(self, number: int) -> str | None:
        """The merge (or squash) commit of pull request #N, its abbreviated hash expanded."""
        body = self._get(f"{self._repo}/pullrequests/{int(number)}")
        merge = body.get("merge_commit") if isinstance(body, dict) else None
        short = merge.get("hash") if isinstance(merge, dict) else None
        if not isinstance(short, str) or not _SHORT.fullmatch(short):
            return None
        return short.lower() if len(short) == 40 else _sha_of(self._get(f"{self._repo}/commit/{short}"))

    def history_pages(self, branch: str, since: datetime | None = None, *, start_url: str | None = None,
                      max_pages: int | None = None) -> Iterator[HistoryPage]:
        for page in self._pages(f"{self._repo}/commits/{quote(branch, safe='')}", {},
                                start_url=start_url, max_pages=max_pages):
            commits = tuple(_to_commit(item) for item in page.items)
            if since is not None:
                commits = tuple(c for c in commits if c.timestamp is None or c.timestamp >= since)
            yield HistoryPage(url=page.url, commits=commits, next_url=page.next_url)

def _sha_of(item: Any) -> str:
    return base.sha_in(item, "hash", "Bitbucket").lower()


def _to_commit(data: Any, files: tuple[str, ...] = ()) -> Commit:
    sha = _sha_of(data)
    parents = data.get("parents") if isinstance(data.get("parents"), list) else []
    author = data.get("author") if isinstance(data.get("author"), dict) else {}
    user = author.get("user") if isinstance(author.get("user"), dict) else {}
    links = data.get("links") if isinstance(data.get("links"), dict) else {}
    html = links.get("html") if isinstance(links.get("html"), dict) else {}
    message = data.get("message")
    raw_author = str(author.get("raw") or "")
    return Commit(
        sha=sha, message=message if isinstance(message, str) else "",
        author=str(user.get("display_name") or raw_author.split(" <", 1)[0]),
        timestamp=base.timestamp_of(data.get("date")), files=files,
        parents=tuple(_sha_of(parent) for parent in parents),
        url=html.get("href") if isinstance(html.get("href"), str) else None,
    )
