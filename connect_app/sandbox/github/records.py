"""What the GitHub simulator keeps: hooks and their deliveries, pull requests, deployments,
installed GitHub Apps and their tokens, the rate limit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from connect_app.sandbox.github import payloads


class AppAuthError(Exception):
    """An app JWT GitHub would refuse; the message is GitHub's."""


@dataclass
class Hook:
    id: int
    url: str
    secret: str | None
    events: tuple[str, ...]
    content_type: str = "json"  # or "form": the JSON in a form field `payload`


@dataclass
class Delivery:
    """One POST to one hook, as GitHub's "Recent Deliveries" keeps it."""

    guid: str
    event: str
    action: str | None
    hook_id: int | None
    url: str
    headers: dict[str, str]
    body: bytes
    status: int | None  # None when the receiver could not be reached
    response_body: bytes = b""
    error: str | None = None
    redelivery: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class PullRequestRecord:
    number: int
    title: str
    body: str
    head_ref: str
    base_ref: str
    created_at: datetime
    base_sha: str
    head_sha: str
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    merge_commit_sha: str | None = None
    merge_method: str | None = None
    commits: tuple[str, ...] = ()  # oldest first, frozen at merge

    @property
    def merged(self) -> bool:
        return self.merged_at is not None


@dataclass
class DeploymentRecord:
    id: int
    sha: str
    ref: str
    environment: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    statuses: list[payloads.DeploymentStatusFacts] = field(default_factory=list)

    def facts(self) -> payloads.DeploymentFacts:
        return payloads.DeploymentFacts(
            id=self.id,
            sha=self.sha,
            ref=self.ref,
            environment=self.environment,
            created_at=self.created_at,
            updated_at=self.updated_at,
            description=self.description,
        )


@dataclass(frozen=True)
class GitHubAppRecord:
    """A GitHub App installed on this repository: its id, the public half of its key."""

    app_id: str
    public_key_pem: str
    installation_id: int
    created_at: float


@dataclass(frozen=True)
class InstallationToken:
    token: str
    installation_id: int
    expires_at: float  # epoch seconds, by the simulator's clock


@dataclass
class RateLimit:
    limit: int = 5000
    remaining: int = 5000
    reset: int = 0  # epoch seconds when the window resets
