"""INSERT ... ON CONFLICT on both backends, the engine's way to make a write idempotent."""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def _insert(table: Table, dialect_name: str):
    return (postgresql if dialect_name == "postgresql" else sqlite).insert(table)


def insert_unless_present_statement(table: Table, dialect_name: str, returning: bool = True):
    """INSERT that skips a row colliding with a unique key, RETURNING the primary key of each row inserted.

    RETURNING rather than rowcount: psycopg reports -1 for an INSERT that SQLAlchemy ran with
    implicit RETURNING, so the count would not say whether the row was new. Without it
    (`returning=False`) where the key comes from the cursor: `insert_unless_present_keyed_statement`.
    """
    statement = _insert(table, dialect_name).on_conflict_do_nothing()
    if not returning:
        return statement
    [key] = table.primary_key.columns
    return statement.returning(key)


def insert_unless_present_keyed_statement(table: Table, dialect_name: str):
    """`insert_unless_present_statement` as `Prepared.inserted_keys` runs it: RETURNING the key on
    PostgreSQL, whose pipelined executemany reads it from there; without on SQLite, whose cursor
    gives it (RETURNING costs SQLite a temporary table per insert)."""
    return insert_unless_present_statement(table, dialect_name, returning=dialect_name == "postgresql")


def insert_unless_present(connection: Connection, table: Table, values: dict | list[dict]) -> list:
    """Insert rows, skipping any that collide with a unique key; returns the primary keys inserted."""
    return list(connection.execute(insert_unless_present_statement(table, connection.dialect.name), values).scalars())


def upsert_statement(table: Table, dialect_name: str, columns: Iterable[str], key: list[str]):
    """Insert the row, or update its other `columns` where its `key` columns already exist: one
    statement, so two engine nodes writing the same key at once both succeed (the later write wins)."""
    statement = _insert(table, dialect_name)
    changes = {name: statement.excluded[name] for name in columns if name not in key}
    return statement.on_conflict_do_update(index_elements=key, set_=changes)
