"""The migrations create the schema the code expects, on every backend, idempotently."""

from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from engine.store.database import make_engine
from engine.store.migrate import current_revision, head_revision, upgrade
from engine.store.schema import metadata, subscribers


def test_empty_database_is_brought_to_head_and_matches_the_models(empty_database_url):
    engine = make_engine(empty_database_url)
    assert current_revision(engine) is None
    assert upgrade(engine) == (None, head_revision())
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    assert differences == []
    assert {"subscribers", "causes", "mo_messages", "mt_messages"} <= set(inspect(engine).get_table_names())


def test_upgrading_twice_changes_nothing(database):
    with database.connect() as connection:
        tables_before = sorted(inspect(connection).get_table_names())
    assert upgrade(database) == (head_revision(), head_revision())
    with database.connect() as connection:
        assert sorted(inspect(connection).get_table_names()) == tables_before


def test_times_come_back_as_the_same_utc_instant(database):
    paris = timezone(timedelta(hours=1))
    created = datetime(2026, 3, 29, 2, 30, tzinfo=paris)
    with database.begin() as connection:
        connection.execute(
            subscribers.insert().values(
                msisdn="+447400123456", kind="line", status="active", created_at=created, updated_at=created
            )
        )
    with database.connect() as connection:
        stored = connection.execute(select(subscribers.c.created_at)).scalar_one()
    assert stored == created
    assert stored.tzinfo == timezone.utc
    assert stored.hour == 1


def test_naive_times_are_refused(database):
    with pytest.raises(Exception, match="naive datetime"):
        with database.begin() as connection:
            connection.execute(
                subscribers.insert().values(
                    msisdn="+447400123456", kind="line", status="active",
                    created_at=datetime(2026, 1, 1), updated_at=datetime(2026, 1, 1),
                )
            )


def test_constraints_hold_on_every_backend(database):
    now = datetime.now(timezone.utc)
    row = dict(msisdn="+447400123456", kind="line", status="active", created_at=now, updated_at=now)
    with database.begin() as connection:
        connection.execute(subscribers.insert().values(**row))
    for bad in (dict(row), dict(row, msisdn="+447400000001", status="dreaming"), dict(row, msisdn="07400")):
        with pytest.raises(IntegrityError):
            with database.begin() as connection:
                connection.execute(subscribers.insert().values(**bad))
    with pytest.raises(IntegrityError):
        with database.begin() as connection:
            connection.execute(subscribers.insert().values(dict(row, msisdn="+447400000002", cause_code="nope")))


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'pragmas.db'}", busy_timeout_ms=2500)
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 2500
        assert connection.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 4000  # not SQLite's 1,000


def test_outbox_states_are_enforced_after_the_upgrades(database):
    from engine.store.schema import mt_messages

    now = datetime.now(timezone.utc)
    row = dict(destination_addr="+447400123456", source_addr="767", text="hi", message_class="reply",
               short_message=b"hi", data_coding=0, not_before=now, created_at=now)
    with database.begin() as connection:
        connection.execute(mt_messages.insert().values(**row, state="sending"))
    with pytest.raises(IntegrityError):
        with database.begin() as connection:
            connection.execute(mt_messages.insert().values(**row, state="lost"))


def test_downgrade_to_the_beginning_and_back(empty_database_url):
    from alembic import command

    from engine.store.migrate import _alembic_config

    engine = make_engine(empty_database_url)
    upgrade(engine)
    with engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "base")
    assert current_revision(engine) is None
    assert upgrade(engine) == (None, head_revision())
