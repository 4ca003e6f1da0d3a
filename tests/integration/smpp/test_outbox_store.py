"""The outbox and inbox on a real database: stored before sent, claimed once, nothing lost."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from engine.smpp import intake
from engine.smpp.inbox import Inbox
from engine.smpp.outbox import PART_COLUMNS, RECEIPT_MATCH_HORIZON, OutgoingMessage, Outbox
from engine.store.schema import delivery_receipts, mo_messages, mo_parts, mt_messages

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def states(database):
    with database.connect() as connection:
        return dict(connection.execute(select(mt_messages.c.id, mt_messages.c.state)).all())


def test_every_value_of_a_part_is_a_column_the_insert_writes():
    rows = Outbox("767").rows_for([OutgoingMessage("+447400000001", "hi", "ussd", ussd_service_op=2),
                                   OutgoingMessage("+447400000002", "x" * 200, reply_to_mo_id=7)], NOW)
    assert {tuple(row) for row in rows} == {PART_COLUMNS}


def test_a_stored_part_reads_back_as_it_was_enqueued(database):
    outbox = Outbox("767")
    [expected] = outbox.rows_for([OutgoingMessage("+447400000001", "hello €", "dm", NOW + timedelta(minutes=5),
                                                  user_message_reference=9)], NOW)
    with database.begin() as connection:
        outbox.enqueue(connection, [OutgoingMessage("+447400000001", "hello €", "dm", NOW + timedelta(minutes=5),
                                                    user_message_reference=9)], NOW)
        stored = connection.execute(select(*[mt_messages.c[name] for name in PART_COLUMNS])).one()
    assert dict(zip(PART_COLUMNS, stored)) == expected


def test_enqueue_segments_once_and_claims_in_order(database):
    outbox = Outbox("767")
    long_text = "x" * 200  # two GSM parts with UDH
    with database.begin() as connection:
        parts = outbox.enqueue(connection, [
            OutgoingMessage("+447400000001", "hello"),
            OutgoingMessage("+447400000002", long_text, "fanout"),
            OutgoingMessage("+447400000003", "later", not_before=NOW + timedelta(hours=1)),
        ], NOW)
    assert parts == 4
    with database.begin() as connection:
        claimed = outbox.claim(connection, "node-1", 10, NOW)
    assert [(p.destination, p.part_number, p.parts_total) for p in claimed] == [
        ("+447400000001", 1, 1), ("+447400000002", 1, 2), ("+447400000002", 2, 2)]
    params = claimed[1].submit_params()
    assert params["esm_class"] == 0x40 and params["short_message"][:3] == b"\x05\x00\x03"
    assert params["destination_addr"] == "447400000002" and params["dest_addr_ton"] == 1
    with database.begin() as connection:
        assert outbox.claim(connection, "node-2", 10, NOW) == []
        assert [p.destination for p in outbox.claim(connection, "node-2", 10, NOW + timedelta(hours=2))] == ["+447400000003"]


def test_the_longest_due_go_first_and_a_claim_reads_only_what_it_takes(database):
    """A post held for quiet hours until 08:00 goes before a reply made at 08:01 and after one made
    at 07:59, whatever order they were stored in; and the claim follows the (state, not_before, id)
    index, so it sorts nothing: ordered by id alone it sorted every due part, 14 ms a claim with
    100,000 queued."""
    from engine.smpp import outbox as outbox_module

    outbox = Outbox("767")
    eight = NOW.replace(hour=8)
    with database.begin() as connection:
        outbox.enqueue(connection, [OutgoingMessage("+447400000001", "held post", "fanout", not_before=eight)],
                       eight - timedelta(hours=9))
        outbox.enqueue(connection, [OutgoingMessage("+447400000002", "late reply")], eight + timedelta(minutes=1))
        outbox.enqueue(connection, [OutgoingMessage("+447400000003", "early reply")], eight - timedelta(minutes=1))
    with database.begin() as connection:
        assert [p.destination for p in outbox.claim(connection, "node-1", 2, eight + timedelta(minutes=5))] == [
            "+447400000001", "+447400000003"]
        assert [p.destination for p in outbox.claim(connection, "node-1", 2, eight + timedelta(minutes=5))] == [
            "+447400000002"]
        if database.dialect.name == "sqlite":
            compiled = outbox_module._CLAIM["sqlite"].compiled(connection)
            cursor = connection.connection.driver_connection.cursor()
            plan = " ".join(row[-1] for row in cursor.execute("EXPLAIN QUERY PLAN " + compiled.sql,
                                                               [None] * compiled.sql.count("?")))
            assert "ix_mt_messages_state_not_before_id" in plan and "TEMP B-TREE" not in plan, plan


def test_withdraw_takes_back_only_the_queued_parts_of_those_classes_for_that_number(database):
    """And it finds them through the partial index of queued parts by destination: the sent history
    of every number is not read."""
    from sqlalchemy import event

    outbox = Outbox("767")
    bob, dan = "+447400000002", "+447400000004"
    later = NOW + timedelta(hours=8)
    with database.begin() as connection:
        outbox.enqueue(connection, [OutgoingMessage(bob, "x" * 200, "fanout", later),  # two parts
                                    OutgoingMessage(bob, "sent already", "fanout"),
                                    OutgoingMessage(bob, "a dm", "dm", later),
                                    OutgoingMessage(bob, "your bill", "notice", later),
                                    OutgoingMessage(bob, "a reply", "reply"),
                                    OutgoingMessage(dan, "for dan", "fanout", later)], NOW)
        [being_sent] = outbox.claim(connection, "node-1", 1, NOW)  # the first due: "sent already"
    statements = []
    with database.begin() as connection:
        event.listen(connection, "before_cursor_execute",
                     lambda _c, _cur, sql, parameters, *_: statements.append((sql, parameters)))
        assert outbox.withdraw(connection, bob, "withdrawn: STOP", NOW) == 3
    with database.connect() as connection:
        rows = connection.execute(select(mt_messages.c.destination_addr, mt_messages.c.text, mt_messages.c.part_number,
                                         mt_messages.c.state, mt_messages.c.error, mt_messages.c.done_at)
                                  .order_by(mt_messages.c.id)).all()
    assert [(to, text[:12], part, state, error, done) for to, text, part, state, error, done in rows] == [
        (bob, "x" * 12, 1, "withdrawn", "withdrawn: STOP", NOW),
        (bob, "x" * 12, 2, "withdrawn", "withdrawn: STOP", NOW),
        (bob, "sent already", 1, "sending", None, None),
        (bob, "a dm", 1, "withdrawn", "withdrawn: STOP", NOW),
        (bob, "your bill", 1, "queued", None, None),
        (bob, "a reply", 1, "queued", None, None),
        (dan, "for dan", 1, "queued", None, None),
    ]
    assert being_sent.destination == bob
    if database.dialect.name == "sqlite":
        sql, parameters = statements[0]  # the search; the update is by primary key
        with database.connect() as connection:
            cursor = connection.connection.driver_connection.cursor()
            plan = " ".join(row[-1] for row in cursor.execute("EXPLAIN QUERY PLAN " + sql, parameters))
        assert "ix_mt_messages_queued_destination" in plan, plan


def test_the_send_paths_statements_name_the_state_in_their_sql_not_as_a_bound_value(database):
    """Compared with a bound value, mt_messages.state made SQLite weigh the partial index of queued
    posts and DMs against each value bound and prepare the claim again at every execution (70% more
    time for a claim and its answers' record). Written into the SQL, it is planned once."""
    import re

    from engine.smpp import outbox as outbox_module

    with database.connect() as connection:
        statements = {"claim": outbox_module._CLAIM[database.dialect.name], "finish": outbox_module._FINISH_PART}
        for name, statement in statements.items():
            sql = statement.compiled(connection).sql
            assert "state = '" in sql, (name, sql)
            assert not re.search(r"state = (\?|%s)", sql), (name, sql)


def test_withdraw_leaves_a_long_message_whole_once_a_part_of_it_has_gone(database):
    outbox = Outbox("767")
    bob = "+447400000002"
    with database.begin() as connection:
        outbox.enqueue(connection, [OutgoingMessage(bob, "y" * 400, "fanout")], NOW)  # three parts
        outbox.enqueue(connection, [OutgoingMessage(bob, "z" * 200, "fanout")], NOW)  # two parts, none sent
        [first] = outbox.claim(connection, "node-1", 1, NOW)  # a claim batch ended after part 1
        assert outbox.withdraw(connection, bob, "withdrawn: STOP", NOW) == 2
        rows = connection.execute(select(mt_messages.c.text, mt_messages.c.part_number, mt_messages.c.state)
                                  .order_by(mt_messages.c.id)).all()
    assert [(text[0], part, state) for text, part, state in rows] == [
        ("y", 1, "sending"), ("y", 2, "queued"), ("y", 3, "queued"), ("z", 1, "withdrawn"), ("z", 2, "withdrawn")]
    assert first.part_number == 1


def test_answers_receipts_retries_and_release(database):
    outbox = Outbox("767")
    with database.begin() as connection:
        outbox.enqueue(connection, [OutgoingMessage(f"+4474000000{i:02d}", f"m{i}") for i in range(4)], NOW)
        a, b, c, d = outbox.claim(connection, "node-1", 10, NOW)
        outbox.mark_submitted(connection, [(a.id, "0A1B", "host-a"), (b.id, "77", "host-a")], NOW)
        outbox.retry_later(connection, [(c.id, 0x58, "throttled", NOW + timedelta(seconds=4))])
        outbox.mark_failed(connection, [], NOW)
    assert states(database) == {a.id: "submitted", b.id: "submitted", c.id: "queued", d.id: "sending"}

    with database.begin() as connection:
        outbox.store_receipts(connection, [("0a1b", "delivered", None, NOW),  # case differs: still matched
                                           ("77", "undeliverable", "stat UNDELIV err 001", NOW),
                                           ("unknown-id", "delivered", None, NOW)], NOW)
        assert outbox.apply_receipts(connection, NOW) == 2
        assert outbox.release_claims(connection, "node-1") == 1
    assert states(database) == {a.id: "delivered", b.id: "undeliverable", c.id: "queued", d.id: "queued"}
    with database.connect() as connection:
        assert outbox.depth(connection) == {"queued": 2, "sending": 0, "submitted": 0}


def test_a_receipt_unmatched_past_the_horizon_is_kept_but_no_longer_matched(database):
    outbox = Outbox("767")
    second = timedelta(seconds=1)
    with database.begin() as connection:
        outbox.enqueue(connection, [OutgoingMessage(f"+4474000000{i:02d}", f"m{i}") for i in range(2)], NOW)
        recent, stale = outbox.claim(connection, "node-1", 10, NOW)
        outbox.store_receipts(connection, [("R1", "delivered", None, NOW)], NOW - RECEIPT_MATCH_HORIZON + second)
        outbox.store_receipts(connection, [("S1", "delivered", None, NOW)], NOW - RECEIPT_MATCH_HORIZON - second)
        assert outbox.apply_receipts(connection, NOW) == 0  # neither part is submitted yet
        outbox.mark_submitted(connection, [(recent.id, "R1", "host-a"), (stale.id, "S1", "host-a")], NOW)
        assert outbox.apply_receipts(connection, NOW) == 1
    assert states(database) == {recent.id: "delivered", stale.id: "submitted"}
    with database.connect() as connection:
        kept = dict(connection.execute(select(delivery_receipts.c.smsc_message_id, delivery_receipts.c.applied)).all())
    assert kept == {"R1": True, "S1": False}


def sms_params(text: bytes, source="447400000009", **extra):
    return {"source_addr": source, "source_addr_ton": 1, "destination_addr": "767", "esm_class": 0,
            "data_coding": 0, "short_message": text, **extra}


def test_redelivered_mo_is_stored_once(database):
    inbox = Inbox()
    arrived = intake.classify(sms_params(b"JOIN"))
    with database.begin() as connection:
        first = inbox.store(connection, arrived, "host-a", NOW)
        again = inbox.store(connection, arrived, "host-a", NOW + timedelta(seconds=30))
    assert first is not None and again is None
    with database.begin() as connection:
        [message] = inbox.claim(connection, "node-1", 10)
        assert inbox.claim(connection, "node-2", 10) == []
    assert (message.source, message.text, message.kind) == ("+447400000009", "JOIN", "sms")


def test_a_batch_is_stored_in_arrival_order_with_its_redeliveries_dropped(database):
    """What one reactor turn delivers, stored with one insert for its messages: each arrival's id in
    arrival order (a long message completed mid-batch included), None for a redelivery in the
    batch or of a message stored before, and USSD answers kept each as its own."""
    inbox = Inbox()
    earlier = intake.classify(sms_params(b"BILL", source="447400000001"))
    follow = intake.classify(sms_params(b"FOLLOW ada"))
    udh = lambda n: bytes([5, 0, 3, 0x43, 2, n])  # noqa: E731
    last_part = intake.classify(sms_params(udh(2) + b"world", esm_class=0x40))
    first_part = intake.classify(sms_params(udh(1) + b"hello ", esm_class=0x40))
    answer = intake.classify(sms_params(b"1", ussd_service_op=0x12))
    with database.begin() as connection:
        assert inbox.store(connection, earlier, "host-a", NOW - timedelta(seconds=5)) is not None
        assert inbox.store(connection, last_part, "host-a", NOW) is None
        ids = inbox.store_all(connection, [(earlier, "host-a"), (follow, "host-a"), (first_part, "host-b"),
                                           (follow, "host-a"), (answer, "host-a"), (answer, "host-a")], NOW)
    assert ids[0] is None and ids[3] is None
    made = [ids[1], ids[2], ids[4], ids[5]]
    assert None not in made and made == sorted(made) and len(set(made)) == 4
    with database.connect() as connection:
        stored = dict(connection.execute(select(mo_messages.c.id, mo_messages.c.text)).all())
    assert [stored[message_id] for message_id in made] == ["FOLLOW ada", "hello world", "1", "1"]
    assert len(stored) == 5


def test_concatenated_mo_becomes_one_message_when_the_last_part_arrives(database):
    inbox = Inbox()
    udh = lambda n: bytes([5, 0, 3, 0x42, 2, n])  # noqa: E731
    second = intake.classify(sms_params(udh(2) + b"world", esm_class=0x40))
    first = intake.classify(sms_params(udh(1) + b"hello ", esm_class=0x40))
    with database.begin() as connection:
        assert inbox.store(connection, second, "host-a", NOW) is None
        assert inbox.store(connection, second, "host-a", NOW) is None  # a redelivered part
        message_id = inbox.store(connection, first, "host-a", NOW + timedelta(seconds=1))
    with database.connect() as connection:
        assert connection.execute(select(mo_messages.c.text).where(mo_messages.c.id == message_id)).scalar() == "hello world"
        assert connection.execute(select(mo_parts.c.id)).all() == []


def test_parts_that_stop_arriving_are_processed_with_a_gap_after_the_timeout(database):
    inbox = Inbox(reassembly_timeout_seconds=60, on_incomplete="process")
    part = intake.classify(sms_params(bytes([5, 0, 3, 7, 3, 1]) + b"first ", esm_class=0x40))
    with database.begin() as connection:
        inbox.store(connection, part, "host-a", NOW)
        assert inbox.expire_parts(connection, NOW + timedelta(seconds=30)) == ([], 0)
        made, discarded = inbox.expire_parts(connection, NOW + timedelta(seconds=61))
    assert len(made) == 1 and discarded == 0
    with database.connect() as connection:
        text, complete = connection.execute(select(mo_messages.c.text, mo_messages.c.complete)).one()
    assert (text, complete) == ("first ", False)


def test_an_acknowledgement_is_remembered_for_two_dedupe_windows(database):
    """A repeat is checked against the previous window's key, so an acknowledgement up to two
    windows old still tells a person texting again from a redelivery; older ones are dropped as
    later acknowledgements arrive."""
    inbox = Inbox(dedupe_window_seconds=600)
    first_at = NOW + timedelta(seconds=10)
    later = NOW + timedelta(seconds=910)  # the next window: the first's key is its previous key
    arrived = intake.classify(sms_params(b"BILL"))
    others = [intake.classify(sms_params(f"HELP {n}".encode())) for n in range(3)]
    with database.begin() as connection:
        assert inbox.store(connection, arrived, "host-a", first_at) is not None
    inbox.note_acknowledged([arrived.digest], first_at.timestamp())
    inbox.note_acknowledged([other.digest for other in others], later.timestamp())
    with database.begin() as connection:
        assert inbox.store(connection, arrived, "host-a", later) is not None
    forgotten = Inbox(dedupe_window_seconds=600)
    forgotten.note_acknowledged([arrived.digest], first_at.timestamp())
    forgotten.note_acknowledged([others[0].digest], (first_at + timedelta(seconds=1201)).timestamp())
    with database.begin() as connection:  # a redelivery now: the memory of the answer is gone
        assert forgotten.store(connection, arrived, "host-a", later) is None


def test_a_text_repeated_after_its_acknowledgement_is_stored_again(database):
    inbox = Inbox()
    arrived = intake.classify(sms_params(b"YES"))
    with database.begin() as connection:
        first = inbox.store(connection, arrived, "host-a", NOW)
    inbox.note_acknowledged([arrived.digest], NOW.timestamp())
    with database.begin() as connection:
        again = inbox.store(connection, arrived, "host-a", NOW + timedelta(seconds=20))
    assert first is not None and again is not None and again != first
    # After a link loss, recent answers are in doubt: the same text is a redelivery again.
    inbox.forget_acknowledged_since(NOW.timestamp() - 10)
    with database.begin() as connection:
        assert inbox.store(connection, arrived, "host-a", NOW + timedelta(seconds=40)) is None


def test_receipts_reach_their_parts_through_the_message_id_index(database):
    """Every receipt pass looks its parts up by SMSC message id: a statement that let SQLite pick the
    state index instead walked every submitted part once per receipt (the engine fell to 326 MO/s
    with a receipt per reply). The plans, as SQLite's planner chooses them."""
    from engine.smpp import outbox as outbox_module

    if database.dialect.name != "sqlite":
        pytest.skip("query plans are SQLite's here; PostgreSQL plans by statistics")
    with database.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        for name, uses in (("_PARTS_BY_MESSAGE_ID", "INDEX ix_mt_messages_smsc_message_id"),
                           ("_FINISH_PART", "INTEGER PRIMARY KEY"), ("_MARK_APPLIED", "INTEGER PRIMARY KEY"),
                           ("_PENDING_RECEIPTS", "INDEX ix_delivery_receipts_applied_id")):
            compiled = getattr(outbox_module, name).compiled(connection)
            sql = compiled.sql_for({key: ["a", "b"] for key in compiled._tokens}) if compiled.expanding else compiled.sql
            plan = " ".join(row[-1] for row in cursor.execute("EXPLAIN QUERY PLAN " + sql, [None] * sql.count("?")))
            assert uses in plan and "SCAN" not in plan, (name, plan)


class _Link:
    name = "host-a"

    def __init__(self):
        self.answers = []

    def acknowledge(self, sequence, status):
        self.answers.append((sequence, status))
        return True


class _Delivered:
    def __init__(self, sequence, params):
        self.sequence, self.params = sequence, params


def test_the_receiver_matches_receipts_shortly_after_storing_them_or_when_it_stops(database):
    """Receipts of a read are stored with it and matched together RECEIPT_APPLY_DELAY later; a
    receiver that stops matches what it stored at once, leaving no timer behind it."""
    from twisted.internet.task import Clock

    from engine.smpp.codec import CommandStatus
    from engine.smpp.receipts import MessageState, format_receipt_text
    from engine.smpp.receiver import RECEIPT_APPLY_DELAY, MoReceiver

    outbox = Outbox("767")
    with database.begin() as connection:
        outbox.enqueue(connection, [OutgoingMessage(f"+4474000000{i:02d}", f"m{i}") for i in range(2)], NOW)
        first, second = outbox.claim(connection, "node-1", 10, NOW)
        outbox.mark_submitted(connection, [(first.id, "M1", "host-a"), (second.id, "M2", "host-a")], NOW)
    clock = Clock()
    clock.advance(NOW.timestamp())
    receiver = MoReceiver(clock, database, Inbox(), outbox)
    link = _Link()

    def receipt(sequence, message_id):
        text = format_receipt_text(message_id, MessageState.DELIVERED, submitted_at=NOW, done_at=NOW)
        receiver.message_received(link, _Delivered(sequence, sms_params(text.encode(), esm_class=0x04)))
        receiver.flush()  # the link's end_of_read

    receipt(1, "M1")
    assert link.answers == [(1, CommandStatus.ESME_ROK)]
    assert states(database)[first.id] == "submitted"  # stored, not matched yet
    clock.advance(RECEIPT_APPLY_DELAY)
    assert states(database)[first.id] == "delivered"
    receipt(2, "M2")
    receiver.stop()
    assert states(database)[second.id] == "delivered" and clock.getDelayedCalls() == []


def test_a_receipt_for_a_part_just_submitted_finishes_it_on_arrival(database):
    """The dispatcher remembers the message ids it was just given; a receipt naming one finishes
    that part in the receiver's own transaction, even before the write-behind has recorded the
    submit (the part still `sending`), and the late submit record keeps the final state. A second
    receipt for the same id, and one for an id never given, are kept in `delivery_receipts`."""
    from twisted.internet.task import Clock

    from engine.smpp.codec import CommandStatus
    from engine.smpp.dispatcher import MtDispatcher
    from engine.smpp.receipts import MessageState, format_receipt_text
    from engine.smpp.receiver import MoReceiver

    outbox = Outbox("767")
    with database.begin() as connection:
        outbox.enqueue(connection, [OutgoingMessage("+447400000001", "m1")], NOW)
    clock = Clock()
    clock.advance(NOW.timestamp())
    dispatcher = MtDispatcher(clock, database, outbox, "node-1")
    link = _SendingLink()
    dispatcher.add_link(link)
    dispatcher.start()
    [(part_id, _params)] = link.submitted
    dispatcher.submit_accepted(link, part_id, "M1")  # answered; its record is still write-behind
    receiver = MoReceiver(clock, database, Inbox(), outbox, part_for_receipt=dispatcher.part_for_receipt)

    def receipt(sequence, message_id, state=MessageState.UNDELIVERABLE):
        text = format_receipt_text(message_id, state, submitted_at=NOW, done_at=NOW, error_code=5)
        receiver.message_received(link, _Delivered(sequence, sms_params(text.encode(), esm_class=0x04)))
        receiver.flush()  # the link's end_of_read

    receipt(1, "M1")
    assert link.answers == [(1, CommandStatus.ESME_ROK)]
    assert states(database)[part_id] == "undeliverable"
    dispatcher.flush()  # the write-behind records the submit after the receipt
    with database.connect() as connection:
        row = connection.execute(select(mt_messages.c.state, mt_messages.c.smsc_message_id, mt_messages.c.error)
                                 .where(mt_messages.c.id == part_id)).one()
    assert row == ("undeliverable", "M1", "stat UNDELIV err 005")
    receipt(2, "M1")
    receipt(3, "M9")
    with database.connect() as connection:
        kept = connection.execute(select(delivery_receipts.c.smsc_message_id)).scalars().all()
    assert sorted(kept) == ["M1", "M9"]
    receiver.stop()
    dispatcher.stop()
    assert states(database)[part_id] == "undeliverable"


class _SendingLink(_Link):
    """A bound link with room in its window that records what it is given to send."""

    is_bound = can_transmit = True

    def __init__(self):
        super().__init__()
        self.submitted = []

    def free_window(self):
        return 10 - len(self.submitted)

    def seconds_until_tokens(self):
        return 0.0

    def submit(self, ref, params):
        self.submitted.append((ref, params))


def test_the_dispatcher_goes_on_after_the_database_failed_a_claim(database, caplog):
    """A claim whose transaction cannot begin claims nothing and is tried again at the next poll;
    raised into the poller, it had stopped sending until the engine restarted."""
    from twisted.internet.task import Clock

    from engine.smpp.dispatcher import MtDispatcher
    from tests.support.databases import FailingBegins

    outbox = Outbox("767")
    clock = Clock()
    clock.advance(NOW.timestamp())
    flaky = FailingBegins(database)
    dispatcher = MtDispatcher(clock, flaky, outbox, "node-1", idle_poll=5)
    link = _SendingLink()
    dispatcher.add_link(link)
    dispatcher.start()
    with database.begin() as connection:
        outbox.enqueue(connection, [OutgoingMessage("+447400000001", "m1")], NOW)
    flaky.failures = 1
    dispatcher.wake()
    clock.advance(0)
    assert link.submitted == [] and "could not claim parts" in caplog.text
    clock.advance(5)  # the next poll
    assert [params["destination_addr"] for _ref, params in link.submitted] == ["447400000001"]
    dispatcher.stop()


def _claims(database) -> dict[int, tuple]:
    with database.connect() as connection:
        return {row.id: (row.state, row.claimed_by, row.attempts) for row in connection.execute(
            select(mt_messages.c.id, mt_messages.c.state, mt_messages.c.claimed_by, mt_messages.c.attempts))}


def test_claims_go_back_to_the_queue_when_their_node_died_or_can_no_longer_send(database):
    outbox = Outbox("767")
    with database.begin() as connection:
        outbox.enqueue(connection, [OutgoingMessage(f"+4474000000{i:02d}", f"m{i}") for i in range(5)],
                       NOW - timedelta(hours=1))
        [old] = outbox.claim(connection, "node-2", 1, NOW - timedelta(minutes=11))
        [recent] = outbox.claim(connection, "node-2", 1, NOW - timedelta(minutes=9))
        [own_old] = outbox.claim(connection, "node-1", 1, NOW - timedelta(minutes=11))
        given_back, kept = outbox.claim(connection, "node-1", 2, NOW)
    with database.begin() as connection:
        assert outbox.release_stale_claims(connection, "node-1", NOW - timedelta(minutes=10)) == 1
        assert outbox.release_parts(connection, [given_back.id, old.id]) == 1  # old is not `sending` any more
        assert outbox.release_parts(connection, []) == 0
    assert _claims(database) == {old.id: ("queued", None, 0), recent.id: ("sending", "node-2", 0),
                                 own_old.id: ("sending", "node-1", 0), given_back.id: ("queued", None, 0),
                                 kept.id: ("sending", "node-1", 0)}


def test_another_node_sends_what_a_stopped_node_claimed_once_the_claim_lease_is_over(database, caplog):
    from twisted.internet.task import Clock

    from engine.smpp.dispatcher import MtDispatcher

    outbox = Outbox("767")
    with database.begin() as connection:
        outbox.enqueue(connection, [OutgoingMessage(f"+4474000000{i:02d}", f"m{i}") for i in range(2)],
                       NOW - timedelta(minutes=1))
        outbox.claim(connection, "node-2", 10, NOW)  # and node-2 stops for good
    clock = Clock()
    clock.advance(NOW.timestamp())
    dispatcher = MtDispatcher(clock, database, outbox, "node-1", claim_lease_seconds=600)
    link = _SendingLink()
    dispatcher.add_link(link)
    dispatcher.start()
    for _ in range(9):  # checked every 60 s: not yet 10 minutes
        clock.advance(60)
    assert link.submitted == []
    clock.advance(60)
    clock.advance(60)
    assert sorted(params["destination_addr"] for _ref, params in link.submitted) == ["447400000000", "447400000001"]
    assert "2 part(s) claimed by another node" in caplog.text
    assert {claim[:2] for claim in _claims(database).values()} == {("sending", "node-1")}
    dispatcher.stop()


def test_a_node_that_loses_its_last_bind_puts_back_at_once_what_it_had_not_sent(database):
    from twisted.internet.task import Clock

    from engine.smpp.dispatcher import MtDispatcher

    outbox = Outbox("767")
    with database.begin() as connection:
        outbox.enqueue(connection, [OutgoingMessage(f"+4474000000{i:02d}", f"m{i}") for i in range(15)], NOW)
    clock = Clock()
    clock.advance(NOW.timestamp())
    dispatcher = MtDispatcher(clock, database, outbox, "node-1")
    link = _SendingLink()
    dispatcher.add_link(link)
    dispatcher.start()  # claims all 15; the link's window takes 10
    in_flight = {ref for ref, _params in link.submitted}
    assert len(in_flight) == 10 and dispatcher.in_flight == 15
    link.is_bound = False
    dispatcher.link_lost(link, tuple(in_flight), "connection lost")
    dispatcher.flush()
    claims = _claims(database)
    assert {claims[ref] for ref in in_flight} == {("queued", None, 1)}  # tried once: a retry
    assert sorted(claims[ref] for ref in claims if ref not in in_flight) == [("queued", None, 0)] * 5  # never tried
    assert dispatcher.in_flight == 0
    dispatcher.stop()


class _SlowLink(_SendingLink):
    """A link whose throughput cap lets one part out at a time: the rest wait in the node's batch."""

    def free_window(self):
        return 1 if len(self.submitted) < 1 + len(self.answered) else 0

    def __init__(self):
        super().__init__()
        self.answered = []


def test_a_live_node_keeps_its_claims_however_long_its_batch_waits(database):
    """Two nodes: node-1 claimed 5 parts and sends one at a time; node-2's lease check never takes
    the ones still waiting, because node-1 renews its claims at each of its own checks."""
    from twisted.internet.task import Clock

    from engine.smpp.dispatcher import MtDispatcher

    outbox = Outbox("767")
    with database.begin() as connection:
        outbox.enqueue(connection, [OutgoingMessage(f"+4474000000{i:02d}", f"m{i}") for i in range(5)], NOW)
    clock = Clock()
    clock.advance(NOW.timestamp())
    slow, other = _SlowLink(), _SendingLink()
    first = MtDispatcher(clock, database, outbox, "node-1", claim_lease_seconds=600)
    first.add_link(slow)
    first.start()
    second = MtDispatcher(clock, database, outbox, "node-2", claim_lease_seconds=600)
    second.add_link(other)
    second.start()
    assert len(slow.submitted) == 1 and first.in_flight == 5
    for minute in range(1, 50):  # one answer every ten minutes: the last part waits 40 minutes
        clock.advance(60)
        if minute % 10 == 0:
            ref, _params = slow.submitted[-1]
            slow.answered.append(ref)
            first.submit_accepted(slow, ref, f"M{ref}")
    assert len(slow.submitted) == 5 and other.submitted == []
    first.stop()
    second.stop()


def test_a_node_that_cannot_put_back_its_parts_keeps_them_and_sends_them_when_a_bind_returns(database, caplog):
    from twisted.internet.task import Clock

    from engine.smpp.dispatcher import MtDispatcher
    from tests.support.databases import FailingBegins

    outbox = Outbox("767")
    with database.begin() as connection:
        outbox.enqueue(connection, [OutgoingMessage(f"+4474000000{i:02d}", f"m{i}") for i in range(15)], NOW)
    clock = Clock()
    clock.advance(NOW.timestamp())
    flaky = FailingBegins(database)
    dispatcher = MtDispatcher(clock, flaky, outbox, "node-1")
    link = _SendingLink()
    dispatcher.add_link(link)
    dispatcher.start()
    in_flight = tuple(ref for ref, _params in link.submitted)
    link.is_bound = False
    flaky.failures = 1
    dispatcher.link_lost(link, in_flight, "connection lost")
    assert "could not put back 5 part(s)" in caplog.text and dispatcher.in_flight == 5
    link.submitted.clear()
    link.is_bound = True
    dispatcher.link_bound(link)
    clock.advance(0.01)
    assert len(link.submitted) == 5  # the five it kept, sent now
    dispatcher.stop()
