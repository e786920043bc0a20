"""Shared fixtures: a database URL (SQLite by default, PostgreSQL when TEST_DATABASE_URL says so)
and the loopback stack of app + Jira simulator + GitHub simulator."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text

FIXTURES = Path(__file__).parent / "fixtures"

# Random examples per hypothesis property: "suite" keeps a whole run of the suite quick (every run
# draws new ones); HYPOTHESIS_PROFILE=thorough spends ten times as many on the same properties.
settings.register_profile("suite", max_examples=40)
settings.register_profile("thorough", max_examples=400)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


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


@pytest.fixture(scope="session")
def start_migrated(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], None]:
    """`start_migrated(url)` makes an empty SQLite database at `url` a copy of one migrated to the
    newest revision, which the app then finds up to date: running every migration costs about a
    second per stack (tests/integration/test_migrations.py still runs them from scratch).
    PostgreSQL databases are left as they are, to be migrated by the app."""
    from connect_app.store.db import upgrade

    template = tmp_path_factory.mktemp("migrated") / "app.db"
    upgrade(f"sqlite:///{template}")
    with closing(sqlite3.connect(template)) as written:  # the whole database in the one file
        written.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def start(url: str) -> None:
        if url.startswith("sqlite:///"):
            shutil.copyfile(template, url.removeprefix("sqlite:///"))

    return start


@pytest.fixture
def stack(tmp_path: Path, database_url: str, start_migrated: Callable[[str], None]):  # type: ignore[no-untyped-def]
    from connect_app.sandbox.stack import Stack

    start_migrated(database_url)
    with Stack(tmp_path, database_url=database_url) as running:
        running.seed_jira()
        yield running
        assert running.jira.violations == [], "requests or responses outside the Jira OpenAPI spec"
