"""The JSON-lines control port, driven by the blocking client from a thread (as another process would)."""

import json
import socket
import sys
import time
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.threads import deferToThread

sys.path.insert(0, str(Path(__file__).parent))

from simulator_esme import bound_esme, sms  # noqa: E402

from engine.smpp.simulator import SmscSimulator  # noqa: E402
from engine.smpp.simulator_control import (  # noqa: E402
    SimulatorControlClient,
    SimulatorControlError,
    listen_control,
)

PHONE = "+447400100001"


@pytest_twisted.inlineCallbacks
def control_session(blocking):
    """Run `blocking(client, sim, esme)` in a thread against a live simulator and bound ESME."""
    sim = SmscSimulator(reactor, {"tpo": "secret"}, receipts=False)
    sim.listen(0)
    control = listen_control(sim, 0)
    try:
        esme = yield bound_esme(sim.port)

        def run():
            with SimulatorControlClient("127.0.0.1", control.getHost().port, timeout=5) as client:
                return blocking(client, sim, esme)

        result = yield deferToThread(run)
        return result
    finally:
        yield control.stopListening()
        yield sim.stop()


@pytest_twisted.inlineCallbacks
def test_mo_dial_answer_and_inbox_through_the_control_port():
    def scenario(client, sim, esme):
        assert client.ping()
        outcome = client.mo(PHONE, "JOIN", wait=True)["outcome"]
        assert outcome == {"accepted": True, "status": 0, "attempts": 1, "parts": 1}
        assert client.mo(PHONE, "HELP") == {"ok": True, "queued": True, "id": 3}  # ids count requests
        assert client.dial(PHONE, "*767#", wait=True)["outcome"]["accepted"]
        with pytest.raises(SimulatorControlError, match="missing text"):
            client.request("mo", **{"from": PHONE})
        with pytest.raises(SimulatorControlError, match="unknown cmd"):
            client.request("fly")
        reactor.callFromThread(esme.submit, "mt", sms("447400100001", b"Welcome"))
        assert client.wait_for_messages(PHONE, 1, timeout=5) == ["Welcome"]
        assert client.inbox(PHONE) == ["Welcome"]
        return [e.params["short_message"] for e in esme.deliveries]

    delivered = yield control_session(scenario)
    assert delivered[0] == b"JOIN" and delivered[2] == b"*767#"


@pytest_twisted.inlineCallbacks
def test_subscribe_streams_mt_and_ussd_screens():
    def scenario(client, sim, esme):
        client.subscribe(PHONE)
        reactor.callFromThread(esme.submit, 1, sms("447400100001", b"First"))
        reactor.callFromThread(esme.submit, 2, sms("447400100001", b"Menu", ussd_service_op=2,
                                                   its_session_info=0x0100))
        events = [client.next_event(timeout=5), client.next_event(timeout=5)]
        stats = client.stats()  # replies still work between events
        assert stats["submits_received"] == 2 and stats["binds"] == 1
        return events

    events = yield control_session(scenario)
    assert events[0] == {"event": "sms", "msisdn": PHONE, "from": "TPO", "text": "First", "complete": True}
    assert events[1] == {"event": "ussd", "msisdn": PHONE, "text": "Menu", "ends": False, "session": 1}


@pytest_twisted.inlineCallbacks
def test_faults_received_and_restart_through_the_control_port():
    def scenario(client, sim, esme):
        faults = client.fault("throttle", next_n=2, status="0x14")["faults"]
        assert faults["throttle_next"] == 2 and faults["throttle_status"] == 0x14
        for number in range(3):
            reactor.callFromThread(esme.submit, number, sms())
        received = []
        for _ in range(100):  # the ESME submits on the reactor thread; poll until all three arrived
            received = client.received(limit=10)
            if len(received) == 3:
                break
            time.sleep(0.02)
        assert [r["status"] for r in received] == [0x14, 0x14, 0]
        assert received[2]["text"] == "Hello" and received[2]["destination"] == "447400100001"
        client.fault("outcome", msisdn=PHONE, state="expired")
        client.fault("clear")
        with pytest.raises(SimulatorControlError, match="unknown fault kind"):
            client.fault("meteor")
        assert client.fault("malformed", pdu="unknown_command")["sent_to"] == 1
        port = client.restart(keep_state=True)["port"]
        assert port == sim.port
        return client.stats()

    stats = yield control_session(scenario)
    assert stats["restarts"] == 1 and stats["records"] == 3


@pytest_twisted.inlineCallbacks
def test_bad_json_gets_an_error_line():
    sim = SmscSimulator(reactor, {"tpo": "secret"})
    control = listen_control(sim, 0)

    def talk():
        with socket.create_connection(("127.0.0.1", control.getHost().port), timeout=5) as raw:
            raw.sendall(b"this is not json\n[1, 2]\n")
            reader = raw.makefile("rb")
            return [json.loads(reader.readline()) for _ in range(2)]

    try:
        replies = yield deferToThread(talk)
        assert [r["ok"] for r in replies] == [False, False]
        assert "not a JSON object" in replies[0]["error"]
    finally:
        yield control.stopListening()
        yield sim.stop()

