"""How the panel's server time grows with an issue's history: an issue with 10 timeline events
and one with 2,000, on the same Jira site and repository, best of 5 GETs each.

    .venv/bin/python benchmarks/panel.py

Facts are recorded with the app's own recorders (`connect_app.store.facts`), as the webhook intake
does, then the worker recomputes drift; the timing is a real signed GET of the panel iframe URL
through the loopback stack (app + Jira simulator). The goal: the 2,000-event panel takes at most
3 times as long as the 10-event one (the panel renders 50 events a page).
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import select

from connect_app.jobs.kinds import queue_recompute
from connect_app.reality.model import Commit, Segment
from connect_app.sandbox.stack import Stack
from connect_app.store.db import transaction
from connect_app.store.facts import record_commit, record_segment
from connect_app.store.models import Tenant

GOAL = 3.0
SMALL, LARGE = 10, 2_000
RUNS = 5


def _sha(n: int) -> str:
    return hashlib.sha1(f"panel-benchmark-{n}".encode()).hexdigest()


def seed_history(stack: Stack, connection_id: str, *, large: int = LARGE) -> None:
    """SMALL commits naming FEAT-1 and `large` naming FEAT-2, interleaved on the default branch."""
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    keys = ["FEAT-2"] * large
    for n in range(SMALL):
        keys.insert(n * (large // SMALL) + n, "FEAT-1")
    shas: list[str] = []
    assert stack.svc is not None
    with transaction(stack.svc.sessions) as session:
        for n, key in enumerate(keys):
            sha = _sha(n)
            record_commit(session, connection_id, Commit(
                sha=sha, message=f"{key}: step {n} of the feature", author="Bench <bench@example.com>",
                timestamp=start + timedelta(minutes=n), files=(f"src/{key.lower()}/{n % 40}.py",),
                parents=(shas[-1],) if shas else (), url=f"https://github.com/acme/shop/commit/{sha}"))
            shas.append(sha)
        record_segment(session, connection_id, Segment(before=None, after=shas[-1], commits=tuple(shas)))
        tenant = session.scalar(select(Tenant))
        assert tenant is not None
        queue_recompute(session, tenant.id)
    stack.settle()


def panel_seconds(stack: Stack, key: str) -> tuple[float, int]:
    """Best wall time of RUNS panel GETs, and how many events the panel says the issue has."""
    times = []
    total = 0
    for _ in range(RUNS):
        url = stack.panel_url(key)  # a fresh Jira-signed URL each time, as Jira gives
        started = time.perf_counter()
        response = requests.get(url, timeout=120)
        times.append(time.perf_counter() - started)
        response.raise_for_status()
    token = stack.jira.context_token("557058:admin-ada")
    view = requests.get(f"{stack.app_url}/api/issues/{key}/reality", headers={"Authorization": f"JWT {token}"},
                        timeout=120).json()
    total = int(view["timeline_total"])
    return min(times), total


def measure(large: int, keys: list[str]) -> list[tuple[float, int]]:
    with tempfile.TemporaryDirectory() as workdir, Stack(Path(workdir)) as stack:
        stack.seed_jira()
        stack.jira.add_issue("FEAT-1", "Small feature", status="Done")
        stack.jira.add_issue("FEAT-2", "Feature with a long history", status="Done")
        stack.install()
        created = stack.admin("POST", "/api/connections", {"provider": "github", "repository": "acme/shop",
                                                           "api_url": "http://127.0.0.1:9/api/v3"})
        created.raise_for_status()
        seed_history(stack, created.json()["id"], large=large)
        panel_seconds(stack, keys[0])  # warm-up: imports, template compilation, connection pools
        return [panel_seconds(stack, key) for key in keys]


def main() -> int:
    (small, small_events), (large, large_events) = measure(LARGE, ["FEAT-1", "FEAT-2"])
    ratio = large / small
    print(f"panel, {small_events:>5} timeline events: {small * 1000:8.1f} ms (best of {RUNS})")
    print(f"panel, {large_events:>5} timeline events: {large * 1000:8.1f} ms (best of {RUNS})")
    print(f"ratio: {ratio:.2f} (goal: at most {GOAL:g})")
    # For reference: the same 10-event issue on a site whose whole history is tiny. The panel
    # reads the site's history to build the timeline, so history size costs too.
    ((alone, alone_events),) = measure(SMALL, ["FEAT-1"])
    print(f"reference: panel, {alone_events} events, on a site with {2 * SMALL} commits in all: "
          f"{alone * 1000:.1f} ms; the 2,000-event panel takes {large / alone:.2f} times that")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
