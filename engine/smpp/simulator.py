"""An SMPP 3.4 SMSC simulator: the host network as tests, the demo, `tpo phone` and benchmarks see it.

One `SmscSimulator` listens on TCP and plays the SMSC for any number of concurrent binds. Every
connection is driven by the pure `Session(Role.SMSC)`, so the simulator speaks exactly the protocol
the engine's own session is tested against; this module only adds what a network does around it:

* **Accounts**: binds are checked against `accounts` (system_id -> password); an unknown system_id
  is refused with ESME_RINVSYSID, a wrong password with ESME_RINVPASWD.
* **MT**: every submit_sm (or data_sm) is answered with a fresh message id (hex or decimal), recorded
  (`received`), shown to the destination's virtual handset, and, when the submit asks for one and
  receipts are on, followed by a delivery receipt (Appendix B text *and* the receipted_message_id /
  message_state TLVs) after `receipt_delay` seconds. The outcome is per destination
  (`set_outcome`): delivered unless told otherwise.
* **Virtual handsets** (`handset(msisdn)`): send MO texts (long ones concatenated by UDH with 8- or
  16-bit references, or by SAR TLVs), dial and answer USSD, and collect MT (reassembled, decoded)
  and USSD screens.
* **Deliveries** (MO, receipts, USSD) go out as deliver_sm to a bind of the right system_id that can
  receive (receiver or transceiver). With none bound they wait in a queue until one binds. A
  deliver_sm whose deliver_sm_resp does not come within `redelivery_delay` is sent again, as real
  SMSCs do, so the engine's duplicate detection can be exercised; a transient error (throttled,
  queue full, system error, the ESME's temporary application error) is retried after the same
  delay; any other error is final.
* **Faults** (`faults`): throttling, permanent errors per destination, latency, missing responses,
  wrong response sequence numbers, dropped connections, malformed PDUs; `restart()` drops every
  bind and listens again on the same port, keeping or forgetting what it knew.

Design choices
--------------
* The hot path (submit_sm in, submit_sm_resp out) is what the >= 10,000 submit_sm/s benchmark
  measures, so it stays lean: all PDUs of one TCP read are handled by one `receive_data` call and
  answered with one write; a record is one tuple appended to a (bounded, if asked) deque; counters
  are plain ints; nothing is logged per message; fault checks are skipped behind one boolean while
  no fault is armed; a handset is only looked up by dictionary.
* Latency is simulated with `callLater`, never with sleep, and all submits read in one chunk share
  one delayed call, so a window of 64 submits overlaps its latencies like a real SMSC.
* Time is `reactor.seconds()`; it is fed to the sessions and kept in the records, so tests on a
  `MemoryReactorClock` work too.
* Deliveries are at-least-once: a deliver_sm outstanding when its link breaks is queued again (the
  engine may have stored it already; that is what a real SMSC does too).
* USSD over SMPP: a dial is a deliver_sm from the handset to the simulator's short code with the
  dialled string (`*767#`) as text, ussd_service_op 1 (PSSR indication) and its_session_info; an
  answer is ussd_service_op 18 (USSR confirm) in the same session. The engine's submit_sm with
  ussd_service_op 2 (USSR request) shows a screen that waits for an answer, 17 (PSSR response) or
  the end-of-session bit shows the final screen and closes the dialogue.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, NamedTuple

from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Factory, Protocol

from engine.smpp.codec import CommandStatus, Pdu, encode, response_to
from engine.smpp.encoding import UnsupportedDataCoding, decode_short_message, encode_text
from engine.smpp.reassembly import IncomingPart, MalformedUdh, Reassembler, strip_udh
from engine.smpp.receipts import (
    ESM_CLASS_SMSC_DELIVERY_RECEIPT,
    MessageState,
    format_receipt_text,
    receipt_tlvs,
)
from engine.smpp.segmentation import ESM_CLASS_UDHI, SegmentationMode, split_message
from engine.smpp.session import (
    BindRequested,
    GarbageReceived,
    GenericNackReceived,
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
)

__all__ = [
    "SmscSimulator",
    "Handset",
    "Faults",
    "ReceivedSubmit",
    "DeliveryOutcome",
    "InboxMessage",
    "UssdScreen",
    "USSD_PSSR_INDICATION",
    "USSD_USSR_REQUEST",
    "USSD_USSN_REQUEST",
    "USSD_PSSR_RESPONSE",
    "USSD_USSR_CONFIRM",
    "MALFORMED_KINDS",
]

log = logging.getLogger(__name__)
_S = CommandStatus

# ussd_service_op values (SMPP 3.4 section 5.3.2.44).
USSD_PSSR_INDICATION = 1   # handset dials *NNN#
USSD_USSR_REQUEST = 2      # network shows a screen and waits for an answer
USSD_USSN_REQUEST = 3      # network notification
USSD_PSSR_RESPONSE = 17    # network's final screen
USSD_USSR_CONFIRM = 18     # handset's answer to a USSR request
_USSD_ENDING_OPS = frozenset({USSD_PSSR_RESPONSE})

# Refusals of a deliver_sm that a real SMSC retries; ESME_RX_T_APPN is the ESME saying so itself.
_TRANSIENT = frozenset({_S.ESME_RTHROTTLED, _S.ESME_RMSGQFUL, _S.ESME_RSYSERR, _S.ESME_RX_T_APPN})
_RECEIVING_STATES = frozenset({State.BOUND_RX, State.BOUND_TRX})
_MESSAGE_STATES = {state.name.lower(): state for state in MessageState}


def _its_session_info(session_number: int, dialogue_sequence: int, end: bool = False) -> int:
    """High octet: session number; low octet: sequence in bits 7-1, end-of-session in bit 0."""
    return ((session_number & 0xFF) << 8) | ((dialogue_sequence & 0x7F) << 1) | int(end)


def _digits(msisdn: str) -> str:
    """The key a handset is known by: the number without '+', spaces or dashes.

    SMPP carries international numbers without '+' (TON 1), the engine and tests write E.164
    with it; both must find the same phone.
    """
    return msisdn.strip().lstrip("+").replace(" ", "").replace("-", "")


# --------------------------------------------------------------------------- values


class ReceivedSubmit(NamedTuple):
    """One submit_sm (or data_sm) as the simulator got it. `status` 0 means accepted."""

    system_id: str
    received_at: float
    message_id: str | None
    status: int
    params: Mapping[str, Any]
    command: str = "submit_sm"

    @property
    def destination(self) -> str:
        return self.params.get("destination_addr", "")

    @property
    def source(self) -> str:
        return self.params.get("source_addr", "")

    @property
    def text(self) -> str:
        """The text as a handset would read it (UDH stripped, decoded); a marker if it cannot be."""
        params = self.params
        payload = params.get("short_message") or params.get("message_payload") or b""
        try:
            body = strip_udh(payload, params.get("esm_class", 0))
            return decode_short_message(body, params.get("data_coding", 0))
        except (MalformedUdh, UnsupportedDataCoding) as error:
            return f"[undecodable: {error}]"

    def as_json(self) -> dict:
        params = self.params
        return {
            "system_id": self.system_id, "received_at": self.received_at, "message_id": self.message_id,
            "status": self.status, "command": self.command, "source": self.source,
            "destination": self.destination, "text": self.text,
            "esm_class": params.get("esm_class", 0), "data_coding": params.get("data_coding", 0),
            "registered_delivery": params.get("registered_delivery", 0),
            "ussd_service_op": params.get("ussd_service_op"),
            "its_session_info": params.get("its_session_info"),
        }


@dataclass(frozen=True)
class DeliveryOutcome:
    """How a deliver_sm (or all parts of a concatenated MO) fared with the engine.

    `accepted` when every part got deliver_sm_resp status 0; otherwise `status` is the first
    refusal, or None when the simulator gave up after `attempts` sends without any answer.
    """

    accepted: bool
    status: int | None
    attempts: int
    parts: int = 1

    def as_json(self) -> dict:
        return {"accepted": self.accepted, "status": self.status, "attempts": self.attempts,
                "parts": self.parts}


class InboxMessage(NamedTuple):
    """One MT as the handset shows it; `complete` is False for parts shown after a timeout."""

    text: str
    sender: str
    received_at: float
    complete: bool = True


@dataclass(frozen=True)
class UssdScreen:
    """A USSD screen the network showed; `ends` when the dialogue is over (no answer expected)."""

    text: str
    ends: bool
    session_number: int | None
    received_at: float


# --------------------------------------------------------------------------- deliveries


class _Delivery:
    """One deliver_sm the simulator owes the engine, across retries and reconnects."""

    __slots__ = ("system_id", "params", "deferred", "attempts", "kind")

    def __init__(self, system_id: str, params: dict, kind: str) -> None:
        self.system_id = system_id
        self.params = params
        self.kind = kind
        self.attempts = 0
        self.deferred: defer.Deferred = defer.Deferred()

    def finish(self, accepted: bool, status: int | None) -> None:
        if not self.deferred.called:
            self.deferred.callback(DeliveryOutcome(accepted, status, self.attempts))


# --------------------------------------------------------------------------- faults

MALFORMED_KINDS = ("unknown_command", "bad_length", "truncated_deliver_sm", "bad_tlv")


class Faults:
    """Misbehaviour on request. Each setter arms a fault; `clear()` disarms all of them.

    Faults that count (`next_n`) disarm themselves when used up. `ratio` throttling is
    deterministic (an error budget, not a random draw), so a test of ratio 0.25 sees exactly
    every fourth submit refused.
    """

    def __init__(self, simulator: "SmscSimulator") -> None:
        self._simulator = simulator
        self.throttle_next = 0
        self.throttle_ratio = 0.0
        self.throttle_status = int(_S.ESME_RTHROTTLED)
        self._throttle_budget = 0.0
        self.destination_errors: dict[str, int] = {}
        self.missing_responses = 0
        self.wrong_sequences = 0
        self.disconnect_after_submits: int | None = None
        self.active = False

    # --- arming

    def throttle(self, next_n: int | None = None, ratio: float | None = None,
                 status: int = _S.ESME_RTHROTTLED) -> None:
        """Refuse the next `next_n` submits, and/or a `ratio` of all submits, with `status`.

        Use ESME_RTHROTTLED (0x58, the default) or ESME_RMSGQFUL (0x14); any status works.
        `ratio=0` (or `next_n=0`) stops that part.
        """
        if next_n is None and ratio is None:
            raise ValueError("throttle needs next_n, ratio or both")
        if ratio is not None and not 0 <= ratio <= 1:
            raise ValueError(f"throttle ratio must be within 0..1, got {ratio}")
        if next_n is not None:
            self.throttle_next = int(next_n)
        if ratio is not None:
            self.throttle_ratio = float(ratio)
            self._throttle_budget = 0.0
        self.throttle_status = int(status)
        self._refresh()

    def reject_destination(self, msisdn: str, status: int = _S.ESME_RINVDSTADR) -> None:
        """Answer every submit to `msisdn` with `status` (a permanent error, e.g. 0x0B)."""
        self.destination_errors[_digits(msisdn)] = int(status)
        self._refresh()

    def accept_destination(self, msisdn: str) -> None:
        self.destination_errors.pop(_digits(msisdn), None)
        self._refresh()

    def set_latency(self, milliseconds: float) -> None:
        """Delay every submit_sm_resp by this much (0 answers within the same read)."""
        if milliseconds < 0:
            raise ValueError("latency cannot be negative")
        self._simulator.latency = milliseconds / 1000.0

    def drop_responses(self, next_n: int) -> None:
        """Never answer the next `next_n` submits (they are still recorded and delivered)."""
        self.missing_responses = int(next_n)
        self._refresh()

    def wrong_sequence(self, next_n: int) -> None:
        """Answer the next `next_n` submits with a sequence number the ESME never used."""
        self.wrong_sequences = int(next_n)
        self._refresh()

    def disconnect_after(self, submits: int) -> None:
        """Close the link that carries the `submits`-th submit from now, before answering it."""
        if submits < 1:
            raise ValueError("disconnect_after needs at least 1 submit")
        self.disconnect_after_submits = int(submits)
        self._refresh()

    def drop_connections(self, system_id: str | None = None) -> int:
        """Drop every link now (or those of `system_id`); returns how many were dropped."""
        return self._simulator._drop_connections(system_id)

    def send_malformed(self, kind: str = "unknown_command", system_id: str | None = None,
                       raw: bytes | None = None) -> int:
        """Write a malformed PDU to every bound link (or those of `system_id`).

        kinds: `unknown_command` (well framed, command_id 0x00000999: the ESME should answer
        generic_nack and stay bound), `truncated_deliver_sm` (a deliver_sm whose body ends
        early), `bad_tlv` (a deliver_sm whose TLV overruns it), `bad_length` (command_length 5:
        framing is lost and the ESME should drop the link). `raw` sends the given bytes instead.
        Returns how many links got it.
        """
        data = raw if raw is not None else _malformed_pdu(kind)
        return self._simulator._write_to_binds(data, system_id)

    def clear(self) -> None:
        self.throttle_next = 0
        self.throttle_ratio = 0.0
        self._throttle_budget = 0.0
        self.destination_errors.clear()
        self.missing_responses = 0
        self.wrong_sequences = 0
        self.disconnect_after_submits = None
        self._refresh()

    def snapshot(self) -> dict:
        return {
            "throttle_next": self.throttle_next, "throttle_ratio": self.throttle_ratio,
            "throttle_status": self.throttle_status,
            "destination_errors": {"+" + k: v for k, v in self.destination_errors.items()},
            "missing_responses": self.missing_responses, "wrong_sequences": self.wrong_sequences,
            "disconnect_after_submits": self.disconnect_after_submits,
            "latency_ms": self._simulator.latency * 1000.0,
        }

    # --- use (the simulator calls these per submit only while `active`)

    def _refresh(self) -> None:
        self.active = bool(self.throttle_next or self.throttle_ratio or self.destination_errors
                           or self.missing_responses or self.wrong_sequences
                           or self.disconnect_after_submits is not None)

    def _should_disconnect(self) -> bool:
        if self.disconnect_after_submits is None:
            return False
        self.disconnect_after_submits -= 1
        if self.disconnect_after_submits > 0:
            return False
        self.disconnect_after_submits = None
        self._refresh()
        return True

    def _refusal(self, params: Mapping[str, Any]) -> int:
        if self.throttle_next > 0:
            self.throttle_next -= 1
            self._refresh()
            return self.throttle_status
        if self.throttle_ratio:
            self._throttle_budget += self.throttle_ratio
            if self._throttle_budget >= 1.0 - 1e-9:
                self._throttle_budget -= 1.0
                return self.throttle_status
        if self.destination_errors:
            status = self.destination_errors.get(_digits(params.get("destination_addr", "")))
            if status:
                return status
        return 0

    def _take_missing(self) -> bool:
        if self.missing_responses > 0:
            self.missing_responses -= 1
            self._refresh()
            return True
        return False

    def _take_wrong_sequence(self) -> bool:
        if self.wrong_sequences > 0:
            self.wrong_sequences -= 1
            self._refresh()
            return True
        return False


def _malformed_pdu(kind: str) -> bytes:
    if kind == "unknown_command":
        return bytes.fromhex("00000010" "00000999" "00000000" "7ffffff0")
    if kind == "bad_length":
        return bytes.fromhex("00000005" "00000004" "00000000" "7ffffff1")
    if kind == "truncated_deliver_sm":
        body = b"\x00\x01\x01447400100001"  # service_type, ton, npi, then source_addr without NUL
        return (16 + len(body)).to_bytes(4, "big") + bytes.fromhex("00000005" "00000000" "7ffffff2") + body
    if kind == "bad_tlv":
        wire = encode(Pdu("deliver_sm", 0x7FFFFFF3, 0, {"source_addr": "447400100001",
                                                        "destination_addr": "767",
                                                        "short_message": b"x"}))
        tlv = bytes.fromhex("0424" "0040") + b"short"  # message_payload claims 64 octets, has 5
        return (len(wire) + len(tlv)).to_bytes(4, "big") + wire[4:] + tlv
    raise ValueError(f"unknown malformed PDU kind {kind!r}; choose from {', '.join(MALFORMED_KINDS)}")


# --------------------------------------------------------------------------- handsets


class Handset:
    """A virtual phone with number `msisdn` (E.164) on the simulated network."""

    def __init__(self, simulator: "SmscSimulator", msisdn: str, system_id: str | None = None) -> None:
        self.simulator = simulator
        self.msisdn = "+" + _digits(msisdn)
        self.system_id = system_id
        # InboxMessage, or (payload, data_coding, sender, at) for a plain SMS not read yet: the hot
        # path of a benchmark with auto handsets must not pay for decoding nobody looks at.
        self._mt: list = []
        self.screens: list[UssdScreen] = []
        self.ussd_session: int | None = None
        self._ussd_sequence = 0
        self._concat_reference = itertools.count(1)
        self._reassembler: Reassembler | None = None  # made on the first concatenated MT
        self._message_waiters: list[tuple[int, defer.Deferred, Any]] = []
        self._screen_waiters: list[tuple[int, defer.Deferred, Any]] = []
        self._subscribers: list[Callable[[dict], None]] = []

    def __repr__(self) -> str:
        return f"Handset({self.msisdn!r}, inbox={len(self._mt)}, screens={len(self.screens)})"

    @property
    def messages(self) -> list[InboxMessage]:
        """Every MT received, oldest first (concatenated ones reassembled)."""
        mt = self._mt
        for index, item in enumerate(mt):
            if type(item) is tuple:
                mt[index] = InboxMessage(_decoded(item[0], item[1]), item[2], item[3])
        return list(mt)

    @property
    def inbox(self) -> list[str]:
        """The texts of `messages`."""
        return [message.text for message in self.messages]

    # ----------------------------------------------------------------- MO

    def send_mo(self, text: str, to: str | None = None, *, mode: SegmentationMode = "udh",
                reference_bits: int = 8, prefer: str = "gsm") -> defer.Deferred:
        """Send `text` to the short code (or `to`); a Deferred fires with a `DeliveryOutcome`.

        Texts longer than one SMS go as a concatenated MO: UDH parts (`reference_bits` 8 or 16)
        or SAR TLVs (`mode="sar"`); `mode="payload"` sends one deliver_sm with message_payload.
        """
        reference_limit = (1 << reference_bits) - 1
        reference = next(self._concat_reference) % reference_limit or reference_limit
        message = split_message(text, reference=reference, mode=mode, prefer=prefer,  # type: ignore[arg-type]
                                reference_bits=reference_bits)
        destination = to or self.simulator.short_code
        deliveries = []
        for part in message.parts:
            params = self._mo_params(destination, part.short_message, message.data_coding)
            params["esm_class"] |= part.esm_class_flags
            params.update(part.tlvs)
            deliveries.append(self.simulator._deliver(self._system_id(), params, "mo"))
        return _combine(deliveries)

    # ----------------------------------------------------------------- USSD

    def dial(self, code: str) -> defer.Deferred:
        """Dial a USSD code such as `*767#`: a new dialogue starts (PSSR indication)."""
        self.ussd_session = self.simulator._next_ussd_session()
        self._ussd_sequence = 0
        return self._send_ussd(code, USSD_PSSR_INDICATION)

    def answer(self, text: str) -> defer.Deferred:
        """Answer the screen on display (USSR confirm) in the open dialogue."""
        if self.ussd_session is None:
            raise RuntimeError(f"{self.msisdn}: no USSD dialogue is open; dial first")
        return self._send_ussd(text, USSD_USSR_CONFIRM)

    def _send_ussd(self, text: str, operation: int) -> defer.Deferred:
        encoded = encode_text(text)
        params = self._mo_params(self.simulator.short_code, encoded.payload, encoded.data_coding)
        params["ussd_service_op"] = operation
        params["its_session_info"] = _its_session_info(self.ussd_session or 0, self._ussd_sequence)
        self._ussd_sequence += 1
        return self.simulator._deliver(self._system_id(), params, "ussd").deferred

    # ----------------------------------------------------------------- MT

    def wait_for_messages(self, count: int = 1, timeout: float = 5.0) -> defer.Deferred:
        """Fires with the inbox texts once it holds at least `count`; errback TimeoutError after `timeout`."""
        return self._wait(self._message_waiters, lambda: self._mt, lambda: self.inbox, count, timeout,
                          "messages")

    def wait_for_screens(self, count: int = 1, timeout: float = 5.0) -> defer.Deferred:
        """Fires with the USSD screens once at least `count` have been shown."""
        return self._wait(self._screen_waiters, lambda: self.screens, lambda: list(self.screens), count,
                          timeout, "USSD screens")

    def subscribe(self, callback: Callable[[dict], None]) -> Callable[[], None]:
        """Call `callback(event_dict)` for every MT and USSD screen; returns the unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def _receive_mt(self, params: Mapping[str, Any], now: float) -> None:
        operation = params.get("ussd_service_op")
        if operation is not None:
            self._receive_ussd(params, operation, now)
            return
        esm_class = params.get("esm_class", 0)
        reassembler = self._reassembler
        if not esm_class & ESM_CLASS_UDHI and "sar_msg_ref_num" not in params and (
                reassembler is None or not reassembler.pending_count):
            # A plain single SMS, by far the commonest MT: decode it without the reassembler's bookkeeping.
            payload = params.get("short_message") or params.get("message_payload") or b""
            self._mt.append((payload, params.get("data_coding", 0), params.get("source_addr", ""), now))
            if self._subscribers or self._message_waiters:
                self._arrived()
            return
        part = IncomingPart(source_addr=params.get("source_addr", ""),
                            short_message=params.get("short_message", b""),
                            data_coding=params.get("data_coding", 0), esm_class=esm_class, tlvs=params)
        if reassembler is None:
            reassembler = self._reassembler = Reassembler(timeout_seconds=60.0, on_timeout="process")
        try:
            messages = reassembler.expire(now)
            whole = reassembler.add(part, now)
        except (MalformedUdh, UnsupportedDataCoding) as error:
            messages, whole = [], None
            self._store(InboxMessage(f"[undecodable: {error}]", part.source_addr, now))
        if whole is not None:
            messages.append(whole)
        for message in messages:
            self._store(InboxMessage(message.text, message.source_addr, now, message.complete))

    def _store(self, message: InboxMessage) -> None:
        self._mt.append(message)
        self._arrived()

    def _arrived(self) -> None:
        if self._subscribers:
            message = self.messages[-1]
            self._notify({"event": "sms", "msisdn": self.msisdn, "from": message.sender,
                          "text": message.text, "complete": message.complete})
        if self._message_waiters:
            _release(self._message_waiters, self._mt, lambda: self.inbox)

    def _receive_ussd(self, params: Mapping[str, Any], operation: int, now: float) -> None:
        session_info = params.get("its_session_info")
        session_number = None if session_info is None else session_info >> 8
        ends = operation in _USSD_ENDING_OPS or bool(session_info is not None and session_info & 1)
        payload = params.get("short_message") or params.get("message_payload") or b""
        try:
            text = decode_short_message(payload, params.get("data_coding", 0))
        except UnsupportedDataCoding as error:
            text = f"[undecodable: {error}]"
        self.screens.append(UssdScreen(text, ends, session_number, now))
        if ends and (session_number is None or session_number == self.ussd_session):
            self.ussd_session = None
        self._notify({"event": "ussd", "msisdn": self.msisdn, "text": text, "ends": ends,
                      "session": session_number})
        _release(self._screen_waiters, self.screens, lambda: list(self.screens))

    # ----------------------------------------------------------------- internals

    def _system_id(self) -> str:
        return self.system_id or self.simulator.mo_system_id

    def _mo_params(self, destination: str, short_message: bytes, data_coding: int) -> dict:
        return {
            "service_type": "", "source_addr_ton": 1, "source_addr_npi": 1,
            "source_addr": _digits(self.msisdn),
            # A short code is a network-specific number (TON 3), not an international one.
            "dest_addr_ton": 3 if len(destination) <= 8 else 1, "dest_addr_npi": 1,
            "destination_addr": _digits(destination), "esm_class": 0, "protocol_id": 0,
            "priority_flag": 0, "registered_delivery": 0, "data_coding": data_coding,
            "short_message": short_message,
        }

    def _notify(self, event: dict) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:  # a broken subscriber must not stop the phone
                log.exception("handset subscriber failed")

    def _wait(self, waiters: list, items: Callable[[], list], result: Callable[[], list], count: int,
              timeout: float, what: str) -> defer.Deferred:
        if len(items()) >= count:
            return defer.succeed(result())
        deferred: defer.Deferred = defer.Deferred()

        def expire() -> None:
            waiters[:] = [w for w in waiters if w[1] is not deferred]
            deferred.errback(defer.TimeoutError(
                f"{self.msisdn}: {len(items())} of {count} {what} after {timeout:g} s: {result()!r}"))

        timer = self.simulator.reactor.callLater(timeout, expire)
        waiters.append((count, deferred, timer))
        return deferred


