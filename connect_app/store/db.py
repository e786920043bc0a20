"""Engine, sessions and migrations.

SQLite (the default) runs in WAL mode with one worker; PostgreSQL serves any number of web and
worker processes. The schema only ever changes through the Alembic migrations in
`connect_app/store/migrations`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from connect_app.store.text import keep_text_storable, storable_json

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    # Every text and JSON value written or looked up is storable on every database (store.text).
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               json_serializer=storable_json)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, json_serializer=storable_json)
    keep_text_storable(engine)
    return engine


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


T = TypeVar("T")

# Rows written per transaction by work that writes many (the full recomputation). On SQLite a
# transaction holds the one write lock and a webhook delivery waits for it: at 100k commits the
# full pass writes ~200k rows, which in one transaction kept deliveries waiting past the busy
# timeout. 500 of a full pass's rows (about 25 issues with their timelines and syncs) are ~0.1 s
# of CPU: a delivery waits well under a second even when the worker gets a fraction of a core.
WRITE_BATCH = 500


def in_batches(items: Iterable[T], rows: Callable[[T], int]) -> Iterator[list[T]]:
    """`items` in runs that write about WRITE_BATCH rows each (`rows` says how many an item writes;
    an item of more is a run of its own). Lazy: an item is taken when its run is built."""
    limit = WRITE_BATCH
    batch: list[T] = []
    size = 0
    for item in items:
        batch.append(item)
        size += rows(item)
        if size >= limit:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


# Any constant: every process of this app agrees on it, nothing else in the database uses it.
MIGRATION_LOCK = 0x5EA11_7E


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations. On PostgreSQL, processes that start together (several `serve` and
    `worker`) take turns under an advisory lock; the later ones find nothing left to do."""
    from alembic import command

    if not url.startswith("postgresql"):
        with _file_lock(url):
            command.upgrade(alembic_config(url), revision)
        return
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                command.upgrade(alembic_config(url), revision)
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
    finally:
        engine.dispose()


@contextmanager
def _file_lock(url: str) -> Iterator[None]:
    """SQLite's counterpart of the advisory lock: a lock file beside the database."""
    import fcntl

    path = url.split(":///", 1)[-1]
    if not path or path == ":memory:":
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(f"{path}.migrate.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
