"""Bitbucket Cloud's webhook payloads (`repo:push`, `pullrequest:fulfilled`, commit statuses that
report deployments) turned into the same plain records as GitHub's, at the boundary. The shapes
are those of Atlassian's documented examples (tests/fixtures/bitbucket-webhooks/)."""

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
    parse_time,
)
from connect_app.reality.model import Commit

PROCESSED = frozenset({"repo:push", "pullrequest:fulfilled", "repo:commit_status_created",
                       "repo:commit_status_updated"})
_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
_COMMIT_HREF = re.compile(r"/commit/([0-9a-fA-F]{40})(?:[/?#]|$)")
# A commit status reports a deployment when it says so: a name such as `Deploy to production`
# (what Bitbucket Pipelines' deployment steps and most deploy tools write) or a key
# `deploy-production`. Other statuses (builds, tests) are not deployments.
_DEPLOY_NAME = re.compile(r"\bdeploy(?:ed|ment|ing)?\b\s*(?:to|:|-|—)?\s*([\w.-]+)", re.IGNORECASE)
_DEPLOY_KEY = re.compile(r"^deploy(?:ment)?[-_:/]([\w.-]+)$", re.IGNORECASE)
_STATUS = {"SUCCESSFUL": "success", "FAILED": "failure", "INPROGRESS": "in_progress", "STOPPED": "error"}


def _hash(data: Any, key: str = "hash") -> str:
    value = _str(data, key)
    if not _SHA.match(value):
        raise PayloadError(f"{key} is not a commit hash")
    return value.lower()


def _commit(raw: Any) -> Commit:
    author = raw.get("author") if isinstance(raw.get("author"), dict) else {}
    links = raw.get("links") if isinstance(raw.get("links"), dict) else {}
    html = links.get("html") if isinstance(links.get("html"), dict) else {}
    return Commit(sha=_hash(raw), message=_str(raw, "message", required=False),
                  author=str(author.get("display_name") or author.get("raw") or ""),
                  timestamp=parse_time(raw.get("date")), url=html.get("href") if isinstance(html.get("href"), str)
                  else None)


def parse_bitbucket_push(payload: dict[str, Any], default_branch: str) -> list[PushEvent]:
    """One record per branch a push moved. Bitbucket lists at most 5 commits per change, newest
    first, and says `truncated` when there were more."""
    repository = _str(_obj(payload, "repository"), "full_name")
    changes = _obj(payload, "push").get("changes")
    if not isinstance(changes, list):
        raise PayloadError("push.changes must be a list")
    events = []
    for change in changes:
        new = change.get("new") if isinstance(change, dict) else None
        old = change.get("old") if isinstance(change, dict) else None
        if not isinstance(new, dict) or new.get("type") != "branch":
            continue  # a deleted branch or a tag
        listed = change.get("commits") or []
        if not isinstance(listed, list) or not all(isinstance(raw, dict) for raw in listed):
            raise PayloadError("commits must be a list of objects")
        before = _hash(_obj(old, "target")) if isinstance(old, dict) else "0" * 40
        events.append(PushEvent(
            repository=repository, default_branch=default_branch, ref=f"refs/heads/{_str(new, 'name')}",
            before=before, after=_hash(_obj(new, "target")), forced=bool(change.get("forced")),
            commits=tuple(_commit(raw) for raw in reversed(listed)),
            complete=not change.get("truncated"),
        ))
    return events


def parse_bitbucket_pull_request(payload: dict[str, Any]) -> MergedPullRequest:
    """`pullrequest:fulfilled` is a merged pull request; its `merge_commit.hash` is abbreviated,
    so the worker expands it through the API."""
    pr = _obj(payload, "pullrequest")
    number = pr.get("id")
    if not isinstance(number, int) or isinstance(number, bool):
        raise PayloadError("missing pullrequest.id")
    merge = pr.get("merge_commit") if isinstance(pr.get("merge_commit"), dict) else {}
    merge_hash = merge.get("hash") if isinstance(merge.get("hash"), str) else ""
    links = pr.get("links") if isinstance(pr.get("links"), dict) else {}
    html = links.get("html") if isinstance(links.get("html"), dict) else {}
    return MergedPullRequest(
        number=number, title=_str(pr, "title", required=False), body=_str(pr, "description", required=False),
        head_ref=_str(_obj(_obj(pr, "source"), "branch"), "name", required=False),
        base_ref=_str(_obj(_obj(pr, "destination"), "branch"), "name", required=False),
        merge_commit_sha=merge_hash.lower() if len(merge_hash) == 40 and _SHA.match(merge_hash) else None,
        merged_at=parse_time(pr.get("updated_on")) or datetime.now(UTC),
        url=html.get("href") if isinstance(html.get("href"), str) else None,
    )


def parse_bitbucket_deployment_status(payload: dict[str, Any]) -> DeploymentEvent | None:
    """A commit status that reports a deployment, or None for builds, tests and the like."""
    status = _obj(payload, "commit_status")
    name, key = _str(status, "name", required=False), _str(status, "key", required=False)
    found = _DEPLOY_NAME.search(name) or _DEPLOY_KEY.match(key)
    if found is None:
        return None
    links = status.get("links") if isinstance(status.get("links"), dict) else {}
    commit = links.get("commit") if isinstance(links.get("commit"), dict) else {}
    sha = _COMMIT_HREF.search(str(commit.get("href") or ""))
    if sha is None:
        raise PayloadError("the commit status names no commit (links.commit.href)")
    return DeploymentEvent(
        external_id=f"{key}@{sha.group(1).lower()}", environment=found.group(1).lower(), sha=sha.group(1).lower(),
        status=_STATUS.get(_str(status, "state"), "pending"),
        at=parse_time(status.get("updated_on") or status.get("created_on")) or datetime.now(UTC),
        url=_str(status, "url", required=False) or None,
    )
