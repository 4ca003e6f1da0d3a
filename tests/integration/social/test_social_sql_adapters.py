"""What only the SQL adapters do: ids across a number change, writing only changed fields, clear
errors, causes synced from config, and the outbox port's rows equal to the smpp Outbox's own."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from engine.smpp.outbox import OutgoingMessage, Outbox
from engine.social_sms.ports import Follow, Post, Recipient, Subscriber, ThrottleState, cause_key
from engine.social_sms.settings import Cause, CausesFile
from engine.social_sms.sql_repository import SqlSocialRepository, UnknownSubscriber
from engine.social_sms.testing import sample_causes
from engine.social_sms.wiring import OutboxPort, cause_counts, sync_causes
from engine.store.schema import causes, mt_messages, subscribers

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
ANN, BOB, NEW = "+447400000001", "+447400000002", "+447400000099"


def member(msisdn: str, **changes) -> Subscriber:
    values = dict(msisdn=msisdn, kind="line", status="active", language="en", time_zone="Europe/London", joined_at=NOW)
    values.update(changes)
    return Subscriber(**values)


@pytest.fixture
def connection(database):
    with database.begin() as connection:
        sync_causes(connection, sample_causes(), NOW)
        yield connection


def test_a_number_change_keeps_follows_and_posts(connection):
    repo = SqlSocialRepository(connection, NOW, "Europe/London")
    repo.save_subscriber(member(ANN))
    repo.save_subscriber(member(BOB))
    repo.save_follow(Follow(BOB, ANN, True, NOW))
    repo.add_post(Post(ANN, "hello", NOW))
    connection.execute(update(subscribers).where(subscribers.c.msisdn == ANN).values(msisdn=NEW))  # host lifecycle event
    repo = SqlSocialRepository(connection, NOW, "Europe/London")
    assert repo.followers_page(NEW, 5) == (1, [BOB]) and repo.get_follow(BOB, NEW) is not None
    assert repo.following_page(BOB, 5) == (1, [Follow(BOB, NEW, True, NOW)])
    assert repo.recent_posts(NEW, NOW - timedelta(hours=1)) == [Post(NEW, "hello", NOW)]


def test_save_writes_only_what_the_rule_changed(connection):
    repo = SqlSocialRepository(connection, NOW, "Europe/London")
    repo.save_subscriber(member(ANN, status="activating"))
    read = repo.get_subscriber(ANN)
    # Meanwhile the host's acknowledgement activates the line (another transaction in the engine).
    connection.execute(update(subscribers).where(subscribers.c.msisdn == ANN).values(status="active"))
    repo.save_subscriber(replace(read, cause="water"))
    row = connection.execute(select(subscribers.c.status, subscribers.c.cause_code, subscribers.c.updated_at)
                             .where(subscribers.c.msisdn == ANN)).one()
    assert (row.status, row.cause_code, row.updated_at) == ("active", "water", NOW)


def test_the_flood_read_also_reads_the_sender_once(connection):
    writer = SqlSocialRepository(connection, NOW, "Europe/London")
    writer.save_subscriber(member(ANN, handle=None, cause="water", opted_out=True))
    writer.save_throttle(BOB, ThrottleState(4000, NOW))  # a number that never joined
    fresh = SqlSocialRepository(connection, NOW, "Europe/Paris")
    expected = fresh.get_subscriber(ANN)
    assert expected.opted_out is True and expected.joined_at == NOW
    repo = SqlSocialRepository(connection, NOW, "Europe/Paris")
    assert repo.get_throttle(ANN) is None  # joined, no bucket yet
    # Changed behind the repository's back: the sender comes from the flood read, not a second one.
    connection.execute(update(subscribers).where(subscribers.c.msisdn == ANN).values(language="fr"))
    assert repo.get_subscriber(ANN) == expected
    assert SqlSocialRepository(connection, NOW, "Europe/Paris").get_subscriber(ANN).language == "fr"
    repo = SqlSocialRepository(connection, NOW, "Europe/Paris")
    assert repo.get_throttle(BOB) == ThrottleState(4000, NOW)
    assert repo.get_subscriber(BOB) is None
    assert repo.get_throttle(NEW) is None and repo.get_subscriber(NEW) is None


def test_a_listing_also_reads_the_listed_subscribers_once(connection):
    writer = SqlSocialRepository(connection, NOW, "Europe/London")
    for number in (ANN, BOB, NEW):
        writer.save_subscriber(member(number))
    assert writer.claim_handle(BOB, "bob") and writer.claim_handle(NEW, "new")
    writer.save_follow(Follow(ANN, BOB, True, NOW))
    writer.save_follow(Follow(ANN, cause_key("water"), True, NOW))
    writer.save_follow(Follow(NEW, ANN, True, NOW))
    repo = SqlSocialRepository(connection, NOW, "Europe/London")
    mine = repo.get_subscriber(ANN)
    assert repo.following_page(ANN, 5)[0] == 2
    assert repo.followers_page(ANN, 5) == (1, [NEW])
    # Changed behind the repository's back: the listed come from the listing, not a second read.
    connection.execute(update(subscribers).values(language="fr"))
    assert [repo.get_subscriber(number).handle for number in (BOB, NEW)] == ["bob", "new"]
    assert repo.get_subscriber(BOB).language == "en" and repo.get_subscriber(ANN) == mine
    # A number this unit of work wrote is not replaced by a listing's (older) row.
    repo.save_subscriber(replace(repo.get_subscriber(NEW), cause="water"))
    repo.followers_page(ANN, 5)
    assert repo.get_subscriber(NEW).cause == "water"


def test_an_audience_larger_than_a_chunk_is_streamed_whole(connection, monkeypatch):
    from engine.social_sms import sql_repository

    repo = SqlSocialRepository(connection, NOW, "Europe/London")
    repo.save_subscriber(member(ANN))
    numbers = [f"+4474001000{i:02d}" for i in range(7)]
    for number in numbers:
        repo.save_subscriber(member(number))
        repo.save_follow(Follow(number, ANN, True, NOW))
    for chunk in (7, 6, 3):
        monkeypatch.setattr(sql_repository, "STREAM_CHUNK", chunk)
        assert sorted(recipient.msisdn for recipient in repo.notified_followers(ANN)) == numbers


def test_unstored_time_zone_is_the_operators(connection):
    connection.execute(subscribers.insert().values(msisdn=BOB, kind="line", status="active", created_at=NOW, updated_at=NOW))
    repo = SqlSocialRepository(connection, NOW, "Europe/London")
    repo.save_subscriber(member(ANN))
    repo.save_follow(Follow(BOB, ANN, True, NOW))
    assert repo.get_subscriber(BOB).time_zone == "Europe/London"
    assert list(repo.notified_followers(ANN)) == [Recipient(BOB, "en", "Europe/London")]


def test_writes_for_unknown_numbers_say_so(connection):
    repo = SqlSocialRepository(connection, NOW, "Europe/London")
    repo.save_subscriber(member(ANN))
    with pytest.raises(UnknownSubscriber, match=r"no subscriber \+447400000002 \(expected a number that has joined\)"):
        repo.save_follow(Follow(ANN, BOB, True, NOW))
    with pytest.raises(UnknownSubscriber):
        repo.claim_handle(BOB, "bob")
    with pytest.raises(ValueError, match="names no cause"):
        repo.get_follow(ANN, "cause:")


def test_a_stream_left_early_leaves_the_connection_usable(connection, monkeypatch):
    from engine.social_sms import sql_repository

    monkeypatch.setattr(sql_repository, "STREAM_CHUNK", 10)  # 30 followers: streamed, not one plain read
    repo = SqlSocialRepository(connection, NOW, "Europe/London")
    repo.save_subscriber(member(ANN))
    for i in range(30):
        number = f"+4474001000{i:02d}"
        repo.save_subscriber(member(number))
        repo.save_follow(Follow(number, cause_key("water"), True, NOW))
    stream = repo.notified_followers(cause_key("water"))
    next(stream)
    stream.close()
    OutboxPort(connection, Outbox("767"), NOW).enqueue_many([ANN], "after", "fanout", None, "767")
    assert repo.followers_page(cause_key("water"), 1)[0] == 30


def test_sync_causes_adds_renames_retires_and_never_deletes(connection):
    assert {row.code for row in connection.execute(select(causes.c.code))} == {"water", "foodbank", "climate"}
    repo = SqlSocialRepository(connection, NOW, "Europe/London")
    repo.save_subscriber(member(ANN, cause="climate"))
    changed = CausesFile(causes=(
        Cause(code="water", name={"en": "Water For All", "fr": "De l'eau pour tous"}),
        Cause(code="foodbank", name={"en": "Local Food Banks"}),
        Cause(code="schools", name={"fr": "Cantines", "en": "School Meals"}),
    ))
    result = sync_causes(connection, changed, NOW + timedelta(days=1))
    assert (result.added, result.renamed, result.reactivated, result.deactivated) == (("schools",), ("water",), (), ("climate",))
    rows = {row.code: (row.name, row.active) for row in connection.execute(select(causes))}
    assert rows == {"water": ("Water For All", True), "foodbank": ("Local Food Banks", True),
                    "climate": ("Climate Action", False), "schools": ("School Meals", True)}
    assert cause_counts(connection)["climate"].chosen_by == 1  # still there for ANN's history
    back = sync_causes(connection, sample_causes(), NOW + timedelta(days=2))
    assert back.reactivated == ("climate",) and back.deactivated == ("schools",)
    assert sync_causes(connection, sample_causes(), NOW).changed is False


def test_outbox_port_rows_are_the_smpp_outboxs_own(connection):
    long_text = "Rally at the town hall on Saturday at ten; bring friends, banners and a flask of tea. " * 2
    held = NOW + timedelta(hours=3)
    count = OutboxPort(connection, Outbox("767"), NOW).enqueue_many([ANN, BOB], long_text, "fanout", held, "767")
    assert count == 2
    ported = connection.execute(select(mt_messages).order_by(mt_messages.c.id)).all()
    connection.execute(mt_messages.delete())
    Outbox("767").enqueue(connection, [OutgoingMessage(ANN, long_text, "fanout", held),
                                       OutgoingMessage(BOB, long_text, "fanout", held)], NOW)
    direct = connection.execute(select(mt_messages).order_by(mt_messages.c.id)).all()

    def comparable(row):
        values = row._asdict()
        del values["id"]
        return values

    assert len(ported) == 4 and [comparable(r) for r in ported] == [comparable(r) for r in direct]
    assert {(r.part_number, r.parts_total, r.not_before, r.state) for r in ported} == {(1, 2, held, "queued"), (2, 2, held, "queued")}
    assert OutboxPort(connection, Outbox("767"), NOW).enqueue_many(iter(()), "nobody", "fanout", None, "767") == 0
