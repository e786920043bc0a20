"""GitLab webhook payloads built from GitLab's documented examples (`payload_templates/`), with
only the fields that matter replaced: the project, refs, SHAs, commits, merge request and
deployment fields. Every other field stays as GitLab documents it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connect_app.sandbox.github.gitrepo import CommitInfo
from connect_app.sandbox.webhooks import packaged_template

PUSH_LIMIT = 20  # GitLab lists at most the newest 20 commits of a push


def template(name: str) -> dict[str, Any]:
    return packaged_template("connect_app.sandbox.gitlab", name)


def hook_time(when: datetime) -> str:
    """GitLab's hook timestamp form, `2021-04-28 21:50:00 +0000`."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000")


def api_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass(frozen=True)
class Project:
    id: int
    path: str  # group/sub/name
    default_branch: str
    web_url: str  # https://gitlab.example/group/sub/name

    def as_hook(self, shape: dict[str, Any]) -> dict[str, Any]:
        """The template's project object pointed at this project."""
        name = self.path.rsplit("/", 1)[-1]
        git_http = f"{self.web_url}.git"
        host = self.web_url.split("://", 1)[-1].split("/", 1)[0]
        git_ssh = f"git@{host}:{self.path}.git"
        values = {"id": self.id, "name": name, "web_url": self.web_url, "path_with_namespace": self.path,
                  "namespace": self.path.split("/", 1)[0], "default_branch": self.default_branch,
                  "homepage": self.web_url, "git_http_url": git_http, "git_ssh_url": git_ssh, "url": git_ssh,
                  "ssh_url": git_ssh, "http_url": git_http}
        return {**shape, **{key: value for key, value in values.items() if key in shape or key == "id"}}

    def commit_url(self, sha: str) -> str:
        return f"{self.web_url}/-/commit/{sha}"


def push_commit(info: CommitInfo, project: Project) -> dict[str, Any]:
    entry = template("push.json")["commits"][0]
    files = {"added": [], "modified": [], "removed": []}
    for change in info.files:
        files[{"added": "added", "removed": "removed"}.get(change.status, "modified")].append(change.path)
    entry.update(id=info.sha, message=info.message, title=info.subject, timestamp=info.author.date.isoformat(),
                 url=project.commit_url(info.sha), author={"name": info.author.name, "email": info.author.email},
                 **files)
    return entry


def push_payload(project: Project, *, ref: str, before: str, after: str, commits: list[CommitInfo]) -> dict[str, Any]:
    payload = template("push.json")
    payload.update(before=before, after=after, ref=ref, checkout_sha=after, project_id=project.id,
                   project=project.as_hook(payload["project"]),
                   commits=[push_commit(info, project) for info in commits[-PUSH_LIMIT:]],
                   total_commits_count=len(commits))
    payload["repository"].update(name=project.path.rsplit("/", 1)[-1], homepage=project.web_url,
                                 git_http_url=f"{project.web_url}.git")
    return payload


@dataclass(frozen=True)
class MergeRequestFacts:
    iid: int
    title: str
    description: str
    source_branch: str
    target_branch: str
    last_commit: CommitInfo
    merged_at: datetime


def merged_payload(project: Project, mr: MergeRequestFacts) -> dict[str, Any]:
    """The Merge Request Hook GitLab sends when a request is merged (`action` = `merge`)."""
    payload = template("merge_request.json")
    payload["project"] = project.as_hook(payload["project"])
    attributes = payload["object_attributes"]
    attributes.update(iid=mr.iid, id=1000 + mr.iid, title=mr.title, description=mr.description,
                      source_branch=mr.source_branch, target_branch=mr.target_branch, source_project_id=project.id,
                      target_project_id=project.id, state="merged", action="merge",
                      updated_at=api_time(mr.merged_at), url=f"{project.web_url}/-/merge_requests/{mr.iid}",
                      source=project.as_hook(attributes["source"]), target=project.as_hook(attributes["target"]))
    attributes["last_commit"].update(id=mr.last_commit.sha, message=mr.last_commit.message,
                                     title=mr.last_commit.subject, url=project.commit_url(mr.last_commit.sha),
                                     timestamp=mr.last_commit.author.date.isoformat())
    payload["changes"] = {}  # GitLab: "can be triggered even if the changes field is empty"
    return payload


def deployment_payload(project: Project, *, deployment_id: int, sha: str, subject: str, environment: str,
                       status: str, when: datetime, url: str | None) -> dict[str, Any]:
    payload = template("deployment.json")
    payload.update(status=status, status_changed_at=hook_time(when), deployment_id=deployment_id,
                   deployable_id=deployment_id + 700, deployable_url=f"{project.web_url}/-/jobs/{deployment_id + 700}",
                   environment=environment, environment_slug=environment, environment_tier=environment,
                   environment_external_url=url, short_sha=sha[:8], commit_url=project.commit_url(sha),
                   commit_title=subject, project=project.as_hook(payload["project"]))
    return payload


def release_payload(project: Project, *, release_id: int, tag: str, info: CommitInfo, action: str,
                    when: datetime) -> dict[str, Any]:
    payload = template("release.json")
    stamp = hook_time(when).replace(" +0000", " UTC")
    payload.update(id=release_id, name=tag, tag=tag, action=action, created_at=stamp, released_at=stamp,
                   project=project.as_hook(payload["project"]),
                   url=f"{project.web_url}/-/releases/{tag}")
    payload["commit"].update(id=info.sha, message=info.message, title=info.subject, url=project.commit_url(info.sha),
                             timestamp=info.author.date.isoformat())
    return payload
