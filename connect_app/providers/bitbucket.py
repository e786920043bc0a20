"""What the worker asks Bitbucket Cloud's REST API 2.0, through the app's guarded requests session:
every request (the `next` pages named inside answers included) is checked against
ALLOWED_GITHUB_API_URLS when it is sent, and the token goes only to the connection's API origin.

Authentication: a repository, project or workspace access token (`Bearer`), or an app password
given as `username:app_password` (`Basic`)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from connect_app.connect.net import AnswerTooLarge, AnswerTooSlow, GuardedSession, Refused
from connect_app.connect.urls import OriginPattern, url_allowed
from connect_app.providers.base import Comparison, HistoryPage, HostileAnswer, ProviderUnavailable, RateLimited
from connect_app.reality.model import Commit

PAGELEN = 100
MAX_PAGES = 100_000
READ_DEADLINE = 60.0
MAX_ANSWER_BYTES = 16 * 1024 * 1024
_SHA = re.compile(r"[0-9a-fA-F]{40}")
_SHORT = re.compile(r"[0-9a-fA-F]{7,40}")


class BitbucketReader:
    """One Bitbucket Cloud repository (`workspace/repo_slug`)."""

    def __init__(self, *, api_url: str, repository: str, token: str | None,
                 allowed_api_urls: tuple[OriginPattern, ...], timeout: int = 15) -> None:
        api_url = api_url.rstrip("/")
        if not url_allowed(api_url, list(allowed_api_urls)):
            raise ProviderUnavailable(f"{api_url} is not in ALLOWED_GITHUB_API_URLS")
        self.has_credentials = bool(token)
        self._session = GuardedSession(allowed_api_urls, credential_origin=api_url, deadline=READ_DEADLINE,
                                       max_bytes=MAX_ANSWER_BYTES, timeout=(min(5.0, float(timeout)), float(timeout)))
        if token and ":" in token:
            self._session.auth = tuple(token.split(":", 1))  # type: ignore[assignment]
        elif token:
            self._session.headers["Authorization"] = f"Bearer {token}"
        workspace, _, slug = repository.partition("/")
        self._repo = f"{api_url}/repositories/{quote(workspace, safe='')}/{quote(slug, safe='')}"
        self._default_branch: str | None = None
        self.requests_sent = 0

    def close(self) -> None:
        self._session.close()

    # --- transport ------------------------------------------------------------------------------

    def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        self.requests_sent += 1
        try:
            response = self._session.get(url, params=params, allow_redirects=False)
        except Refused as exc:
            raise HostileAnswer(str(exc)) from exc
        except (AnswerTooLarge, AnswerTooSlow) as exc:
            raise HostileAnswer(str(exc)) from exc
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"Bitbucket could not be reached: {type(exc).__name__}") from exc
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
               max_pages: int | None = None, pagelen: int = PAGELEN) -> Iterator[tuple[str, list[Any], str | None]]:
        """A paginated listing as (url, values, next url): Bitbucket names the next page inside
        the answer (`next`), which is checked like any other destination when it is requested."""
        here: str | None = start_url or url
        query: dict[str, Any] | None = None if start_url else {**params, "pagelen": pagelen}
        seen: set[str] = set()
        limit = MAX_PAGES if max_pages is None else max_pages
        while here is not None:
            body = self._get(here, query)
            values = body.get("values") if isinstance(body, dict) else None
            if not isinstance(values, list) or len(values) > pagelen:
                raise HostileAnswer("Bitbucket answered a page that is not a list of at most the asked length")
            nxt = body.get("next") if isinstance(body.get("next"), str) else None
            seen.add(here)
            if nxt is not None and (nxt in seen or len(seen) >= limit):
                raise HostileAnswer("Bitbucket's listing repeats a page or does not end")
            yield here, values, nxt
            here, query = nxt, None

    # --- what the app asks ----------------------------------------------------------------------

    def default_branch(self) -> str:
        if self._default_branch is None:
            body = self._get(self._repo)
            main = body.get("mainbranch") if isinstance(body, dict) else None
            name = main.get("name") if isinstance(main, dict) else None
            if not isinstance(name, str) or not name:
                raise HostileAnswer("Bitbucket answered the repository without a main branch")
            self._default_branch = name
        return self._default_branch

    def commit(self, sha: str) -> Commit:
        body = self._get(f"{self._repo}/commit/{quote(sha, safe='')}")
        files: list[str] = []
        for _url, values, _next in self._pages(f"{self._repo}/diffstat/{quote(_sha_of(body), safe='')}", {}):
            for entry in values:
                side = (entry.get("new") or entry.get("old")) if isinstance(entry, dict) else None
                if isinstance(side, dict) and isinstance(side.get("path"), str):
                    files.append(side["path"])
        return _to_commit(body, files=tuple(files))

    def _between(self, include: str, exclude: str) -> tuple[str, ...]:
        shas: list[str] = []
        for _url, values, _next in self._pages(f"{self._repo}/commits", {"include": include, "exclude": exclude}):
            shas.extend(_sha_of(item) for item in values)
        return tuple(reversed(shas))  # listed newest first

    def compare(self, base: str, head: str) -> Comparison:
        added, removed = self._between(head, base), self._between(base, head)
        status = ("identical" if not added and not removed else "ahead" if not removed
                  else "behind" if not added else "diverged")
        return Comparison(status=status, added=added, removed=removed)

    def tag_commit(self, tag: str) -> str:
        body = self._get(f"{self._repo}/refs/tags/{quote(tag, safe='')}")
        return _sha_of(body.get("target") if isinstance(body, dict) else None)

    def pull_commits(self, number: int) -> tuple[str, ...]:
        shas: list[str] = []
        for _url, values, _next in self._pages(f"{self._repo}/pullrequests/{int(number)}/commits", {}):
            shas.extend(_sha_of(item) for item in values)
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
        for url, values, nxt in self._pages(f"{self._repo}/commits/{quote(branch, safe='')}", {},
                                            start_url=start_url, max_pages=max_pages):
            commits = tuple(_to_commit(item) for item in values)
            if since is not None:
                commits = tuple(c for c in commits if c.timestamp is None or c.timestamp >= since)
            yield HistoryPage(url=url, commits=commits, next_url=nxt)

    def history(self, branch: str, since: datetime | None = None) -> Iterator[Commit]:
        seen: set[str] = set()
        for page in self.history_pages(branch, since):
            for commit in page.commits:
                if commit.sha in seen:
                    raise HostileAnswer(f"Bitbucket listed commit {commit.sha[:12]} twice")
                seen.add(commit.sha)
                yield commit


def _sha_of(item: Any) -> str:
    sha = item.get("hash") if isinstance(item, dict) else None
    if not isinstance(sha, str) or not _SHA.fullmatch(sha):
        raise HostileAnswer("Bitbucket answered a commit without a valid hash")
    return sha.lower()


def _to_commit(data: Any, files: tuple[str, ...] = ()) -> Commit:
    sha = _sha_of(data)
    parents = data.get("parents") if isinstance(data.get("parents"), list) else []
    author = data.get("author") if isinstance(data.get("author"), dict) else {}
    user = author.get("user") if isinstance(author.get("user"), dict) else {}
    links = data.get("links") if isinstance(data.get("links"), dict) else {}
    html = links.get("html") if isinstance(links.get("html"), dict) else {}
    when = data.get("date")
    try:
        timestamp = datetime.fromisoformat(when.replace("Z", "+00:00")) if isinstance(when, str) else None
    except ValueError:
        timestamp = None
    message = data.get("message")
    raw_author = str(author.get("raw") or "")
    return Commit(
        sha=sha, message=message if isinstance(message, str) else "",
        author=str(user.get("display_name") or raw_author.split(" <", 1)[0]), timestamp=timestamp, files=files,
        parents=tuple(_sha_of(parent) for parent in parents),
        url=html.get("href") if isinstance(html.get("href"), str) else None,
    )
