"""Payloads from GitHub, CI and flag services turned into plain records, at the boundary.

Nothing here trusts its input: every field is type-checked, and anything missing becomes a
`PayloadError` that the caller turns into a 400 (at intake) or a parked delivery (in the worker).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connect_app.reality.keys import find_keys
from connect_app.reality.model import Commit

ZERO_SHA = "0" * 40


class PayloadError(ValueError):
    pass


def _str(data: Any, key: str, *, required: bool = True, default: str = "") -> str:
    value = data.get(key) if isinstance(data, dict) else None
    if value is None:
        if required:
            raise PayloadError(f"missing {key}")
        return default
    if not isinstance(value, str):
        raise PayloadError(f"{key} must be a string")
    return value


def _obj(data: Any, key: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, dict):
        raise PayloadError(f"missing {key}")
    return value


def parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    # bool is an int to Python, but `true` is no time.
    if isinstance(value, int | float) and not isinstance(value, bool):
        # LaunchDarkly and GitHub's push `repository.pushed_at` use epoch numbers (ms or s).
        # The JSON reader lets NaN and Infinity through, and a number past the calendar makes
        # the clock functions raise rather than answer: both are the sender's error, not ours.
        if isinstance(value, float) and not math.isfinite(value):
            raise PayloadError("time must be a finite number")
        try:
            # Inside the try: an integer too large for a float fails on the division already.
            seconds = value / 1000 if value > 10**11 else value
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, ValueError, OSError) as exc:
            raise PayloadError(f"time {value!r} is out of range") from exc
    if not isinstance(value, str):
        raise PayloadError("time must be a string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PayloadError(f"bad time {value[:40]!r}") from exc
    return _in_utc(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _in_utc(moment: datetime) -> datetime:
    # 0001-01-01T00:00+01:00 and 9999-12-31T23:59-01:00 are valid ISO-8601 but lie outside the
    # calendar once seen in UTC, where every comparison and column puts them.
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise PayloadError(f"time {moment.isoformat()[:40]!r} is out of range") from exc


@dataclass(frozen=True)
class PushEvent:
    repository: str
    default_branch: str
    ref: str
    before: str
    after: str
    forced: bool
    commits: tuple[Commit, ...]
    compare_url: str | None = None
    # False when the sender listed only some of the pushed commits (GitLab lists the newest 20,
    # Bitbucket Cloud 5): the rest are read through the host's API.
    complete: bool = True

    @property
    def to_default_branch(self) -> bool:
        return self.ref == f"refs/heads/{self.default_branch}"

    @property
    def deleted(self) -> bool:
        return self.after == ZERO_SHA


def parse_push(payload: dict[str, Any]) -> PushEvent:
    repository = _obj(payload, "repository")
    commits = []
    raw_commits = payload.get("commits") or []
    if not isinstance(raw_commits, list):
        raise PayloadError("commits must be a list")
    for raw in raw_commits:
        if not isinstance(raw, dict):
            raise PayloadError("commit must be an object")
        author = raw.get("author") if isinstance(raw.get("author"), dict) else {}
        files: list[str] = []
        for key in ("added", "modified", "removed"):
            names = raw.get(key) or []
            if isinstance(names, list):
                files.extend(str(name) for name in names)
        commits.append(Commit(
            sha=_str(raw, "id"),
            message=_str(raw, "message", required=False),
            author=str(author.get("name") or author.get("username") or ""),
            timestamp=parse_time(raw.get("timestamp")),
            files=tuple(files),
            url=_str(raw, "url", required=False) or None,
        ))
    return PushEvent(
        repository=_str(repository, "full_name"),
        default_branch=_str(repository, "default_branch", required=False)
        or _str(repository, "master_branch", required=False, default="main"),
        ref=_str(payload, "ref"),
        before=_str(payload, "before"),
        after=_str(payload, "after"),
        forced=bool(payload.get("forced")),
        commits=tuple(commits),
        compare_url=_str(payload, "compare", required=False) or None,
    )


@dataclass(frozen=True)
class MergedPullRequest:
    number: int
    title: str
    body: str
    head_ref: str
    base_ref: str
    merge_commit_sha: str | None
    merged_at: datetime | None
    url: str | None
    commit_count: int = 0


def parse_pull_request(payload: dict[str, Any]) -> MergedPullRequest | None:
    """The merged pull request of a `closed` event, or None for anything else."""
    if payload.get("action") != "closed":
        return None
    pr = _obj(payload, "pull_request")
    if not pr.get("merged"):
        return None
    number = pr.get("number") if isinstance(pr.get("number"), int) else payload.get("number")
    if not isinstance(number, int):
        raise PayloadError("missing number")
    return MergedPullRequest(
        number=number,
        title=_str(pr, "title", required=False),
        body=_str(pr, "body", required=False),
        head_ref=_str(_obj(pr, "head"), "ref", required=False),
        base_ref=_str(_obj(pr, "base"), "ref", required=False),
        merge_commit_sha=_str(pr, "merge_commit_sha", required=False) or None,
        merged_at=parse_time(pr.get("merged_at")),
        url=_str(pr, "html_url", required=False) or None,
        commit_count=pr.get("commits") if isinstance(pr.get("commits"), int) else 0,
    )


@dataclass(frozen=True)
class DeploymentEvent:
    external_id: str
    environment: str
    sha: str
    status: str
    at: datetime
    url: str | None


def parse_deployment(event: str, payload: dict[str, Any]) -> DeploymentEvent:
    deployment = _obj(payload, "deployment")
    deployment_id = deployment.get("id")
    if not isinstance(deployment_id, int | str):
        raise PayloadError("missing deployment.id")
    if event == "deployment_status":
        status = _obj(payload, "deployment_status")
        return DeploymentEvent(
            external_id=str(deployment_id),
            environment=_str(status, "environment", required=False) or _str(deployment, "environment"),
            sha=_str(deployment, "sha"),
            status=_str(status, "state"),
            at=parse_time(status.get("updated_at") or status.get("created_at")) or datetime.now(UTC),
            url=_str(status, "environment_url", required=False) or _str(status, "target_url", required=False)
            or None,
        )
    return DeploymentEvent(
        external_id=str(deployment_id),
        environment=_str(deployment, "environment"),
        sha=_str(deployment, "sha"),
        status="pending",
        at=parse_time(deployment.get("created_at")) or datetime.now(UTC),
        url=None,
    )


CI_STATUSES = frozenset({"success", "failure", "error", "in_progress", "queued", "pending", "inactive"})
_CI_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
_CI_ENVIRONMENT = re.compile(r"^[\w .:/-]{1,100}$")


def parse_ci_deployment(payload: dict[str, Any], received_at: datetime) -> DeploymentEvent:
    """A deployment reported by a CI job. The one rule for its body: intake refuses with these
    messages what the worker would otherwise fail to record."""
    environment, sha = payload.get("environment"), payload.get("sha")
    status = payload.get("status", "success")
    if not isinstance(environment, str) or not _CI_ENVIRONMENT.match(environment):
        raise PayloadError('environment is required, for example "production"')
    if not isinstance(sha, str) or not _CI_SHA.match(sha):
        raise PayloadError("sha must be a commit SHA of 7 to 40 hex digits")
    if not isinstance(status, str) or status not in CI_STATUSES:
        raise PayloadError(f"status must be one of {', '.join(sorted(CI_STATUSES))}")
    reported = _sender_time(payload.get("deployed_at"))
    url = payload.get("url")
    if url is not None and _link(url) is None:
        raise PayloadError("url must be an http(s) link to the deployment")
    # Deployments are ordered by time, so a CI clock running ahead (or a typo) would put one
    # deployment after every later one; nothing can have been deployed after we heard of it.
    return DeploymentEvent(
        external_id="",
        environment=environment,
        sha=sha,
        status=status,
        at=min(reported, received_at) if reported else received_at,
        url=url or None,
    )


def _sender_time(value: Any, name: str = "deployed_at") -> datetime | None:
    """A time a sender reported in our own endpoints' bodies: ISO-8601 with a zone, or absent."""
    if value is None:
        return None
    example = f"{name} must be an ISO-8601 time such as 2026-11-26T23:31:00Z"
    if not isinstance(value, str):
        raise PayloadError(example)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PayloadError(example) from exc
    if parsed.tzinfo is None:
        raise PayloadError(f"{name} must carry a time zone (Z or +hh:mm)")
    try:
        return _in_utc(parsed)
    except PayloadError as exc:
        raise PayloadError(f"{name} is outside the calendar once seen in UTC") from exc


