"""Bringing a database to the newest schema with Alembic, from code (`tpo db upgrade`)."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from engine.store.prepared import execute_on_driver

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


class UpgradeRefused(RuntimeError):
    """The upgrade was rolled back: the database stays at its revision; the message says why."""


def _alembic_config(connection) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    script = ScriptDirectory.from_config(_alembic_config(None))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade to `revision`; returns (revision before, revision after). Running it again is a no-op."""
    before = current_revision(engine)
    with engine.connect() as connection, _foreign_keys_checked_at_the_end(connection):
        with connection.begin():
            command.upgrade(_alembic_config(connection), revision)
            after = MigrationContext.configure(connection).get_current_revision()
            if after != before:
                _refuse_broken_references(connection)  # a scan of every reference: only after a change
    if before != after:
        log.info("database schema upgraded from %s to %s", before or "empty", after)
    return before, after


@contextmanager
def _foreign_keys_checked_at_the_end(connection: Connection):
    """SQLite: foreign keys off while migrating, as SQLite and Alembic advise for batch mode, which
    rebuilds a table by copying it, dropping it and renaming the copy: with them on, dropping a
    table other rows point at (mo_messages, subscribers) fails, and deferring them does not help,
    because the renamed copy never clears the violations the drop counted. The pragma only takes
    effect outside a transaction, so it goes to the driver before SQLAlchemy begins one; the pooled
    connection gets them back afterwards, or is discarded."""
    if connection.dialect.name != "sqlite":
        yield
        return
    execute_on_driver(connection, "PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        try:
            execute_on_driver(connection, "PRAGMA foreign_keys=ON")
        except Exception:
            connection.invalidate()
            raise


def _refuse_broken_references(connection: Connection) -> None:
    """With foreign keys off, check them once at the end: a migration that broke one is rolled back."""
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        table, row_id, parent, _key = broken[0]
        raise UpgradeRefused(
            f"{len(broken)} row(s) point at rows that do not exist, the first {table} row {row_id} at a missing "
            f"{parent} row (PRAGMA foreign_key_check lists them); repair or remove them, then upgrade again")


def new_revision(engine: Engine, message: str) -> None:
    """Developer helper: autogenerate a migration from the difference between schema.py and the DB."""
    with engine.begin() as connection:
        command.revision(_alembic_config(connection), message=message, autogenerate=True)
