"""Session bookkeeping: keys per mode, open/continue/end, timeout, late answers, releases."""

from datetime import timedelta

import pytest

from engine.smpp.ussd_tlv import SessionInfo
from engine.social_sms.ussd_sessions import (
    Disposition,
    SessionBook,
    SessionSettings,
    UssdIndication,
    UssdSessions,
)
from ussd_fake_actions import MSISDN, NOW, FakeActions, project_menu

MENU = project_menu()


def its(number, sequence=0, end=False):
    return SessionInfo(number, sequence, end).encode()


def dialled(text="*767#", info=its(7), umr=None, source=MSISDN):
    return UssdIndication(source, text, 1, its_session_info=info, user_message_reference=umr)


def answer(text, info=its(7, 1), umr=None, source=MSISDN, op=18):
    return UssdIndication(source, text, op, its_session_info=info, user_message_reference=umr)


def book(**settings):
    return SessionBook(UssdSessions(SessionSettings(**settings)))


def send(book_, indication, at=NOW, actions=None, language="en"):
    return book_.handle(indication, at, menu=MENU, actions=actions or FakeActions(), language=language)


@pytest.mark.parametrize("mode, first, other_session, expected_key", [
    ("its_session_info", dialled(info=its(7)), dialled(info=its(8)), f"{MSISDN}|its:7"),
    ("user_message_reference", dialled(info=None, umr=301), dialled(info=None, umr=302), f"{MSISDN}|umr:301"),
])
def test_keyed_modes_keep_two_dialogues_of_one_number_apart(mode, first, other_session, expected_key):
    rules = UssdSessions(SessionSettings(key=mode))
    assert rules.key_of(first) == expected_key
    assert rules.key_of(other_session) != expected_key
    # the sequence and end bit are not part of the key
    assert rules.key_of(answer("1", info=first.its_session_info and first.its_session_info | 0x0F,
                               umr=first.user_message_reference)) == expected_key


def test_source_addr_mode_is_one_dialogue_per_number():
    rules = UssdSessions(SessionSettings(key="source_addr"))
    assert rules.key_of(dialled(info=its(7))) == rules.key_of(dialled(info=its(8))) == MSISDN
    assert rules.key_of(dialled(source="+447700900999")) == "+447700900999"


def test_a_missing_key_field_falls_back_to_the_number():
    assert UssdSessions(SessionSettings(key="its_session_info")).key_of(dialled(info=None)) == MSISDN
    assert UssdSessions(SessionSettings(key="user_message_reference")).key_of(dialled(umr=None)) == MSISDN


def test_the_adapter_normalised_number_is_used_for_the_key_and_actions():
    indication = UssdIndication("447700900123", "*767#", 1, msisdn=MSISDN, its_session_info=its(3))
    actions = FakeActions()
    handled = send(b := book(), indication, actions=actions)
    assert handled.key == f"{MSISDN}|its:3" and handled.session.msisdn == MSISDN
    assert handled.send.destination == "447700900123"  # the reply goes back where it came from
    assert len(b) == 1


@pytest.mark.parametrize("mode, first, reply", [
    ("its_session_info", dialled(info=its(7)), answer("3", info=its(7, 1))),
    ("user_message_reference", dialled(info=None, umr=301), answer("3", info=None, umr=301)),
    ("source_addr", dialled(info=None), answer("3", info=None)),
])
def test_a_whole_dialogue_in_each_mode(mode, first, reply):
    b = book(key=mode)
    opened = send(b, first)
    assert opened.disposition is Disposition.OPEN and opened.send.service_op == 2 and len(b) == 1
    assert opened.send.user_message_reference == first.user_message_reference  # echoed
    done = send(b, reply, at=NOW + timedelta(seconds=20))
    assert done.disposition is Disposition.CONTINUE
    assert done.send.service_op == 17 and done.send.text.startswith("Bill") and done.session is None
    assert len(b) == 0  # ended dialogues are forgotten


