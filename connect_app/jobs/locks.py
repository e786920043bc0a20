"""One worker at a time on one issue (sync) or one tenant (recompute).

Jobs are claimed one by one, but two different jobs can concern the same issue: a sync queued
while the previous sync of that issue is still talking to Jira. Both would find no comment yet
and both would post. A named lock closes that gap: a PostgreSQL advisory lock across processes
(held on its own connection for as long as the work talks to Jira), and a process-local lock for
threads in one process. A job that finds the lock taken is handed back to the queue to run a
moment later, rather than holding a worker idle.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from connect_app.jobs import queue as jobs
from connect_app.services import Services

_local_guard = threading.Lock()
_local_held: set[str] = set()
RETRY_SECONDS = 1.0


def _advisory_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive(svc: Services, name: str) -> Iterator[None]:
    """Run the block as the only holder of `name`, or raise `jobs.Retry` if someone else is."""
    with _local_guard:
        if name in _local_held:
            raise jobs.Retry(RETRY_SECONDS, f"{name} is being worked on by another thread")
        _local_held.add(name)
    try:
        if svc.engine.dialect.name != "postgresql":
            yield  # SQLite runs one worker process by design
            return
        key = _advisory_key(name)
        with svc.engine.connect() as connection:
            if not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
                raise jobs.Retry(RETRY_SECONDS, f"{name} is being worked on by another worker")
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
    finally:
        with _local_guard:
            _local_held.discard(name)
