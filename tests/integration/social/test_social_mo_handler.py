"""The SMS commands end to end at the database: an MO stored by the Inbox, handled by MoWorker with
the social handler, replies and fan-out in mt_messages, state in the social tables."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import count

import pytest
from sqlalchemy import select
from twisted.internet.task import Clock

from engine.service.mo_worker import MoWorker
from engine.smpp import intake
from engine.smpp.inbox import Inbox
from engine.smpp.outbox import Outbox
from engine.social_sms.memory_repository import FixedBilling
from engine.social_sms.ports import BillPreview
from engine.social_sms.settings import FloodSection
from engine.social_sms.testing import make_context, sample_social
from engine.social_sms.wiring import prepare_sms_handler
from engine.store.schema import (causes, follows, gifts, mo_messages, mt_messages, pending_gives, provisioning_requests,
                                 sms_throttles, subscribers)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)  # 12:00 in London and 13:00 in Paris: not quiet
ANN, BOB, DAN, ZOE = "+447400000001", "+447400000002", "+447400000004", "+447400000009"
CAT = "+33612345678"  # another network, in France: a social member on Paris time


class Phones:
    """Texts from phones to the short code, through the same store and worker as the engine."""

    def __init__(self, database, context=None, billing=None):
        self.database = database
        self.now = NOW
        self.inbox = Inbox()
        outbox = Outbox("767")
        billing = billing or FixedBilling({ANN: BillPreview("2026-11", 1234, 600, 3, 1_500_000)}, period="2026-11")
        handler = prepare_sms_handler(database, context or make_context(), lambda connection: billing, outbox, NOW)
        self.worker = MoWorker(Clock(), database, self.inbox, outbox, {"sms": handler}, "node-1",
                               utc_now=lambda: self.now)
        self._digests = count()

    def text(self, sender: str, body: str, at: datetime | None = None) -> list[str]:
        """Send one SMS; returns the replies it got (texts of the MTs answering it)."""
        self.now = at or self.now
        arrived = intake.SmsArrived(sender, "767", body, 0, f"test-{next(self._digests)}")
        with self.database.begin() as connection:
            mo_id = self.inbox.store(connection, arrived, "host-a", self.now)
        assert self.worker.work() == 1
        with self.database.connect() as connection:
            state = connection.execute(select(mo_messages.c.state, mo_messages.c.error).where(mo_messages.c.id == mo_id)).one()
            assert state == ("handled", None), state
            return list(connection.execute(
                select(mt_messages.c.text).where(mt_messages.c.reply_to_mo_id == mo_id, mt_messages.c.message_class == "reply")
                .order_by(mt_messages.c.id)).scalars())

    def text_together(self, texts: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
        """Several SMS stored in one transaction and handled in one batch; per MO, its state and
        the replies it got, in the order given."""
        arrivals = [(intake.SmsArrived(sender, "767", body, 0, f"test-{next(self._digests)}"), "host-a")
                    for sender, body in texts]
        with self.database.begin() as connection:
            ids = self.inbox.store_all(connection, arrivals, self.now)
        assert self.worker._one_batch() == len(texts)
        with self.database.connect() as connection:
            return [(connection.execute(select(mo_messages.c.state).where(mo_messages.c.id == mo_id)).scalar_one(),
                     list(connection.execute(select(mt_messages.c.text).where(mt_messages.c.reply_to_mo_id == mo_id)
                                             .order_by(mt_messages.c.id)).scalars()))
                    for mo_id in ids]

    def buckets(self) -> dict[str, int]:
        with self.database.connect() as connection:
            return dict(connection.execute(select(sms_throttles.c.msisdn, sms_throttles.c.milli_tokens)).all())

    def mts(self, message_class: str, since_id: int = 0) -> list[tuple]:
        with self.database.connect() as connection:
            return connection.execute(
                select(mt_messages.c.destination_addr, mt_messages.c.text, mt_messages.c.not_before,
                       mt_messages.c.reply_to_mo_id, mt_messages.c.source_addr)
                .where(mt_messages.c.message_class == message_class, mt_messages.c.id > since_id)
                .order_by(mt_messages.c.destination_addr)).all()

    def last_mt_id(self) -> int:
        with self.database.connect() as connection:
            return connection.execute(select(mt_messages.c.id).order_by(mt_messages.c.id.desc())).scalars().first() or 0

    def row(self, table, *where):
        with self.database.connect() as connection:
            return connection.execute(select(table).where(*where)).all()


@pytest.fixture
def phones(database):
    return Phones(database)


def test_join_from_our_number_makes_an_activating_line_and_asks_the_host(phones):
    [welcome, named] = phones.text(ANN, "JOIN ann")
    assert "being activated" in welcome and named == "Your name is now @ann."
    [ann] = phones.row(subscribers, subscribers.c.msisdn == ANN)
    assert (ann.kind, ann.status, ann.plan_code, ann.handle, ann.time_zone) == ("line", "activating", "basic", "ann", "Europe/London")
    [request] = phones.row(provisioning_requests, provisioning_requests.c.msisdn == ANN)
    assert (request.action, request.plan_code, request.state) == ("activate", "basic", "queued")
    assert phones.text(ANN, "JOIN") == ["You are already a member of People's Mobile. Text HELP for commands."]
    assert len(phones.row(provisioning_requests)) == 1  # asked once

    [welcome] = phones.text(CAT, "INSCRIPTION")
    assert welcome.startswith("Bienvenue")
    [cat] = phones.row(subscribers, subscribers.c.msisdn == CAT)
    assert (cat.kind, cat.status, cat.language, cat.time_zone) == ("social", "active", "fr", "Europe/Paris")
    assert len(phones.row(provisioning_requests)) == 1  # nothing to activate for another network's number


def test_join_again_after_the_host_refused_the_activation_asks_the_host_again(phones):
    from sqlalchemy import update

    from engine.hostnet.acknowledgements import Acknowledgement, apply_acknowledgement
    from engine.service.notices import CatalogueNotifier

    phones.text(ANN, "JOIN ann")
    [first] = phones.row(provisioning_requests)
    with phones.database.begin() as connection:  # sent to the host, which refuses it
        connection.execute(update(provisioning_requests).values(state="sent", attempts=1))
        assert apply_acknowledgement(connection, Acknowledgement(first.request_id, "rejected", "SIM not found", NOW),
                                     CatalogueNotifier(make_context(), Outbox("767"))) == "rejected_by_host"
    assert phones.row(subscribers, subscribers.c.msisdn == ANN)[0].status == "terminated"

    assert phones.text(ANN, "JOIN")[0].startswith("Welcome to People's Mobile! Your line is being activated")
    [ann] = phones.row(subscribers, subscribers.c.msisdn == ANN)
    assert (ann.kind, ann.status, ann.plan_code, ann.handle) == ("line", "activating", "basic", "ann")
    requests = phones.row(provisioning_requests)
    assert [(r.action, r.state) for r in requests] == [("activate", "rejected"), ("activate", "queued")]
    assert requests[1].request_id != first.request_id


def test_cause_follow_post_quiet_hours_stop_and_give(phones):
    for number, name in ((ANN, "ann"), (BOB, "bob"), (DAN, "dan"), (ZOE, "zoe")):
        phones.text(number, f"JOIN {name}")
    phones.text(CAT, "INSCRIPTION cat")
    assert phones.text(ANN, "CAUSE water")[0].startswith("Thank you! 10% of your bill now goes to Clean Water Fund")
    assert phones.row(subscribers, subscribers.c.msisdn == ANN)[0].cause_code == "water"

    for number in (BOB, CAT, DAN, ZOE):
        phones.text(number, "FOLLOW ann" if number != CAT else "SUIVRE ann")
    assert len(phones.row(follows)) == 4
    assert phones.text(ZOE, "OFF ann") == ["Posts from @ann are muted."]
    assert phones.text(DAN, "STOP")[0].startswith("People's Mobile: you are unsubscribed")

    before = phones.last_mt_id()
    assert phones.text(ANN, "POST Hello from the rally") == ["Posted. Followers reached: 2."]
    fanout = phones.mts("fanout", before)
    # Not DAN (STOP), not ZOE (OFF for ann), not ann herself; sent now, from the short code.
    assert fanout == [(CAT, "@ann: Hello from the rally", NOW, None, "767"),
                      (BOB, "@ann: Hello from the rally", NOW, None, "767")]

    # 22:30 in London, 23:30 in Paris: quiet hours, so each follower gets it at 08:00 local time.
    late = datetime(2026, 11, 27, 22, 30, tzinfo=timezone.utc)
    before = phones.last_mt_id()
    assert phones.text(ANN, "POST Late news", at=late) == ["Posted. Followers reached: 2."]
    held = {to: not_before for to, _, not_before, *_ in phones.mts("fanout", before)}
    assert held == {BOB: datetime(2026, 11, 28, 8, 0, tzinfo=timezone.utc),
                    CAT: datetime(2026, 11, 28, 7, 0, tzinfo=timezone.utc)}

    # After STOP, DAN is out of every fan-out until JOIN again.
    phones.now = NOW + timedelta(days=1)
    phones.text(DAN, "JOIN")
    before = phones.last_mt_id()
    phones.text(ANN, "POST Back in the morning")
    assert {to for to, *_ in phones.mts("fanout", before)} == {BOB, CAT, DAN}

    # A direct message is queued for its recipient, not as a reply to the sender's MO.
    before = phones.last_mt_id()
    assert phones.text(BOB, "DM ann see you there") == ["Sent to @ann."]
    assert phones.mts("dm", before) == [(ANN, "DM @bob: see you there", phones.now, None, "767")]

    # GIVE then YES: a gift on this period's bill, 100% to the cause.
    assert phones.text(ANN, "GIVE 5 water") == [
        "Give £5.00 to Clean Water Fund on your next bill? Reply YES within 10 min, or NO."]
    assert len(phones.row(pending_gives)) == 1
    assert phones.text(ANN, "YES") == ["Thank you! £5.00 to Clean Water Fund is on your next bill."]
    [gift] = phones.row(gifts)
    assert (gift.period, gift.amount_minor, gift.cause_code) == ("2026-11", 500, "water")
    assert phones.row(pending_gives) == []

    [bill] = phones.text(ANN, "BILL")
    assert "£12.34" in bill and "£5.00" in bill


def test_stop_and_off_withdraw_what_waits_for_the_number_and_the_rest_goes_out_in_order(phones):
    outbox = Outbox("767")
    for number, name in ((ANN, "ann"), (BOB, "bob"), (DAN, "dan"), (ZOE, "zoe")):
        phones.text(number, f"JOIN {name}")
    for number in (BOB, DAN, ZOE):
        phones.text(number, "FOLLOW ann")
    phones.text(ANN, "POST Noon news")
    with phones.database.begin() as connection:  # a link takes everything due: the noon post is being sent
        outbox.claim(connection, "node-1", 100, NOW)
    late = datetime(2026, 11, 27, 22, 30, tzinfo=timezone.utc)  # quiet hours: held until 08:00
    phones.text(ANN, "POST First late news", at=late)
    phones.text(ANN, "POST Second late news", at=late + timedelta(minutes=1))
    phones.text(DAN, "DM bob are you up?", at=late + timedelta(minutes=2))
    stopped_at = late + timedelta(minutes=5)
    phones.text(BOB, "STOP", at=stopped_at)
    phones.text(ZOE, "OFF", at=stopped_at)

    with phones.database.connect() as connection:
        rows = connection.execute(
            select(mt_messages.c.destination_addr, mt_messages.c.text, mt_messages.c.state, mt_messages.c.error,
                   mt_messages.c.done_at).where(mt_messages.c.message_class != "reply")).all()
    stop, off = "withdrawn: the recipient opted out (STOP)", "withdrawn: the recipient turned notifications off (OFF)"
    assert sorted(rows) == sorted([
        (BOB, "@ann: Noon news", "sending", None, None),  # already taken by a link: past recall
        (DAN, "@ann: Noon news", "sending", None, None),
        (ZOE, "@ann: Noon news", "sending", None, None),
        (BOB, "@ann: First late news", "withdrawn", stop, stopped_at),
        (BOB, "@ann: Second late news", "withdrawn", stop, stopped_at),
        (BOB, "DM @dan: are you up?", "withdrawn", stop, stopped_at),
        (DAN, "@ann: First late news", "queued", None, None),
        (DAN, "@ann: Second late news", "queued", None, None),
        (ZOE, "@ann: First late news", "withdrawn", off, stopped_at),
        (ZOE, "@ann: Second late news", "withdrawn", off, stopped_at),
    ])

    # At 08:00 the held posts that are left go out, in the order they were posted.
    morning = datetime(2026, 11, 28, 8, 1, tzinfo=timezone.utc)
    with phones.database.begin() as connection:
        claimed = [part.id for part in outbox.claim(connection, "node-1", 100, morning)]
        texts = dict(connection.execute(select(mt_messages.c.id, mt_messages.c.text)
                                        .where(mt_messages.c.message_class != "reply")).all())
    assert [texts[part_id] for part_id in claimed if part_id in texts] == ["@ann: First late news", "@ann: Second late news"]


def test_a_post_skips_followers_whose_line_ended(phones):
    from sqlalchemy import update

    for number, name in ((ANN, "ann"), (BOB, "bob"), (DAN, "dan")):
        phones.text(number, f"JOIN {name}")
    phones.text(BOB, "FOLLOW ann")
    phones.text(DAN, "FOLLOW ann")
    with phones.database.begin() as connection:
        connection.execute(update(subscribers).where(subscribers.c.msisdn == BOB).values(status="terminated"))
    before = phones.last_mt_id()
    assert phones.text(ANN, "POST After the end") == ["Posted. Followers reached: 1."]
    assert [to for to, *_ in phones.mts("fanout", before)] == [DAN]


def test_unknown_sender_and_unparsable_numbers_change_nothing(phones):
    assert phones.text(ZOE, "FOLLOW ann") == ["You are not a member of People's Mobile yet. Text JOIN to sign up, or HELP."]
    assert phones.row(subscribers) == []
    assert phones.text("not-a-number", "JOIN") == []  # ignored: no reply to confirm anything


def test_setup_syncs_the_causes_table(phones):
    assert {row.code: row.active for row in phones.row(causes)} == {"water": True, "foodbank": True, "climate": True}


def test_a_senders_messages_in_one_batch_each_see_what_the_one_before_changed(phones):
    """The batch reads its senders' rows once (BatchSenders); a sender's later messages must still
    see the cause, handle, language and membership its earlier ones set."""
    phones.text(ANN, "JOIN ann")
    results = phones.text_together([(ANN, "CAUSE water"), (BOB, "HELP"), (ANN, "MYCAUSE"), (BOB, "JOIN bob"),
                                    (ANN, "NAME anne"), (BOB, "WHOIS anne"), (ANN, "LANG FR"), (ANN, "MYCAUSE")])
    replies = [texts for _state, texts in results]
    assert [state for state, _texts in results] == ["handled"] * 8
    assert replies[0][0].startswith("Thank you! 10% of your bill now goes to Clean Water Fund")
    assert "Clean Water Fund" in replies[2][0]
    assert "being activated" in replies[3][0]
    assert replies[4] == ["Your name is now @anne."]
    assert "@anne" in replies[5][0]  # BOB, a member by then, sees the handle ANN's message set
    assert "Eau" in replies[7][0]  # in French: the cause's French name
    [ann] = phones.row(subscribers, subscribers.c.msisdn == ANN)
    assert (ann.cause_code, ann.handle, ann.language) == ("water", "anne", "fr")


def test_a_flood_inside_one_batch_is_throttled_as_one_message_at_a_time_would_be(database):
    """The buckets are the batch's own from its first message: five of one number in one batch
    spend one bucket of three, the last two are throttled (no reply), and each bucket is written
    once, with what is left."""
    phones = Phones(database, make_context(sample_social(flood=FloodSection(burst=3, per_minute=1))))
    phones.text(BOB, "HELP")  # BOB's bucket exists before the batch; ANN's does not
    results = phones.text_together([(ANN, "HELP"), (BOB, "HELP")] + [(ANN, "HELP")] * 4)
    assert [len(texts) for _state, texts in results] == [1, 1, 1, 1, 0, 0]
    assert {state for state, _texts in results} == {"handled"}
    assert phones.buckets() == {ANN: 0, BOB: 1000}
    [(_state, texts)] = phones.text_together([(ANN, "HELP")])
    assert texts == []  # still empty in the next batch: what the batch spent was stored


class BillingThatFails(FixedBilling):
    def preview(self, msisdn, now):
        if msisdn == BOB:
            raise RuntimeError("rating is down")
        return super().preview(msisdn, now)


def test_a_batch_that_fails_spends_no_bucket_twice_and_a_failed_message_none(database):
    """A message that raises rolls the batch back, buckets and all, and the messages are handled
    again one savepoint each: the others spend their tokens once, the failed one spends none."""
    phones = Phones(database, make_context(sample_social(flood=FloodSection(burst=5, per_minute=1))),
                    BillingThatFails(period="2026-11"))
    phones.text_together([(ANN, "JOIN ann"), (BOB, "JOIN bob")])
    results = phones.text_together([(ANN, "HELP"), (BOB, "BILL"), (ANN, "BILL"), (DAN, "HELP")])
    assert [state for state, _texts in results] == ["handled", "failed", "handled", "handled"]
    assert phones.buckets() == {ANN: 2000, BOB: 4000, DAN: 4000}


def test_a_batch_is_handled_sender_by_sender_in_the_order_each_sent(database):
    """Each node takes the senders' rows in one order (no deadlock between two nodes handling the
    same numbers); a sender's own messages keep their order."""
    from engine.service.mo_worker import MoWorker

    seen = []

    def recording(connection, message, now):
        seen.append((message.source, message.text))
        return []

    inbox = Inbox()
    worker = MoWorker(Clock(), database, inbox, Outbox("767"), {"sms": recording}, "node-1", utc_now=lambda: NOW)
    texts = [(BOB, "b1"), (ANN, "a1"), (ZOE, "z1"), (BOB, "b2"), (ANN, "a2"), (DAN, "d1"), (ANN, "a3")]
    with database.begin() as connection:
        inbox.store_all(connection, [(intake.SmsArrived(sender, "767", text, 0, f"order-{n}"), "host-a")
                                     for n, (sender, text) in enumerate(texts)], NOW)
    assert worker.work() == len(texts)
    assert seen == [(ANN, "a1"), (ANN, "a2"), (ANN, "a3"), (BOB, "b1"), (BOB, "b2"), (DAN, "d1"), (ZOE, "z1")]


