"""What the GitLab and Bitbucket simulators do alike: serve their API on a loopback port, keep
their webhooks and what was sent to them, and tell which commits a push of the default branch
brings. Each host's own module says how its API, its deliveries and its payloads look."""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Self

from flask import Flask

from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.server import ServedApp
from connect_app.sandbox.webhooks import Hook, Sender, SentDelivery


class SimulatedHost(ABC):
    """One repository on a simulated host, backed by a real git repository."""

    host_name = "repository host"  # in the error for an API address asked before start()
    api_path = ""  # the API root below the served origin

    def __init__(self, repo: GitRepo, default_branch: str) -> None:
        self.repo = repo
        self.sender = Sender()
        self.api_requests: list[tuple[str, str]] = []  # (method, path) of every API call served
        self._pushed_head: str | None = repo.resolve(default_branch)
        self._server: ServedApp | None = None

    @abstractmethod
    def api_app(self) -> Flask:
        """The host's REST API over this simulator."""

    @abstractmethod
    def push_branch(self) -> str:
        """Announce the default branch's new head with the host's push webhook; returns its GUID."""

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is None:
            self._server = ServedApp(self.api_app()).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {self.host_name} simulator is not started")
        return f"{self._server.url}{self.api_path}"

    # --- webhooks ---------------------------------------------------------------------------

    def add_hook(self, url: str, secret: str) -> None:
        self.sender.hooks.append(Hook(url, secret))

    def _deliver_to_hooks(self, event: str, payload: dict[str, Any],
                          headers_for: Callable[[Hook, str, bytes], dict[str, str]]) -> str:
        """POST `payload` to every hook with the headers `headers_for(hook, guid, body)` gives;
        returns the delivery's GUID, shared by every hook's copy as the host's own is."""
        guid = str(uuid.uuid4())
        body = json.dumps(payload).encode()
        for hook in self.sender.hooks:
            self.sender.post(hook.url, event, guid, headers_for(hook, guid, body), body)
        return guid

    @property
    def deliveries(self) -> list[SentDelivery]:
        return self.sender.deliveries

    def redeliver(self, guid: str) -> list[SentDelivery]:
        return self.sender.redeliver(guid)

    # --- pushes -----------------------------------------------------------------------------

    def _next_push(self, branch: str) -> tuple[str | None, str, list[str]]:
        """The branch's head before and after the push being announced, and the commits it
        brings, oldest first; the host remembers the new head for the next push."""
        after = self.repo.rev_parse(branch)
        before = self._pushed_head
        shas = self.repo.rev_list(before, after, reverse=True)
        self._pushed_head = after
        return before, after, shas
