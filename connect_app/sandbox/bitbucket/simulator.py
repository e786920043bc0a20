"""Bitbucket Cloud for one repository, backed by a real git repository: pull requests merged the
ways Bitbucket merges them, the Revert of a merged pull request (git's own revert of its merge
commit), deployments reported as commit statuses, each announced through the webhook Bitbucket
would send (built from Atlassian's examples, signed `X-Hub-Signature: sha256=`), and the API 2.0."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from flask import Flask

from connect_app.sandbox.bitbucket import payloads
from connect_app.sandbox.bitbucket.api import build_api_app
from connect_app.sandbox.bitbucket.payloads import PullRequestFacts, Repository
from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.hosted import SimulatedHost
from connect_app.sandbox.webhooks import Hook

MergeStrategy = Literal["merge_commit", "squash"]


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class PullRequestRecord:
    id: int
    title: str
    description: str
    source_branch: str
    commits: list[str] = field(default_factory=list)  # oldest first
    merge_commit: str | None = None


class BitbucketSimulator(SimulatedHost):
    host_name = "Bitbucket"
    api_path = "/2.0"

    def __init__(self, repo: GitRepo, full_name: str = "acme/shop", default_branch: str = "main", *,
                 token: str | None = None) -> None:
        super().__init__(repo, default_branch)
        self.full_name = full_name
        self.default_branch = default_branch
        self.token = token
        self.pull_requests: dict[int, PullRequestRecord] = {}
        self._next_id = 1

    def api_app(self) -> Flask:
        return build_api_app(self)

    @property
    def repository(self) -> Repository:
        return Repository(self.full_name, self.api_url)

    # --- webhooks ---------------------------------------------------------------------------

    def deliver(self, event: str, payload: dict[str, Any], *, secret: str | None = None) -> str:
        """POST to every hook, signed with the hook's secret (or `secret`, for forged deliveries)."""

        def headers(hook: Hook, request_uuid: str, body: bytes) -> dict[str, str]:
            return {"Content-Type": "application/json", "User-Agent": "Bitbucket-Webhooks/2.0",
                    "X-Event-Key": event, "X-Request-UUID": request_uuid, "X-Attempt-Number": "1",
                    "X-Hook-UUID": str(uuid.uuid5(uuid.NAMESPACE_URL, hook.url)),
                    "X-Hub-Signature": signature(hook.secret if secret is None else secret, body)}

        return self._deliver_to_hooks(event, payload, headers)

    # --- pushes and pull requests -----------------------------------------------------------

    def push_branch(self) -> str:
        before, after, shas = self._next_push(self.default_branch)
        infos = self.repo.commit_infos(shas)
        old = self.repo.commit_info(before, with_files=False) if before else None
        payload = payloads.push_payload(self.repository, branch=self.default_branch, old=old,
                                        new=self.repo.commit_info(after, with_files=False), commits=infos)
        return self.deliver("repo:push", payload)

    def open_pull_request(self, source_branch: str, title: str, description: str = "") -> int:
        number, self._next_id = self._next_id, self._next_id + 1
        self.pull_requests[number] = PullRequestRecord(number, title, description, source_branch)
        return number

    def merge(self, number: int, strategy: MergeStrategy = "merge_commit", *, when: datetime | None = None) -> str:
        """Merge with Bitbucket's default message, `Merged in <branch> (pull request #N)` then the
        title, as a merge commit or one squashed commit."""
        pr = self.pull_requests[number]
        pr.commits = self.repo.rev_list(self.default_branch, pr.source_branch, reverse=True)
        destination_head = self.repo.rev_parse(self.default_branch)
        message = f"Merged in {pr.source_branch} (pull request #{number})\n\n{pr.title}\n"
        self.repo.checkout(self.default_branch)
        if strategy == "squash":
            pr.merge_commit = self.repo.squash_merge(pr.source_branch, message, when=when)
        else:
            pr.merge_commit = self.repo.merge(pr.source_branch, message, when=when)
        self.push_branch()
        merged = self.repo.commit_info(pr.merge_commit, with_files=False)
        self.deliver("pullrequest:fulfilled", payloads.fulfilled_payload(self.repository, PullRequestFacts(
            pr.id, pr.title, pr.description, pr.source_branch, pr.commits[-1], self.default_branch, destination_head,
            pr.merge_commit, merged.committer.date)))
        return pr.merge_commit

    def revert(self, number: int, *, when: datetime | None = None) -> str:
        """Bitbucket's Revert of a merged pull request: git's own revert of its merge commit, on a
        new branch, through a pull request that is then merged. Returns the revert commit. The app
        relies only on git's words in the revert commit, never on the branch or request names."""
        pr = self.pull_requests[number]
        assert pr.merge_commit is not None, "only a merged pull request can be reverted"
        merge_commit = len(self.repo.commit_info(pr.merge_commit, with_files=False).parents) > 1
        branch = f"{pr.source_branch}-revert-{number}"
        self.repo.branch(branch, self.default_branch)
        self.repo.checkout(branch)
        revert = self.repo.revert(pr.merge_commit, mainline=1 if merge_commit else None, when=when)
        subject = self.repo.commit_info(revert, with_files=False).subject
        undo = self.open_pull_request(branch, subject)
        self.merge(undo, when=when)
        return revert

    # --- deployments ------------------------------------------------------------------------

    def report_deployment(self, sha: str, environment: str = "production", *, state: str = "SUCCESSFUL",
                          when: datetime | None = None) -> str:
        """A deploy tool's commit status on the deployed commit (`Deploy to <environment>`)."""
        return self.deliver("repo:commit_status_updated", payloads.commit_status_payload(
            self.repository, sha=self.repo.rev_parse(sha), key=f"deploy-{environment}",
            name=f"Deploy to {environment}", state=state, url=f"https://deploy.example.com/{environment}",
            when=when or datetime.now(UTC)))
