"""engine.store.prepared: statements run on the driver's cursor give what Connection.execute gives,
on every backend, inside the caller's transaction, with SQLAlchemy's errors."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Integer, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError, ProgrammingError

from engine.store.prepared import Prepared, execute_on_driver
from engine.store.schema import subscribers

PARIS = timezone(timedelta(hours=1))
s = subscribers.c

BY_MSISDN = Prepared(select(s.msisdn, s.opted_out, s.notifications_on, s.created_at, s.handle)
                     .where(s.msisdn == bindparam("msisdn")))
INSERT = Prepared(subscribers.insert(), keys=("msisdn", "kind", "status", "opted_out", "created_at", "updated_at"))
ACTIVE_IN = Prepared(select(s.msisdn).where(s.msisdn.in_(bindparam("numbers", expanding=True)), s.status == "active")
                     .order_by(s.msisdn).limit(bindparam("limit", type_=Integer)))
SUSPEND = Prepared(update(subscribers).where(s.msisdn == bindparam("msisdn")).values(status="suspended")
                   .returning(s.id, s.updated_at))


def _row(number: str, at: datetime, **changes) -> dict:
    return {"msisdn": number, "kind": "line", "status": "active", "opted_out": False, "created_at": at,
            "updated_at": at, **changes}


def test_rows_come_back_as_connection_execute_gives_them(database):
    at = datetime(2026, 3, 29, 2, 30, 15, 123456, tzinfo=PARIS)
    with database.begin() as connection:
        connection.execute(subscribers.insert(), [_row("+447400000001", at, opted_out=True),
                                                  _row("+447400000002", at, handle="ada")])
    with database.begin() as connection:
        for number in ("+447400000001", "+447400000002"):
            expected = tuple(connection.execute(BY_MSISDN.statement, {"msisdn": number}).one())
            got = BY_MSISDN.first(connection, {"msisdn": number})
            assert got == expected
            assert [type(value) for value in got] == [type(value) for value in expected]
        assert got[3] == at and got[3].tzinfo == timezone.utc
        assert BY_MSISDN.first(connection, {"msisdn": "+447400000009"}) is None
        assert BY_MSISDN.scalar(connection, {"msisdn": "+447400000002"}) == "+447400000002"


def test_written_rows_read_back_through_core_unchanged(database):
    at = datetime(2026, 10, 25, 1, 59, 59, 999999, tzinfo=timezone.utc)
    with database.begin() as connection:
        assert INSERT.run_many(connection, [_row("+447400000011", at), _row("+447400000012", at, opted_out=True)]) == 2
    with database.begin() as connection:
        rows = connection.execute(select(s.msisdn, s.opted_out, s.created_at, s.language).order_by(s.msisdn)).all()
    assert [tuple(row) for row in rows] == [("+447400000011", False, at, "en"), ("+447400000012", True, at, "en")]


def test_expanding_lists_written_values_and_limits(database):
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with database.begin() as connection:
        INSERT.run_many(connection, [_row(f"+44740000002{n}", at) for n in range(5)])
        connection.execute(update(subscribers).where(s.msisdn == "+447400000023").values(status="suspended"))
        numbers = [f"+44740000002{n}" for n in (4, 3, 1, 0)]
        assert ACTIVE_IN.rows(connection, {"numbers": numbers, "limit": 10}) == [
            ("+447400000020",), ("+447400000021",), ("+447400000024",)]
        assert ACTIVE_IN.rows(connection, {"numbers": numbers, "limit": 1}) == [("+447400000020",)]
        assert ACTIVE_IN.rows(connection, {"numbers": ["+447400000021"], "limit": 5}) == [("+447400000021",)]
        with pytest.raises(ArgumentError, match="'numbers' got no values"):
            ACTIVE_IN.rows(connection, {"numbers": [], "limit": 5})


def test_update_returning_gives_processed_rows_and_counts(database):
    at = datetime(2026, 6, 30, 23, 0, tzinfo=PARIS)
    with database.begin() as connection:
        INSERT.run_many(connection, [_row("+447400000031", at)])
        [(_id, updated_at)] = SUSPEND.rows(connection, {"msisdn": "+447400000031"})
        assert updated_at == at and updated_at.tzinfo == timezone.utc
        assert SUSPEND.rows(connection, {"msisdn": "+447400000039"}) == []
        count = Prepared(update(subscribers).where(s.status == bindparam("status")).values(kind="social"))
        assert count.run(connection, {"status": "suspended"}) == 1


def test_inserted_keys_give_each_runs_new_key_in_order(database):
    """One run per row (one round trip on psycopg): a row skipped on a unique key gives None, and a
    run sees what the runs before it wrote, as separate executions would."""
    from engine.store.upsert import insert_unless_present_keyed_statement

    at = datetime(2026, 4, 1, 8, 0, tzinfo=timezone.utc)
    with database.begin() as connection:
        insert_new = Prepared(insert_unless_present_keyed_statement(subscribers, connection.dialect.name),
                              keys=INSERT.keys)
        INSERT.run_many(connection, [_row("+447400000041", at)])
        keys = insert_new.inserted_keys(connection, [_row("+447400000042", at), _row("+447400000041", at),
                                                     _row("+447400000043", at), _row("+447400000042", at)])
        ids = dict(connection.execute(select(s.msisdn, s.id)).all())
        assert insert_new.inserted_keys(connection, []) == []
    assert keys == [ids["+447400000042"], None, ids["+447400000043"], None]
    assert len(set(ids.values())) == 3


def test_inserted_keys_refuse_the_other_drivers_statement(database):
    """psycopg reads the key from RETURNING, sqlite3 from the cursor: the wrong form is a clear error."""
    from engine.store.upsert import insert_unless_present_statement

    at = datetime(2026, 4, 1, 8, 0, tzinfo=timezone.utc)
    with database.begin() as connection:
        wrong = Prepared(insert_unless_present_statement(
            subscribers, connection.dialect.name, returning=connection.dialect.name == "sqlite"), keys=INSERT.keys)
        with pytest.raises(ArgumentError, match="inserted_keys on"):
            wrong.inserted_keys(connection, [_row("+447400000046", at)])
        assert connection.execute(select(s.id).where(s.msisdn == "+447400000046")).first() is None


def test_returning_added_to_a_compiled_statement_is_refused(database):
    """SQLAlchemy would report no returned columns for it, so its values would come back unprocessed."""
    compiled_first = Prepared(subscribers.insert(), keys=INSERT.keys)
    with database.begin() as connection:
        compiled_first.compiled(connection)
        late = Prepared(compiled_first.statement.returning(s.created_at), keys=INSERT.keys)
        if list(late.statement.exported_columns):
            pytest.skip(f"{connection.dialect.name}: this SQLAlchemy keeps the columns (nothing to refuse)")
        with pytest.raises(ArgumentError, match="build it afresh"):
            late.compiled(connection)


def test_runs_in_the_callers_transaction_and_savepoints(database):
    at = datetime(2026, 2, 1, tzinfo=timezone.utc)
    with database.connect() as connection:
        INSERT.run_many(connection, [_row("+447400000041", at)])  # begins, as execute would
        assert connection.in_transaction()
        connection.rollback()
    with database.begin() as connection:
        assert connection.execute(select(s.id)).all() == []
        INSERT.run_many(connection, [_row("+447400000042", at)])
        with pytest.raises(IntegrityError):
            with connection.begin_nested():
                INSERT.run_many(connection, [_row("+447400000042", at)])  # unique msisdn
        INSERT.run_many(connection, [_row("+447400000043", at)])  # the transaction goes on
    with database.begin() as connection:
        assert connection.execute(select(s.msisdn).order_by(s.msisdn)).scalars().all() == ["+447400000042", "+447400000043"]


def test_bad_values_are_refused_before_anything_is_written(database):
    with database.begin() as connection:
        with pytest.raises(ValueError, match="naive datetime"):
            INSERT.run_many(connection, [_row("+447400000051", datetime(2026, 1, 1))])
        with pytest.raises(ArgumentError, match="required for bind parameter 'msisdn'"):
            BY_MSISDN.first(connection, {})
        assert connection.execute(select(s.id)).all() == []


def test_a_statement_compiles_once_per_dialect(database):
    with database.begin() as connection:
        BY_MSISDN.first(connection, {"msisdn": "+447400000061"})
        compiled = BY_MSISDN.compiled(connection)
        BY_MSISDN.first(connection, {"msisdn": "+447400000062"})
        assert BY_MSISDN.compiled(connection) is compiled
        # positional on both backends, so rows can go to the driver as tuples
        assert ("?" if connection.dialect.name == "sqlite" else "%s") in compiled.sql


def test_prepared_sql_is_the_dialects_own():
    statement = select(s.id).where(s.msisdn == bindparam("msisdn"))
    assert Prepared(statement).compiled(_Bare(sqlite.dialect())).sql == str(statement.compile(dialect=sqlite.dialect()))
    assert Prepared(statement).compiled(_Bare(postgresql.psycopg.dialect())).sql.endswith("subscribers.msisdn = %s::VARCHAR")


class _Bare:
    """Only what `Prepared.compiled` reads of a connection."""

    def __init__(self, dialect):
        self.dialect = dialect


def test_a_driver_statement_fails_with_sqlalchemys_error(database):
    with database.begin() as connection:
        with pytest.raises(ProgrammingError if connection.dialect.name == "postgresql" else OperationalError,
                           match="no_such_table"):
            execute_on_driver(connection, "DELETE FROM no_such_table")


def test_the_same_instant_twice_and_then_another_are_each_stored_right(database):
    first = datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)
    again = first.astimezone(PARIS)  # equal instant, another object, another zone
    later = datetime(2026, 3, 29, 3, 0, 0, 1, tzinfo=PARIS)
    with database.begin() as connection:
        INSERT.run_many(connection, [_row("+447400000071", first), _row("+447400000072", first),
                                     _row("+447400000073", again), _row("+447400000074", later)])
        rows = connection.execute(select(s.created_at).order_by(s.msisdn)).scalars().all()
    assert rows == [first, first, first, later]
    assert all(value.tzinfo == timezone.utc for value in rows)


def test_a_batchs_instants_are_converted_once_across_statements(database, monkeypatch):
    """An MO batch binds each message's `now` in the rules, then all of them again in the reply
    insert and the handled update: each instant is converted once, and stored right every time."""
    from engine.store import prepared
    from engine.store.types import UtcDateTime

    monkeypatch.setattr(prepared, "_CONVERSIONS", {})  # what earlier tests left may fill it meanwhile
    conversions = []
    standard = UtcDateTime.bind_processor

    def counting(self, dialect):
        process = standard(self, dialect)
        return lambda value: conversions.append(value) or process(value)

    monkeypatch.setattr(UtcDateTime, "bind_processor", counting)
    insert = Prepared(subscribers.insert(), keys=("msisdn", "kind", "status", "opted_out", "created_at", "updated_at"))
    touch = Prepared(update(subscribers).where(s.msisdn == bindparam("msisdn")).values(updated_at=bindparam("at")))
    start = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    instants = [start + timedelta(microseconds=n) for n in range(50)]
    numbers = [f"+4474000008{n:02d}" for n in range(50)]
    with database.begin() as connection:
        insert.run_many(connection, [_row(number, at) for number, at in zip(numbers, instants)])
        touch.run_many(connection, [{"msisdn": number, "at": at} for number, at in zip(numbers, instants)])
        rows = connection.execute(select(s.created_at, s.updated_at).where(s.msisdn.in_(numbers))
                                  .order_by(s.msisdn)).all()
    assert [tuple(row) for row in rows] == [(at, at) for at in instants]
    assert len(conversions) == len(instants)  # not once per statement and column
