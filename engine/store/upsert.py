"""INSERT ... ON CONFLICT DO NOTHING on both backends, the engine's way to make a write idempotent."""

from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_unless_present(connection: Connection, table: Table, values: dict | list[dict]) -> list:
    """Insert rows, skipping any that collide with a unique key; returns the primary keys inserted.

    RETURNING rather than rowcount: psycopg reports -1 for an INSERT that SQLAlchemy ran with
    implicit RETURNING, so the count would not say whether the row was new.
    """
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    [key] = table.primary_key.columns
    statement = dialect.insert(table).on_conflict_do_nothing().returning(key)
    return list(connection.execute(statement, values).scalars())


def upsert(connection: Connection, table: Table, values: dict, key: list[str]) -> None:
    """Insert the row, or update it where its `key` columns already exist: one statement, so two
    engine nodes writing the same key at once both succeed (the later write wins)."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values)
    changes = {name: statement.excluded[name] for name in values if name not in key}
    connection.execute(statement.on_conflict_do_update(index_elements=key, set_=changes))
