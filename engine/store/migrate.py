"""Bringing a database to the newest schema with Alembic, from code (`tpo db upgrade`)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


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
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), revision)
    after = current_revision(engine)
    if before != after:
        log.info("database schema upgraded from %s to %s", before or "empty", after)
    return before, after


def new_revision(engine: Engine, message: str) -> None:
    """Developer helper: autogenerate a migration from the difference between schema.py and the DB."""
    with engine.begin() as connection:
        command.revision(_alembic_config(connection), message=message, autogenerate=True)