def test_a_wake_soon_after_a_batch_waits_so_what_arrives_meanwhile_shares_the_next_batch(database):
    """Group commit: batches start BATCH_SPACING apart under load; an idle worker starts at once."""
    from engine.service.mo_worker import BATCH_SPACING, MoWorker

    batches = []

    def recording(connection, message, now):
        if not batches or batches[-1][0] != clock.seconds():
            batches.append((clock.seconds(), []))
        batches[-1][1].append(message.text)
        return []

    clock = Clock()
    clock.advance(100)
    inbox = Inbox()
    worker = MoWorker(clock, database, inbox, Outbox("767"), {"sms": recording}, "node-1", idle_poll=60,
                      utc_now=lambda: NOW)
    worker.start()
    texts = iter(range(10))

    def arrive(sender: str) -> None:
        n = next(texts)
        with database.begin() as connection:
            inbox.store(connection, intake.SmsArrived(sender, "767", f"t{n}", 0, f"spacing-{n}"), "host-a", NOW)
        worker.wake()

    clock.advance(1)
    arrive(ANN)
    clock.advance(0)
    assert batches == [(101.0, ["t0"])]  # idle: at once
    clock.advance(BATCH_SPACING / 4)
    arrive(BOB)
    clock.advance(BATCH_SPACING / 4)
    arrive(DAN)
    clock.advance(BATCH_SPACING / 4)
    assert len(batches) == 1  # both still waiting for the spacing to pass
    clock.advance(BATCH_SPACING / 4)
    assert [texts for _at, texts in batches] == [["t0"], ["t1", "t2"]]
    assert batches[1][0] == pytest.approx(101 + BATCH_SPACING)
    clock.advance(1)
    arrive(ZOE)
    clock.advance(0)
    assert [texts for _at, texts in batches] == [["t0"], ["t1", "t2"], ["t3"]]  # idle again: at once
    worker.stop()


