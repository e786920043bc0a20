"""Bitbucket Cloud webhook payloads built from Atlassian's documented examples
(`payload_templates/`), with only the fields that matter replaced."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connect_app.sandbox.github.gitrepo import CommitInfo
from connect_app.sandbox.webhooks import packaged_template

PUSH_LIMIT = 5  # Bitbucket lists at most 5 commits per change, newest first


def template(name: str) -> dict[str, Any]:
    return packaged_template("connect_app.sandbox.bitbucket", name)


def bitbucket_time(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Repository:
    full_name: str  # workspace/repo_slug
    api_url: str  # https://api.bitbucket.org/2.0 (the simulator's own when started)
    html_url: str = "https://bitbucket.org"

    def commit_links(self, sha: str) -> dict[str, Any]:
        return {"self": {"href": f"{self.api_url}/repositories/{self.full_name}/commit/{sha}"},
                "html": {"href": f"{self.html_url}/{self.full_name}/commits/{sha}"}}

    def as_payload(self, shape: dict[str, Any]) -> dict[str, Any]:
        return {**shape, "full_name": self.full_name, "name": self.full_name.split("/", 1)[1],
                "links": {**shape["links"], "self": {"href": f"{self.api_url}/repositories/{self.full_name}"},
                          "html": {"href": f"{self.html_url}/{self.full_name}"}}}


def commit_object(repo: Repository, info: CommitInfo, shape: dict[str, Any]) -> dict[str, Any]:
    """A commit as Bitbucket writes it in payloads and API answers."""
    author = info.author
    return {**shape, "type": "commit", "hash": info.sha, "message": info.message,
            "date": author.date.astimezone(UTC).isoformat(), "links": repo.commit_links(info.sha),
            "author": {"type": "author", "raw": f"{author.name} <{author.email}>"},
            "parents": [{"type": "commit", "hash": parent, "links": repo.commit_links(parent)}
                        for parent in info.parents]}


def push_payload(repo: Repository, *, branch: str, old: CommitInfo | None, new: CommitInfo,
                 commits: list[CommitInfo]) -> dict[str, Any]:
    payload = template("repo-push.json")
    payload["repository"] = repo.as_payload(payload["repository"])
    change = payload["push"]["changes"][0]
    change["new"]["name"] = branch
    change["new"]["target"] = commit_object(repo, new, change["new"]["target"])
    if old is None:
        change["old"] = None
    else:
        change["old"]["name"] = branch
        change["old"]["target"] = commit_object(repo, old, change["old"]["target"])
    newest_first = list(reversed(commits))
    listed = newest_first[:PUSH_LIMIT]
    shape = change["commits"][0]
    change["commits"] = [{**shape, "hash": info.sha, "message": info.message, "links": repo.commit_links(info.sha)}
                         for info in listed]
    change.update(created=old is None, forced=False, truncated=len(newest_first) > PUSH_LIMIT)
    return payload


@dataclass(frozen=True)
class PullRequestFacts:
    id: int
    title: str
    description: str
    source_branch: str
    source_head: str
    destination_branch: str
    destination_head: str
    merge_commit: str
    merged_at: datetime


def fulfilled_payload(repo: Repository, pr: PullRequestFacts) -> dict[str, Any]:
    """`pullrequest:fulfilled`: commit hashes abbreviated to 12 digits, as Bitbucket sends them."""
    payload = template("pullrequest-fulfilled.json")
    payload["repository"] = repo.as_payload(payload["repository"])
    body = payload["pullrequest"]
    body.update(id=pr.id, title=pr.title, description=pr.description, state="MERGED",
                merge_commit={"hash": pr.merge_commit[:12]}, reason="", updated_on=bitbucket_time(pr.merged_at),
                links={"self": {"href": f"{repo.api_url}/repositories/{repo.full_name}/pullrequests/{pr.id}"},
                       "html": {"href": f"{repo.html_url}/{repo.full_name}/pull-requests/{pr.id}"}})
    for side, branch, head in (("source", pr.source_branch, pr.source_head),
                               ("destination", pr.destination_branch, pr.destination_head)):
        body[side].update(branch={"name": branch}, commit={"hash": head[:12]},
                          repository=repo.as_payload(body[side]["repository"]))
    return payload


def commit_status_payload(repo: Repository, *, sha: str, key: str, name: str, state: str, url: str,
                          when: datetime) -> dict[str, Any]:
    payload = template("repo-commit-status.json")
    payload["repository"] = repo.as_payload(payload["repository"])
    status = payload["commit_status"]
    status.update(key=key, name=name, state=state, url=url, description=name, created_on=bitbucket_time(when),
                  updated_on=bitbucket_time(when),
                  links={"commit": {"href": f"{repo.api_url}/repositories/{repo.full_name}/commit/{sha}"},
                         "self": {"href": f"{repo.api_url}/repositories/{repo.full_name}/commit/{sha}/statuses/build/"
                                          f"{key}"}})
    return payload
