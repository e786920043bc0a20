"""GitLab's webhook payloads (Push Hook, Merge Request Hook, Deployment Hook, Release Hook) turned
into the same plain records as GitHub's, at the boundary. The shapes are those of GitLab's
documented examples (tests/fixtures/gitlab-webhooks/)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from connect_app.intake.parse import (
    DeploymentEvent,
    MergedPullRequest,
    PayloadError,
    PushEvent,
    _obj,
    _str,
    parse_push,
    parse_time,
)
from connect_app.reality.model import Release
from connect_app.store.facts import ReleaseEvent

# `X-Gitlab-Event` values the app processes, and the event name each is stored under.
EVENTS = {"Push Hook": "push", "Merge Request Hook": "merge_request", "Deployment Hook": "deployment",
          "Release Hook": "release"}
_COMMIT_URL_SHA = re.compile(r"/commit/([0-9a-fA-F]{40})(?:[/?#]|$)")
_SHORT_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
_OFFSET = re.compile(r"\s*(?:UTC|([+-]\d{2}):?(\d{2}))$")
# GitLab's deployment statuses in the words the deployment facts use (GitHub's).
_DEPLOYMENT_STATUS = {"success": "success", "running": "in_progress", "created": "queued",
                      "failed": "failure", "canceled": "error", "blocked": "pending"}


def gitlab_time(value: Any) -> datetime | None:
    """GitLab writes `2021-04-28 21:50:00 +0200` and `2020-11-02 12:55:12 UTC` in hooks, ISO-8601
    elsewhere."""
    if isinstance(value, str) and value and not value.endswith("Z") and " " in value.strip():
        zone = _OFFSET.search(value)
        offset = "+00:00" if zone is None or zone.group(1) is None else f"{zone.group(1)}:{zone.group(2)}"
        value = _OFFSET.sub("", value).replace(" ", "T", 1) + offset
    return parse_time(value)


def parse_gitlab_push(payload: dict[str, Any]) -> PushEvent:
    """The same record as GitHub's push: GitLab's commits carry the same fields (id, message,
    timestamp, url, author, added/modified/removed), oldest first."""
    project = _obj(payload, "project")
    listed = payload.get("commits") or []
    total = payload.get("total_commits_count")
    push = parse_push({
        "repository": {"full_name": _str(project, "path_with_namespace"),
                       "default_branch": _str(project, "default_branch", required=False)},
        "ref": _str(payload, "ref"), "before": _str(payload, "before"), "after": _str(payload, "after"),
        "commits": listed,
    })
    complete = not (isinstance(total, int) and isinstance(listed, list) and total > len(listed))
    return PushEvent(repository=push.repository, default_branch=push.default_branch, ref=push.ref,
                     before=push.before, after=push.after, forced=False, commits=push.commits,
                     complete=complete)


def parse_gitlab_merge_request(payload: dict[str, Any]) -> MergedPullRequest | None:
    """The merged merge request (action `merge`), or None for every other change of one. The
    event carries no merge commit: the worker asks the API for it."""
    attributes = _obj(payload, "object_attributes")
    if attributes.get("action") != "merge" and attributes.get("state") != "merged":
        return None
    iid = attributes.get("iid")
    if not isinstance(iid, int) or isinstance(iid, bool):
        raise PayloadError("missing object_attributes.iid")
    return MergedPullRequest(
        number=iid,
        title=_str(attributes, "title", required=False),
        body=_str(attributes, "description", required=False),
        head_ref=_str(attributes, "source_branch", required=False),
        base_ref=_str(attributes, "target_branch", required=False),
        merge_commit_sha=None,
        merged_at=gitlab_time(attributes.get("updated_at")) or datetime.now(UTC),
        url=_str(attributes, "url", required=False) or None,
    )


def parse_gitlab_deployment(payload: dict[str, Any]) -> DeploymentEvent:
    deployment_id = payload.get("deployment_id")
    if not isinstance(deployment_id, int) or isinstance(deployment_id, bool):
        raise PayloadError("missing deployment_id")
    found = _COMMIT_URL_SHA.search(_str(payload, "commit_url", required=False))
    sha = found.group(1).lower() if found else _str(payload, "short_sha", required=False).lower()
    if not _SHORT_SHA.match(sha):
        raise PayloadError("the deployment names no commit (commit_url or short_sha)")
    status = _str(payload, "status")
    return DeploymentEvent(
        external_id=str(deployment_id),
        environment=_str(payload, "environment"),
        sha=sha,
        status=_DEPLOYMENT_STATUS.get(status, "pending"),
        at=gitlab_time(payload.get("status_changed_at")) or datetime.now(UTC),
        url=_str(payload, "environment_external_url", required=False)
        or _str(payload, "deployable_url", required=False) or None,
    )


def parse_gitlab_release(payload: dict[str, Any]) -> ReleaseEvent | None:
    """A Release Hook as the release facts see it; `delete` withdraws the release."""
    release_id, action = payload.get("id"), payload.get("action")
    if not isinstance(release_id, int) or isinstance(release_id, bool) or action not in ("create", "update",
                                                                                          "delete"):
        return None
    commit = payload.get("commit") if isinstance(payload.get("commit"), dict) else {}
    sha = _str(commit, "id", required=False).lower()
    return ReleaseEvent(release_id=release_id, out=action != "delete", release=Release(
        tag=_str(payload, "tag"), name=_str(payload, "name", required=False),
        sha=sha if re.fullmatch(r"[0-9a-f]{40}", sha) else None,
        url=_str(payload, "url", required=False) or None,
        published_at=gitlab_time(payload.get("released_at")),
    ))
