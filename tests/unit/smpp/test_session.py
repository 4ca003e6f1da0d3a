"""Sans-I/O SMPP session, driven by plain bytes and a fake clock; plus pacing helpers."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.smpp.codec import CommandStatus, Pdu, decode, encode
from engine.smpp.pacing import ReconnectBackoff, TokenBucket
from engine.smpp.pdu_vectors import BY_NAME
from engine.smpp.session import (
    MAX_SEQUENCE,
    BindFailed,
    BindMode,
    BindRequested,
    BindSucceeded,
    GarbageReceived,
    GenericNackReceived,
    IllegalStateError,
    LateResponse,
    LinkBroken,
    MessageReceived,
    PeerUnbound,
    Role,
    Session,
    SessionConfig,
    State,
    SubmitAccepted,
    SubmitRejected,
    SubmitTimedOut,
    Unbound,
    UnknownSequenceError,
    WindowFullError,
)

S = CommandStatus
MESSAGE = {"source_addr": "TPO", "destination_addr": "447700900123", "short_message": b"hi"}


def sent(session: Session) -> list[Pdu]:
    """Decode everything the session queued for the peer."""
    data = session.data_to_send()
    pdus = []
    while data:
        (length,) = struct.unpack_from(">I", data)
        pdus.append(decode(data[:length]))
        data = data[length:]
    return pdus


def wire(command: str, sequence: int, status: int = 0, **params) -> bytes:
    return encode(Pdu(command, sequence, status, params))


def bound_esme(mode: BindMode = BindMode.TRANSCEIVER, now: float = 0.0, **config) -> Session:
    session = Session(Role.ESME, SessionConfig(**config))
    session.bind("tpo", "secret", mode, now)
    (bind,) = sent(session)
    events = session.receive_data(wire(bind.command + "_resp", bind.sequence, system_id="SMSC"), now)
    assert events == [BindSucceeded(mode, "SMSC")]
    return session


# --------------------------------------------------------------------------- bind

def test_bind_sends_the_golden_bind_transceiver_and_binds_on_its_response():
    session = Session(Role.ESME)
    session.bind("tpo", "secret", BindMode.TRANSCEIVER, now=0)
    assert session.data_to_send() == BY_NAME["bind_transceiver"][0]
    assert session.state is State.BINDING
    events = session.receive_data(BY_NAME["bind_transceiver_resp"][0], now=0.1)
    assert events == [BindSucceeded(BindMode.TRANSCEIVER, "SMSC")]
    assert session.state is State.BOUND_TRX


def test_wrong_password_is_bind_failed_with_rinvpaswd_and_closes():
    session = Session(Role.ESME)
    session.bind("tpo", "wrong", BindMode.TRANSCEIVER, now=0)
    session.data_to_send()
    events = session.receive_data(BY_NAME["bind_transceiver_resp RINVPASWD (no body)"][0], now=0.1)
    assert [(type(e), e.status) for e in events] == [(BindFailed, S.ESME_RINVPASWD)]
    assert session.state is State.CLOSED


def test_unanswered_bind_fails_after_the_response_timeout():
    session = Session(Role.ESME, SessionConfig(response_timeout=5))
    session.bind("tpo", "secret", BindMode.TRANSMITTER, now=0)
    assert session.tick(4.9) == []
    (event,) = session.tick(5)
    assert isinstance(event, BindFailed) and event.status is None
    assert session.state is State.CLOSED


def test_bind_twice_is_illegal():
    session = bound_esme()
    with pytest.raises(IllegalStateError, match="bind: session is bound_trx, must be open"):
        session.bind("tpo", "secret", BindMode.TRANSCEIVER, now=1)


# --------------------------------------------------------------------------- submit and window

def test_submit_before_bound_is_illegal():
    session = Session(Role.ESME)
    assert not session.can_submit()
    with pytest.raises(IllegalStateError, match="not bound for sending"):
        session.submit("row-1", MESSAGE, now=0)


def test_receiver_bind_cannot_submit():
    session = bound_esme(BindMode.RECEIVER)
    with pytest.raises(IllegalStateError):
        session.submit("row-1", MESSAGE, now=0)


def test_window_fills_and_frees_with_responses_matched_by_sequence():
    session = bound_esme(window=2)
    first = session.submit("row-1", MESSAGE, now=1)
    second = session.submit("row-2", MESSAGE, now=1)
    assert [p.command for p in sent(session)] == ["submit_sm", "submit_sm"]
    assert not session.can_submit()
    with pytest.raises(WindowFullError, match="window of 2"):
        session.submit("row-3", MESSAGE, now=1)
    # Responses may come out of order.
    events = session.receive_data(wire("submit_sm_resp", second, message_id="m2"), now=2)
    assert events == [SubmitAccepted("row-2", "m2", second)]
    assert session.can_submit() and session.outstanding_submits == 1
    events = session.receive_data(wire("submit_sm_resp", first, message_id="m1"), now=2)
    assert events == [SubmitAccepted("row-1", "m1", first)]
    assert session.outstanding_submits == 0


def test_throttled_and_generic_nack_are_rejections_carrying_the_ref():
    session = bound_esme()
    throttled = session.submit("row-1", MESSAGE, now=1)
    nacked = session.submit("row-2", MESSAGE, now=1)
    events = session.receive_data(wire("submit_sm_resp", throttled, S.ESME_RTHROTTLED)
                                  + wire("generic_nack", nacked, S.ESME_RINVCMDLEN), now=2)
    assert events == [SubmitRejected("row-1", S.ESME_RTHROTTLED, throttled),
                      SubmitRejected("row-2", S.ESME_RINVCMDLEN, nacked)]
    assert events[0].is_transient and not events[1].is_transient
    assert session.outstanding_submits == 0


def test_bad_submit_params_queue_nothing():
    session = bound_esme()
    with pytest.raises(ValueError, match="unknown parameter"):
        session.submit("row-1", {"bogus": 1}, now=1)
    assert session.data_to_send() == b"" and session.outstanding_submits == 0


def test_response_timeout_frees_the_slot_and_a_late_response_is_reported():
    session = bound_esme(window=1, response_timeout=10)
    sequence = session.submit("row-1", MESSAGE, now=0)
    assert session.next_deadline() == 10
    assert session.tick(9.9) == []
    assert session.tick(10) == [SubmitTimedOut("row-1", sequence)]
    assert session.can_submit()
    events = session.receive_data(wire("submit_sm_resp", sequence, message_id="m1"), now=11)
    assert events == [LateResponse("submit_sm_resp", sequence, 0)]


def test_sequence_numbers_wrap_from_0x7fffffff_to_1():
    session = Session(Role.ESME, initial_sequence=MAX_SEQUENCE - 1)
    session.bind("tpo", "secret", BindMode.TRANSCEIVER, now=0)
    session.receive_data(wire("bind_transceiver_resp", MAX_SEQUENCE - 1, system_id="S"), now=0)
    assert session.submit("a", MESSAGE, now=0) == MAX_SEQUENCE
    assert session.submit("b", MESSAGE, now=0) == 1
    assert [p.sequence for p in sent(session)] == [MAX_SEQUENCE - 1, MAX_SEQUENCE, 1]


def test_wrapped_sequence_skips_numbers_still_outstanding():
    session = Session(Role.ESME, initial_sequence=MAX_SEQUENCE)
    session.bind("tpo", "secret", BindMode.TRANSCEIVER, now=0)
    session.receive_data(wire("bind_transceiver_resp", MAX_SEQUENCE, system_id="S"), now=0)
    first = session.submit("a", MESSAGE, now=0)
    session._next_sequence = first  # as if 2**31 requests went by while "a" waited
    assert session.submit("b", MESSAGE, now=0) == first + 1


# --------------------------------------------------------------------------- enquire_link

def test_enquire_link_after_idle_interval_and_its_response_keeps_the_link():
    session = bound_esme(enquire_link_interval=30, response_timeout=10)
    assert session.tick(29.9) == [] and session.data_to_send() == b""
    assert session.next_deadline() == 30
    assert session.tick(30) == []
    (enquire,) = sent(session)
    assert enquire.command == "enquire_link"
    assert session.receive_data(wire("enquire_link_resp", enquire.sequence), now=31) == []
    assert session.tick(45) == [] and session.data_to_send() == b""
    assert session.is_bound


def test_enquire_link_when_peer_is_silent_even_while_we_keep_sending():
    session = bound_esme(enquire_link_interval=30, response_timeout=100, window=100)
    for second in range(0, 31, 5):
        session.submit(f"row-{second}", MESSAGE, now=second)
        session.tick(second)
    assert "enquire_link" in [p.command for p in sent(session)]


def test_dead_peer_breaks_the_link_reporting_outstanding_submits():
    session = bound_esme(enquire_link_interval=30, response_timeout=10, window=5)
    session.tick(30)
    assert [p.command for p in sent(session)] == ["enquire_link"]
    session.submit("row-1", MESSAGE, now=31)  # still inside its own timeout at 40
    (event,) = session.tick(40)
    assert event == LinkBroken("enquire_link not answered within 10 s", ("row-1",))
    assert session.state is State.CLOSED
    assert session.tick(100) == [] and session.next_deadline() is None


def test_peer_enquire_link_is_answered_with_its_sequence():
    session = bound_esme()
    assert session.receive_data(wire("enquire_link", 4242), now=1) == []
    assert sent(session) == [Pdu("enquire_link_resp", 4242, 0, {})]


# --------------------------------------------------------------------------- mobile originated

def test_deliver_sm_is_not_acknowledged_until_the_app_says_so():
    session = bound_esme()
    events = session.receive_data(BY_NAME["deliver_sm delivery receipt"][0], now=1)
    (received,) = events
    assert isinstance(received, MessageReceived) and received.sequence == 0x11
    assert session.data_to_send() == b""  # stored first, acknowledged after
    assert session.acknowledge(0x11) is True
    assert sent(session) == [Pdu("deliver_sm_resp", 0x11, 0, {"message_id": ""})]
    with pytest.raises(UnknownSequenceError, match="sequence 17"):
        session.acknowledge(0x11)


def test_ack_after_link_loss_sends_nothing_so_the_smsc_redelivers():
    session = bound_esme()
    session.receive_data(BY_NAME["deliver_sm USSD"][0], now=1)
    session.connection_lost("reset by peer", now=2)
    assert session.acknowledge(0x10) is False
    assert session.data_to_send() == b""


def test_ussd_deliver_sm_comes_through_with_its_tlvs():
    session = bound_esme()
    (event,) = session.receive_data(BY_NAME["deliver_sm USSD"][0], now=1)
    assert event.command == "deliver_sm"
    assert event.params["ussd_service_op"] == 1
    assert event.params["its_session_info"] == 0x1E00
    assert event.params["short_message"] == b"*123#"
    session.acknowledge(event.sequence, status=S.ESME_RX_T_APPN)
    assert sent(session)[0].status == S.ESME_RX_T_APPN


def test_deliver_sm_to_a_transmitter_bind_is_rinvbndsts():
    session = bound_esme(BindMode.TRANSMITTER)
    assert session.receive_data(BY_NAME["deliver_sm USSD"][0], now=1) == []
    (answer,) = sent(session)
    assert (answer.command, answer.sequence, answer.status) == ("deliver_sm_resp", 0x10, S.ESME_RINVBNDSTS)


def test_deliver_sm_before_bind_is_rinvbndsts():
    session = Session(Role.ESME)
    session.receive_data(BY_NAME["deliver_sm USSD"][0], now=0)
    assert sent(session)[0].status == S.ESME_RINVBNDSTS


@pytest.mark.parametrize("command", ["submit_sm", "query_sm", "cancel_sm", "replace_sm", "submit_multi"])
def test_valid_but_unsupported_requests_get_their_response_with_rinvcmdid(command):
    session = bound_esme()
    body = b"" if command in ("cancel_sm", "replace_sm", "submit_multi") else None
    data = wire(command, 77, body=body) if body is not None else wire(command, 77)
    session.receive_data(data, now=1)
    (answer,) = sent(session)
    assert (answer.command, answer.sequence, answer.status) == (command + "_resp", 77, S.ESME_RINVCMDID)


# --------------------------------------------------------------------------- garbage

def test_unknown_command_gets_generic_nack_and_the_session_goes_on():
    session = bound_esme()
    garbage = struct.pack(">IIII", 16, 0x00000099, 0, 555)
    events = session.receive_data(garbage + wire("enquire_link", 556), now=1)
    assert [type(e) for e in events] == [GarbageReceived]
    assert events[0].status == S.ESME_RINVCMDID
    assert sent(session) == [Pdu("generic_nack", 555, S.ESME_RINVCMDID, {}),
                             Pdu("enquire_link_resp", 556, 0, {})]
    assert session.is_bound


def test_malformed_body_gets_generic_nack():
    session = bound_esme()
    body = b"\x00\x01\x01" + b"1" * 40  # source_addr never terminated
    session.receive_data(struct.pack(">IIII", 16 + len(body), 0x05, 0, 9) + body, now=1)
    (nack,) = sent(session)
    assert (nack.command, nack.sequence) == ("generic_nack", 9)
    assert nack.status in (S.ESME_RINVSRCADR, S.ESME_RINVCMDLEN)


def test_insane_length_loses_framing_nacks_and_breaks_the_link():
    session = bound_esme()
    ref_sequence = session.submit("row-1", MESSAGE, now=1)
    session.data_to_send()
    events = session.receive_data(struct.pack(">IIII", 3, 0x15, 0, 8), now=2)
    assert events == [LinkBroken(events[0].reason, ("row-1",))]
    assert "framing lost" in events[0].reason
    assert sent(session) == [Pdu("generic_nack", 8, S.ESME_RINVCMDLEN, {})]
    assert session.state is State.CLOSED
    assert session.receive_data(wire("submit_sm_resp", ref_sequence, message_id="x"), now=3) == []


def test_pdus_split_byte_by_byte_are_reassembled():
    session = bound_esme()
    events = []
    for byte in BY_NAME["deliver_sm USSD"][0]:
        events += session.receive_data(bytes([byte]), now=1)
    assert [type(e) for e in events] == [MessageReceived]


def test_stray_generic_nack_is_reported():
    session = bound_esme()
    assert session.receive_data(wire("generic_nack", 0, S.ESME_RINVCMDLEN), now=1) == [
        GenericNackReceived(0, S.ESME_RINVCMDLEN)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=8))
def test_random_bytes_never_raise_out_of_a_bound_session(chunks):
    session = bound_esme()
    for index, chunk in enumerate(chunks):
        session.receive_data(chunk, now=index)
        session.tick(index)
    session.data_to_send()


def test_data_sm_is_a_message_acknowledged_with_data_sm_resp():
    session = bound_esme()
    (event,) = session.receive_data(wire("data_sm", 31, source_addr="1", message_payload=b"x"), now=1)
    assert (event.command, event.params["message_payload"]) == ("data_sm", b"x")
    session.acknowledge(31, message_id="d1")
    assert sent(session) == [Pdu("data_sm_resp", 31, 0, {"message_id": "d1"})]


# --------------------------------------------------------------------------- unbind

def test_peer_unbind_is_answered_and_reports_outstanding_submits():
    session = bound_esme()
    session.submit("row-1", MESSAGE, now=1)
    session.data_to_send()
    events = session.receive_data(wire("unbind", 99), now=2)
    assert events == [PeerUnbound(("row-1",))]
    assert sent(session) == [Pdu("unbind_resp", 99, 0, {})]
    assert session.state is State.CLOSED


def test_graceful_unbind_waits_for_unbind_resp():
    session = bound_esme()
    session.unbind(now=1)
    (unbind,) = sent(session)
    assert unbind.command == "unbind" and session.state is State.UNBINDING
    assert not session.can_submit()
    assert session.receive_data(wire("unbind_resp", unbind.sequence), now=2) == [Unbound(())]
    assert session.state is State.CLOSED


def test_graceful_unbind_times_out():
    session = bound_esme(response_timeout=10)
    session.unbind(now=1)
    assert session.tick(11) == [Unbound((), timed_out=True)]
    assert session.state is State.CLOSED


def test_unbind_when_not_bound_is_illegal():
    with pytest.raises(IllegalStateError, match="unbind: session is open"):
        Session(Role.ESME).unbind(now=0)


def test_connection_lost_reports_outstanding_refs():
    session = bound_esme()
    session.submit("row-1", MESSAGE, now=1)
    session.submit("row-2", MESSAGE, now=1)
    assert session.connection_lost("EOF", now=2) == [LinkBroken("EOF", ("row-1", "row-2"))]
    assert session.connection_lost("EOF", now=3) == []


# --------------------------------------------------------------------------- SMSC role

def pump(a: Session, b: Session, now: float) -> tuple[list, list]:
    """Move bytes both ways until quiet; returns (events at a, events at b)."""
    events_a, events_b = [], []
    while True:
        to_b, to_a = a.data_to_send(), b.data_to_send()
        if not to_a and not to_b:
            return events_a, events_b
        events_b += b.receive_data(to_b, now) if to_b else []
        events_a += a.receive_data(to_a, now) if to_a else []


def test_smsc_role_checks_credentials_and_rejects_a_wrong_password():
    esme, smsc = Session(Role.ESME), Session(Role.SMSC)
    esme.bind("tpo", "wrong", BindMode.TRANSCEIVER, now=0)
    _, at_smsc = pump(esme, smsc, 0)
    (request,) = at_smsc
    assert isinstance(request, BindRequested) and request.password == "wrong"
    assert "wrong" not in repr(request)  # secrets never reach logs
    smsc.reject_bind(S.ESME_RINVPASWD, now=0)
    at_esme, _ = pump(esme, smsc, 0)
    assert [(type(e), e.status) for e in at_esme] == [(BindFailed, S.ESME_RINVPASWD)]
    assert smsc.state is State.OPEN


def test_esme_and_smsc_sessions_talk_to_each_other():
    esme, smsc = Session(Role.ESME), Session(Role.SMSC)
    esme.bind("tpo", "secret", BindMode.TRANSCEIVER, now=0)
    pump(esme, smsc, 0)
    smsc.accept_bind(now=0, system_id="SIM")
    at_esme, _ = pump(esme, smsc, 0)
    assert at_esme == [BindSucceeded(BindMode.TRANSCEIVER, "SIM")]

    esme.submit("row-1", MESSAGE, now=1)
    _, at_smsc = pump(esme, smsc, 1)
    (mt,) = at_smsc
    assert mt.command == "submit_sm" and mt.params["short_message"] == b"hi"
    smsc.acknowledge(mt.sequence, message_id="sim-1")
    at_esme, _ = pump(esme, smsc, 1)
    assert at_esme == [SubmitAccepted("row-1", "sim-1", mt.sequence)]

    smsc.submit("mo-1", {"source_addr": "447700900123", "short_message": b"FOLLOW ann"}, now=2)
    at_esme, _ = pump(esme, smsc, 2)
    (mo,) = at_esme
    assert mo.command == "deliver_sm"
    esme.acknowledge(mo.sequence)
    _, at_smsc = pump(esme, smsc, 2)
    assert at_smsc == [SubmitAccepted("mo-1", "", mo.sequence)]

    esme.unbind(now=3)
    at_esme, at_smsc = pump(esme, smsc, 3)
    assert at_smsc == [PeerUnbound(())] and at_esme == [Unbound(())]


def test_smsc_role_answers_a_second_bind_with_ralybnd():
    esme, smsc = Session(Role.ESME), Session(Role.SMSC)
    esme.bind("tpo", "secret", BindMode.TRANSCEIVER, now=0)
    pump(esme, smsc, 0)
    smsc.accept_bind(now=0)
    pump(esme, smsc, 0)
    smsc.receive_data(wire("bind_transmitter", 50, system_id="x"), now=1)
    (answer,) = sent(smsc)
    assert (answer.command, answer.status) == ("bind_transmitter_resp", S.ESME_RALYBND)


def test_esme_cannot_accept_binds():
    with pytest.raises(IllegalStateError, match="only the smsc side"):
        Session(Role.ESME).accept_bind(now=0)


# --------------------------------------------------------------------------- pacing

def test_backoff_grows_exponentially_with_jitter_between_min_and_max():
    backoff = ReconnectBackoff(1, 60, random=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    low = ReconnectBackoff(1, 60, random=lambda: 0.0)
    assert [low.next_delay() for _ in range(4)] == [1, 1, 2, 4]
    backoff.reset()
    assert backoff.next_delay() == 1


def test_backoff_rejects_a_bad_range():
    with pytest.raises(ValueError, match="min_seconds <= max_seconds"):
        ReconnectBackoff(10, 1)


def test_token_bucket_allows_a_burst_then_the_rate():
    bucket = TokenBucket(rate_per_second=100, burst=10, now=0)
    assert sum(bucket.try_take(0) for _ in range(20)) == 10
    assert bucket.seconds_until_available(0) == pytest.approx(0.01)
    assert not bucket.try_take(0.005)
    assert bucket.try_take(0.0101)
    assert bucket.available(100) == 10  # never more than the burst


def test_token_bucket_ignores_time_going_backwards():
    bucket = TokenBucket(rate_per_second=1, burst=1, now=10)
    assert bucket.try_take(10)
    assert not bucket.try_take(5)
    assert bucket.try_take(11)
