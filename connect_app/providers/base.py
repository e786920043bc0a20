"""What every repository host's reader offers the jobs, whichever host it reads (GitHub, GitLab,
Bitbucket Cloud): the default branch's history with messages and parents, what one SHA has that
another lacks, the commits of a pull or merge request, and a commit's files when a rule needs
them. Jobs speak only this interface; each host's module turns its API into these plain records,
so nothing past the jobs knows which host a fact came from."""

from __future__ import annotations

import itertools
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import requests

from connect_app.connect.net import AnswerTooLarge, AnswerTooSlow, GuardedSession, Refused
from connect_app.connect.urls import OriginPattern
from connect_app.reality.model import Commit

# Bounds on what one answer and one listing may cost, whatever a server sends: a listing ends
# after MAX_PAGES pages (10 million commits), an answer after READ_DEADLINE seconds in all or
# MAX_ANSWER_BYTES bytes. Read when used, so a test can lower them.
MAX_PAGES = 100_000
READ_DEADLINE = 60.0
MAX_ANSWER_BYTES = 16 * 1024 * 1024
FULL_SHA = re.compile(r"[0-9a-fA-F]{40}")


class ProviderUnavailable(Exception):
    """No usable API access (no token, host not allowed, or the host answered with an error)."""


class HostileAnswer(ProviderUnavailable):
    """The host's answers cannot be a real repository's (a parent cycle, pagination that repeats or
    never ends, a page far larger than asked for): retrying will not help."""


class RateLimited(Exception):
    def __init__(self, reset_at: float, host: str = "GitHub") -> None:
        super().__init__(f"{host} rate limit exhausted until {datetime.fromtimestamp(reset_at, UTC):%H:%M:%S} UTC")
        self.reset_at = reset_at

    @property
    def wait_seconds(self) -> float:
        return max(1.0, self.reset_at - time.time())


@dataclass(frozen=True)
class Comparison:
    status: str  # ahead | behind | diverged | identical
    added: tuple[str, ...]  # in head, not in base (oldest first)
    removed: tuple[str, ...]  # in base, not in head (oldest first)


def compared(added: tuple[str, ...], removed: tuple[str, ...]) -> Comparison:
    """A comparison from what each side has that the other lacks (hosts that do not name the
    status themselves)."""
    status = ("identical" if not added and not removed else "ahead" if not removed
              else "behind" if not added else "diverged")
    return Comparison(status=status, added=added, removed=removed)


@dataclass(frozen=True)
class HistoryPage:
    """One page of the default branch's listing, newest first; `next_url` is None on the last."""

    url: str
    commits: tuple[Commit, ...]
    next_url: str | None


class HistoryReader(Protocol):
    """One connection's repository, read through its host's API."""

    has_credentials: bool

    def close(self) -> None: ...

    def default_branch(self) -> str: ...

    def commit(self, sha: str) -> Commit:
        """One commit with its parents and the files it changed."""

    def compare(self, base: str, head: str) -> Comparison: ...

    def tag_commit(self, tag: str) -> str: ...

    def pull_commits(self, number: int) -> tuple[str, ...]:
        """The commits of pull (or merge) request `number`, oldest first."""

    def merged_commit(self, number: int) -> str | None:
        """The commit by which request `number` reached its target branch (merge or squash)."""

    def history_pages(self, branch: str, since: datetime | None = None, *, start_url: str | None = None,
                      max_pages: int | None = None) -> Iterator[HistoryPage]:
        """The branch's listing, newest first, with messages and parents (no files); `start_url`
        resumes at a page a previous run saved."""

    def history(self, branch: str, since: datetime | None = None) -> Iterator[Commit]: ...


# --- what every reader does alike ---------------------------------------------------------------


class GuardedReader(ABC):
    """A host's reader for one connection: one `guarded_session` for everything it sends, the
    default branch asked once, and the history read from the host's listing (`history_pages`)."""

    host = "the host"  # the host's name, in what its hostile answers are reported as

    def __init__(self, session: GuardedSession, *, has_credentials: bool) -> None:
        self._session = session
        self.has_credentials = has_credentials
        self._default_branch: str | None = None
        self.requests_sent = 0

    def close(self) -> None:
        self._session.close()

    @abstractmethod
    def _read_default_branch(self) -> Any:
        """The default branch's name as the host answers it (checked by `default_branch`)."""

    @abstractmethod
    def history_pages(self, branch: str, since: datetime | None = None, *, start_url: str | None = None,
                      max_pages: int | None = None) -> Iterator[HistoryPage]:
        """As `HistoryReader.history_pages` says."""

    def default_branch(self) -> str:
        if self._default_branch is None:
            branch = self._read_default_branch()
            if not isinstance(branch, str) or not branch:
                raise HostileAnswer(f"{self.host} answered the repository without a default branch")
            self._default_branch = branch
        return self._default_branch

    def history(self, branch: str, since: datetime | None = None) -> Iterator[Commit]:
        """Commits reachable from the branch head, newest first, with parents (no files)."""
        return each_commit_once(self.history_pages(branch, since), self.host)


