"""Sending a simulated host's webhooks and keeping what was sent, for the GitLab and Bitbucket
simulators: each delivery is kept with its headers and body so a test can redeliver it exactly.
And the payload templates every simulated host (GitHub's too) builds its deliveries from."""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import requests

DELIVERY_TIMEOUT_SECONDS = 30


@cache
def packaged_json(package: str, name: str) -> dict[str, Any]:
    """A payload template packaged in `package`'s `payload_templates/`, read once and shared: read it,
    never change it (`packaged_template` gives a copy to change)."""
    text = resources.files(package).joinpath("payload_templates", name).read_text("utf-8")
    return json.loads(text)


def packaged_template(package: str, name: str) -> dict[str, Any]:
    """A fresh deep copy of a packaged payload template, safe to change."""
    return copy.deepcopy(packaged_json(package, name))


@dataclass
class Hook:
    url: str
    secret: str


@dataclass
class SentDelivery:
    guid: str
    event: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int | None  # None when the receiver could not be reached
    response_body: bytes = b""


class Sender:
    """Posts to hooks and keeps every delivery."""

    def __init__(self) -> None:
        self.hooks: list[Hook] = []
        self.deliveries: list[SentDelivery] = []
        self._lock = threading.Lock()

    def post(self, url: str, event: str, guid: str, headers: dict[str, str], body: bytes) -> SentDelivery:
        try:
            response = requests.post(url, data=body, headers=headers, timeout=DELIVERY_TIMEOUT_SECONDS,
                                     allow_redirects=False)
            sent = SentDelivery(guid, event, url, headers, body, response.status_code, response.content)
        except requests.RequestException:
            sent = SentDelivery(guid, event, url, headers, body, None)
        with self._lock:
            self.deliveries.append(sent)
        return sent

    def redeliver(self, guid: str) -> list[SentDelivery]:
        """The host's "Resend": the same headers and body again."""
        with self._lock:
            originals = [d for d in self.deliveries if d.guid == guid]
        if not originals:
            raise KeyError(f"no delivery {guid}")
        return [self.post(d.url, d.event, d.guid, dict(d.headers), d.body) for d in originals[:1]]