@dataclass(frozen=True)
class FlagChange:
    key: str
    name: str
    environment: str
    on: bool
    changed_at: datetime
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    url: str | None = None


def parse_flag_changes(provider: str, payload: dict[str, Any], received_at: datetime) -> list[FlagChange]:
    if provider == "launchdarkly":
        return _launchdarkly(payload, received_at)
    if provider == "unleash":
        return _unleash(payload, received_at)
    return [_generic(payload, received_at)]


_MAX_URL = 500


def _link(value: Any) -> str | None:
    """A flag's link, or None: it becomes an href in Jira comments, so only web links of a sane
    length pass (the same rule as a deployment's url)."""
    if isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) <= _MAX_URL:
        return value
    return None


def _tags(value: Any, *, unleash: bool = False) -> tuple[str, ...]:
    # Tags name issues, so a tag the sender did not mean as text (a number, an object) must not
    # be turned into text that might; Unleash alone sends tags as {"type", "value"} pairs.
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PayloadError("tags must be a list")
    tags = []
    for tag in value:
        if isinstance(tag, str):
            tags.append(tag)
        elif unleash and isinstance(tag, dict) and isinstance(tag.get("type"), str) \
                and isinstance(tag.get("value"), str):
            tags.append(f"{tag['type']}:{tag['value']}")
        else:
            raise PayloadError("each tag must be a string")
    return tuple(tag for tag in tags if tag)