def test_a_backlog_is_handled_one_batch_per_reactor_pass(database):
    """Between two batches the reactor reads and answers the SMSC: a backlog drained batch after
    batch would leave deliver_sm and enquire_link unanswered for as long."""
    from engine.service.mo_worker import BATCH_SPACING, MoWorker

    handled = []
    clock = Clock()
    clock.advance(100)
    inbox = Inbox()
    worker = MoWorker(clock, database, inbox, Outbox("767"), {"sms": lambda c, m, now: handled.append(m.text) or []},
                      "node-1", batch=50, idle_poll=60, utc_now=lambda: NOW)
    with database.begin() as connection:
        inbox.store_all(connection, [(intake.SmsArrived(f"+4474000{n:05d}", "767", f"t{n}", 0, f"backlog-{n}"), "host-a")
                                     for n in range(120)], NOW)
    worker.start()  # the first poll: one batch, then back to the reactor
    assert len(handled) == 50
    clock.advance(BATCH_SPACING)
    assert len(handled) == 100
    clock.advance(BATCH_SPACING)
    assert len(handled) == 120 and clock.getDelayedCalls() != []  # only the idle poll is left
    clock.advance(BATCH_SPACING)
    assert len(handled) == 120
    worker.stop()
    assert clock.getDelayedCalls() == []
    with database.begin() as connection:
        inbox.store_all(connection, [(intake.SmsArrived(f"+4475000{n:05d}", "767", f"u{n}", 0, f"drain-{n}"), "host-a")
                                     for n in range(70)], NOW)
    assert worker.work() == 70  # called directly (tests, tools), it still drains everything


