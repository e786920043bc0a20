"""The whole system on loopback: the app, a Jira Cloud simulator, a GitHub simulator backed by a
real git repository, and a worker. End-to-end tests, browser tests, benchmarks and
`connect-app demo` all stand on this one harness; nothing in it reaches into the app's internals
except to run the worker in-process.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from flask import Flask

from connect_app import create_app
from connect_app.config import load_settings
from connect_app.connect.descriptor import APP_KEY
from connect_app.connect.jira import JiraClient
from connect_app.jobs import kinds
from connect_app.jobs.handlers import Handlers
from connect_app.jobs.queue import Worker
from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.github.simulator import GitHubSimulator
from connect_app.sandbox.jira.simulator import JiraSimulator
from connect_app.sandbox.server import ServedApp
from connect_app.services import Services

ADMIN = "557058:admin-ada"
STAKEHOLDERS = {
    "reporter": ("557058:pm-priya", "Priya Product"),
    "assignee": ("557058:dev-dan", "Dan Developer"),
    "owner": ("557058:ops-olivia", "Olivia Operations"),
}
OWNER_FIELD = "customfield_10050"
SANDBOX_GITHUB_TOKEN = "gh-sandbox-token"  # noqa: S105 - the simulator's own token, not a secret


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RepositoryConnection:
    id: str
    webhook_url: str
    webhook_secret: str
    deploy_token: str


class _Pending:
    """The app's WSGI entry while the app is being built: 503 until then, the app after."""

    def __init__(self) -> None:
        self.app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Retry-After", "1")])
            return [b"starting\n"]
        return self.app(environ, start_response)


