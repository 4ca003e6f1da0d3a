"""The migrations create the schema the code expects, on every backend, idempotently."""

from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from engine.store.database import make_engine
from engine.store.migrate import UpgradeRefused, current_revision, head_revision, upgrade
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


def _text_checks(engine, table: str) -> dict[str, str]:
    return {check["name"]: check["sqltext"] for check in inspect(engine).get_check_constraints(table)}


def _is_comparisons(condition: str) -> bool:
    """As the database reports it back: PostgreSQL writes an IN list as `= ANY (ARRAY[...])`."""
    return " OR " in condition and " IN " not in condition.upper() and "ANY" not in condition.upper()


def test_upgrading_a_database_in_use_keeps_every_row_and_reference(empty_database_url):
    """Migration 0008 rebuilds tables on SQLite that other rows point at (mt_messages at mo_messages,
    follows at subscribers): every row and reference survives, and the checks become comparisons."""
    from engine.store.schema import follows, mo_messages, mt_messages

    engine = make_engine(empty_database_url)
    upgrade(engine, "0007")
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:
        people = [connection.execute(subscribers.insert().values(
            msisdn=f"+44740012345{n}", kind="line", status="active", created_at=now, updated_at=now)
            .returning(subscribers.c.id)).scalar_one() for n in (1, 2)]
        connection.execute(follows.insert().values(follower_id=people[0], followee_id=people[1], notify=True,
                                                   created_at=now))
        mo_id = connection.execute(mo_messages.insert().values(
            source_addr="+447400123451", destination_addr="767", text="BILL", dedupe_key="k", state="handled",
            received_at=now).returning(mo_messages.c.id)).scalar_one()
        connection.execute(mt_messages.insert().values(
            destination_addr="+447400123451", source_addr="767", text="hi", message_class="reply",
            short_message=b"hi", data_coding=0, not_before=now, created_at=now, state="queued", reply_to_mo_id=mo_id))

    assert upgrade(engine) == ("0007", head_revision())

    with engine.connect() as connection:
        assert connection.execute(select(follows.c.follower_id, follows.c.followee_id)).all() == [tuple(people)]
        assert connection.execute(select(mt_messages.c.reply_to_mo_id)).scalars().all() == [mo_id]
        assert connection.execute(select(mo_messages.c.text)).scalars().all() == ["BILL"]
    for table, name in (("mo_messages", "ck_mo_messages_state_known"), ("mt_messages", "ck_mt_messages_state_known"),
                        ("subscribers", "ck_subscribers_status_known")):
        assert _is_comparisons(_text_checks(engine, table)[name])
    with pytest.raises(IntegrityError):  # still enforced, as comparisons
        with engine.begin() as connection:
            connection.execute(mo_messages.update().values(state="lost"))
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:  # the pooled connection got its foreign keys back
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_sqlite_upgrade_refuses_to_leave_rows_pointing_at_nothing(tmp_path):
    """Foreign keys are off while SQLite migrates; a row pointing at a missing row found at the end
    rolls the whole upgrade back, with the row named."""
    from engine.store.schema import mt_messages

    engine = make_engine(f"sqlite:///{tmp_path / 'dangling.db'}")
    upgrade(engine, "0007")
    now = datetime.now(timezone.utc)
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        raw.execute("PRAGMA foreign_keys=OFF")  # a reply to an MO that is not there, as an old bug might leave
        connection.execute(mt_messages.insert().values(
            destination_addr="+447400123451", source_addr="767", text="hi", message_class="reply",
            short_message=b"hi", data_coding=0, not_before=now, created_at=now, state="queued", reply_to_mo_id=999))
        connection.commit()
        raw.execute("PRAGMA foreign_keys=ON")
    with pytest.raises(UpgradeRefused, match="the first mt_messages row 1 at a missing mo_messages row"):
        upgrade(engine)
    assert current_revision(engine) == "0007"
    assert not _is_comparisons(_text_checks(engine, "mo_messages")["ck_mo_messages_state_known"])
    engine.dispose()
