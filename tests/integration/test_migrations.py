"""The schema only changes through migrations: after `upgrade`, the database matches the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from connect_app.store.db import make_engine, upgrade
from connect_app.store.models import Base

pytestmark = pytest.mark.postgres


def test_migrations_build_exactly_the_models(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_upgrade_twice_is_harmless(database_url: str) -> None:
    upgrade(database_url)
    upgrade(database_url)


def test_processes_starting_together_migrate_one_at_a_time(database_url: str) -> None:
    import threading

    errors: list[BaseException] = []

    def start() -> None:
        try:
            upgrade(database_url)
        except BaseException as exc:
            errors.append(exc)

    starters = [threading.Thread(target=start) for _ in range(4)]
    for thread in starters:
        thread.start()
    for thread in starters:
        thread.join(60)
    assert errors == []
    engine = make_engine(database_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()
