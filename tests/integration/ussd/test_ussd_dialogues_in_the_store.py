"""Whole USSD dialogues on the database: deliver_sm params -> Inbox -> MoWorker -> ussd_handler ->
`mt_messages`, with the real menu (config/ussd.toml), the real catalogue and the SQL repository.

Each test drives the engine as the SMSC would: a PSSR indication (op 1) for the dialled string,
then USSR confirms (op 18) with the answers, the phone's its_session_info moving on by one sequence
per dialogue unit; our screens come back as MT rows (op 2 while the dialogue goes on, op 17 on the
last screen, with the end bit set in its_session_info).
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from twisted.internet.task import Clock

from engine.service.mo_worker import MoWorker
from engine.smpp.inbox import Inbox
from engine.smpp.intake import classify
from engine.smpp.outbox import Outbox
from engine.smpp.ussd_tlv import SessionInfo
from engine.social_sms.memory_repository import FixedBilling
from engine.social_sms.ports import BillPreview
from engine.social_sms.settings import Cause, CausesFile
from engine.social_sms.sql_repository import SqlSocialRepository
from engine.social_sms.testing import make_context
from engine.social_sms.ussd_menu import UssdFile, UssdMenu
from engine.social_sms.ussd_store import expire_ussd_sessions, open_sessions_count, ussd_handler
from engine.social_sms.wiring import SmsHandler, sync_causes
from engine.store.schema import gifts, mo_messages, mt_messages, ussd_sessions

PROJECT_USSD = Path(__file__).resolve().parents[3] / "config" / "ussd.toml"
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
ANN = "447400100001"  # one of our lines (testing.OUR_PREFIX)
BOB = "447400100002"

# Enough causes for the list to need two pages (page breaks follow what fits in 182 characters).
CAUSES = CausesFile(causes=tuple(
    Cause(code=code, name={"en": en, "fr": fr}) for code, en, fr in (
        ("water", "Clean Water Fund", "Fonds Eau Potable"),
        ("foodbank", "Local Food Banks", "Banques alimentaires"),
        ("climate", "Climate Action Now", "Action Climat"),
        ("schools", "School Meals for All", "Repas scolaires"),
        ("shelter", "Winter Shelters", "Abris d'hiver"),
        ("library", "Village Libraries", "Bibliothèques de village"),
        ("clinics", "Rural Health Clinics", "Cliniques rurales"),
        ("rescue", "Sea Rescue Volunteers", "Sauvetage en mer"),
    )
))


def menu_with(**sessions) -> UssdMenu:
    with PROJECT_USSD.open("rb") as handle:
        data = tomllib.load(handle)
    data["sessions"].update(sessions)
    return UssdMenu(UssdFile.model_validate(data))


def session_info(session: int, sequence: int, end: bool = False) -> int:
    return SessionInfo(session, sequence, end).encode()


class Engine:
    """One engine node's MO path on a test database, with a hand-moved clock."""

    def __init__(self, database, **sessions):
        self.database = database
        self.now = T0
        self.context = make_context(causes=CAUSES)
        self.menu = menu_with(**sessions)
        self.billing = FixedBilling(period="2026-11")
        outbox = Outbox("767")
        self.inbox = Inbox()
        handlers = {
            "ussd": ussd_handler(self.context, self.menu, lambda connection: self.billing, outbox),
            "sms": SmsHandler(self.context, lambda connection: self.billing, outbox),
        }
        self.worker = MoWorker(Clock(), database, self.inbox, outbox, handlers, "node-a", utc_now=lambda: self.now)
        with database.begin() as connection:
            sync_causes(connection, CAUSES, self.now)

    def later(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def deliver(self, params: dict) -> list:
        """Store one deliver_sm as the receiver does, let the worker handle it, return our MTs."""
        with self.database.begin() as connection:
            mo_id = self.inbox.store(connection, classify(params), "bind-a", self.now)
        assert mo_id is not None, "stored as a duplicate"
        assert self.worker.work() == 1
        with self.database.connect() as connection:
            state, error = connection.execute(
                select(mo_messages.c.state, mo_messages.c.error).where(mo_messages.c.id == mo_id)).one()
            assert (state, error) == ("handled", None)
            return connection.execute(
                select(mt_messages).where(mt_messages.c.reply_to_mo_id == mo_id).order_by(mt_messages.c.id)).all()

    def ussd(self, text: str, op: int, *, its: int | None = None, umr: int | None = None, source: str = ANN) -> list:
        params = {"source_addr": source, "source_addr_ton": 1, "destination_addr": "767", "esm_class": 0,
                  "data_coding": 0, "short_message": text.encode(), "ussd_service_op": op}
        if its is not None:
            params["its_session_info"] = its
        if umr is not None:
            params["user_message_reference"] = umr
        return self.deliver(params)

    def screen(self, text: str, op: int, **fields):
        """The single MT answering one USSD message."""
        rows = self.ussd(text, op, **fields)
        assert len(rows) == 1, rows
        assert rows[0].message_class == "ussd"
        return rows[0]

    def sms(self, text: str, source: str = ANN) -> list[str]:
        rows = self.deliver({"source_addr": source, "source_addr_ton": 1, "destination_addr": "767",
                             "esm_class": 0, "data_coding": 0, "short_message": text.encode()})
        return [row.text for row in rows]

    def subscriber(self, msisdn: str):
        with self.database.connect() as connection:
            return SqlSocialRepository(connection, self.now, "Europe/London").get_subscriber(msisdn)


class Dialogue:
    """One dialogue in its_session_info mode: the phone's sequence moves on by two per round trip
    (its message, our screen), as a gateway numbers the dialogue units."""

    def __init__(self, engine: Engine, session: int, source: str = ANN):
        self.engine, self.session, self.source, self.sequence = engine, session, source, 0

    def dial(self, dialled: str = "*767#"):
        return self._send(dialled, 1)

    def answer(self, text: str):
        return self._send(text, 18)

    def _send(self, text: str, op: int):
        row = self.engine.screen(text, op, its=session_info(self.session, self.sequence), source=self.source)
        # Our reply keeps the session number and takes the next sequence number.
        info = SessionInfo.decode(row.its_session_info)
        assert (info.session_number, info.sequence) == (self.session, self.sequence + 1)
        assert info.end == (row.ussd_service_op == 17)
        self.sequence += 2
        return row


def numbered(text: str) -> dict[str, str]:
    """'6. Winter Shelters' lines of a screen as {label: number}."""
    entries = {}
    for line in text.splitlines():
        number, dot, label = line.partition(". ")
        if dot and number.isdigit():
            entries[label] = number
    return entries


# --- whole dialogues ---------------------------------------------------------------------------


def test_sign_up_choose_a_cause_on_page_two_see_the_bill_and_give(database):
    engine = Engine(database)

    join = Dialogue(engine, session=0x11)
    main = join.dial()
    assert main.ussd_service_op == 2 and main.text.startswith("People's Mobile\n1. Join\n2. Choose my cause")
    assert main.destination_addr == "+" + ANN and main.user_message_reference is None
    welcome = join.answer("1")
    assert welcome.ussd_service_op == 17
    assert welcome.text.startswith("Welcome to People's Mobile! Your line is being activated.")
    member = engine.subscriber("+" + ANN)
    assert (member.kind, member.status, member.language, member.cause) == ("line", "activating", "en", None)

    engine.later(30)
    choose = Dialogue(engine, session=0x12)
    choose.dial()
    first_page = choose.answer("2")
    assert first_page.ussd_service_op == 2
    assert first_page.text.startswith("Choose the cause that gets 10% of your bill:\n1. Clean Water Fund")
    assert "0. More" in first_page.text and "00. Back" in first_page.text
    assert "Winter Shelters" not in first_page.text
    second_page = choose.answer("0")
    assert second_page.ussd_service_op == 2
    assert choose.answer("00").text == first_page.text  # 00 goes back a page
    assert choose.answer("0").text == second_page.text
    shelters = numbered(second_page.text)["Winter Shelters"]
    on_first_page = [int(n) for label, n in numbered(first_page.text).items() if label not in ("More", "Back")]
    assert int(shelters) == max(on_first_page) + 1  # numbered across pages
    chosen = choose.answer(shelters)
    assert (chosen.ussd_service_op, chosen.text) == (17, "Thank you! 10% of your bill now goes to Winter Shelters.")
    assert engine.subscriber("+" + ANN).cause == "shelter"

    engine.later(30)
    engine.billing.previews["+" + ANN] = BillPreview("2026-11", 1234, 600, 3, 25_000_000)
    bill = Dialogue(engine, session=0x13).dial("*767*3#")  # the shortcut for "My bill"
    assert bill.ussd_service_op == 17
    assert bill.text == ("Bill 2026-11 so far: £12.34 (10 min, 3 texts, 25.0 MB). Gifts: £0.00. "
                         "£1.23 of it goes to Winter Shelters.")

    engine.later(30)
    give = Dialogue(engine, session=0x14)
    give.dial()
    assert give.answer("4").text.startswith("Amount to give to your cause")
    refused = give.answer("0*10")  # below the minimum: the same prompt, the reason above it
    assert refused.ussd_service_op == 2 and refused.text.startswith("Please type £1.00 or more")
    question = give.answer("5*50")  # * is the decimal point on a keypad
    assert question.ussd_service_op == 2
    assert question.text == "Give £5.50 to Winter Shelters on your next bill?\nConfirm?\n1. Yes, give\n2. No, cancel"
    done = give.answer("1")
    assert (done.ussd_service_op, done.text) == (17, "Thank you! £5.50 to Winter Shelters is on your next bill.")
    with database.connect() as connection:
        assert connection.execute(select(gifts.c.amount_minor, gifts.c.cause_code, gifts.c.period)).all() == [
            (550, "shelter", "2026-11")]


def test_no_on_the_confirmation_drops_the_gift_so_a_later_sms_yes_confirms_nothing(database):
    engine = Engine(database)
    engine.sms("JOIN")
    engine.sms("CAUSE water")
    dialogue = Dialogue(engine, session=0x21)
    assert dialogue.dial("*767*4*5#").text.startswith("Give £5.00 to Clean Water Fund")  # stops before confirming
    cancelled = dialogue.answer("2")
    assert (cancelled.ussd_service_op, cancelled.text) == (17, "Gift cancelled. Nothing will be charged.")
    assert engine.sms("YES") == ["No gift is waiting for a yes. Text GIVE, an amount and a cause."]


def test_a_stranger_is_asked_to_join_before_choosing(database):
    engine = Engine(database)
    dialogue = Dialogue(engine, session=0x31)
    dialogue.dial()
    causes = dialogue.answer("2")
    refused = dialogue.answer("1")
    assert refused.ussd_service_op == 2
    assert refused.text.startswith("Please join first (main menu).\n")
    assert refused.text.endswith(causes.text.split("\n", 1)[1])  # the same list again
    assert engine.subscriber("+" + ANN) is None


def test_language_switch_answers_and_continues_in_french(database):
    engine = Engine(database)
    engine.sms("JOIN")
    dialogue = Dialogue(engine, session=0x41)
    dialogue.dial()
    dialogue.answer("6")
    dialogue.answer("1")
    switched = dialogue.answer("2")
    assert (switched.ussd_service_op, switched.text) == (17, "Langue choisie : français.")
    assert engine.subscriber("+" + ANN).language == "fr"
    assert Dialogue(engine, session=0x42).dial().text.startswith("People's Mobile\n1. S'inscrire")


# --- endings: timeout, late answers, abort -----------------------------------------------------


def test_an_answer_after_the_timeout_gets_the_short_ended_reply(database):
    engine = Engine(database)
    dialogue = Dialogue(engine, session=0x51)
    dialogue.dial()
    with database.connect() as connection:
        assert open_sessions_count(connection, engine.now) == 1
    engine.later(180)
    with database.connect() as connection:
        assert open_sessions_count(connection, engine.now) == 0
    late = dialogue.answer("1")
    assert (late.ussd_service_op, late.text) == (17, "Session ended. Dial *767# to start again.")
    assert engine.subscriber("+" + ANN) is None  # "1. Join" was not run
    assert expire_ussd_sessions(database, engine.now) == 1
    with database.connect() as connection:
        assert connection.execute(select(ussd_sessions)).all() == []


def test_an_answer_to_a_finished_dialogue_is_late_too(database):
    engine = Engine(database)
    dialogue = Dialogue(engine, session=0x52)
    dialogue.dial()
    assert dialogue.answer("7").ussd_service_op == 17  # help ends the dialogue
    with database.connect() as connection:
        assert open_sessions_count(connection, engine.now) == 0
        assert connection.execute(select(ussd_sessions.c.ended)).scalars().all() == [True]  # kept until it expires
    assert dialogue.answer("1").text == "Session ended. Dial *767# to start again."
    assert expire_ussd_sessions(database, engine.now) == 0
    assert expire_ussd_sessions(database, engine.now + timedelta(seconds=180)) == 1


@pytest.mark.parametrize("release", ["end bit", "vendor op"])
def test_the_phone_hanging_up_ends_the_dialogue_silently(database, release):
    engine = Engine(database, release_service_ops=[33])
    dialogue = Dialogue(engine, session=0x61)
    dialogue.dial()
    dialogue.answer("2")
    if release == "end bit":
        rows = engine.ussd("", 18, its=session_info(0x61, dialogue.sequence, end=True))
    else:
        rows = engine.ussd("", 33, its=session_info(0x61, dialogue.sequence))
    assert rows == []
    with database.connect() as connection:
        assert open_sessions_count(connection, engine.now) == 0
    late = engine.screen("1", 18, its=session_info(0x61, dialogue.sequence + 2))
    assert late.text == "Session ended. Dial *767# to start again." and late.ussd_service_op == 17


# --- session key modes -------------------------------------------------------------------------


def test_its_session_info_keeps_two_dialogues_of_one_number_apart(database):
    engine = Engine(database)
    engine.sms("JOIN")
    causes_dialogue, settings_dialogue = Dialogue(engine, 0x71), Dialogue(engine, 0x72)
    causes_dialogue.dial()
    settings_dialogue.dial()
    causes_dialogue.answer("2")
    assert settings_dialogue.answer("6").text.startswith("Settings\n")
    assert causes_dialogue.answer("1").text == "Thank you! 10% of your bill now goes to Clean Water Fund."


def test_user_message_reference_mode_echoes_the_reference_and_sends_no_session_info(database):
    engine = Engine(database, key="user_message_reference")
    engine.sms("JOIN")
    first = engine.screen("*767#", 1, umr=4242)
    assert (first.ussd_service_op, first.user_message_reference, first.its_session_info) == (2, 4242, None)
    other = engine.screen("*767#", 1, umr=77)  # another dialogue of the same number
    assert engine.screen("2", 18, umr=4242).text.startswith("Choose the cause")
    assert engine.screen("6", 18, umr=77).text.startswith("Settings\n")
    chosen = engine.screen("3", 18, umr=4242)
    assert (chosen.text, chosen.ussd_service_op, chosen.user_message_reference) == (
        "Thank you! 10% of your bill now goes to Climate Action Now.", 17, 4242)
    assert other.user_message_reference == 77


def test_source_addr_mode_keeps_one_dialogue_per_number(database):
    engine = Engine(database, key="source_addr")
    engine.sms("JOIN", source=BOB)
    assert engine.screen("*767#", 1, source=BOB).its_session_info is None
    engine.screen("*767#", 1, source=ANN)  # another number's dialogue is another session
    assert engine.screen("2", 18, source=BOB).text.startswith("Choose the cause")
    assert engine.screen("1", 18, source=ANN).text.startswith("Welcome to People's Mobile!")
    chosen = engine.screen("3", 18, source=BOB)
    assert (chosen.ussd_service_op, chosen.text) == (17, "Thank you! 10% of your bill now goes to Climate Action Now.")
    assert engine.subscriber("+" + BOB).cause == "climate" and engine.subscriber("+" + ANN).cause is None


def test_the_same_answer_twice_in_one_dialogue_is_not_a_redelivery(database):
    engine = Engine(database, key="source_addr")
    engine.sms("JOIN")
    engine.screen("*767#", 1)
    engine.screen("2", 18)
    engine.screen("0", 18)
    assert engine.screen("0", 18).text.startswith("Choose the cause")  # the third page


# --- one rule, two channels ----------------------------------------------------------------------


def test_choosing_by_sms_and_in_the_menu_leaves_the_same_state(database):
    engine = Engine(database)
    assert engine.sms("JOIN", source=ANN)[0].startswith("Welcome to People's Mobile!")
    assert engine.sms("CAUSE water", source=ANN) == [
        "Thank you! 10% of your bill now goes to Clean Water Fund. Text MYCAUSE to check."]

    dialogue = Dialogue(engine, session=0x81, source=BOB)
    dialogue.dial("*767*1#")  # join by shortcut
    dialogue = Dialogue(engine, session=0x82, source=BOB)
    dialogue.dial("*767*2#")
    assert dialogue.answer("1").text == "Thank you! 10% of your bill now goes to Clean Water Fund."

    by_sms, by_menu = engine.subscriber("+" + ANN), engine.subscriber("+" + BOB)
    assert by_menu.cause == by_sms.cause == "water"
    assert replace(by_menu, msisdn=by_sms.msisdn, joined_at=by_sms.joined_at) == by_sms
    # Both joins asked the host network to activate the line, the same way.
    assert engine.sms("MYCAUSE", source=BOB) == engine.sms("MYCAUSE", source=ANN)
