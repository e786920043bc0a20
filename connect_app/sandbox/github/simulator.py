"""A GitHub that lives on this machine: a real git repository, the REST endpoints PyGithub uses,
and signed webhook deliveries over real HTTP.

Tests and `connect-app demo` both drive it: make commits, open and merge pull requests, press
the Revert button, create deployments; every action GitHub would announce is POSTed to each
hook exactly as GitHub would (headers, HMAC signatures, payload shapes from real deliveries).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import jwt
import requests
from flask import Flask

from connect_app.sandbox.github import hostile, payloads
from connect_app.sandbox.github.api.app import build_api_app
from connect_app.sandbox.github.gitrepo import CommitInfo, GitRepo
from connect_app.sandbox.github.records import (
    AppAuthError,
    Delivery,
    DeploymentRecord,
    GitHubAppRecord,
    Hook,
    InstallationToken,
    PullRequestRecord,
    RateLimit,
)
from connect_app.sandbox.server import ServedApp

ZERO_SHA = "0" * 40
USER_AGENT = "GitHub-Hookshot/044aadd"
DEFAULT_EVENTS = ("push", "pull_request", "deployment", "deployment_status", "release")
# GitHub's documented cap on `commits` in a push delivery ("a maximum of 2048 commits"); the
# cap of 20 applies to timeline events only, not to webhook deliveries.
PUSH_COMMIT_LIMIT = 2048
DELIVERY_TIMEOUT_SECONDS = 10.0  # GitHub.com gives a receiver 10 s
INSTALLATION_TOKEN_SECONDS = 3600  # GitHub's installation tokens last one hour
APP_JWT_MAX_SECONDS = 600  # GitHub refuses an app JWT whose `exp` is more than 10 minutes ahead
CLOCK_LEEWAY_SECONDS = 60


def signature_256(secret: str | bytes, body: bytes) -> str:
    """`X-Hub-Signature-256`: `sha256=` + hex HMAC-SHA256 of the raw body keyed with the secret."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_sha1(secret: str | bytes, body: bytes) -> str:
    """Legacy `X-Hub-Signature`: `sha1=` + hex HMAC-SHA1."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest()


class GitHubSimulator:
    """GitHub for one repository, `full_name`, backed by `repo`."""

    def __init__(
        self,
        repo: GitRepo,
        full_name: str = "acme/shop",
        default_branch: str = "main",
        *,
        html_url: str = "https://github.com",
        push_commit_limit: int = PUSH_COMMIT_LIMIT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if full_name.count("/") != 1:
            raise ValueError("full_name must be owner/name")
        self.repo = repo
        self.full_name = full_name
        self.default_branch = default_branch
        self.html_url = html_url.rstrip("/")
        self.push_commit_limit = push_commit_limit
        self.clock = clock
        self.hooks: list[Hook] = []
        self.deliveries: list[Delivery] = []
        self.pulls: dict[int, PullRequestRecord] = {}
        self.deployments: dict[int, DeploymentRecord] = {}
        self.releases: dict[int, payloads.ReleaseFacts] = {}
        self.api_requests: list[tuple[str, str]] = []  # (method, path) of every API call served
        self.rate_limit = RateLimit()
        self.apps: dict[str, GitHubAppRecord] = {}
        self.installation_tokens: dict[str, InstallationToken] = {}
        # (method, path) of every API call served on an installation token.
        self.installation_requests: list[tuple[str, str]] = []
        self._next_installation_id = 41092236
        self._token: str | None = None
        self._lock = threading.RLock()
        self._server: ServedApp | None = None
        # The REST app behind the hostile-mode switch: tests wrap its wsgi_app to hold a request.
        self.rest_app: Flask | None = None
        self._next_number = 1
        self._next_deployment_id = 145988746
        self._next_status_id = 209916254
        self._next_release_id = 17372790
        self._next_hook_id = 292430182
        # Hostile mode (sandbox/github/hostile.py): None answers like GitHub.
        self.hostile_mode: str | None = None
        self.traps: tuple[hostile.Trap, hostile.Trap] | None = None
        # What GitHub already has: the branch as it stood when the simulator took over, and
        # every commit pushed anywhere (for `distinct` in push payloads).
        self._pushed_head: str | None = repo.resolve(default_branch)
        self._known: set[str] = set(repo.rev_list(None, default_branch)) if self._pushed_head else set()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> GitHubSimulator:
        if self._server is None:
            self.rest_app = build_api_app(self)
            self._server = ServedApp(hostile.HostileAnswers(self, self.rest_app), host=host, port=port).start()
            self.rate_limit.reset = int(self.clock()) + 3600
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        for trap in self.traps or ():
            trap.stop()
        self.traps = None

    def go_hostile(self, mode: str) -> None:
        """Answer the repository's API calls the way `mode` says (one of `hostile.MODES`), with
        trap servers on another port and another loopback address for the modes that point there."""
        if mode not in hostile.MODES:
            raise ValueError(f"unknown hostile mode {mode!r}; one of {', '.join(hostile.MODES)}")
        if self.traps is None:
            self.traps = (hostile.Trap("127.0.0.1"), hostile.Trap("127.0.0.2"))
        self.hostile_mode = mode

    def traps_reached(self) -> list[tuple[str, str, bool]]:
        """Every request that reached a trap (method, path, carried Authorization): none may."""
        return [seen for trap in self.traps or () for seen in trap.seen]

    def __enter__(self) -> GitHubSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        """The API root, `http://127.0.0.1:PORT`; the same endpoints answer under `/api/v3`."""
        if self._server is None:
            raise RuntimeError("the GitHub simulator is not started")
        return self._server.url

    @property
    def enterprise_api_url(self) -> str:
        """A GitHub Enterprise Server style API root for the same repository."""
        return f"{self.api_url}/api/v3"

    @property
    def identity(self) -> payloads.RepoIdentity:
        api = self.api_url if self._server is not None else "https://api.github.com"
        return payloads.RepoIdentity(
            full_name=self.full_name, default_branch=self.default_branch, api_url=api, html_url=self.html_url
        )

    # --- API behaviour switches -------------------------------------------------------------

    def require_token(self, token: str | None) -> None:
        """Answer 401 unless `Authorization: token <token>` or `Bearer <token>` is sent."""
        self._token = token

    @property
    def required_token(self) -> str | None:
        return self._token

    # --- GitHub Apps ------------------------------------------------------------------------

    def register_github_app(self, app_id: int | str, public_key_pem: str | bytes) -> int:
        """Install a GitHub App on this repository. The app authenticates with JWTs signed by the
        private half of `public_key_pem` (RS256, `iss` = `app_id`) and trades them for
        installation tokens, which the API then accepts like a personal token. Returns the
        installation id."""
        pem = public_key_pem.decode("ascii") if isinstance(public_key_pem, bytes) else public_key_pem
        with self._lock:
            record = GitHubAppRecord(str(app_id), pem, self._next_installation_id, self.clock())
            self._next_installation_id += 1
            self.apps[record.app_id] = record
            return record.installation_id

    def verify_app_jwt(self, token: str) -> GitHubAppRecord:
        """The app a JWT speaks for, checked the way GitHub does; AppAuthError otherwise."""
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
            record = self.apps.get(str(claims.get("iss")))
            if record is None:
                raise AppAuthError("A JSON web token could not be decoded")
            claims = jwt.decode(token, record.public_key_pem, algorithms=["RS256"],
                                options={"verify_exp": False, "verify_iat": False,
                                         "require": ["iat", "exp", "iss"]})
        except jwt.PyJWTError as exc:
            raise AppAuthError("A JSON web token could not be decoded") from exc
        now = self.clock()
        issued, expires = claims["iat"], claims["exp"]
        if not isinstance(issued, int | float) or issued > now + CLOCK_LEEWAY_SECONDS:
            raise AppAuthError("'Issued at' claim ('iat') must be an Integer representing the time that the "
                               "assertion was issued")
        if not isinstance(expires, int | float) or expires <= now:
            raise AppAuthError("'Expiration time' claim ('exp') must be a numeric value representing the future "
                               "time at which the assertion expires")
        if expires > now + APP_JWT_MAX_SECONDS + CLOCK_LEEWAY_SECONDS:
            raise AppAuthError("'Expiration time' claim ('exp') is too far in the future")
        return record

    def issue_installation_token(self, installation_id: int) -> InstallationToken:
        with self._lock:
            issued = InstallationToken("ghs_" + secrets.token_urlsafe(27), installation_id,
                                       self.clock() + INSTALLATION_TOKEN_SECONDS)
            self.installation_tokens[issued.token] = issued
            return issued

    def installation_token_valid(self, token: str) -> bool:
        issued = self.installation_tokens.get(token)
        return issued is not None and issued.expires_at > self.clock()

    def exhaust_rate_limit(self, reset_in_seconds: int = 60) -> None:
        """Use up the rate limit: calls answer 403 with `X-RateLimit-Remaining: 0` until the
        reset time (by `clock`) has passed."""
        with self._lock:
            self.rate_limit.remaining = 0
            self.rate_limit.reset = int(self.clock()) + reset_in_seconds

    def consume_rate_limit(self) -> bool:
        """Count one API call; False when the limit is exhausted (the call must be refused)."""
        with self._lock:
            now = int(self.clock())
            if now >= self.rate_limit.reset:
                self.rate_limit.remaining = self.rate_limit.limit
                self.rate_limit.reset = now + 3600
            if self.rate_limit.remaining <= 0:
                return False
            self.rate_limit.remaining -= 1
            return True

    # --- hooks and deliveries ---------------------------------------------------------------

    def add_hook(
        self,
        url: str,
        secret: str | None,
        events: Iterable[str] = DEFAULT_EVENTS,
        *,
        content_type: str = "json",
    ) -> int:
        if content_type not in ("json", "form"):
            raise ValueError("content_type is json or form")
        with self._lock:
            hook = Hook(self._next_hook_id, url, secret, tuple(events), content_type)
            self._next_hook_id += 1
            self.hooks.append(hook)
            return hook.id

    def remove_hook(self, hook_id: int) -> None:
        with self._lock:
            self.hooks = [hook for hook in self.hooks if hook.id != hook_id]

    def deliveries_of(self, event: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.event == event]

    def _headers(
        self, event: str, guid: str, hook: Hook | None, body: bytes, secret: str | None, content_type: str
    ) -> dict[str, str]:
        headers = {
            "Accept": "*/*",
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json" if content_type == "json" else "application/x-www-form-urlencoded",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": guid,
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": str(self.identity.repo_id),
        }
        if hook is not None:
            headers["X-GitHub-Hook-ID"] = str(hook.id)
        if secret is not None:
            headers["X-Hub-Signature"] = signature_sha1(secret, body)
            headers["X-Hub-Signature-256"] = signature_256(secret, body)
        return headers

    def _post(
        self,
        url: str,
        event: str,
        action: str | None,
        guid: str,
        hook: Hook | None,
        headers: dict[str, str],
        body: bytes,
        *,
        redelivery: bool = False,
    ) -> Delivery:
        try:
            response = requests.post(
                url, data=body, headers=headers, timeout=DELIVERY_TIMEOUT_SECONDS, allow_redirects=False
            )
            delivery = Delivery(
                guid,
                event,
                action,
                hook.id if hook else None,
                url,
                headers,
                body,
                response.status_code,
                response.content,
                redelivery=redelivery,
            )
        except requests.RequestException as exc:
            delivery = Delivery(
                guid,
                event,
                action,
                hook.id if hook else None,
                url,
                headers,
                body,
                None,
                error=str(exc),
                redelivery=redelivery,
            )
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    def _body_for(self, hook: Hook, payload_bytes: bytes) -> bytes:
        if hook.content_type == "form":
            return urllib.parse.urlencode({"payload": payload_bytes.decode("utf-8")}).encode("ascii")
        return payload_bytes

    def deliver(self, event: str, payload: dict[str, Any]) -> str:
        """POST `payload` to every hook subscribed to `event`; returns the delivery GUID, which
        GitHub shares among all hooks receiving the same event."""
        guid = str(uuid.uuid4())
        raw = payloads.encode(payload)
        action = payload.get("action") if isinstance(payload.get("action"), str) else None
        with self._lock:
            targets = [hook for hook in self.hooks if event in hook.events or "*" in hook.events]
        # Deliver outside the lock: a receiver may call this simulator's API while handling it.
        for hook in targets:
            body = self._body_for(hook, raw)
            headers = self._headers(event, guid, hook, body, hook.secret, hook.content_type)
            self._post(hook.url, event, action, guid, hook, headers, body)
        return guid

    def redeliver(self, guid: str, hook_id: int | None = None) -> list[Delivery]:
        """GitHub's "Redeliver": the same GUID, headers and body again, to the same hook(s)."""
        with self._lock:
            originals = [
                d
                for d in self.deliveries
                if d.guid == guid and not d.redelivery and (hook_id is None or d.hook_id == hook_id)
            ]
        if not originals:
            raise KeyError(f"no delivery {guid}")
        hooks = {hook.id: hook for hook in self.hooks}
        return [
            self._post(
                d.url,
                d.event,
                d.action,
                d.guid,
                hooks.get(d.hook_id) if d.hook_id else None,
                dict(d.headers),
                d.body,
                redelivery=True,
            )
            for d in originals
        ]

    def send_raw(
        self,
        url: str,
        event: str,
        body: bytes,
        secret: str | None,
        guid: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        content_type: str = "json",
    ) -> Delivery:
        """POST arbitrary bytes signed with `secret` (unsigned when None), for hostile-input
        tests; `headers` override or add to GitHub's."""
        guid = guid or str(uuid.uuid4())
        sent = self._headers(event, guid, None, body, secret, content_type)
        sent.update(headers or {})
        return self._post(url, event, None, guid, None, sent, body)

    # --- pushes -----------------------------------------------------------------------------

    @property
    def pushed_head(self) -> str | None:
        """The default branch as GitHub last announced it."""
        return self._pushed_head

    def push(
        self,
        message: str,
        files: dict[str, str | None] | None = None,
        *,
        author: str | None = None,
        when: datetime | None = None,
    ) -> str:
        """Commit on the default branch and deliver the push. Returns the new SHA."""
        with self._lock:
            self.repo.checkout(self.default_branch)
            sha = self.repo.commit(message, files, author=author, when=when)
        self.push_branch(after=sha)
        return sha

    def push_branch(self, before: str | None = None, after: str | None = None) -> str:
        """Announce that the default branch moved from `before` (default: where GitHub last saw
        it) to `after` (default: its current head), moving it there first if needed (a force
        push when `after` does not contain `before`). Returns the delivery GUID."""
        with self._lock:
            before = before or self._pushed_head
            after = after or self.repo.rev_parse(self.default_branch)
            after = self.repo.rev_parse(after)
            if self.repo.resolve(self.default_branch) != after:
                self.repo.reset_branch(self.default_branch, after)
            created = before is None
            forced = bool(before) and not self.repo.is_ancestor(before, after)
            shas = self.repo.rev_list(before, after, reverse=True)
            if len(shas) > self.push_commit_limit:
                shas = shas[-self.push_commit_limit :]
            ident = self.identity
            entries = [self._push_entry(sha, ident) for sha in shas]
            head_info = self.repo.commit_info(after)
            head_commit = next(
                (entry for entry in entries if entry["id"] == after),
                payloads.push_commit(head_info, ident, distinct=after not in self._known),
            )
            self._known.update(shas)
            self._pushed_head = after
            payload = payloads.push_payload(
                ident,
                ref=f"refs/heads/{self.default_branch}",
                before=before or ZERO_SHA,
                after=after,
                commits=entries,
                head_commit=head_commit,
                forced=forced,
                created=created,
            )
        return self.deliver("push", payload)

    def _push_entry(self, sha: str, ident: payloads.RepoIdentity) -> dict[str, Any]:
        return payloads.push_commit(self.repo.commit_info(sha), ident, distinct=sha not in self._known)

    # --- pull requests ----------------------------------------------------------------------

    def open_pull_request(
        self, head: str, title: str, body: str = "", *, base: str | None = None, when: datetime | None = None
    ) -> int:
        """Open a pull request from branch `head` into `base` (the default branch)."""
        with self._lock:
            base = base or self.default_branch
            head_sha = self.repo.rev_parse(head)
            base_sha = self.repo.rev_parse(base)
            number = self._next_number
            self._next_number += 1
            self.pulls[number] = PullRequestRecord(
                number=number,
                title=title,
                body=body,
                head_ref=head,
                base_ref=base,
                created_at=self.repo.tick(when),
                base_sha=base_sha,
                head_sha=head_sha,
            )
            # The head branch was pushed to GitHub to open the PR.
            self._known.update(self.repo.rev_list(base_sha, head_sha))
            return number

    def pull_commits(self, number: int) -> list[str]:
        """The PR's commits, oldest first (frozen at merge, live while open)."""
        pr = self.pulls[number]
        if pr.merged:
            return list(pr.commits)
        return self.repo.rev_list(self.repo.rev_parse(pr.base_ref), self.repo.rev_parse(pr.head_ref), reverse=True)

    def merge_pull_request(
        self,
        number: int,
        method: str = "merge",
        message: str | None = None,
        *,
        when: datetime | None = None,
        author: str | None = None,
    ) -> str:
        """Merge like GitHub's button: `merge` writes `Merge pull request #N from owner/branch`
        plus the title, `squash` writes GitHub's default squash message. Delivers the push and
        the `pull_request` `closed` event. Returns the merge commit SHA."""
        with self._lock:
            pr = self.pulls[number]
            if pr.closed_at is not None:
                raise ValueError(f"pull request #{number} is already closed")
            commits = self.pull_commits(number)
            self.repo.checkout(pr.base_ref)
            before = self.repo.rev_parse(pr.base_ref)
            head_sha = self.repo.rev_parse(pr.head_ref)
            if method == "merge":
                text = message or f"Merge pull request #{number} from {self.identity.owner}/{pr.head_ref}\n\n{pr.title}"
                sha = self.repo.merge(pr.head_ref, text, no_ff=True, author=author, when=when)
            elif method == "squash":
                text = message or self._squash_message(pr, commits)
                sha = self.repo.squash_merge(pr.head_ref, text, author=author, when=when)
            else:
                raise ValueError("method is merge or squash")
            merged_at = self.repo.commit_info(sha, with_files=False).committer.date
            pr.head_sha = head_sha
            pr.base_sha = before
            pr.commits = tuple(commits)
            pr.merge_commit_sha = sha
            pr.merge_method = method
            pr.merged_at = merged_at
            pr.closed_at = merged_at
        if pr.base_ref == self.default_branch:
            self.push_branch(before=self._pushed_head, after=sha)
        self.deliver("pull_request", payloads.pull_request_closed_payload(self.identity, self.pull_facts(number)))
        return sha

    def _squash_message(self, pr: PullRequestRecord, commits: list[str]) -> str:
        infos = self.repo.commit_infos(commits)
        if len(infos) == 1:
            subject, _, rest = infos[0].message.rstrip("\n").partition("\n")
            return f"{subject} (#{pr.number})" + (f"\n{rest}" if rest else "")
        listed = "\n\n".join(f"* {info.message.strip()}" for info in infos)
        return f"{pr.title} (#{pr.number})\n\n{listed}"

    def pull_facts(self, number: int) -> payloads.PullRequestFacts:
        pr = self.pulls[number]
        commits = self.pull_commits(number)
        head_sha = pr.head_sha if pr.merged else self.repo.rev_parse(pr.head_ref)
        base_sha = pr.base_sha if pr.merged else self.repo.rev_parse(pr.base_ref)
        merge_base = self.repo.merge_base(base_sha, head_sha) or base_sha
        files = self.repo.diff_files(merge_base, head_sha)
        return payloads.PullRequestFacts(
            number=pr.number,
            title=pr.title,
            body=pr.body,
            head_ref=pr.head_ref,
            head_sha=head_sha,
            base_ref=pr.base_ref,
            base_sha=base_sha,
            created_at=pr.created_at,
            closed_at=pr.closed_at,
            merged=pr.merged,
            merge_commit_sha=pr.merge_commit_sha,
            merged_at=pr.merged_at,
            commits=len(commits),
            additions=sum(f.additions for f in files),
            deletions=sum(f.deletions for f in files),
            changed_files=len(files),
        )

    def revert_button(self, number: int, *, when: datetime | None = None) -> int:
        """What GitHub's Revert button does on merged PR `number`: a branch
        `revert-<n>-<head ref>` with one revert commit, and a new open PR
        `Revert "<title>"` / `Reverts owner/repo#n`. Returns the new PR's number."""
        with self._lock:
            pr = self.pulls[number]
            if not pr.merged or pr.merge_commit_sha is None:
                raise ValueError(f"pull request #{number} is not merged")
            branch = f"revert-{number}-{pr.head_ref}"
            self.repo.branch(branch, pr.base_ref)
            self.repo.checkout(branch)
            try:
                if pr.merge_method == "merge":
                    # GitHub reverts the merge against its first parent and writes only a subject.
                    self.repo.revert(pr.merge_commit_sha, mainline=1, message=f'Revert "{pr.title}"', when=when)
                else:
                    self.repo.revert(pr.merge_commit_sha, when=when)
            finally:
                self.repo.checkout(pr.base_ref)
        return self.open_pull_request(
            branch, f'Revert "{pr.title}"', f"Reverts {self.full_name}#{number}", base=pr.base_ref, when=when
        )

    # --- deployments and releases -----------------------------------------------------------

    def create_deployment(
        self,
        sha: str,
        environment: str = "production",
        *,
        ref: str | None = None,
        description: str | None = None,
        when: datetime | None = None,
    ) -> int:
        """Create a deployment of `sha` and deliver the `deployment` event. Returns its id."""
        with self._lock:
            full = self.repo.rev_parse(sha)
            at = self.repo.tick(when)
            dep = DeploymentRecord(
                id=self._next_deployment_id,
                sha=full,
                ref=ref or full,
                environment=environment,
                created_at=at,
                updated_at=at,
                description=description,
            )
            self._next_deployment_id += 1
            self.deployments[dep.id] = dep
        self.deliver("deployment", payloads.deployment_payload(self.identity, dep.facts()))
        return dep.id

    def set_deployment_status(
        self,
        deployment_id: int,
        state: str = "success",
        *,
        environment: str | None = None,
        description: str = "",
        target_url: str = "",
        when: datetime | None = None,
    ) -> int:
        """Add a status to a deployment and deliver `deployment_status`. Returns the status id."""
        with self._lock:
            dep = self.deployments[deployment_id]
            at = self.repo.tick(when)
            status = payloads.DeploymentStatusFacts(
                id=self._next_status_id,
                state=state,
                environment=environment or dep.environment,
                created_at=at,
                description=description,
                target_url=target_url,
            )
            self._next_status_id += 1
            dep.statuses.append(status)
            dep.updated_at = at
        self.deliver("deployment_status", payloads.deployment_status_payload(self.identity, dep.facts(), status))
        return status.id

    def deploy(self, sha: str, environment: str = "production", *, when: datetime | None = None) -> int:
        """A deployment that succeeds right away (both events). Returns the deployment id."""
        dep_id = self.create_deployment(sha, environment, when=when)
        self.set_deployment_status(dep_id, "success", when=when)
        return dep_id

    def publish_release(
        self,
        tag: str,
        *,
        target: str | None = None,
        name: str = "",
        body: str = "",
        when: datetime | None = None,
    ) -> int:
        """Tag `target` (the default branch) and deliver `release` `published`."""
        with self._lock:
            target = target or self.default_branch
            self.repo.tag(tag, target)
            at = self.repo.tick(when)
            rel = payloads.ReleaseFacts(
                id=self._next_release_id,
                tag_name=tag,
                target_commitish=target,
                name=name,
                body=body,
                created_at=at,
                published_at=at,
            )
            self._next_release_id += 1
            self.releases[rel.id] = rel
        self.deliver("release", payloads.release_published_payload(self.identity, rel))
        return rel.id

    # --- helpers for the API ----------------------------------------------------------------

    def commit_info(self, sha: str, *, with_files: bool = True) -> CommitInfo:
        return self.repo.commit_info(sha, with_files=with_files)
