"""Shared fixtures: a database URL (SQLite by default, PostgreSQL when TEST_DATABASE_URL says so)
and the loopback stack of app + Jira simulator + GitHub simulator."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

FIXTURES = Path(__file__).parent / "fixtures"


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        _reset_postgres(url)
        yield url
    else:
        yield f"sqlite:///{tmp_path / 'app.db'}"


@pytest.fixture
def stack(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    from connect_app.sandbox.stack import Stack

    with Stack(tmp_path, database_url=database_url) as running:
        running.seed_jira()
        yield running
        assert running.jira.violations == [], "requests or responses outside the Jira OpenAPI spec"
