"""Column types that keep the engine's invariants at the storage boundary."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator):
    """A point in time, stored in UTC and read back as an aware UTC datetime on every backend.

    SQLite has no time zone type, so values are normalised to naive UTC on the way in; a naive
    datetime is refused because its zone cannot be known.
    """

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} (expected an aware datetime; the store keeps UTC)")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)
