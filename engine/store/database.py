"""Creating the SQLAlchemy engine for SQLite (embedded default) or PostgreSQL (production)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from engine.store.prepared import execute_on_driver


WAL_AUTOCHECKPOINT_PAGES = 4000  # 16 MB of 4 KB pages
PAGE_CACHE_KB = 65536  # per connection


def database_url(url: str, password: str | None = None) -> URL:
    """The configured URL with the psycopg 3 driver for PostgreSQL and the secret password added."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("psycopg2", "", None):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if password and not parsed.password:
        parsed = parsed.set(password=password)
    return parsed


def make_engine(url: str | URL, password: str | None = None, busy_timeout_ms: int = 10_000) -> Engine:
    parsed = database_url(str(url) if isinstance(url, str) else url.render_as_string(hide_password=False), password)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_ms)
    return create_engine(parsed, pool_pre_ping=True, future=True)


def _sqlite_engine(url: URL, busy_timeout_ms: int) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000}, future=True)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; SQLAlchemy
        # emits BEGIN itself (see "Serializable isolation / Savepoints" in its SQLite docs).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        # The WAL is copied back into the database by whichever COMMIT finds it past this many pages,
        # on the reactor thread. At SQLite's 1,000, with a receipt per reply at 2,000 commands a
        # second, one commit in 80 did it, 6-24 ms each: half of all the time spent committing. At
        # 4,000 a page written again and again between two checkpoints is copied once: a third as
        # many stalls, up to ~29 ms, and 15-25% less commit time. 10,000 saved ~5% more but stalled
        # up to 48 ms; a checkpoint thread took more CPU than it saved (benchmarks/RESULTS.md, stop 13).
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        # SQLite's default page cache is 2 MB a connection: smaller than the indexes an MO touches at
        # random (dedupe keys, senders' rows and buckets), which were then read back from the file
        # with a system call per page. At 64 MB the MO benchmark's reads fell from 58,000 to 19,600
        # (benchmarks/RESULTS.md, stop 15). The cache fills only as pages are read.
        cursor.execute(f"PRAGMA cache_size=-{PAGE_CACHE_KB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout instead of
        # one failing with "database is locked" when it upgrades a read lock. On the driver's
        # cursor: through exec_driver_sql, SQLAlchemy's bookkeeping cost several times the BEGIN.
        execute_on_driver(connection, "BEGIN IMMEDIATE")

    # SAVEPOINT, RELEASE and ROLLBACK TO on the driver's cursor too: the MO worker opens a savepoint
    # per batch, and through Core each, its name new every time, was compiled afresh.
    dialect, quote = engine.dialect, engine.dialect.identifier_preparer.quote
    dialect.do_savepoint = lambda connection, name: execute_on_driver(connection, f"SAVEPOINT {quote(name)}")
    dialect.do_release_savepoint = lambda connection, name: execute_on_driver(connection, f"RELEASE SAVEPOINT {quote(name)}")
    dialect.do_rollback_to_savepoint = lambda connection, name: execute_on_driver(
        connection, f"ROLLBACK TO SAVEPOINT {quote(name)}")
    return engine


def redacted(url: str | URL) -> str:
    """The URL as it may appear in logs and output: the password replaced by ***."""
    return make_url(str(url) if isinstance(url, str) else url).render_as_string(hide_password=True)