def _release(waiters: list, items: list, result: Callable[[], list]) -> None:
    for waiter in [w for w in waiters if len(items) >= w[0]]:
        waiters.remove(waiter)
        _, deferred, timer = waiter
        if timer.active():
            timer.cancel()
        deferred.callback(result())


def _decoded(payload: bytes, data_coding: int) -> str:
    try:
        return decode_short_message(payload, data_coding)
    except UnsupportedDataCoding as error:
        return f"[undecodable: {error}]"


def _combine(deliveries: list[_Delivery]) -> defer.Deferred:
    if len(deliveries) == 1:
        return deliveries[0].deferred

    def summarise(outcomes: list[DeliveryOutcome]) -> DeliveryOutcome:
        refused = [o for o in outcomes if not o.accepted]
        return DeliveryOutcome(accepted=not refused, status=refused[0].status if refused else 0,
                               attempts=max(o.attempts for o in outcomes), parts=len(outcomes))

    return defer.gatherResults([d.deferred for d in deliveries]).addCallback(summarise)


# --------------------------------------------------------------------------- the protocol


class _SmscConnection(Protocol):
    """One ESME link: bytes <-> the SMSC-role session, events -> the simulator."""

    def __init__(self, simulator: "SmscSimulator") -> None:
        self.simulator = simulator
        self.session = Session(Role.SMSC, simulator._session_config)
        self.system_id: str | None = None
        self.bound_at: float | None = None
        self._timer = None
        self._latency_batch: list | None = None
        self._latency_calls: set = set()
        self._closing = False
        self.closed: defer.Deferred = defer.Deferred()

    # --- Twisted

    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)
        self.simulator._connections.add(self)
        self._schedule_tick()

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        simulator = self.simulator
        now = simulator.reactor.seconds()
        on_message = simulator._on_submit
        for event in self.session.receive_data(data, now):
            if type(event) is MessageReceived:
                on_message(self, event, now)
                if self._closing:
                    break
            else:
                self._on_event(event, now)
        self._latency_batch = None
        self._flush()
        if self.session.state is State.CLOSED and not self._closing:
            self._close()
        elif self._timer is None:
            self._schedule_tick()

    def connectionLost(self, reason=ConnectionDone) -> None:
        simulator = self.simulator
        simulator._connections.discard(self)
        for call in self._latency_calls:
            if call.active():
                call.cancel()
        self._latency_calls.clear()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        for event in self.session.connection_lost(str(reason.value) if reason else "closed",
                                                  simulator.reactor.seconds()):
            self._on_event(event, simulator.reactor.seconds())
        if self.system_id is not None and self.bound_at is not None:
            log.info("bind of %s closed", self.system_id)
        simulator._on_unbound(self)
        self.closed.callback(None)

    # --- events

    def _on_event(self, event, now: float) -> None:
        simulator = self.simulator
        kind = type(event)
        if kind is SubmitAccepted:
            simulator._delivery_answered(event.ref, 0)
            simulator._drain(self.system_id)
        elif kind is SubmitRejected:
            simulator._delivery_answered(event.ref, event.status)
            simulator._drain(self.system_id)
        elif kind is SubmitTimedOut:
            simulator._delivery_timed_out(event.ref)
        elif kind is BindRequested:
            self._on_bind(event, now)
        elif kind in (LinkBroken, PeerUnbound, Unbound):
            simulator._requeue(event.outstanding_refs)
        elif kind is GarbageReceived:
            simulator.garbage_received += 1
        elif kind is GenericNackReceived:
            simulator.generic_nacks_received += 1

    def _on_bind(self, event: BindRequested, now: float) -> None:
        simulator = self.simulator
        expected = simulator.accounts.get(event.system_id)
        if expected is None:
            self.session.reject_bind(_S.ESME_RINVSYSID, now)
            log.info("bind refused: unknown system_id %r", event.system_id)
        elif event.password != expected:
            self.session.reject_bind(_S.ESME_RINVPASWD, now)
            log.info("bind refused: wrong password for %r", event.system_id)
        else:
            self.session.accept_bind(now, system_id=simulator.system_id)
            self.system_id = event.system_id
            self.bound_at = now
            log.info("%s bound as %s", event.system_id, event.mode.value)
            self._flush()
            simulator._on_bound(self)

    # --- output

    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data:
            self.transport.write(data)

    def write_raw(self, data: bytes) -> None:
        """Bytes outside the session (faults): whatever the session queued goes first."""
        self._flush()
        self.transport.write(data)

    def answer_later(self, sequence: int, status: int, message_id: str | None, wrong_sequence: bool,
                     command: str) -> None:
        batch = self._latency_batch
        if batch is None:
            batch = self._latency_batch = []
            call = self.simulator.reactor.callLater(self.simulator.latency, self._answer_batch, batch)
            batch.append(call)
            self._latency_calls.add(call)
        batch.append((sequence, status, message_id, wrong_sequence, command))

    def _answer_batch(self, batch: list) -> None:
        self._latency_calls.discard(batch[0])
        for sequence, status, message_id, wrong_sequence, command in batch[1:]:
            self.answer(sequence, status, message_id, wrong_sequence, command)
        self._flush()

    def answer(self, sequence: int, status: int, message_id: str | None, wrong_sequence: bool,
               command: str) -> None:
        if wrong_sequence:
            # Left unanswered in the session on purpose: the real answer never comes.
            wrong = (sequence + 0x10000) & 0x7FFFFFFF or 1
            self.write_raw(encode(response_to(command, wrong, status, message_id=message_id or "")))
        else:
            self.session.acknowledge(sequence, status, message_id=message_id or "")

    def send_delivery(self, delivery: _Delivery) -> None:
        now = self.simulator.reactor.seconds()
        delivery.attempts += 1
        self.session.submit(delivery, delivery.params, now)
        self._flush()
        self._schedule_tick()

    def close(self, abort: bool = False) -> None:
        self._flush()
        self._close(abort)

    def _close(self, abort: bool = False) -> None:
        self._closing = True
        if abort:
            self.transport.abortConnection()
        else:
            self.transport.loseConnection()

    # --- timers

    def _schedule_tick(self) -> None:
        """One timer per link, moved earlier only when a new deadline needs it (not per read)."""
        deadline = self.session.next_deadline()
        if deadline is None or self._closing:
            return
        reactor = self.simulator.reactor
        if self._timer is not None and self._timer.active():
            if self._timer.getTime() <= deadline:
                return
            self._timer.cancel()
        self._timer = reactor.callLater(max(0.0, deadline - reactor.seconds()), self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self._closing:
            return
        now = self.simulator.reactor.seconds()
        for event in self.session.tick(now):
            self._on_event(event, now)
        self._flush()
        if self.session.state is State.CLOSED:
            self._close()
        else:
            self._schedule_tick()


class _SmscFactory(Factory):
    def __init__(self, simulator: "SmscSimulator") -> None:
        self.simulator = simulator

    def buildProtocol(self, addr) -> _SmscConnection:
        return _SmscConnection(self.simulator)


# --------------------------------------------------------------------------- the simulator


class SmscSimulator:
    """The simulated SMSC. See the module docstring; every time value is in seconds.

    `max_records` bounds `received` (oldest dropped) for long benchmark runs; `auto_handsets`
    creates a handset for every MT destination so `inbox` works for numbers nobody asked about
    first (turn it off for throughput runs: it decodes every message).
    """

    def __init__(self, reactor, accounts: Mapping[str, str] | None = None, *,
                 system_id: str = "TPOSIM", short_code: str = "767", latency: float = 0.0,
                 message_id_style: str = "hex", receipts: bool = True, receipt_delay: float = 0.1,
                 redelivery_delay: float = 5.0, max_delivery_attempts: int = 10,
                 deliver_window: int = 10, enquire_link_interval: float = 30.0,
                 auto_handsets: bool = True, max_records: int | None = None,
                 mo_system_id: str | None = None) -> None:
        if message_id_style not in ("hex", "decimal"):
            raise ValueError(f"message_id_style must be 'hex' or 'decimal', not {message_id_style!r}")
        if latency < 0 or receipt_delay < 0 or redelivery_delay <= 0:
            raise ValueError("latency and receipt_delay must be >= 0, redelivery_delay > 0")
        self.reactor = reactor
        self.accounts: dict[str, str] = dict(accounts or {"tpo": "secret"})
        self.system_id = system_id
        self.short_code = short_code
        self.latency = latency
        self.message_id_style = message_id_style
        self.receipts = receipts
        self.receipt_delay = receipt_delay
        self.redelivery_delay = redelivery_delay
        self.max_delivery_attempts = max_delivery_attempts
        self.auto_handsets = auto_handsets
        self.mo_system_id = mo_system_id or next(iter(self.accounts))
        self._session_config = SessionConfig(window=deliver_window, response_timeout=redelivery_delay,
                                             enquire_link_interval=enquire_link_interval)
        self.faults = Faults(self)
        self._records: deque[ReceivedSubmit] = deque(maxlen=max_records)
        self._next_message_number = 0x10000000
        self._handsets: dict[str, Handset] = {}
        self._outcomes: dict[str, tuple[MessageState, int]] = {}
        self._connections: set[_SmscConnection] = set()
        self._queues: dict[str, deque[_Delivery]] = {}
        self._timers: set = set()
        self._bind_waiters: list[tuple[int, defer.Deferred, Any]] = []
        self._ussd_sessions = itertools.count(1)
        self._port = None
        self._port_number: int | None = None
        self._interface = "127.0.0.1"
        self.submits_received = 0
        self.submits_refused = 0
        self.responses_withheld = 0
        self.deliveries_sent = 0
        self.deliveries_acked = 0
        self.redeliveries = 0
        self.receipts_sent = 0
        self.garbage_received = 0
        self.generic_nacks_received = 0
        self.restarts = 0

    # ----------------------------------------------------------------- lifecycle

    def listen(self, port: int = 0, interface: str = "127.0.0.1"):
        """Start accepting binds; returns Twisted's listening port (`.getHost().port`)."""
        self._port = self.reactor.listenTCP(port, _SmscFactory(self), interface=interface)
        self._port_number = self._port.getHost().port
        self._interface = interface
        return self._port

    @property
    def port(self) -> int | None:
        return self._port_number

    def stop(self) -> defer.Deferred:
        """Stop listening, drop every link and cancel every timer (waits time out no more)."""
        for call in list(self._timers):
            if call.active():
                call.cancel()
        self._timers.clear()
        waiters = list(self._bind_waiters)
        for handset in self._handsets.values():
            waiters += handset._message_waiters + handset._screen_waiters
            handset._message_waiters, handset._screen_waiters = [], []
        self._bind_waiters = []
        for _, _, timer in waiters:
            if timer.active():
                timer.cancel()
        return self._shut_down()

    def _shut_down(self) -> defer.Deferred:
        waits = [defer.maybeDeferred(self._port.stopListening)] if self._port is not None else []
        self._port = None
        for connection in list(self._connections):
            waits.append(connection.closed)
            connection.close(abort=True)
        return defer.DeferredList(waits, consumeErrors=True).addCallback(lambda _: None)

    def restart(self, keep_state: bool = True, downtime: float = 0.0) -> defer.Deferred:
        """Crash and come back: stop listening, drop all binds, listen again on the same port.

        With `keep_state=False` the simulator also forgets what it received, its queued
        deliveries and pending receipts, like an SMSC restarted without persistence.
        Fires when it is listening again.
        """
        if self._port_number is None:
            raise RuntimeError("restart: the simulator never listened")
        self.restarts += 1
        port_number, interface = self._port_number, self._interface
        if not keep_state:
            for call in list(self._timers):
                if call.active():
                    call.cancel()
            self._timers.clear()
            self._records.clear()
            for queue in self._queues.values():
                for delivery in queue:
                    delivery.finish(False, None)
            self._queues.clear()
        deferred = self._shut_down()
        if downtime:
            deferred.addCallback(lambda _: _sleep(self.reactor, downtime))
        return deferred.addCallback(lambda _: self.listen(port_number, interface)).addCallback(lambda _: None)

    # ----------------------------------------------------------------- binds

    def bound_count(self, system_id: str | None = None) -> int:
        return sum(1 for c in self._connections if c.session.is_bound
                   and (system_id is None or c.system_id == system_id))

    def binds(self) -> list[dict]:
        return [{"system_id": c.system_id, "mode": c.session.mode.value if c.session.mode else None,
                 "state": c.session.state.value, "bound_at": c.bound_at}
                for c in self._connections if c.session.is_bound]

    def wait_for_binds(self, count: int = 1, timeout: float = 5.0) -> defer.Deferred:
        """Fires (with the count) once at least `count` links are bound."""
        if self.bound_count() >= count:
            return defer.succeed(self.bound_count())
        deferred: defer.Deferred = defer.Deferred()

        def expire() -> None:
            self._bind_waiters[:] = [w for w in self._bind_waiters if w[1] is not deferred]
            deferred.errback(defer.TimeoutError(f"{self.bound_count()} of {count} binds after {timeout:g} s"))

        self._bind_waiters.append((count, deferred, self.reactor.callLater(timeout, expire)))
        return deferred

    def _on_bound(self, connection: _SmscConnection) -> None:
        bound = self.bound_count()
        for waiter in [w for w in self._bind_waiters if bound >= w[0]]:
            self._bind_waiters.remove(waiter)
            if waiter[2].active():
                waiter[2].cancel()
            waiter[1].callback(bound)
        self._drain(connection.system_id)

    def _on_unbound(self, connection: _SmscConnection) -> None:
        if connection.system_id is not None:
            self._drain(connection.system_id)

    def _drop_connections(self, system_id: str | None) -> int:
        dropped = 0
        for connection in list(self._connections):
            if system_id is None or connection.system_id == system_id:
                connection.close(abort=True)
                dropped += 1
        return dropped

    def _write_to_binds(self, data: bytes, system_id: str | None) -> int:
        written = 0
        for connection in list(self._connections):
            if connection.session.is_bound and (system_id is None or connection.system_id == system_id):
                connection.write_raw(data)
                written += 1
        return written

    # ----------------------------------------------------------------- MT: the hot path

    def _on_submit(self, connection: _SmscConnection, event: MessageReceived, now: float) -> None:
        params = event.params
        self.submits_received += 1
        faults = self.faults
        withhold = wrong_sequence = False
        status = 0
        if faults.active:
            if faults._should_disconnect():
                connection.close()
                return
            status = faults._refusal(params)
            withhold = faults._take_missing()
            wrong_sequence = not withhold and faults._take_wrong_sequence()
        message_id = None
        if not status:
            self._next_message_number += 1
            number = self._next_message_number
            message_id = format(number, "x") if self.message_id_style == "hex" else str(number)
        else:
            self.submits_refused += 1
        self._records.append(ReceivedSubmit(connection.system_id, now, message_id, status, params,
                                            event.command))
        if withhold:
            self.responses_withheld += 1
        elif self.latency:
            connection.answer_later(event.sequence, status, message_id, wrong_sequence, event.command)
        elif wrong_sequence:
            connection.answer(event.sequence, status, message_id, True, event.command)
        else:
            connection.session.acknowledge(event.sequence, status, message_id=message_id or "")
        if status:
            return
        destination = params.get("destination_addr", "").lstrip("+")
        handset = self._handsets.get(destination)
        outcome = self._outcomes.get(destination) if self._outcomes else None
        if handset is None and self.auto_handsets and destination:
            handset = self.handset(destination)
        if handset is not None and outcome is None:
            handset._receive_mt(params, now)
        if self.receipts and params.get("registered_delivery", 0) & 0x03:
            self._schedule_receipt(connection.system_id, message_id, params, now, outcome)

    # ----------------------------------------------------------------- receipts

    def set_outcome(self, msisdn: str, state: MessageState | str = MessageState.DELIVERED,
                    error_code: int | None = None) -> None:
        """What happens to MT for `msisdn`: delivered (default), undeliverable, expired, rejected...

        A message that is not delivered does not reach the handset; its receipt says so, with
        `error_code` (default 1) in the text's err: field.
        """
        if isinstance(state, str):
            state = _MESSAGE_STATES[state.lower()]
        key = _digits(msisdn)
        if state is MessageState.DELIVERED:
            self._outcomes.pop(key, None)
        else:
            self._outcomes[key] = (state, 1 if error_code is None else error_code)

    def _schedule_receipt(self, system_id: str, message_id: str, params: Mapping[str, Any],
                          submitted_at: float, outcome: tuple[MessageState, int] | None) -> None:
        state, error_code = outcome or (MessageState.DELIVERED, 0)
        wanted = params.get("registered_delivery", 0) & 0x03
        if wanted == 2 and state is MessageState.DELIVERED:  # receipt on failure only
            return
        self._later(self.receipt_delay, self._send_receipt, system_id, message_id, params,
                    submitted_at, state, error_code)

    def _send_receipt(self, system_id: str, message_id: str, params: Mapping[str, Any],
                      submitted_at: float, state: MessageState, error_code: int) -> None:
        now = self.reactor.seconds()
        record = ReceivedSubmit(system_id, submitted_at, message_id, 0, params)
        text = format_receipt_text(
            message_id, state, submitted_at=datetime.fromtimestamp(submitted_at, timezone.utc),
            done_at=datetime.fromtimestamp(now, timezone.utc), error_code=error_code,
            original_text=record.text)
        receipt = {
            "service_type": "", "source_addr_ton": params.get("dest_addr_ton", 1),
            "source_addr_npi": params.get("dest_addr_npi", 1),
            "source_addr": params.get("destination_addr", ""),
            "dest_addr_ton": params.get("source_addr_ton", 0),
            "dest_addr_npi": params.get("source_addr_npi", 0),
            "destination_addr": params.get("source_addr", ""),
            "esm_class": ESM_CLASS_SMSC_DELIVERY_RECEIPT, "data_coding": 0,
            # Appendix B text is ASCII except the original text excerpt; keep it encodable.
            "short_message": text.encode("ascii", errors="replace")[:254],
        }
        receipt.update(receipt_tlvs(message_id, state))
        self.receipts_sent += 1
        self._deliver(system_id, receipt, "receipt")

    # ----------------------------------------------------------------- deliveries (deliver_sm out)

    def _deliver(self, system_id: str, params: dict, kind: str) -> _Delivery:
        delivery = _Delivery(system_id, params, kind)
        self._queues.setdefault(system_id, deque()).append(delivery)
        self._drain(system_id)
        return delivery

    def _drain(self, system_id: str | None) -> None:
        queue = self._queues.get(system_id) if system_id is not None else None
        if not queue:
            return
        receivers = [c for c in self._connections
                     if c.system_id == system_id and c.session.state in _RECEIVING_STATES and not c._closing]
        while queue and receivers:
            for connection in list(receivers):
                if not queue:
                    break
                if not connection.session.can_submit():
                    receivers.remove(connection)
                    continue
                delivery = queue.popleft()
                if delivery.attempts:
                    self.redeliveries += 1
                self.deliveries_sent += 1
                connection.send_delivery(delivery)

    def _delivery_answered(self, delivery: _Delivery, status: int) -> None:
        if status == 0:
            self.deliveries_acked += 1
            delivery.finish(True, 0)
        elif status in _TRANSIENT and delivery.attempts < self.max_delivery_attempts:
            self._later(self.redelivery_delay, self._retry, delivery)
        else:
            delivery.finish(False, status)

    def _delivery_timed_out(self, delivery: _Delivery) -> None:
        if delivery.attempts >= self.max_delivery_attempts:
            delivery.finish(False, None)
        else:
            self._retry(delivery)

    def _retry(self, delivery: _Delivery) -> None:
        if delivery.deferred.called:
            return
        self._queues.setdefault(delivery.system_id, deque()).appendleft(delivery)
        self._drain(delivery.system_id)

    def _requeue(self, deliveries: Iterable[_Delivery]) -> None:
        """Deliveries outstanding on a link that broke go first when a link is back."""
        for delivery in reversed(tuple(deliveries)):
            if not delivery.deferred.called:
                self._queues.setdefault(delivery.system_id, deque()).appendleft(delivery)

    def queued_deliveries(self, system_id: str | None = None) -> int:
        return sum(len(q) for sid, q in self._queues.items() if system_id is None or sid == system_id)

    # ----------------------------------------------------------------- handsets and records

    def handset(self, msisdn: str, system_id: str | None = None) -> Handset:
        """The virtual phone for `msisdn` (created on first use)."""
        key = _digits(msisdn)
        handset = self._handsets.get(key)
        if handset is None:
            handset = self._handsets[key] = Handset(self, msisdn, system_id)
        elif system_id is not None:
            handset.system_id = system_id
        return handset

    def handsets(self) -> list[Handset]:
        return list(self._handsets.values())

    @property
    def received(self) -> list[ReceivedSubmit]:
        """Every submit received (refused ones too, with their status), oldest first."""
        return list(self._records)

    def submits_for(self, msisdn: str, include_refused: bool = False) -> list[ReceivedSubmit]:
        key = _digits(msisdn)
        return [r for r in self._records
                if _digits(r.destination) == key and (include_refused or r.status == 0)]

    def stats(self) -> dict:
        return {
            "port": self._port_number, "listening": self._port is not None,
            "binds": self.bound_count(), "connections": len(self._connections),
            "submits_received": self.submits_received, "submits_refused": self.submits_refused,
            "responses_withheld": self.responses_withheld, "records": len(self._records),
            "deliveries_sent": self.deliveries_sent, "deliveries_acked": self.deliveries_acked,
            "deliveries_queued": self.queued_deliveries(), "redeliveries": self.redeliveries,
            "receipts_sent": self.receipts_sent, "garbage_received": self.garbage_received,
            "generic_nacks_received": self.generic_nacks_received, "restarts": self.restarts,
            "handsets": len(self._handsets), "latency_ms": self.latency * 1000.0,
            "receipts": self.receipts, "faults": self.faults.snapshot(),
        }

    # ----------------------------------------------------------------- helpers

    def _next_ussd_session(self) -> int:
        return next(self._ussd_sessions) % 256

    def _later(self, delay: float, function: Callable, *args: Any) -> None:
        def run() -> None:
            self._timers.discard(call)
            function(*args)

        call = self.reactor.callLater(delay, run)
        self._timers.add(call)


def _sleep(reactor, seconds: float) -> defer.Deferred:
    deferred: defer.Deferred = defer.Deferred()
    reactor.callLater(seconds, deferred.callback, None)
    return deferred