class Stack:
    """Start with `Stack(tmp_path).start()`; `stop()` when done (or use it as a context manager)."""

    def __init__(self, workdir: Path, *, database_url: str | None = None, strict_openapi: bool = True,
                 port: int | None = None, background_worker: bool = False,
                 env: Mapping[str, str] | None = None) -> None:
        self.workdir = Path(workdir)
        self.database_url = database_url or f"sqlite:///{self.workdir / 'app.db'}"
        self.jira = JiraSimulator(strict=strict_openapi)
        self.port = port or 0  # 0: any free port, bound in start() before anything else listens
        self.app_url = ""
        self.background_worker = background_worker
        self.extra_env = dict(env or {})
        self.app: Flask | None = None
        self.svc: Services | None = None
        self._server: ServedApp | None = None
        self._stop = threading.Event()
        self._worker_thread: threading.Thread | None = None
        self.repo: GitRepo | None = None
        self.github: GitHubSimulator | None = None

    # ---- lifecycle ------------------------------------------------------------------------

    def start(self) -> Stack:
        # The app's port is bound first and kept: picking a free port and binding it later would
        # race with the simulators' own listening sockets. Requests wait for the app in `_Pending`.
        pending = _Pending()
        self._server = ServedApp(pending, port=self.port).start()
        self.app_url = self._server.url
        self.port = int(self.app_url.rsplit(":", 1)[1])
        self.jira.start()
        env = {
            "APP_BASE_URL": self.app_url,
            "DATABASE_URL": self.database_url,
            "INSTANCE_PATH": str(self.workdir / "instance"),
            "CONNECT_INSTALL_KEYS_URL": self.jira.keys_url,
            "ALLOWED_JIRA_BASE_URLS": "http://127.0.0.1:*",
            "ALLOWED_GITHUB_API_URLS": "http://127.0.0.1:*",
            "APP_SECRET_KEY": "sandbox-secret-key-that-is-long-enough-0123456789",
            **self.extra_env,
        }
        self.settings = load_settings(env)
        self.app = create_app(self.settings)
        self.svc = self.app.extensions["system-reality"]
        pending.app = self.app
        if self.background_worker:
            self.start_background_worker()
        return self

    def start_background_worker(self) -> None:
        """Process jobs as they come (the demo and the browser tests, where a person clicks)."""
        if self._worker_thread is None:
            self._worker_thread = threading.Thread(target=self._run_worker, name="sandbox-worker", daemon=True)
            self._worker_thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._worker_thread is not None:
            self._worker_thread.join(timeout=10)
        if self.github is not None:
            self.github.stop()
        if self._server is not None:
            self._server.stop()
        self.jira.stop()
        if self.svc is not None:
            self.svc.engine.dispose()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- the worker ------------------------------------------------------------------------

    def worker(self) -> Worker:
        assert self.svc is not None
        return Worker(self.svc.sessions, Handlers(self.svc, sleep=lambda _s: None).mapping(), poll_interval=0.05,
                      bulk_kinds=kinds.BULK)

    def settle(self, max_jobs: int = 10_000) -> int:
        """Run every ready job to completion in this thread (deterministic for tests)."""
        assert self.app is not None
        with self.app.app_context():
            return self.worker().run_until_idle(max_jobs)

    def _run_worker(self) -> None:
        assert self.app is not None
        with self.app.app_context():
            self.worker().run_forever(self._stop)

    # ---- Jira side ------------------------------------------------------------------------

    def seed_jira(self) -> None:
        """A small Jira site: people, the FEAT and OPS projects, an active epic."""
        jira = self.jira
        jira.add_user(ADMIN, "Ada Admin", admin=True)
        for account_id, name in STAKEHOLDERS.values():
            jira.add_user(account_id, name)
        jira.add_project("FEAT", "Checkout features")
        jira.add_project("OPS", "Operations")

    def install(self) -> requests.Response:
        response = self.jira.install(self.app_url)
        response.raise_for_status()
        return response

    def jira_client(self) -> JiraClient:
        """A client signed as the installed app, for asking the simulator what Jira would answer."""
        assert self.jira.shared_secret is not None
        return JiraClient(base_url=self.jira.base_url, app_key=APP_KEY, shared_secret=self.jira.shared_secret)

    def search(self, jql: str) -> list[str]:
        return [issue["key"] for issue in self.jira_client().search_jql(jql, fields=["summary"])]

    def admin(self, method: str, path: str, json: Any = None, *, account_id: str = ADMIN) -> requests.Response:
        token = self.jira.context_token(account_id)
        return requests.request(method, f"{self.app_url}{path}", json=json,
                                headers={"Authorization": f"JWT {token}"}, timeout=30)

    # ---- GitHub side ----------------------------------------------------------------------

    def start_github(self, *, token: str | None = SANDBOX_GITHUB_TOKEN,
                     full_name: str = "acme/shop") -> GitHubSimulator:
        self.repo = GitRepo(self.workdir / "repo")
        self.github = GitHubSimulator(self.repo, full_name=full_name).start()
        if token:
            self.github.require_token(token)
        return self.github

    def connect_repository(self, *, token: str | None = SANDBOX_GITHUB_TOKEN,
                           production_environments: list[str] | None = None) -> RepositoryConnection:
        assert self.github is not None
        body: dict[str, Any] = {"provider": "github", "repository": self.github.full_name,
                                "api_url": self.github.api_url}
        if token:
            body["token"] = token
        if production_environments:
            body["production_environments"] = production_environments
        response = self.admin("POST", "/api/connections", body)
        response.raise_for_status()
        data = response.json()
        self.github.add_hook(data["webhook_url"], data["webhook_secret"])
        return RepositoryConnection(id=data["id"], webhook_url=data["webhook_url"],
                                    webhook_secret=data["webhook_secret"], deploy_token=data["deploy_token"])

    def report_deployment(self, connection: RepositoryConnection, body: Mapping[str, Any]) -> requests.Response:
        return requests.post(f"{self.app_url}/api/deployments/{connection.id}", json=dict(body),
                             headers={"Authorization": f"Bearer {connection.deploy_token}"}, timeout=30)

    def panel_url(self, issue_key: str, *, account_id: str = ADMIN) -> str:
        return self.jira.iframe_url(self.app_url, "/panel/issue?issueKey={issue.key}&issueId={issue.id}",
                                    account_id=account_id, context={"issue.key": issue_key})
