"""Column types that keep the engine's invariants at the storage boundary."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

# A datetime as SQLite stores it through SQLAlchemy ("2026-11-27 14:02:38.123456"), and the instant
# UtcDateTime's SQLite shortcuts are checked against before they are used.
_SQLITE_TEXT_LENGTH = 26
_PROBE = datetime(987, 6, 5, 4, 3, 2, 1, tzinfo=timezone.utc)


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

    # On SQLite a datetime is text in SQLAlchemy's storage format, which is what isoformat(" ",
    # "microseconds") writes and fromisoformat reads: one C call each way instead of this decorator's
    # step, a format dict and a regular expression. Every MO converts several (received, handled,
    # due, created...), and they were the dearest values to convert. Used only when they give what
    # SQLAlchemy's own processors give for a probe, and reading falls back to those for any text
    # not in the storage format.

    def bind_processor(self, dialect):
        standard = super().bind_processor(dialect)
        if dialect.name != "sqlite" or standard is None:
            return standard
        to_utc, utc = self.process_bind_param, timezone.utc

        def process(value):
            if value is None:
                return None
            if value.tzinfo is utc:  # the engine's own clocks: already UTC, cut its "+00:00" off
                return value.isoformat(" ", "microseconds")[:_SQLITE_TEXT_LENGTH]
            return to_utc(value, dialect).isoformat(" ", "microseconds")

        return process if process(_PROBE) == standard(_PROBE) else standard

    def result_processor(self, dialect, coltype):
        standard = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or standard is None:
            return standard
        parse, utc = datetime.fromisoformat, timezone.utc

        def process(value):
            if value is None:
                return None
            if isinstance(value, str) and len(value) == _SQLITE_TEXT_LENGTH and value[10] == " ":
                parsed = parse(value)
                if parsed.tzinfo is None:
                    return parsed.replace(tzinfo=utc)
            return standard(value)

        stored = super().bind_processor(dialect)(_PROBE)
        return process if process(stored) == standard(stored) == _PROBE else standard
