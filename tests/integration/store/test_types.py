"""UtcDateTime's SQLite shortcuts write and read exactly what SQLAlchemy's own processors do."""

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeDecorator

from engine.store.types import UtcDateTime

DIALECT = sqlite.dialect()
FAST = UtcDateTime().dialect_impl(DIALECT)


class _Standard(UtcDateTime):
    """UtcDateTime with TypeDecorator's processors: the decorator's step, then SQLAlchemy's."""

    bind_processor = TypeDecorator.bind_processor
    result_processor = TypeDecorator.result_processor


STANDARD = _Standard().dialect_impl(DIALECT)
zones = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
instants = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones)
utc_instants = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone.utc))


def test_the_shortcuts_are_the_ones_in_use():
    assert FAST.bind_processor(DIALECT).__qualname__.startswith("UtcDateTime.bind_processor")
    assert FAST.result_processor(DIALECT, None).__qualname__.startswith("UtcDateTime.result_processor")


@given(st.one_of(instants, utc_instants))  # UTC itself takes a shorter way
def test_writes_the_text_sqlalchemy_writes_and_reads_it_back(value):
    written = FAST.bind_processor(DIALECT)(value)
    assert written == STANDARD.bind_processor(DIALECT)(value)
    read = FAST.result_processor(DIALECT, None)(written)
    assert read == STANDARD.result_processor(DIALECT, None)(written) == value
    assert read.tzinfo == timezone.utc


@pytest.mark.parametrize("text", ["2026-11-27 14:02:38", "2026-11-27", "2026-11-27 14:02:38.5",
                                  "2026-11-27T14:02:38.123456", "2026-11-27 14:02:38.123+01:00"])
def test_other_stored_text_is_read_as_sqlalchemy_reads_it(text):
    assert FAST.result_processor(DIALECT, None)(text) == STANDARD.result_processor(DIALECT, None)(text)


def test_naive_and_missing_values():
    with pytest.raises(ValueError, match="naive datetime"):
        FAST.bind_processor(DIALECT)(datetime(2026, 1, 1))
    assert FAST.bind_processor(DIALECT)(None) is None and FAST.result_processor(DIALECT, None)(None) is None
