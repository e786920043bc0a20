"""Structured logs: one JSON object a line, carrying the tenant, job and delivery being worked on.

Context is bound with `bound(...)` around a unit of work (a job, a request) and reaches every log
line written inside it, including those of libraries, through structlog's contextvars. Values
are ids and kinds only: no token, secret or payload is ever bound.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

_PRE_CHAIN: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure(level: str = "INFO", fmt: str = "json") -> None:
    """Route the standard library's logging through structlog: JSON lines, or plain text for a
    person at a terminal (`LOG_FORMAT=text`)."""
    renderer: Any = (structlog.dev.ConsoleRenderer(colors=False) if fmt == "text"
                     else structlog.processors.JSONRenderer())
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time of each line, not at configure time (a
    test harness or a daemon may swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


@contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Bind ids (tenant_id, job_id, delivery_id, ...) to every log line written inside."""
    tokens = structlog.contextvars.bind_contextvars(**{k: v for k, v in ids.items() if v is not None})
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
