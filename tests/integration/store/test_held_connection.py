"""engine.store.held: a component's transactions on one kept connection, given back when idle, after
an error, or when released; a connection the server dropped is replaced, not used again."""

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from engine.store.held import HeldConnection
from engine.store.schema import causes

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _driver_connection(connection):
    return connection.connection.driver_connection


def _add_cause(connection, code: str) -> None:
    connection.execute(causes.insert().values(code=code, name=code.title(), active=True, created_at=NOW))


def _codes(database) -> list[str]:
    with database.connect() as connection:
        return sorted(connection.execute(select(causes.c.code)).scalars())


def test_transactions_run_on_one_kept_connection_and_commit_as_engine_begin_does(database):
    held = HeldConnection(database, clock=Clock())
    with held.begin() as connection:
        first = _driver_connection(connection)
        _add_cause(connection, "water")
    assert _codes(database) == ["water"]  # committed: another connection sees it
    with held.begin() as connection:
        assert _driver_connection(connection) is first
        _add_cause(connection, "food")
    assert _codes(database) == ["food", "water"]
    assert database.pool.checkedout() == 1  # kept between the two
    held.release()
    assert database.pool.checkedout() == 0


def test_an_error_rolls_the_transaction_back_and_gives_the_connection_back(database):
    held = HeldConnection(database, clock=Clock())
    with held.begin() as connection:
        _add_cause(connection, "water")
    with pytest.raises(IntegrityError):
        with held.begin() as connection:
            _add_cause(connection, "food")
            _add_cause(connection, "water")  # the primary key again
    assert _codes(database) == ["water"]  # nothing of the failed transaction
    assert database.pool.checkedout() == 0
    with held.begin() as connection:
        _add_cause(connection, "food")
    assert _codes(database) == ["food", "water"]


def test_a_connection_unused_for_longer_than_idle_seconds_is_exchanged_for_a_fresh_one(database):
    clock = Clock()
    held = HeldConnection(database, idle_seconds=5, clock=clock)
    with held.begin() as connection:
        first = _driver_connection(connection)
    clock.now += 5
    with held.begin() as connection:
        assert _driver_connection(connection) is first  # not idle past the limit
    clock.now += 5.5
    with held.begin() as connection:
        assert connection.execute(select(func.count()).select_from(causes)).scalar() == 0
    assert database.pool.checkedout() == 1  # the old one went back to the pool
    held.release()


def _terminate(database, held_connection) -> None:
    pid = _driver_connection(held_connection).info.backend_pid
    with database.connect() as other:
        assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar() is True


def test_a_connection_the_server_dropped_fails_one_transaction_and_is_replaced(database, backend):
    if backend != "postgresql":
        pytest.skip("only a server drops connections")
    clock = Clock()
    held = HeldConnection(database, clock=clock)
    with held.begin() as connection:
        kept = connection
    _terminate(database, kept)
    with pytest.raises(OperationalError):
        with held.begin() as connection:
            _add_cause(connection, "water")
    with held.begin() as connection:  # a fresh connection, pinged by the pool
        _add_cause(connection, "water")
    assert _codes(database) == ["water"]
    held.release()


def test_a_connection_dropped_while_idle_is_never_used_again(database, backend):
    """A server restarted while the engine was quiet costs no transaction: past idle_seconds the
    next one takes a fresh connection from the pool, which pings it first."""
    if backend != "postgresql":
        pytest.skip("only a server drops connections")
    clock = Clock()
    held = HeldConnection(database, idle_seconds=5, clock=clock)
    with held.begin() as connection:
        kept = connection
    _terminate(database, kept)
    clock.now += 6
    with held.begin() as connection:
        _add_cause(connection, "water")
    assert _codes(database) == ["water"]
    held.release()


def test_a_transaction_begun_inside_another_on_the_same_held_connection_is_refused(database):
    """The components sharing one never nest their transactions; if one ever did, it must fail
    loudly, not run inside the other's."""
    from sqlalchemy.exc import InvalidRequestError

    held = HeldConnection(database, clock=Clock())
    with pytest.raises(InvalidRequestError):
        with held.begin() as connection:
            _add_cause(connection, "water")
            with held.begin():
                pass
    assert _codes(database) == []  # the outer one rolled back too
    assert database.pool.checkedout() == 0