def _generic(payload: dict[str, Any], received_at: datetime) -> FlagChange:
    on = payload.get("on")
    if not isinstance(on, bool):
        raise PayloadError("on must be true or false")
    return FlagChange(
        key=_str(payload, "key"),
        name=_str(payload, "name", required=False) or _str(payload, "key"),
        environment=_str(payload, "environment", required=False, default="production"),
        on=on,
        changed_at=parse_time(payload.get("changed_at")) or received_at,
        description=_str(payload, "description", required=False),
        tags=_tags(payload.get("tags")),
        url=_generic_link(payload),
    )


def _generic_link(payload: dict[str, Any]) -> str | None:
    # Our own endpoint: a sender who gets its link wrong hears so (400) rather than losing it.
    url = _str(payload, "url", required=False) or None
    if url is not None and _link(url) is None:
        raise PayloadError(f"url must be an http(s) link of at most {_MAX_URL} characters")
    return url


def _launchdarkly(payload: dict[str, Any], received_at: datetime) -> list[FlagChange]:
    """LaunchDarkly's flag webhook carries the whole flag after the change in `currentVersion`."""
    if payload.get("kind") != "flag":
        return []
    current = _obj(payload, "currentVersion")
    environments = current.get("environments") or {}
    if not isinstance(environments, dict):
        raise PayloadError("currentVersion.environments must be an object")
    changed_at = parse_time(payload.get("date")) or received_at
    site = (payload.get("_links") or {}).get("site", {}) if isinstance(payload.get("_links"), dict) else {}
    url = site.get("href") if isinstance(site, dict) else None
    changes = []
    for environment, state in environments.items():
        if isinstance(state, dict) and isinstance(state.get("on"), bool):
            changes.append(FlagChange(
                key=_str(current, "key"),
                name=_str(current, "name", required=False) or _str(current, "key"),
                environment=str(environment),
                on=state["on"],
                changed_at=changed_at,
                description=_str(current, "description", required=False),
                tags=_tags(current.get("tags")),
                url=_link(f"https://app.launchdarkly.com{url}") if isinstance(url, str) and url.startswith("/")
                else None,
            ))
    return changes


