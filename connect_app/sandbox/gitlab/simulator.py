"""GitLab for one project, backed by a real git repository: merge requests merged the ways GitLab
merges them, its Revert button, deployments and releases, each announced through the webhook
GitLab would send (built from its documented examples), and the REST API v4 the app reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from flask import Flask

from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.gitlab import payloads
from connect_app.sandbox.gitlab.api import build_api_app
from connect_app.sandbox.gitlab.payloads import MergeRequestFacts, Project
from connect_app.sandbox.hosted import SimulatedHost
from connect_app.sandbox.webhooks import Hook

ZERO_SHA = "0" * 40
USER_AGENT = "GitLab/17.6.0"
MergeMethod = Literal["merge", "squash"]


@dataclass
class MergeRequestRecord:
    iid: int
    title: str
    description: str
    source_branch: str
    target_branch: str
    commits: list[str] = field(default_factory=list)  # oldest first
    merge_commit_sha: str | None = None
    squash_commit_sha: str | None = None
    merged_at: datetime | None = None

    def api_object(self, project: Project) -> dict[str, Any]:
        return {"id": 1000 + self.iid, "iid": self.iid, "project_id": project.id, "title": self.title,
                "description": self.description, "state": "merged" if self.merged_at else "opened",
                "source_branch": self.source_branch, "target_branch": self.target_branch,
                "merged_at": payloads.api_time(self.merged_at) if self.merged_at else None,
                "merge_commit_sha": self.merge_commit_sha, "squash_commit_sha": self.squash_commit_sha,
                "squash": self.squash_commit_sha is not None, "sha": self.commits[-1] if self.commits else None,
                "web_url": f"{project.web_url}/-/merge_requests/{self.iid}"}


class GitLabSimulator(SimulatedHost):
    host_name = "GitLab"
    api_path = "/api/v4"

    def __init__(self, repo: GitRepo, path: str = "acme/checkout/shop", default_branch: str = "main", *,
                 token: str | None = None, web_url: str = "https://gitlab.example.com") -> None:
        super().__init__(repo, default_branch)
        self.project = Project(id=4242, path=path, default_branch=default_branch, web_url=f"{web_url}/{path}")
        self.token = token
        self.instance_url = web_url
        self.merge_requests: dict[int, MergeRequestRecord] = {}
        self._next_iid = 1
        self._next_deployment = 15

    def api_app(self) -> Flask:
        return build_api_app(self)

    @property
    def default_branch(self) -> str:
        return self.project.default_branch

    # --- webhooks ---------------------------------------------------------------------------

    def deliver(self, event: str, payload: dict[str, Any], *, token: str | None = None) -> str:
        """POST to every hook with GitLab's headers; `token` overrides the hook's secret token
        (forged deliveries). Returns the event UUID."""

        def headers(hook: Hook, event_uuid: str, _body: bytes) -> dict[str, str]:
            return {"Content-Type": "application/json", "User-Agent": USER_AGENT, "X-Gitlab-Event": event,
                    "X-Gitlab-Token": hook.secret if token is None else token,
                    "X-Gitlab-Instance": self.instance_url,
                    "X-Gitlab-Webhook-UUID": str(uuid.uuid5(uuid.NAMESPACE_URL, hook.url)),
                    "X-Gitlab-Event-UUID": event_uuid, "Idempotency-Key": str(uuid.uuid4())}

        return self._deliver_to_hooks(event, payload, headers)

    # --- pushes -----------------------------------------------------------------------------

    def push(self, message: str, files: dict[str, str | None] | None = None, *, when: datetime | None = None) -> str:
        self.repo.checkout(self.default_branch)
        sha = self.repo.commit(message, files, when=when)
        self.push_branch()
        return sha

    def push_branch(self) -> str:
        """Announce the default branch's new head (Push Hook)."""
        before, after, shas = self._next_push(self.default_branch)
        infos = [self.repo.commit_info(sha) for sha in shas]
        payload = payloads.push_payload(self.project, ref=f"refs/heads/{self.default_branch}",
                                        before=before or ZERO_SHA, after=after, commits=infos)
        return self.deliver("Push Hook", payload)

    # --- merge requests ---------------------------------------------------------------------

    def open_merge_request(self, source_branch: str, title: str, description: str = "") -> int:
        iid, self._next_iid = self._next_iid, self._next_iid + 1
        self.merge_requests[iid] = MergeRequestRecord(iid, title, description, source_branch, self.default_branch)
        return iid

    def merge(self, iid: int, method: MergeMethod = "merge", *, when: datetime | None = None) -> str:
        """Merge like GitLab: a merge commit (`Merge branch 'x' into 'main'` ... `See merge request
        path!N`), or with squash and fast-forward one commit whose message is the title."""
        mr = self.merge_requests[iid]
        mr.commits = self.repo.rev_list(self.default_branch, mr.source_branch, reverse=True)
        self.repo.checkout(self.default_branch)
        if method == "squash":
            mr.squash_commit_sha = self.repo.squash_merge(mr.source_branch, mr.title, when=when)
            landed = mr.squash_commit_sha
        else:
            message = (f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'\n\n{mr.title}\n\n"
                       f"See merge request {self.project.path}!{iid}")
            mr.merge_commit_sha = landed = self.repo.merge(mr.source_branch, message, when=when)
        mr.merged_at = self.repo.commit_info(landed, with_files=False).committer.date
        self.push_branch()
        self._announce_merged(mr)
        return landed

    def _announce_merged(self, mr: MergeRequestRecord) -> None:
        last = self.repo.commit_info(mr.commits[-1], with_files=False)
        self.deliver("Merge Request Hook", payloads.merged_payload(self.project, MergeRequestFacts(
            mr.iid, mr.title, mr.description, mr.source_branch, mr.target_branch, last,
            mr.merged_at or datetime.now(UTC))))

    def revert_button(self, iid: int, *, new_merge_request: bool = True, when: datetime | None = None) -> str:
        """GitLab's Revert button on a merged request: `Revert "<title of the commit>"` with
        `This reverts merge request !N` for a merge commit (GitLab's `Commit#revert_description`),
        else `This reverts commit <sha>`; with "Start a new merge request" on a branch
        `revert-<short sha>` whose request carries the same description, merged fast-forward."""
        mr = self.merge_requests[iid]
        target = mr.merge_commit_sha or mr.squash_commit_sha
        assert target is not None, "only a merged request can be reverted"
        info = self.repo.commit_info(target, with_files=False)
        merge_commit = len(info.parents) > 1
        description = f"This reverts merge request !{iid}" if merge_commit else f"This reverts commit {target}"
        message = f'Revert "{info.subject.strip()}"\n\n{description}'
        branch = f"revert-{target[:8]}" if new_merge_request else self.default_branch
        if new_merge_request:
            self.repo.branch(branch, self.default_branch)
        self.repo.checkout(branch)
        revert = self.repo.revert(target, mainline=1 if merge_commit else None, message=message, when=when)
        if not new_merge_request:
            self.push_branch()
            return revert
        number = self.open_merge_request(branch, f'Revert "{info.subject.strip()}"', description)
        request = self.merge_requests[number]
        request.commits = [revert]
        self.repo.checkout(self.default_branch)
        self.repo.reset_branch(self.default_branch, revert)  # fast-forward
        request.merged_at = self.repo.commit_info(revert, with_files=False).committer.date
        self.push_branch()
        self._announce_merged(request)
        return revert

    # --- deployments and releases -----------------------------------------------------------

    def deploy(self, sha: str, environment: str = "production", *, status: str = "success",
               when: datetime | None = None, url: str | None = "https://shop.example.com") -> str:
        deployment_id, self._next_deployment = self._next_deployment, self._next_deployment + 1
        info = self.repo.commit_info(sha, with_files=False)
        return self.deliver("Deployment Hook", payloads.deployment_payload(
            self.project, deployment_id=deployment_id, sha=info.sha, subject=info.subject, environment=environment,
            status=status, when=when or datetime.now(UTC), url=url))

    def release(self, tag: str, sha: str, *, when: datetime | None = None) -> str:
        self.repo.tag(tag, sha)
        info = self.repo.commit_info(sha, with_files=False)
        return self.deliver("Release Hook", payloads.release_payload(
            self.project, release_id=len(self.sender.deliveries) + 1, tag=tag, info=info, action="create",
            when=when or datetime.now(UTC)))
