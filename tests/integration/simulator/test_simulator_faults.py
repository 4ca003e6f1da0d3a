"""Fault injection: throttling, permanent errors, latency, missing and wrong responses, drops, garbage, restart."""

import sys
from pathlib import Path

import pytest_twisted
from twisted.internet import reactor

sys.path.insert(0, str(Path(__file__).parent))

from simulator_esme import bound_esme, pause, sms  # noqa: E402

from engine.smpp.codec import CommandStatus  # noqa: E402
from engine.smpp.session import (  # noqa: E402
    GarbageReceived,
    LateResponse,
    LinkBroken,
    SubmitAccepted,
    SubmitRejected,
    SubmitTimedOut,
)
from engine.smpp.simulator import SmscSimulator  # noqa: E402


def simulator(**options) -> SmscSimulator:
    sim = SmscSimulator(reactor, {"tpo": "secret"}, receipts=False, **options)
    sim.listen(0)
    return sim


def statuses(esme) -> list:
    return [e.status for e in esme.of(SubmitRejected)]


@pytest_twisted.inlineCallbacks
def test_throttling_storm_then_ratio_and_queue_full():
    sim = simulator()
    try:
        esme = yield bound_esme(sim.port)
        sim.faults.throttle(next_n=5)
        for number in range(8):
            esme.submit(number, sms())
        yield esme.wait_for(lambda: esme.answered() == 8)
        assert statuses(esme) == [CommandStatus.ESME_RTHROTTLED] * 5
        assert [e.ref for e in esme.of(SubmitAccepted)] == [5, 6, 7]
        assert all(e.is_transient for e in esme.of(SubmitRejected))

        sim.faults.throttle(ratio=0.25, status=CommandStatus.ESME_RMSGQFUL)
        for number in range(100, 108):
            esme.submit(number, sms())
        yield esme.wait_for(lambda: esme.answered() == 16)
        refused = [e.ref for e in esme.of(SubmitRejected) if e.status == CommandStatus.ESME_RMSGQFUL]
        assert refused == [103, 107]  # exactly every fourth
        assert sim.submits_refused == 7
        assert [r.status for r in sim.received][:5] == [0x58] * 5  # refused submits are recorded too
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_permanent_error_for_one_destination():
    sim = simulator()
    sim.faults.reject_destination("+447400100009")
    try:
        esme = yield bound_esme(sim.port)
        esme.submit("bad", sms("447400100009"))
        esme.submit("good", sms("447400100001"))
        yield esme.wait_for(lambda: esme.answered() == 2)
        rejected = esme.first(SubmitRejected)
        assert (rejected.ref, rejected.status, rejected.is_transient) == ("bad", 0x0B, False)
        assert esme.first(SubmitAccepted).ref == "good"
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_latency_delays_responses_but_a_window_overlaps():
    sim = simulator(latency=0.2)
    try:
        esme = yield bound_esme(sim.port)
        started = reactor.seconds()
        for number in range(64):
            esme.submit(number, sms())
        yield pause(0.1)
        assert esme.answered() == 0
        yield esme.wait_for(lambda: esme.answered() == 64, timeout=3)
        elapsed = reactor.seconds() - started
        assert 0.19 <= elapsed < 0.6, elapsed  # 64 x 200 ms overlapped, not 12.8 s in a row
        sim.faults.set_latency(0)
        esme.submit("fast", sms())
        yield esme.wait_for(lambda: esme.answered() == 65, timeout=0.15)
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_missing_responses_time_out_at_the_esme():
    sim = simulator()
    try:
        esme = yield bound_esme(sim.port, response_timeout=0.3)
        sim.faults.drop_responses(2)
        for number in range(4):
            esme.submit(number, sms())
        yield esme.wait_for(lambda: esme.answered() == 4, timeout=3)
        assert [e.ref for e in esme.of(SubmitTimedOut)] == [0, 1]
        assert [e.ref for e in esme.of(SubmitAccepted)] == [2, 3]
        assert len(sim.received) == 4 and sim.responses_withheld == 2
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_wrong_sequence_number_on_a_response():
    sim = simulator()
    try:
        esme = yield bound_esme(sim.port, response_timeout=0.3)
        sim.faults.wrong_sequence(1)
        sequence = esme.submit("odd", sms())
        yield esme.wait_for(lambda: esme.of(SubmitTimedOut), timeout=3)
        late = esme.first(LateResponse)
        assert late.command == "submit_sm_resp" and late.sequence != sequence
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_connection_dropped_mid_window_reports_outstanding_submits():
    sim = simulator()
    try:
        esme = yield bound_esme(sim.port)
        sim.faults.disconnect_after(4)
        for number in range(10):
            esme.submit(number, sms())
        yield esme.lost
        broken = esme.first(LinkBroken)
        assert [e.ref for e in esme.of(SubmitAccepted)] == [0, 1, 2]
        assert set(broken.outstanding_refs) == set(range(3, 10))

        again = yield bound_esme(sim.port)
        assert sim.faults.drop_connections() == 1
        yield again.lost
        assert again.first(LinkBroken) is not None
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_malformed_pdus_sent_to_the_esme():
    sim = simulator()
    try:
        esme = yield bound_esme(sim.port)
        assert sim.faults.send_malformed("unknown_command") == 1
        yield esme.wait_for(lambda: esme.of(GarbageReceived))
        yield esme.wait_for(lambda: sim.generic_nacks_received == 1)  # the ESME answered generic_nack
        sim.faults.send_malformed("truncated_deliver_sm")
        sim.faults.send_malformed("bad_tlv")
        yield esme.wait_for(lambda: len(esme.of(GarbageReceived)) == 3)
        assert not esme.closed  # a bad PDU is not a reason to drop the link
        esme.submit("still-fine", sms())
        yield esme.wait_for(lambda: esme.of(SubmitAccepted))

        sim.faults.send_malformed("bad_length")
        yield esme.lost
        assert "framing" in esme.first(LinkBroken).reason
    finally:
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_restart_drops_binds_and_listens_again_keeping_or_forgetting_state():
    sim = simulator()
    port = sim.port
    try:
        esme = yield bound_esme(sim.port)
        esme.submit(1, sms())
        yield esme.wait_for(lambda: esme.answered() == 1)
        yield sim.restart(keep_state=True)
        yield esme.lost
        assert sim.port == port and sim.bound_count() == 0 and len(sim.received) == 1

        esme = yield bound_esme(port)
        esme.submit(2, sms())
        yield esme.wait_for(lambda: esme.answered() == 1)
        first_id = sim.received[0].message_id
        yield sim.restart(keep_state=False)
        yield esme.lost
        assert sim.received == []
        esme = yield bound_esme(port)
        esme.submit(3, sms())
        yield esme.wait_for(lambda: esme.answered() == 1)
        assert sim.received[0].message_id != first_id  # ids stay unique across restarts
    finally:
        yield sim.stop()