def test_reply_session_info_echoes_the_session_and_sets_the_end_bit_on_the_last_screen():
    b = book()
    opened = send(b, dialled(info=its(7, 0)))
    assert SessionInfo.decode(opened.send.its_session_info) == SessionInfo(7, 1, False)
    moved = send(b, answer("6", info=its(7, 2)))
    assert SessionInfo.decode(moved.send.its_session_info) == SessionInfo(7, 3, False)
    ended = send(b, answer("0", info=its(7, 4)))  # settings: 0 is back -> main, still open
    assert not ended.send.ends
    last = send(b, answer("0", info=its(7, 6)))  # main: 0 is exit
    assert last.send.ends and SessionInfo.decode(last.send.its_session_info) == SessionInfo(7, 7, True)


def test_continuing_keeps_the_menu_state_and_refreshes_the_activity_time():
    b = book()
    send(b, dialled())
    later = NOW + timedelta(seconds=100)
    handled = send(b, answer("6"), at=later)
    session = b.get(handled.key)
    assert session.menu_state["screen"] == "settings" and session.last_activity == later
    assert session.opened_at == NOW


def test_timeout_and_a_late_answer_gets_session_ended_not_an_error():
    b = book(timeout_seconds=180)
    send(b, dialled(), language="fr")
    actions = FakeActions()
    late = send(b, answer("3"), at=NOW + timedelta(seconds=180), actions=actions)
    assert late.disposition is Disposition.LATE
    assert late.send.text == MENU.words("fr").ended  # in the dialogue's language
    assert late.send.service_op == 17 and SessionInfo.decode(late.send.its_session_info).end
    assert actions.calls == [] and len(b) == 0


def test_an_answer_within_the_timeout_is_not_late():
    b = book(timeout_seconds=180)
    send(b, dialled())
    assert send(b, answer("6"), at=NOW + timedelta(seconds=179)).disposition is Disposition.CONTINUE


def test_an_answer_for_a_session_never_seen_is_late():
    late = send(book(), answer("1", info=its(99, 1)), language=None)
    assert late.disposition is Disposition.LATE and late.send.text == MENU.words("en").ended


def test_expire_drops_idle_sessions_and_sends_nothing():
    b = book(timeout_seconds=60)
    send(b, dialled(info=its(1)))
    send(b, dialled(info=its(2)), at=NOW + timedelta(seconds=50))
    assert b.expire(NOW + timedelta(seconds=59)) == []
    expired = b.expire(NOW + timedelta(seconds=60))
    assert [s.key for s in expired] == [f"{MSISDN}|its:1"] and len(b) == 1


def test_end_bit_from_the_network_releases_without_a_reply():
    b = book()
    send(b, dialled())
    released = send(b, answer("", info=its(7, 1, end=True)))
    assert released.disposition is Disposition.RELEASE and released.send is None and len(b) == 0


def test_vendor_release_op_releases_without_a_reply():
    b = book(release_service_ops=(33,))
    send(b, dialled())
    released = send(b, answer("", op=33))
    assert released.disposition is Disposition.RELEASE and released.send is None and len(b) == 0


def test_ussn_confirm_is_ignored_and_keeps_the_session():
    b = book()
    send(b, dialled())
    ignored = send(b, answer("", op=19))
    assert ignored.disposition is Disposition.IGNORE and ignored.send is None and len(b) == 1


def test_dialling_again_replaces_the_old_dialogue():
    b = book(key="source_addr")
    send(b, dialled(info=None))
    send(b, answer("6", info=None))
    again = send(b, dialled(info=None))
    assert again.disposition is Disposition.OPEN and b.get(MSISDN).menu_state["screen"] == "main"


def test_phase_1_request_gets_one_pssd_response():
    handled = send(b := book(), UssdIndication(MSISDN, "*767*3#", 0, its_session_info=its(4)))
    assert handled.send.service_op == 16 and handled.send.text.startswith("Bill") and len(b) == 0


def test_missing_service_op_opens_or_continues():
    b = book(key="source_addr")
    first = send(b, UssdIndication(MSISDN, "*767#", None))
    assert first.disposition is Disposition.OPEN
    assert send(b, UssdIndication(MSISDN, "6", None)).disposition is Disposition.CONTINUE


def test_a_shortcut_that_ends_at_once_keeps_no_session():
    handled = send(b := book(), dialled("*767*3#"))
    assert handled.send.ends and handled.session is None and len(b) == 0
