"""GitHub webhook payloads built from real examples with only the fields that matter replaced.

The templates in `payload_templates/` are verbatim GitHub payloads (see SOURCE.md there). Each
builder deep-copies one, points the repository at the simulated one and fills in refs, SHAs,
commits, pull request and deployment fields; every other field stays as GitHub sends it, so a
receiver that tolerates real GitHub tolerates these.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connect_app.sandbox.github.gitrepo import CommitInfo, Person
from connect_app.sandbox.webhooks import packaged_json, packaged_template

# What the octokit examples are about; replaced by the simulated repository everywhere.
_TEMPLATE_FULL_NAME = "Codertocat/Hello-World"
_TEMPLATE_OWNER = "Codertocat"
_TEMPLATE_API = "https://api.github.com"
_TEMPLATE_HTML = "https://github.com"

PUSH_TEMPLATE = "push.payload.json"
PULL_REQUEST_CLOSED_TEMPLATE = "pull_request.closed.payload.json"
DEPLOYMENT_TEMPLATE = "deployment.payload.json"
DEPLOYMENT_STATUS_TEMPLATE = "deployment_status.payload.json"
RELEASE_PUBLISHED_TEMPLATE = "release.published.payload.json"
CAPTURED_PUSH_TEMPLATE = "captured-webhook-push-to-master.json"
CAPTURED_PR_CLOSE_TEMPLATE = "captured-webhook-pr-close.json"


def template(name: str) -> dict[str, Any]:
    """A fresh deep copy of a packaged template, safe to modify."""
    return packaged_template("connect_app.sandbox.github", name)


def github_time(when: datetime) -> str:
    """GitHub's REST/webhook timestamp form, `2019-05-15T15:20:53Z`."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_time(when: datetime) -> str:
    """A commit timestamp in push payloads keeps the committer's offset, like GitHub does."""
    return when.isoformat()


@dataclass(frozen=True)
class RepoIdentity:
    """Where the simulated repository lives; used to rewrite every URL in a template."""

    full_name: str
    default_branch: str
    api_url: str  # the API root the app talks to, e.g. http://127.0.0.1:5001
    html_url: str = _TEMPLATE_HTML
    repo_id: int = 186853002  # the octokit example's id; stable so payloads are reproducible

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]

    @property
    def api_repo_url(self) -> str:
        return f"{self.api_url}/repos/{self.full_name}"

    @property
    def html_repo_url(self) -> str:
        return f"{self.html_url}/{self.full_name}"


def _replace_strings(obj: Any, pairs: Sequence[tuple[str, str]]) -> Any:
    if isinstance(obj, str):
        for old, new in pairs:
            obj = obj.replace(old, new)
        return obj
    if isinstance(obj, list):
        return [_replace_strings(item, pairs) for item in obj]
    if isinstance(obj, dict):
        return {key: _replace_strings(value, pairs) for key, value in obj.items()}
    return obj


def _repository(repo: dict[str, Any], ident: RepoIdentity) -> dict[str, Any]:
    """Point a template repository object at the simulated repository."""
    host = ident.html_url.split("://", 1)[-1]
    pairs = [
        (f"{_TEMPLATE_API}/repos/{_TEMPLATE_FULL_NAME}", ident.api_repo_url),
        (f"{_TEMPLATE_HTML}/{_TEMPLATE_FULL_NAME}", ident.html_repo_url),
        (f"git://github.com/{_TEMPLATE_FULL_NAME}", f"git://{host}/{ident.full_name}"),
        (f"git@github.com:{_TEMPLATE_FULL_NAME}", f"git@{host}:{ident.full_name}"),
    ]
    out = _replace_strings(repo, pairs)
    out["id"] = ident.repo_id
    out["name"] = ident.name
    out["full_name"] = ident.full_name
    out["default_branch"] = ident.default_branch
    if "master_branch" in out:
        out["master_branch"] = ident.default_branch
    owner = out.get("owner")
    if isinstance(owner, dict) and owner.get("login") == _TEMPLATE_OWNER:
        out["owner"] = _replace_strings(
            owner,
            [
                (f"{_TEMPLATE_API}/users/{_TEMPLATE_OWNER}", f"{ident.api_url}/users/{ident.owner}"),
                (f"{_TEMPLATE_HTML}/{_TEMPLATE_OWNER}", f"{ident.html_url}/{ident.owner}"),
                (_TEMPLATE_OWNER, ident.owner),
            ],
        )
    return out


def _person(person: Person) -> dict[str, Any]:
    # No `username`: GitHub only adds it when the email belongs to a GitHub account.
    return {"name": person.name, "email": person.email}


