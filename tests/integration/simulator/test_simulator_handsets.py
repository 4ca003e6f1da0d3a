"""Virtual handsets: MO (plain, queued, redelivered, concatenated), USSD dialogues, MT reassembly."""

import sys
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import defer, reactor

sys.path.insert(0, str(Path(__file__).parent))

from simulator_esme import bound_esme, pause, sms  # noqa: E402

from engine.smpp.codec import CommandStatus  # noqa: E402
from engine.smpp.encoding import decode_short_message  # noqa: E402
from engine.smpp.reassembly import IncomingPart, Reassembler  # noqa: E402
from engine.smpp.segmentation import split_message  # noqa: E402
from engine.smpp.session import BindMode, SubmitAccepted  # noqa: E402
from engine.smpp.simulator import (  # noqa: E402
    USSD_PSSR_INDICATION,
    USSD_PSSR_RESPONSE,
    USSD_USSR_CONFIRM,
    USSD_USSR_REQUEST,
    SmscSimulator,
)

PHONE = "+447400100001"


def simulator(**options) -> SmscSimulator:
    sim = SmscSimulator(reactor, {"tpo": "secret"}, receipts=False, **options)
    sim.listen(0)
    return sim


def reassemble(deliveries) -> list[str]:
    reassembler = Reassembler(timeout_seconds=60)
    texts = []
    for event in deliveries:
        p = event.params
        message = reassembler.add(IncomingPart(p["source_addr"], p["short_message"], p["data_coding"],
                                               p["esm_class"], p), now=0)
        if message is not None:
            texts.append(message.text)
    return texts


@pytest_twisted.inlineCallbacks
def test_mo_is_delivered_to_the_bound_transceiver_and_acked():
    sim = simulator()
    try:
        esme = yield bound_esme(sim.port)
        outcome = yield sim.handset(PHONE).send_mo("JOIN")
        assert outcome.accepted and outcome.status == 0 and outcome.attempts == 1
        params = esme.deliveries[0].params
        assert (params["source_addr"], params["source_addr_ton"]) == ("447400100001", 1)
        assert params["destination_addr"] == "767" and params["esm_class"] == 0
        assert decode_short_message(params["short_message"], params["data_coding"]) == "JOIN"
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_mo_waits_for_a_receiver_and_a_refusal_comes_back():
    sim = simulator()
    try:
        transmitter = yield bound_esme(sim.port, mode=BindMode.TRANSMITTER)
        waiting = sim.handset(PHONE).send_mo("HELP")
        yield pause(0.1)
        assert not waiting.called and sim.queued_deliveries() == 1 and transmitter.deliveries == []
        receiver = yield bound_esme(sim.port, mode=BindMode.RECEIVER)
        assert (yield waiting).accepted
        assert len(receiver.deliveries) == 1

        receiver.deliver_status = lambda event: CommandStatus.ESME_RX_P_APPN
        refused = yield sim.handset(PHONE).send_mo("STOP")
        assert (refused.accepted, refused.status) == (False, CommandStatus.ESME_RX_P_APPN)
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_unanswered_mo_is_redelivered_like_a_real_smsc():
    sim = simulator(redelivery_delay=0.2)
    try:
        esme = yield bound_esme(sim.port)
        answers = iter([None, None, 0])  # ignore twice, then acknowledge
        esme.deliver_status = lambda event: next(answers)
        outcome = yield sim.handset(PHONE).send_mo("FOLLOW ana")
        assert outcome.accepted and outcome.attempts == 3
        assert len(esme.deliveries) == 3
        assert len({bytes(e.params["short_message"]) for e in esme.deliveries}) == 1  # the same message
        assert sim.redeliveries == 2
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_mo_outstanding_when_the_link_drops_is_delivered_again_after_rebind():
    sim = simulator(redelivery_delay=5)
    try:
        esme = yield bound_esme(sim.port)
        esme.deliver_status = lambda event: None
        delivery = sim.handset(PHONE).send_mo("BILL")
        yield esme.wait_for(lambda: esme.deliveries)
        esme.close()
        yield esme.lost
        again = yield bound_esme(sim.port)
        assert (yield delivery).accepted and len(again.deliveries) == 1
    finally:
        yield sim.stop()