_UNLEASH_TOGGLES = {"feature-environment-enabled": True, "feature-environment-disabled": False}


def _unleash(payload: dict[str, Any], received_at: datetime) -> list[FlagChange]:
    kind = payload.get("type")
    if kind is not None and not isinstance(kind, str):
        # A list or an object is no event type (and, unhashable, cannot even be looked up).
        raise PayloadError("type must be a string")
    if kind not in _UNLEASH_TOGGLES:
        return []
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    key = payload.get("featureName") or data.get("name")
    if not isinstance(key, str) or not key:
        raise PayloadError("missing featureName")
    return [FlagChange(
        key=key,
        name=key,
        environment=_str(payload, "environment", required=False, default="production"),
        on=_UNLEASH_TOGGLES[kind],
        changed_at=parse_time(payload.get("createdAt")) or received_at,
        description=_str(data, "description", required=False),
        tags=_tags(payload.get("tags"), unleash=True),
    )]


@dataclass(frozen=True)
class ConfigChangeEvent:
    """A configuration change reported to `/api/config-changes/<id>` (INTERFACES 2 and 4)."""

    environment: str
    change: str  # applied | reverted
    issue_keys: tuple[str, ...]
    description: str
    changed_at: datetime
    url: str | None


CONFIG_CHANGES = ("applied", "reverted")
MAX_CONFIG_KEYS = 100
MAX_CONFIG_DESCRIPTION = 1000


def parse_config_change(payload: dict[str, Any], received_at: datetime) -> ConfigChangeEvent:
    """The one rule for a configuration change's body: intake refuses with these messages what
    the worker would otherwise fail to record."""
    environment, change = payload.get("environment"), payload.get("change")
    if not isinstance(environment, str) or not _CI_ENVIRONMENT.fullmatch(environment):
        raise PayloadError('environment is required, for example "production" (at most 100 characters)')
    if not isinstance(change, str) or change not in CONFIG_CHANGES:
        raise PayloadError('change must be "applied" or "reverted"')
    description = payload.get("description")
    if not isinstance(description, str) or not description.strip():
        raise PayloadError("description is required: say what was changed, in a few words")
    if len(description) > MAX_CONFIG_DESCRIPTION:
        raise PayloadError(f"description must be at most {MAX_CONFIG_DESCRIPTION} characters")
    description = _plain_text(" ".join(description.split()), "description")
    url = payload.get("url")
    if url is not None and _link(url) is None:
        raise PayloadError(f"url must be an http(s) link of at most {_MAX_URL} characters")
    if url is not None:
        _plain_text(url, "url")
    reported = _sender_time(payload.get("changed_at"), "changed_at")
    # As with deployments: nothing changed after we heard of it, so a clock running ahead cannot
    # put this change after every later one.
    return ConfigChangeEvent(
        environment=environment, change=change, issue_keys=_config_keys(payload.get("issue_keys")),
        description=description, url=url or None,
        changed_at=min(reported, received_at) if reported else received_at,
    )


def _plain_text(value: str, name: str) -> str:
    """Text that every database stores and every page shows as written: no control characters
    (PostgreSQL refuses NUL in text) and no lone surrogates (which no encoding can write)."""
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise PayloadError(f"{name} must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PayloadError(f"{name} is not valid Unicode text") from exc
    return value


def _config_keys(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise PayloadError('issue_keys must be a non-empty list of issue keys such as ["FEAT-304"]')
    if len(value) > MAX_CONFIG_KEYS:
        raise PayloadError(f"issue_keys may name at most {MAX_CONFIG_KEYS} issues")
    keys: dict[str, None] = {}
    for key in value:
        # The whole string must be one key, by the same rule as everywhere (CVE ids are no keys).
        if not isinstance(key, str) or len(key) > 255 or find_keys(key) != [key]:
            shown = key[:40] if isinstance(key, str) else type(key).__name__
            raise PayloadError(f"{shown!r} is not an issue key such as FEAT-304 (upper case, as Jira writes it)")
        keys.setdefault(key, None)
    return tuple(keys)