def push_commit(info: CommitInfo, ident: RepoIdentity, *, distinct: bool = True) -> dict[str, Any]:
    """One `commits[]` entry of a push, shaped like the captured real delivery's entries.

    `info` must carry its files (see `GitRepo.commit_info`); a rename is listed as the old path
    removed and the new path added, as GitHub does in push payloads."""
    entry = copy.deepcopy(packaged_json("connect_app.sandbox.github", CAPTURED_PUSH_TEMPLATE)["commits"][0])
    added = [f.path for f in info.files if f.status == "added"]
    removed = [f.path for f in info.files if f.status == "removed"]
    modified = [f.path for f in info.files if f.status == "modified"]
    for change in info.files:
        if change.status == "renamed":
            added.append(change.path)
            if change.previous_path:
                removed.append(change.previous_path)
    entry.update(
        {
            "id": info.sha,
            "tree_id": info.tree,
            "distinct": distinct,
            "message": info.message,
            "timestamp": git_time(info.committer.date),
            "url": f"{ident.html_repo_url}/commit/{info.sha}",
            "author": _person(info.author),
            "committer": _person(info.committer),
            "added": sorted(added),
            "removed": sorted(removed),
            "modified": sorted(modified),
        }
    )
    return entry


def push_payload(
    ident: RepoIdentity,
    *,
    ref: str,
    before: str,
    after: str,
    commits: Sequence[dict[str, Any]],
    head_commit: dict[str, Any] | None,
    forced: bool = False,
    created: bool = False,
) -> dict[str, Any]:
    payload = template(PUSH_TEMPLATE)
    payload.update(
        {
            "ref": ref,
            "before": before,
            "after": after,
            "created": created,
            "deleted": False,
            "forced": forced,
            "base_ref": None,
            "compare": f"{ident.html_repo_url}/compare/{before[:12]}...{after[:12]}",
            "commits": list(commits),
            "head_commit": head_commit,
        }
    )
    payload["repository"] = _repository(payload["repository"], ident)
    return payload


@dataclass(frozen=True)
class PullRequestFacts:
    number: int
    title: str
    body: str
    head_ref: str
    head_sha: str
    base_ref: str
    base_sha: str
    created_at: datetime
    closed_at: datetime | None
    merged: bool
    merge_commit_sha: str | None
    merged_at: datetime | None
    commits: int
    additions: int
    deletions: int
    changed_files: int


def pull_request_url_fields(ident: RepoIdentity, number: int, head_sha: str) -> dict[str, Any]:
    api = ident.api_repo_url
    html = ident.html_repo_url
    return {
        "url": f"{api}/pulls/{number}",
        "html_url": f"{html}/pull/{number}",
        "diff_url": f"{html}/pull/{number}.diff",
        "patch_url": f"{html}/pull/{number}.patch",
        "issue_url": f"{api}/issues/{number}",
        "commits_url": f"{api}/pulls/{number}/commits",
        "review_comments_url": f"{api}/pulls/{number}/comments",
        "review_comment_url": f"{api}/pulls/comments{{/number}}",
        "comments_url": f"{api}/issues/{number}/comments",
        "statuses_url": f"{api}/statuses/{head_sha}",
        "_links": {
            "self": {"href": f"{api}/pulls/{number}"},
            "html": {"href": f"{html}/pull/{number}"},
            "issue": {"href": f"{api}/issues/{number}"},
            "comments": {"href": f"{api}/issues/{number}/comments"},
            "review_comments": {"href": f"{api}/pulls/{number}/comments"},
            "review_comment": {"href": f"{api}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/pulls/{number}/commits"},
            "statuses": {"href": f"{api}/statuses/{head_sha}"},
        },
    }


def pull_request_object(ident: RepoIdentity, pr: PullRequestFacts) -> dict[str, Any]:
    """The `pull_request` object GitHub sends (and the REST API returns); open while
    `closed_at` is None."""
    payload = template(PULL_REQUEST_CLOSED_TEMPLATE)
    obj = payload["pull_request"]
    sender = payload["sender"]
    obj.update(pull_request_url_fields(ident, pr.number, pr.head_sha))
    obj.update(
        {
            "id": 279147437 + pr.number,
            "number": pr.number,
            "state": "open" if pr.closed_at is None else "closed",
            "title": pr.title,
            "body": pr.body,
            "created_at": github_time(pr.created_at),
            "updated_at": github_time(pr.closed_at or pr.created_at),
            "closed_at": github_time(pr.closed_at) if pr.closed_at else None,
            "merged_at": github_time(pr.merged_at) if pr.merged_at else None,
            "merge_commit_sha": pr.merge_commit_sha,
            "merged": pr.merged,
            "commits": pr.commits,
            "additions": pr.additions,
            "deletions": pr.deletions,
            "changed_files": pr.changed_files,
        }
    )
    if pr.merged:
        # What a real merged delivery carries (captured-webhook-pr-close.json): mergeability is
        # no longer computed and the merger is recorded.
        captured = packaged_json("connect_app.sandbox.github", CAPTURED_PR_CLOSE_TEMPLATE)["pull_request"]
        obj["mergeable"] = captured["mergeable"]
        obj["rebaseable"] = captured["rebaseable"]
        obj["mergeable_state"] = captured["mergeable_state"]
        obj["merged_by"] = copy.deepcopy(sender)
    for side, ref, sha in (("head", pr.head_ref, pr.head_sha), ("base", pr.base_ref, pr.base_sha)):
        part = obj[side]
        part["label"] = f"{ident.owner}:{ref}"
        part["ref"] = ref
        part["sha"] = sha
        part["repo"] = _repository(part["repo"], ident)
        part["user"] = part["repo"]["owner"]
    return obj