@pytest.mark.parametrize("mode, reference_bits", [("udh", 8), ("udh", 16), ("sar", 8)])
@pytest_twisted.inlineCallbacks
def test_long_mo_goes_concatenated(mode, reference_bits):
    sim = simulator()
    text = "POST " + "the quick brown fox jumps over the lazy dog " * 6
    try:
        esme = yield bound_esme(sim.port)
        outcome = yield sim.handset(PHONE).send_mo(text, mode=mode, reference_bits=reference_bits)
        assert outcome.accepted and outcome.parts == 2
        first = esme.deliveries[0].params
        if mode == "udh":
            assert first["esm_class"] & 0x40
            assert first["short_message"][:2] == (b"\x05\x00" if reference_bits == 8 else b"\x06\x08")
        else:
            assert first["sar_total_segments"] == 2 and first["sar_segment_seqnum"] == 1
        assert reassemble(esme.deliveries) == [text]
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_ussd_dial_answer_round():
    sim = simulator()
    phone = sim.handset(PHONE)
    try:
        esme = yield bound_esme(sim.port)
        assert (yield phone.dial("*767#")).accepted
        dial = esme.deliveries[0].params
        assert dial["ussd_service_op"] == USSD_PSSR_INDICATION
        assert decode_short_message(dial["short_message"], dial["data_coding"]) == "*767#"
        session_info = dial["its_session_info"]
        assert session_info & 1 == 0  # not the end

        # The engine shows a menu (USSR request) in the same session...
        esme.submit("menu", sms("447400100001", b"1 Bill\n2 Cause", ussd_service_op=USSD_USSR_REQUEST,
                                its_session_info=session_info))
        screens = yield phone.wait_for_screens(1)
        assert screens[0].text == "1 Bill\n2 Cause" and not screens[0].ends
        assert phone.ussd_session == session_info >> 8

        # ...the subscriber answers "2" (USSR confirm)...
        yield phone.answer("2")
        answer = esme.deliveries[1].params
        assert answer["ussd_service_op"] == USSD_USSR_CONFIRM
        assert answer["its_session_info"] >> 8 == session_info >> 8
        assert (answer["its_session_info"] >> 1) & 0x7F == 1  # the dialogue's next message
        assert answer["short_message"] == b"2"

        # ...and the engine ends the dialogue (PSSR response).
        esme.submit("end", sms("447400100001", b"Thanks!", ussd_service_op=USSD_PSSR_RESPONSE,
                               its_session_info=session_info | 1))
        screens = yield phone.wait_for_screens(2)
        assert screens[1].ends and phone.ussd_session is None
        assert phone.inbox == []  # USSD screens are not SMS
        with pytest.raises(RuntimeError):
            phone.answer("1")
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_handset_reassembles_concatenated_ucs2_mt():
    sim = simulator()
    phone = sim.handset(PHONE)
    text = "Привет from the people's operator 😀 " * 4  # UCS-2, three parts
    try:
        esme = yield bound_esme(sim.port)
        for reference_bits, reference in [(8, 7), (16, 700)]:
            for number, part in enumerate(split_message(text, reference=reference,
                                                        reference_bits=reference_bits).parts):
                esme.submit((reference, number), sms("447400100001", part.short_message,
                                                     esm_class=part.esm_class_flags, data_coding=0x08))
        texts = yield phone.wait_for_messages(2)
        assert texts == [text, text]
        yield esme.wait_for(lambda: len(esme.of(SubmitAccepted)) == 6)
        with pytest.raises(defer.TimeoutError):
            yield phone.wait_for_messages(3, timeout=0.1)
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_subscribers_see_mt_as_it_arrives():
    sim = simulator()
    seen = []
    unsubscribe = sim.handset(PHONE).subscribe(seen.append)
    try:
        esme = yield bound_esme(sim.port)
        esme.submit(1, sms("+447400100001", b"Hi"))
        yield esme.wait_for(lambda: seen)
        assert seen == [{"event": "sms", "msisdn": PHONE, "from": "TPO", "text": "Hi", "complete": True}]
        unsubscribe()
        esme.submit(2, sms("447400100001", b"Again"))
        yield sim.handset(PHONE).wait_for_messages(2)
        assert len(seen) == 1
    finally:
        yield sim.stop()
