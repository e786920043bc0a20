"""Plain data the reality core reasons about.

Everything here is a frozen dataclass of plain values (with slots where there is one per commit:
a long history holds 100k of them): the worker builds these from stored facts, the pure functions
in this package turn them into drift, and the web and sync layers read the result. No Flask, no
SQLAlchemy, no HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

DriftState = Literal[
    "live", "pending-deploy", "reverted", "partially-reverted", "rolled-back", "flag-off", "hotfixed"
]
DRIFT_STATES: tuple[str, ...] = (
    "live",
    "pending-deploy",
    "reverted",
    "partially-reverted",
    "rolled-back",
    "flag-off",
    "hotfixed",
)
NOT_DRIFT: frozenset[str] = frozenset({"live", "pending-deploy"})


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit we know of. `parents` is empty when the source (a push payload) did not say."""

    sha: str
    message: str
    author: str = ""
    timestamp: datetime | None = None
    files: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()
    # For a merge commit on the default branch: the commits it brought in (reachable from the
    # merge but not from its mainline parent). Empty for ordinary commits.
    brought_in: tuple[str, ...] = ()
    url: str | None = None
    # When it reached the default branch (the push, or the merge that brought it in); None while
    # unknown. Author and commit dates say when it was written, which can be days earlier.
    landed_at: datetime | None = None

    @property
    def reached_branch(self) -> datetime | None:
        return self.landed_at or self.timestamp

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0].strip()

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


@dataclass(frozen=True)
class PullRequest:
    number: int
    title: str
    body: str
    head_ref: str
    merge_commit_sha: str | None
    merged_at: datetime | None
    commit_shas: tuple[str, ...] = ()
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """One step by which commits reached the default branch: a push (`before` -> `after`, its
    commits in the order GitHub lists them) or a first-parent step read through the API."""

    before: str | None
    after: str
    commits: tuple[str, ...]
    source: Literal["push", "api"] = "push"
    at: datetime | None = None  # when the push happened (None when the API cannot say)


@dataclass(frozen=True)
class Deployment:
    """A successful production deployment and what it changed against the previous one.

    `added` and `removed` are the default-branch commits it brought and took away (GitHub's
    compare: ahead adds, behind removes, diverged does both); the first deployment adds
    everything reachable from its SHA.
    """

    id: str
    environment: str
    sha: str
    deployed_at: datetime
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    url: str | None = None


@dataclass(frozen=True)
class FlagState:
    """The latest known state of a feature flag in one environment."""

    provider: str
    key: str
    name: str
    environment: str
    on: bool
    changed_at: datetime
    issue_keys: tuple[str, ...] = ()
    url: str | None = None
    production: bool = True


@dataclass(frozen=True)
class ConfigChange:
    """A configuration change reported by a deploy tool (Argo CD, a pipeline, Terraform, a config
    service): `applied` or `reverted` in one environment, naming the issues it concerns.

    `ref` identifies the report (the same report always has the same ref); `arrival` is the order
    in which reports reached us, which breaks ties of `changed_at`."""

    ref: str
    environment: str
    change: Literal["applied", "reverted"]
    issue_keys: tuple[str, ...]
    description: str
    changed_at: datetime
    url: str | None = None
    production: bool = True
    arrival: int = 0


@dataclass(frozen=True)
class Release:
    """A published release. `sha` is the commit its tag points at, None while unknown; a release
    is shown on a feature's timeline but never changes its drift state."""

    tag: str
    name: str = ""
    sha: str | None = None
    url: str | None = None
    published_at: datetime | None = None


# ---- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Revert:
    """A commit that reverts earlier default-branch commits (or undoes an earlier revert)."""

    sha: str
    targets: tuple[str, ...]  # the default-branch commits it reverts (merges already expanded)
    form: Literal["sha", "revert-button", "subject", "reapply", "revert-of-revert"]
    undoes: tuple[str, ...] = ()  # SHAs of earlier reverts this one undoes
    keys: tuple[str, ...] = ()  # issue keys named in its own message (never changes of those keys)


@dataclass(frozen=True)
class UnconfirmedRevert:
    """Looks like a revert (`Revert ABC-12`) but matches nothing: shown, never acted on."""

    sha: str
    subject: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class RevertAnalysis:
    reverts: tuple[Revert, ...]
    unconfirmed: tuple[UnconfirmedRevert, ...]
    # Final state: reverted commit SHA -> the revert commit currently keeping it reverted.
    reverted_by: dict[str, str] = field(default_factory=dict)
    # Reverted SHAs named in messages that are not (yet) known commits on the default branch.
    unresolved: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Change:
    """A change of an issue: a default-branch commit naming it, or the merge of a PR naming it."""

    sha: str
    position: int  # index in default-branch order
    subject: str
    pr_number: int | None = None
    url: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True)
class Drift:
    key: str
    state: DriftState
    since: datetime | None
    summary: str
    changes: int
    reverted: int
    environment: str | None
    # What caused the current state: a commit SHA, a deployment id, a flag key or a
    # configuration change's ref.
    cause_kind: Literal["commit", "deployment", "flag", "config", "none"] = "none"
    cause_ref: str | None = None
    cause_url: str | None = None
    # What the cause says of itself, where its ref says nothing to a reader: a configuration
    # change's description.
    cause_text: str | None = None

    @property
    def in_drift(self) -> bool:
        return self.state not in NOT_DRIFT
