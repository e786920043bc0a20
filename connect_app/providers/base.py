"""What every repository host's reader offers the jobs, whichever host it reads (GitHub, GitLab,
Bitbucket Cloud): the default branch's history with messages and parents, what one SHA has that
another lacks, the commits of a pull or merge request, and a commit's files when a rule needs
them. Jobs speak only this interface; each host's module turns its API into these plain records,
so nothing past the jobs knows which host a fact came from."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from connect_app.reality.model import Commit


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
