"""The panel, the reality API, the report and the drifted list read each issue's stored reality
rows (written by recompute), never the tenant's history: no page view reads a commit, a segment
or a pull request, and the pages still show what the history says."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from connect_app.sandbox.stack import Stack
from connect_app.web.panel import TIMELINE_PAGE

HISTORY_TABLES = ("commits", "segments", "pull_requests", "deployments", "releases", "flags")
REPORT = "/api/report?since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z&epics=all"


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every SQL statement any engine runs while the test reads pages."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _read_history(statements: list[str]) -> list[str]:
    return [s for s in statements if any(f"FROM {table}" in s or f"JOIN {table}" in s for table in HISTORY_TABLES)
            and not _one_commit_by_its_key(s)]


def _one_commit_by_its_key(statement: str) -> bool:
    """The revert that caused a drift, read by its primary key (who reverted and why): a lookup of
    one row, not a read of the history."""
    return "FROM commits" in statement and "commits.sha = " in statement and "LIMIT" in statement \
        and "JOIN" not in statement


def _get(stack: Stack, path: str) -> Any:
    response = stack.admin("GET", path)
    assert response.status_code == 200, response.text
    return response.json()


def test_pages_read_stored_rows_and_page_the_timeline(stack: Stack, statements: list[str]) -> None:
    for key in ("FEAT-1", "FEAT-2"):
        stack.jira.add_issue(key, f"Feature {key}", status="Done")
    stack.install()
    github = stack.start_github()
    stack.connect_repository()
    github.repo.commit("Initial shop", {"README.md": "shop\n"})
    github.push_branch()
    for n in range(TIMELINE_PAGE + 3):
        github.repo.commit(f"FEAT-1: Coupons step {n}", {f"src/coupons_{n}.py": "ON = 1\n"})
    github.push_branch()
    wrap = github.push("FEAT-2: Gift wrap", {"src/wrap.py": "ON = 1\n"})
    github.deploy(wrap, "production")
    github.repo.revert(wrap)
    github.push_branch()
    github.deploy(github.repo.rev_parse("main"), "production")
    stack.settle()

    statements.clear()
    first = _get(stack, "/api/issues/FEAT-1/reality")
    second = _get(stack, "/api/issues/FEAT-1/reality?page=2")
    wrapped = _get(stack, "/api/issues/FEAT-2/reality")
    report = _get(stack, REPORT)
    assert _read_history(statements) == [], "a page view never reads the history"

    # The coupons' 53 commits and the deployment that shipped them, newest first, 50 a page.
    assert first["timeline_total"] == TIMELINE_PAGE + 4 and first["timeline_pages"] == 2
    # The deployment told by what it meant for this feature (the wrap deploy shipped the coupons).
    assert [e["title"] for e in first["timeline"]][:2] == ["The feature went live in production",
                                                           f"FEAT-1: Coupons step {TIMELINE_PAGE + 2}"]
    assert first["timeline"][0]["short"] == wrap[:7]
    assert len(first["timeline"]) == TIMELINE_PAGE
    assert [e["title"] for e in second["timeline"]] == [f"FEAT-1: Coupons step {n}" for n in (3, 2, 1, 0)]
    assert first["changes"] == TIMELINE_PAGE + 3
    assert wrapped["drift"] == "reverted"
    # Who reverted, read from the one revert commit (no reason: its message has none).
    assert wrapped["what_happened"] == "Sandbox Developer reverted it."
    assert [e["kind"] for e in wrapped["timeline"]] == ["deployment", "revert", "deployment", "commit"]
    features = {f["key"]: f for g in report["groups"] for f in g["features"]}
    assert [e["kind"] for e in features["FEAT-2"]["events"]] == ["deployment", "revert", "deployment"]
    assert [e["kind"] for e in features["FEAT-1"]["events"]] == ["deployment"]

    # A page far past the last (found by schemathesis) is an empty page, not a 500 from the database.
    assert _get(stack, "/api/issues/FEAT-1/reality?page=184467440737095518")["timeline"] == []