def test_the_worker_goes_on_polling_after_the_database_failed_a_batch(database, caplog):
    """A batch whose transaction cannot begin leaves its messages received and is tried again at
    the next poll; raised into the poller, it had stopped the worker until the engine restarted."""
    from tests.support.databases import FailingBegins

    handled = []
    clock = Clock()
    flaky = FailingBegins(database)
    inbox = Inbox()
    worker = MoWorker(clock, flaky, inbox, Outbox("767"), {"sms": lambda c, m, now: handled.append(m.text) or []},
                      "node-1", idle_poll=5, utc_now=lambda: NOW)
    worker.start()
    with database.begin() as connection:
        inbox.store(connection, intake.SmsArrived(ANN, "767", "BILL", 0, "flaky-1"), "host-a", NOW)
    flaky.failures = 1
    worker.wake()
    clock.advance(0)
    assert handled == [] and "MO batch failed" in caplog.text
    with database.connect() as connection:
        assert connection.execute(select(mo_messages.c.state)).scalars().all() == ["received"]
    clock.advance(5)  # the next poll
    assert handled == ["BILL"]
    worker.wake()  # and wakes work again
    with database.begin() as connection:
        inbox.store(connection, intake.SmsArrived(BOB, "767", "HELP", 0, "flaky-2"), "host-a", NOW)
    worker.wake()
    clock.advance(1)
    assert handled == ["BILL", "HELP"]
    worker.stop()