def pull_request_closed_payload(ident: RepoIdentity, pr: PullRequestFacts) -> dict[str, Any]:
    payload = template(PULL_REQUEST_CLOSED_TEMPLATE)
    payload["number"] = pr.number
    payload["pull_request"] = pull_request_object(ident, pr)
    payload["repository"] = _repository(payload["repository"], ident)
    # The octokit example was delivered to a GitHub App; a repository webhook has no installation.
    payload.pop("installation", None)
    return payload


@dataclass(frozen=True)
class DeploymentFacts:
    id: int
    sha: str
    ref: str
    environment: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None


def deployment_object(ident: RepoIdentity, dep: DeploymentFacts, template_name: str) -> dict[str, Any]:
    obj = template(template_name)["deployment"]
    url = f"{ident.api_repo_url}/deployments/{dep.id}"
    obj.update(
        {
            "url": url,
            "id": dep.id,
            "sha": dep.sha,
            "ref": dep.ref,
            "environment": dep.environment,
            "original_environment": dep.environment,
            "description": dep.description,
            "created_at": github_time(dep.created_at),
            "updated_at": github_time(dep.updated_at),
            "statuses_url": f"{url}/statuses",
            "repository_url": ident.api_repo_url,
        }
    )
    return obj


def deployment_payload(ident: RepoIdentity, dep: DeploymentFacts) -> dict[str, Any]:
    payload = template(DEPLOYMENT_TEMPLATE)
    payload["deployment"] = deployment_object(ident, dep, DEPLOYMENT_TEMPLATE)
    payload["repository"] = _repository(payload["repository"], ident)
    return payload


@dataclass(frozen=True)
class DeploymentStatusFacts:
    id: int
    state: str
    environment: str
    created_at: datetime
    description: str = ""
    target_url: str = ""


def deployment_status_object(
    ident: RepoIdentity, dep: DeploymentFacts, status: DeploymentStatusFacts
) -> dict[str, Any]:
    obj = template(DEPLOYMENT_STATUS_TEMPLATE)["deployment_status"]
    dep_url = f"{ident.api_repo_url}/deployments/{dep.id}"
    obj.update(
        {
            "url": f"{dep_url}/statuses/{status.id}",
            "id": status.id,
            "state": status.state,
            "description": status.description,
            "environment": status.environment,
            "target_url": status.target_url,
            "created_at": github_time(status.created_at),
            "updated_at": github_time(status.created_at),
            "deployment_url": dep_url,
            "repository_url": ident.api_repo_url,
        }
    )
    return obj


def deployment_status_payload(
    ident: RepoIdentity, dep: DeploymentFacts, status: DeploymentStatusFacts
) -> dict[str, Any]:
    payload = template(DEPLOYMENT_STATUS_TEMPLATE)
    payload["deployment_status"] = deployment_status_object(ident, dep, status)
    payload["deployment"] = deployment_object(ident, dep, DEPLOYMENT_STATUS_TEMPLATE)
    payload["repository"] = _repository(payload["repository"], ident)
    return payload


@dataclass(frozen=True)
class ReleaseFacts:
    id: int
    tag_name: str
    target_commitish: str
    name: str
    body: str
    created_at: datetime
    published_at: datetime


def release_published_payload(ident: RepoIdentity, rel: ReleaseFacts) -> dict[str, Any]:
    payload = template(RELEASE_PUBLISHED_TEMPLATE)
    obj = payload["release"]
    api = ident.api_repo_url
    uploads = api.replace(_TEMPLATE_API, "https://uploads.github.com")
    obj.update(
        {
            "url": f"{api}/releases/{rel.id}",
            "assets_url": f"{api}/releases/{rel.id}/assets",
            "upload_url": f"{uploads}/releases/{rel.id}/assets{{?name,label}}",
            "html_url": f"{ident.html_repo_url}/releases/tag/{rel.tag_name}",
            "id": rel.id,
            "tag_name": rel.tag_name,
            "target_commitish": rel.target_commitish,
            "name": rel.name,
            "body": rel.body,
            "created_at": github_time(rel.created_at),
            "published_at": github_time(rel.published_at),
            "tarball_url": f"{api}/tarball/{rel.tag_name}",
            "zipball_url": f"{api}/zipball/{rel.tag_name}",
        }
    )
    payload["repository"] = _repository(payload["repository"], ident)
    return payload


def encode(payload: dict[str, Any]) -> bytes:
    """The delivery body: compact UTF-8 JSON, as GitHub posts it."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def repository_object(ident: RepoIdentity) -> dict[str, Any]:
    """The repository resource for `GET /repos/{owner}/{repo}`, from the pull request template's
    repository (string timestamps, as the REST API gives them)."""
    return _repository(template(PULL_REQUEST_CLOSED_TEMPLATE)["repository"], ident)


def sender() -> dict[str, Any]:
    """The user the templates say acted (the octokit example's sender)."""
    return template(PUSH_TEMPLATE)["sender"]
