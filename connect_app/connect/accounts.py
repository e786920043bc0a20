"""Atlassian account ids the app keeps in memory, and how to forget one.

A module that caches something per account (the admin check in `web.admin`) registers a forgetter
here; the personal data report (`jobs.privacy`) calls `forget` for every account Atlassian says is
closed. Each process forgets in its own memory: a web process's cache entries expire on their
own TTL (a minute at most), so nothing keyed by a closed account outlives that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

_forgetters: list[Callable[[str], None]] = []
_lock = threading.Lock()


def on_forget(forgetter: Callable[[str], None]) -> Callable[[str], None]:
    """Register a function that drops everything cached for one account id."""
    with _lock:
        if forgetter not in _forgetters:
            _forgetters.append(forgetter)
    return forgetter


def forget(account_id: str) -> None:
    with _lock:
        forgetters = list(_forgetters)
    for forgetter in forgetters:
        forgetter(account_id)
