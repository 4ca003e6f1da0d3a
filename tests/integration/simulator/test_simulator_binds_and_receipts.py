"""Binds, submit_sm answers, records and delivery receipts over real TCP on 127.0.0.1."""

import sys
from pathlib import Path

import pytest_twisted
from twisted.internet import reactor

sys.path.insert(0, str(Path(__file__).parent))

from simulator_esme import bound_esme, connect, pause, sms  # noqa: E402

from engine.smpp.codec import CommandStatus  # noqa: E402
from engine.smpp.receipts import MessageState, parse_receipt  # noqa: E402
from engine.smpp.session import BindFailed, BindMode, BindSucceeded, SubmitAccepted  # noqa: E402
from engine.smpp.simulator import SmscSimulator  # noqa: E402


def simulator(**options) -> SmscSimulator:
    sim = SmscSimulator(reactor, {"tpo": "secret", "other": "pw2"}, receipt_delay=0.05, **options)
    sim.listen(0)
    return sim


@pytest_twisted.inlineCallbacks
def test_bind_is_checked_against_the_accounts():
    sim = simulator()
    try:
        good = yield connect(sim.port)
        assert isinstance((yield good.bind("tpo", "secret")), BindSucceeded)
        assert good.first(BindSucceeded).peer_system_id == "TPOSIM"

        wrong_password = yield connect(sim.port)
        refused = yield wrong_password.bind("tpo", "nope")
        assert isinstance(refused, BindFailed) and refused.status == CommandStatus.ESME_RINVPASWD

        unknown = yield connect(sim.port)
        refused = yield unknown.bind("stranger", "secret")
        assert isinstance(refused, BindFailed) and refused.status == CommandStatus.ESME_RINVSYSID

        assert sim.bound_count() == 1
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_several_concurrent_binds_of_every_mode():
    sim = simulator()
    try:
        esmes = []
        for system_id, password, mode in [("tpo", "secret", BindMode.TRANSMITTER),
                                          ("tpo", "secret", BindMode.RECEIVER),
                                          ("other", "pw2", BindMode.TRANSCEIVER)]:
            esmes.append((yield bound_esme(sim.port, system_id, password, mode)))
        assert (yield sim.wait_for_binds(3)) == 3
        assert sim.bound_count("tpo") == 2
        assert sorted(b["mode"] for b in sim.binds()) == ["receiver", "transceiver", "transmitter"]
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_submit_is_answered_recorded_and_receipted_with_text_and_tlvs():
    sim = simulator()
    try:
        esme = yield bound_esme(sim.port)
        esme.submit("mt-1", sms("447400100001", b"Welcome to TPO", registered_delivery=1))
        accepted = yield esme.wait_for(lambda: esme.first(SubmitAccepted))
        assert accepted.ref == "mt-1" and accepted.message_id

        record = sim.received[0]
        assert (record.system_id, record.message_id, record.status) == ("tpo", accepted.message_id, 0)
        assert record.text == "Welcome to TPO" and record.destination == "447400100001"
        assert sim.submits_for("+447400100001") == [record]
        assert sim.handset("+447400100001").inbox == ["Welcome to TPO"]

        yield esme.wait_for(lambda: esme.deliveries)
        receipt = esme.deliveries[0].params
        assert receipt["esm_class"] == 0x04
        assert receipt["receipted_message_id"] == accepted.message_id
        assert receipt["message_state"] == MessageState.DELIVERED
        text = receipt["short_message"].decode()
        assert text.startswith(f"id:{accepted.message_id} sub:001 dlvrd:001 ") and "stat:DELIVRD" in text
        parsed = parse_receipt(receipt["short_message"])  # the text alone says the same
        assert parsed.message_id == accepted.message_id and parsed.final_state == "delivered"
        assert (receipt["source_addr"], receipt["destination_addr"]) == ("447400100001", "TPO")
        yield esme.wait_for(lambda: sim.deliveries_acked == 1)
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_receipt_goes_to_the_receiver_bind_and_follows_the_destination_outcome():
    sim = simulator(message_id_style="decimal")
    sim.set_outcome("+447400100002", "undeliverable", error_code=27)
    try:
        transmitter = yield bound_esme(sim.port, mode=BindMode.TRANSMITTER)
        receiver = yield bound_esme(sim.port, mode=BindMode.RECEIVER)
        transmitter.submit("a", sms("447400100002", b"Lost", registered_delivery=1))
        transmitter.submit("b", sms("447400100001", b"No receipt wanted"))
        yield transmitter.wait_for(lambda: len(transmitter.of(SubmitAccepted)) == 2)
        assert all(e.message_id.isdigit() for e in transmitter.of(SubmitAccepted))
        yield receiver.wait_for(lambda: receiver.deliveries)
        receipt = receiver.deliveries[0].params
        assert receipt["message_state"] == MessageState.UNDELIVERABLE
        assert "stat:UNDELIV err:027" in receipt["short_message"].decode()
        assert sim.handset("+447400100002").inbox == []  # never reached the phone
        assert transmitter.deliveries == []
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_receipts_can_be_turned_off_and_ids_are_unique():
    sim = simulator(receipts=False)
    try:
        esme = yield bound_esme(sim.port)
        for number in range(64):
            esme.submit(number, sms(text=b"x", registered_delivery=1))
        yield esme.wait_for(lambda: esme.answered() == 64)
        ids = [e.message_id for e in esme.of(SubmitAccepted)]
        assert len(set(ids)) == 64
        yield pause(0.15)
        assert esme.deliveries == [] and sim.receipts_sent == 0
    finally:
        yield sim.stop()