def guarded_session(allowed_api_urls: tuple[OriginPattern, ...], api_url: str, timeout: int) -> GuardedSession:
    """The session a reader sends everything through: only allowed hosts, credentials only to the
    connection's own API origin, each answer under READ_DEADLINE and MAX_ANSWER_BYTES."""
    return GuardedSession(allowed_api_urls, credential_origin=api_url, deadline=READ_DEADLINE,
                          max_bytes=MAX_ANSWER_BYTES, timeout=(min(5.0, float(timeout)), float(timeout)))


@contextmanager
def guarded_answers(unreachable: str) -> Iterator[None]:
    """Around one request through a `guarded_session`. The connection's own address passed the
    allow-list when the reader was built, so a refused request is one an answer pointed at, and an
    answer too large or too slow is the server's doing: hostile answers, which retrying will not
    mend. Any other transport failure is the host being unavailable (`unreachable`, read by Jira
    admins on the admin page, names what they can check)."""
    try:
        yield
    except (Refused, AnswerTooLarge, AnswerTooSlow) as exc:
        raise HostileAnswer(str(exc)) from exc
    except requests.RequestException as exc:
        raise ProviderUnavailable(f"{unreachable} ({type(exc).__name__})") from exc


@dataclass(frozen=True)
class ListingPage:
    """One page of a listing as its host sent it: where it was read, its items (a list, unless the
    host sent something else), and the next page's address (None on the last)."""

    url: str
    items: Any
    next_url: str | None


def listing_pages(read: Callable[[str, Mapping[str, Any] | None], ListingPage], first_url: str,
                  query: Mapping[str, Any], *, host: str, per_page: int, start_url: str | None = None,
                  max_pages: int | None = None) -> Iterator[ListingPage]:
    """A listing's pages, bounded whatever the server sends: a page already read (or a next page
    pointing back at one), a page that is not a list or holds more than `per_page` items, or more
    than `max_pages` (MAX_PAGES) pages end it with HostileAnswer. `query` goes with the first
    request only (next pages carry their own); `start_url` resumes at a page a previous run saved."""
    url, params = (start_url, None) if start_url else (first_url, query)
    seen: set[str] = set()
    limit = MAX_PAGES if max_pages is None else max_pages
    for count in itertools.count(1):
        page = read(url, params)
        if page.url in seen:
            raise HostileAnswer(f"{host}'s pagination came back to a page it had already sent ({_short(page.url)})")
        seen.add(page.url)
        if not isinstance(page.items, list):
            raise HostileAnswer(f"{host} answered {_short(page.url)} without a list")
        if len(page.items) > per_page:
            raise HostileAnswer(f"{host} answered a page of {len(page.items)} items where at most {per_page} "
                                "were asked for")
        nxt = page.next_url
        if nxt is not None and nxt in seen:
            raise HostileAnswer(f"{host}'s pagination points back to a page it had already sent ({_short(nxt)})")
        if nxt is not None and count >= limit:
            raise HostileAnswer(f"{host}'s listing did not end after {limit} pages")
        yield page
        if nxt is None:
            return
        url, params = nxt, None


def next_link(response: requests.Response) -> str | None:
    """The next page named by a `Link: <...>; rel="next"` header (GitHub, GitLab)."""
    link = response.links.get("next") if response.headers.get("Link") else None
    url = (link or {}).get("url")
    return url if isinstance(url, str) and url else None


def each_commit_once(pages: Iterable[HistoryPage], host: str) -> Iterator[Commit]:
    """The commits of a history listing, newest first; a commit listed twice is a hostile answer
    (a real history lists each commit once), not a loop to follow."""
    seen: set[str] = set()
    for page in pages:
        for commit in page.commits:
            if commit.sha in seen:
                raise HostileAnswer(f"{host} listed commit {commit.sha[:12]} twice")
            seen.add(commit.sha)
            yield commit


def sha_in(item: Any, field: str, host: str) -> str:
    """The full commit SHA an answer names in `field`; anything else there is a hostile answer."""
    sha = item.get(field) if isinstance(item, dict) else None
    if not isinstance(sha, str) or not FULL_SHA.fullmatch(sha):
        raise HostileAnswer(f"{host} answered a commit without a valid SHA")
    return sha


def timestamp_of(value: Any) -> datetime | None:
    """An ISO 8601 time as hosts write it (`Z` or an offset), or None for anything else."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        return None


def _short(url: str) -> str:
    return url if len(url) <= 160 else url[:157] + "..."
