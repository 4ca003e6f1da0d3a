"""Sans-I/O SMPP 3.4 session: the state machine of one bind, fed bytes and time.

Like h11 for HTTP, the session owns no socket, reactor or clock. The adapter
(Twisted protocol, or a test) does four things:

* `receive_data(data, now)` with every chunk read from TCP -> list of events;
* `tick(now)` whenever `next_deadline()` passes (or just periodically) -> events;
* call operations (`bind`, `submit`, `acknowledge`, `unbind`, ...);
* write whatever `data_to_send()` returns to TCP, and drop the connection when
  the session reaches CLOSED (after flushing: a final generic_nack or
  unbind_resp may be pending).

`now` is seconds on any monotonic clock. Only `receive_data`, `tick`, and
`connection_lost` produce events; operations only queue bytes (and raise
`SessionError` subclasses when illegal).

Roles
-----
`Role.ESME` is us binding to the host network's SMSC. `Role.SMSC` is the same
machine seen from the other end, for the SMSC simulator: a peer's bind becomes
a `BindRequested` event answered with `accept_bind` / `reject_bind`, and its
submit_sm arrive as `MessageReceived`. Whichever the role, `submit` sends the
mobile-terminated direction (submit_sm for the ESME, deliver_sm for the SMSC)
and `acknowledge` answers a received request.

Nothing lost
------------
* Received messages are never acknowledged automatically: `MessageReceived`
  carries the PDU's sequence and the application calls `acknowledge(sequence)`
  once the message is durably stored. If the link drops first, the SMSC
  redelivers.
* Every event that ends the session (`LinkBroken`, `PeerUnbound`, `Unbound`)
  carries `outstanding_refs`: the caller refs of submits sent but never
  answered, to be requeued (the SMSC may have accepted some: delivery is
  at-least-once).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Hashable, Mapping

from engine.smpp.codec import (
    CommandStatus,
    FramingError,
    Pdu,
    PduDecodeError,
    decode,
    encode,
    extract_pdus,
    generic_nack,
    response_to,
)

__all__ = [
    "Role", "BindMode", "State", "SessionConfig", "Session",
    "SessionError", "IllegalStateError", "WindowFullError", "UnknownSequenceError",
    "Event", "BindRequested", "BindSucceeded", "BindFailed", "MessageReceived",
    "SubmitAccepted", "SubmitRejected", "SubmitTimedOut", "PeerUnbound", "Unbound",
    "LinkBroken", "GarbageReceived", "GenericNackReceived", "LateResponse",
    "MAX_SEQUENCE",
]

MAX_SEQUENCE = 0x7FFFFFFF
_S = CommandStatus


class Role(enum.Enum):
    ESME = "esme"
    SMSC = "smsc"


class BindMode(enum.Enum):
    TRANSCEIVER = "transceiver"
    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"

    @property
    def bind_command(self) -> str:
        return "bind_" + self.value


class State(enum.Enum):
    OPEN = "open"
    BINDING = "binding"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBINDING = "unbinding"
    CLOSED = "closed"


_BOUND_STATE = {BindMode.TRANSCEIVER: State.BOUND_TRX, BindMode.TRANSMITTER: State.BOUND_TX,
                BindMode.RECEIVER: State.BOUND_RX}
_MODE_OF_BIND = {mode.bind_command: mode for mode in BindMode}
_BOUND = frozenset({State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX})
# Bound states in which the ESME may submit (sends submit_sm) and receive (gets deliver_sm).
_ESME_SENDS = frozenset({State.BOUND_TX, State.BOUND_TRX})
_ESME_RECEIVES = frozenset({State.BOUND_RX, State.BOUND_TRX})
# The issue-defined retry set: throttling and a full queue clear by themselves; any other error
# status means this message will not go through by trying again.
_TRANSIENT_STATUSES = frozenset({_S.ESME_RTHROTTLED, _S.ESME_RMSGQFUL})


@dataclass(frozen=True, slots=True)
class SessionConfig:
    window: int = 64
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be at least 1, got {self.window}")
        if self.response_timeout <= 0 or self.enquire_link_interval <= 0:
            raise ValueError("response_timeout and enquire_link_interval must be positive")


# --------------------------------------------------------------------------- errors


class SessionError(Exception):
    """An operation the caller asked for is not possible now."""


class IllegalStateError(SessionError):
    pass


class WindowFullError(SessionError):
    pass


class UnknownSequenceError(SessionError):
    pass


# --------------------------------------------------------------------------- events


class Event:
    """Base class of everything `receive_data`, `tick` and `connection_lost` return."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class BindRequested(Event):
    """(SMSC role) The peer asks to bind; answer with accept_bind or reject_bind."""
    mode: BindMode
    system_id: str
    password: str = field(repr=False)
    system_type: str
    params: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class BindSucceeded(Event):
    mode: BindMode
    peer_system_id: str


@dataclass(frozen=True, slots=True)
class BindFailed(Event):
    """The bind was refused (status) or unanswered (status None); the session is CLOSED."""
    status: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class MessageReceived(Event):
    """A deliver_sm/data_sm (or, SMSC role, submit_sm) to acknowledge after storing it."""
    command: str
    sequence: int
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SubmitAccepted(Event):
    ref: Hashable
    message_id: str
    sequence: int


@dataclass(frozen=True, slots=True)
class SubmitRejected(Event):
    ref: Hashable
    status: int
    sequence: int

    @property
    def is_transient(self) -> bool:
        """Throttling or a full queue: worth retrying later."""
        return self.status in _TRANSIENT_STATUSES


@dataclass(frozen=True, slots=True)
class SubmitTimedOut(Event):
    """No response in time; the window slot is freed. The SMSC may still have the message."""
    ref: Hashable
    sequence: int


@dataclass(frozen=True, slots=True)
class PeerUnbound(Event):
    """The peer unbound (we answered unbind_resp); the session is CLOSED."""
    outstanding_refs: tuple


@dataclass(frozen=True, slots=True)
class Unbound(Event):
    """Our unbind completed (or its response timed out); the session is CLOSED."""
    outstanding_refs: tuple
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class LinkBroken(Event):
    """The link is unusable (dead peer, framing lost, TCP gone); the session is CLOSED."""
    reason: str
    outstanding_refs: tuple = ()


@dataclass(frozen=True, slots=True)
class GarbageReceived(Event):
    """An undecodable PDU was answered with generic_nack(status); the session goes on."""
    status: int
    detail: str


@dataclass(frozen=True, slots=True)
class GenericNackReceived(Event):
    """A generic_nack that answers nothing we are waiting for."""
    sequence: int
    status: int


@dataclass(frozen=True, slots=True)
class LateResponse(Event):
    """A response whose request already timed out (or was never sent)."""
    command: str
    sequence: int
    status: int


# --------------------------------------------------------------------------- the session

_SUBMIT, _ENQUIRE, _BIND, _UNBIND = "submit", "enquire_link", "bind", "unbind"


@dataclass(slots=True)
class _Pending:
    kind: str
    deadline: float
    ref: Hashable = None


class Session:
    """One SMPP bind, ESME or SMSC side. See the module docstring for the driving protocol."""

    def __init__(self, role: Role = Role.ESME, config: SessionConfig | None = None,
                 *, initial_sequence: int = 1) -> None:
        if not 1 <= initial_sequence <= MAX_SEQUENCE:
            raise ValueError(f"initial_sequence must be 1..0x7FFFFFFF, got {initial_sequence}")
        self.role = role
        self.config = config or SessionConfig()
        self.state = State.OPEN
        self.mode: BindMode | None = None
        self._next_sequence = initial_sequence
        self._inbound = bytearray()
        self._outbound: list[bytes] = []
        # Requests we sent, by sequence, in send order; all share one timeout, so
        # the first entries are always the first to expire.
        self._pending: dict[int, _Pending] = {}
        self._outstanding_submits = 0
        self._enquire_link_sequence: int | None = None
        # Requests received and not yet answered: sequence -> command.
        self._unanswered: dict[int, str] = {}
        self._bind_request: Pdu | None = None
        self._last_received = 0.0
        self._last_sent = 0.0
        self._now = 0.0

    # ----------------------------------------------------------------- inspection

    @property
    def is_bound(self) -> bool:
        return self.state in _BOUND

    @property
    def outstanding_submits(self) -> int:
        return self._outstanding_submits

    def outstanding_refs(self) -> tuple:
        return tuple(p.ref for p in self._pending.values() if p.kind == _SUBMIT)

    def can_submit(self) -> bool:
        return self._may_send_messages() and self._outstanding_submits < self.config.window

    def next_deadline(self) -> float | None:
        """The earliest time at which `tick` has work to do (None when CLOSED)."""
        if self.state is State.CLOSED:
            return None
        deadlines = []
        if self._pending:
            deadlines.append(next(iter(self._pending.values())).deadline)
        if self.is_bound and self._enquire_link_sequence is None:
            interval = self.config.enquire_link_interval
            deadlines.append(min(self._last_sent, self._last_received) + interval)
        return min(deadlines) if deadlines else None

    def data_to_send(self) -> bytes:
        """Bytes to write to the peer, in order; each call drains the queue."""
        if not self._outbound:
            return b""
        data = b"".join(self._outbound)
        self._outbound.clear()
        return data

    # ----------------------------------------------------------------- operations

    def bind(self, system_id: str, password: str, mode: BindMode, now: float, *,
             system_type: str = "", addr_ton: int = 0, addr_npi: int = 0,
             address_range: str = "") -> None:
        """(ESME role) Send bind_transceiver/transmitter/receiver."""
        self._require_role(Role.ESME, "bind")
        if self.state is not State.OPEN:
            raise IllegalStateError(f"bind: session is {self.state.value}, must be open")
        self._send_request(Pdu(mode.bind_command, self._peek_sequence(), 0, {
            "system_id": system_id, "password": password, "system_type": system_type,
            "interface_version": 0x34, "addr_ton": addr_ton, "addr_npi": addr_npi,
            "address_range": address_range,
        }), _BIND, now)
        self.mode = mode
        self.state = State.BINDING

    def accept_bind(self, now: float, system_id: str = "SMSC") -> None:
        """(SMSC role) Accept the pending BindRequested."""
        request = self._take_bind_request("accept_bind")
        self.mode = _MODE_OF_BIND[request.command]
        self._send(response_to(request, system_id=system_id, sc_interface_version=0x34), now)
        self.state = _BOUND_STATE[self.mode]
        self._last_received = self._last_sent = now

    def reject_bind(self, status: int, now: float) -> None:
        """(SMSC role) Refuse the pending BindRequested, e.g. ESME_RINVPASWD; back to OPEN."""
        if not status:
            raise ValueError("reject_bind needs a non-zero status")
        request = self._take_bind_request("reject_bind")
        self._send(response_to(request, status=status), now)
        self.state = State.OPEN

    def submit(self, ref: Hashable, params: Mapping[str, Any], now: float) -> int:
        """Send one message (submit_sm as ESME, deliver_sm as SMSC); returns its sequence.

        `ref` is the caller's id (the outbox row) echoed in SubmitAccepted /
        SubmitRejected / SubmitTimedOut. Raises IllegalStateError when not bound
        for sending, WindowFullError when `can_submit()` is False, and
        PduEncodeError for impossible params (nothing is queued then).
        """
        if not self._may_send_messages():
            raise IllegalStateError(f"submit: session is {self.state.value} as {self.role.value}, "
                                    "not bound for sending messages")
        if self._outstanding_submits >= self.config.window:
            raise WindowFullError(f"submit: window of {self.config.window} outstanding submits is full")
        command = "submit_sm" if self.role is Role.ESME else "deliver_sm"
        sequence = self._send_request(Pdu(command, self._peek_sequence(), 0, params), _SUBMIT, now, ref)
        self._outstanding_submits += 1
        return sequence

    def acknowledge(self, sequence: int, status: int = 0, **params: Any) -> bool:
        """Answer a received request (MessageReceived) once it is stored.

        Returns False when the session closed meanwhile: nothing is sent and the
        peer will redeliver. Raises UnknownSequenceError for a sequence that
        is not awaiting an answer (never received, or already acknowledged).
        """
        if self.state is State.CLOSED:
            self._unanswered.pop(sequence, None)
            return False
        command = self._unanswered.pop(sequence, None)
        if command is None:
            raise UnknownSequenceError(f"acknowledge: no received request with sequence {sequence} "
                                       "awaits an answer")
        self._send(response_to(command, sequence, status, **params), self._now)
        return True

    def unbind(self, now: float) -> None:
        """Start a graceful unbind; `Unbound` follows on unbind_resp or timeout."""
        if self.state not in _BOUND:
            raise IllegalStateError(f"unbind: session is {self.state.value}, must be bound")
        self._send_request(Pdu("unbind", self._peek_sequence(), 0, {}), _UNBIND, now)
        self.state = State.UNBINDING

    def connection_lost(self, reason: str, now: float) -> list[Event]:
        """The adapter saw the TCP connection close."""
        self._now = now
        if self.state is State.CLOSED:
            return []
        if self.state is State.UNBINDING:
            return [self._close_with(Unbound(self.outstanding_refs(), timed_out=False))]
        if self.state is State.BINDING and self.role is Role.ESME:
            return [self._close_with(BindFailed(None, f"connection lost while binding: {reason}"))]
        return [self._close_with(LinkBroken(reason, self.outstanding_refs()))]

    # ----------------------------------------------------------------- input

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Feed bytes read from the peer; returns the events they cause."""
        self._now = now
        if self.state is State.CLOSED:
            return []
        self._inbound += data
        events: list[Event] = []
        try:
            wires = extract_pdus(self._inbound)
        except FramingError as error:
            for wire in error.pdus:  # type: ignore[attr-defined]
                self._receive_wire(wire, now, events)
            if self.state is not State.CLOSED:
                self._send(generic_nack(error.sequence, error.status), now)
                events.append(self._close_with(LinkBroken(f"framing lost: {error}",
                                                          self.outstanding_refs())))
            return events
        for wire in wires:
            self._receive_wire(wire, now, events)
            if self.state is State.CLOSED:
                break
        return events

    def tick(self, now: float) -> list[Event]:
        """Let time pass: expire responses, send enquire_link, detect a dead peer."""
        self._now = now
        events: list[Event] = []
        while self._pending and self.state is not State.CLOSED:
            sequence, pending = next(iter(self._pending.items()))
            if pending.deadline > now:
                break
            del self._pending[sequence]
            self._on_timeout(sequence, pending, events)
        if self.is_bound and self._enquire_link_sequence is None:
            interval = self.config.enquire_link_interval
            if now - self._last_received >= interval or now - self._last_sent >= interval:
                self._enquire_link_sequence = self._send_request(
                    Pdu("enquire_link", self._peek_sequence(), 0, {}), _ENQUIRE, now)
        return events

    # ----------------------------------------------------------------- internals

    def _receive_wire(self, wire: bytes, now: float, events: list[Event]) -> None:
        self._last_received = now
        try:
            pdu = decode(wire)
        except PduDecodeError as error:
            self._send(generic_nack(error.sequence, error.status), now)
            events.append(GarbageReceived(error.status, str(error)))
            return
        if pdu.command_id & 0x80000000:
            self._on_response(pdu, now, events)
        else:
            self._on_request(pdu, now, events)

    def _on_response(self, pdu: Pdu, now: float, events: list[Event]) -> None:
        pending = self._pending.pop(pdu.sequence, None)
        if pending is None:
            if pdu.command == "generic_nack":
                events.append(GenericNackReceived(pdu.sequence, pdu.status))
            else:
                events.append(LateResponse(pdu.command, pdu.sequence, pdu.status))
            return
        kind = pending.kind
        if kind == _SUBMIT:
            self._outstanding_submits -= 1
            if pdu.status == 0 and pdu.command != "generic_nack":
                events.append(SubmitAccepted(pending.ref, pdu.params.get("message_id", ""), pdu.sequence))
            else:
                events.append(SubmitRejected(pending.ref, pdu.status or _S.ESME_RUNKNOWNERR, pdu.sequence))
        elif kind == _ENQUIRE:
            # Any answer, even a generic_nack, proves the peer is alive.
            self._enquire_link_sequence = None
        elif kind == _BIND:
            if pdu.status == 0 and pdu.command != "generic_nack":
                self.state = _BOUND_STATE[self.mode]
                self._last_sent = self._last_received = now
                events.append(BindSucceeded(self.mode, pdu.params.get("system_id", "")))
            else:
                events.append(self._close_with(BindFailed(
                    pdu.status, f"{pdu.command} status 0x{pdu.status:02x}")))
        elif kind == _UNBIND:
            events.append(self._close_with(Unbound(self.outstanding_refs())))

    def _on_request(self, pdu: Pdu, now: float, events: list[Event]) -> None:
        command = pdu.command
        state = self.state
        if command == "enquire_link":
            self._send(response_to(pdu), now)
        elif command == "unbind":
            if state in _BOUND or state is State.UNBINDING:
                self._send(response_to(pdu), now)
                events.append(self._close_with(PeerUnbound(self.outstanding_refs())))
            else:
                self._send(response_to(pdu, status=_S.ESME_RINVBNDSTS), now)
        elif command in _MODE_OF_BIND:
            self._on_bind_request(pdu, now, events)
        elif self._is_message_for_us(command):
            if self._may_receive_messages():
                self._unanswered[pdu.sequence] = command
                events.append(MessageReceived(command, pdu.sequence, pdu.params))
            else:
                self._send(response_to(pdu, status=_S.ESME_RINVBNDSTS), now)
        elif command == "alert_notification":
            pass  # SMPP 3.4 defines no response; the engine has no use for it
        elif state in _BOUND:
            self._send(response_to(pdu, status=_S.ESME_RINVCMDID), now)
        else:
            self._send(response_to(pdu, status=_S.ESME_RINVBNDSTS), now)

    def _on_bind_request(self, pdu: Pdu, now: float, events: list[Event]) -> None:
        if self.role is Role.ESME:
            self._send(response_to(pdu, status=_S.ESME_RINVCMDID), now)
        elif self.state in _BOUND or self.state is State.BINDING:
            self._send(response_to(pdu, status=_S.ESME_RALYBND), now)
        elif self.state is State.OPEN:
            self._bind_request = pdu
            self.state = State.BINDING
            params = pdu.params
            events.append(BindRequested(_MODE_OF_BIND[pdu.command], params["system_id"],
                                        params["password"], params["system_type"], params))
        else:
            self._send(response_to(pdu, status=_S.ESME_RINVBNDSTS), now)

    def _is_message_for_us(self, command: str) -> bool:
        if self.role is Role.ESME:
            return command in ("deliver_sm", "data_sm")
        return command in ("submit_sm", "data_sm")

    def _may_receive_messages(self) -> bool:
        # Still accept while unbinding: the peer may have sent before seeing our unbind.
        if self.state is not State.UNBINDING:
            bound_state = self.state
        elif self.mode is not None:
            bound_state = _BOUND_STATE[self.mode]
        else:
            return False
        if self.role is Role.ESME:
            return bound_state in _ESME_RECEIVES
        return bound_state in _ESME_SENDS

    def _may_send_messages(self) -> bool:
        if self.role is Role.ESME:
            return self.state in _ESME_SENDS
        return self.state in _ESME_RECEIVES

    def _on_timeout(self, sequence: int, pending: _Pending, events: list[Event]) -> None:
        timeout = self.config.response_timeout
        if pending.kind == _SUBMIT:
            self._outstanding_submits -= 1
            events.append(SubmitTimedOut(pending.ref, sequence))
        elif pending.kind == _ENQUIRE:
            self._enquire_link_sequence = None
            events.append(self._close_with(LinkBroken(
                f"enquire_link not answered within {timeout:g} s", self.outstanding_refs())))
        elif pending.kind == _BIND:
            events.append(self._close_with(BindFailed(None, f"bind not answered within {timeout:g} s")))
        else:
            events.append(self._close_with(Unbound(self.outstanding_refs(), timed_out=True)))

    def _close_with(self, event: Event) -> Event:
        """Enter CLOSED; the event must already carry the outstanding refs."""
        self.state = State.CLOSED
        self._pending.clear()
        self._outstanding_submits = 0
        self._enquire_link_sequence = None
        self._unanswered.clear()
        self._bind_request = None
        return event

    def _take_bind_request(self, operation: str) -> Pdu:
        self._require_role(Role.SMSC, operation)
        request = self._bind_request
        if request is None or self.state is not State.BINDING:
            raise IllegalStateError(f"{operation}: no bind request is waiting for an answer")
        self._bind_request = None
        return request

    def _require_role(self, role: Role, operation: str) -> None:
        if self.role is not role:
            raise IllegalStateError(f"{operation}: only the {role.value} side can do this")

    def _peek_sequence(self) -> int:
        sequence = self._next_sequence
        # Skip a number still awaiting its response (only possible after a full wrap).
        while sequence in self._pending:
            sequence = sequence + 1 if sequence < MAX_SEQUENCE else 1
        self._next_sequence = sequence
        return sequence

    def _send_request(self, pdu: Pdu, kind: str, now: float, ref: Hashable = None) -> int:
        wire = encode(pdu)  # before any state change: an encode error leaves the session as it was
        sequence = pdu.sequence
        self._next_sequence = sequence + 1 if sequence < MAX_SEQUENCE else 1
        self._pending[sequence] = _Pending(kind, now + self.config.response_timeout, ref)
        self._outbound.append(wire)
        self._last_sent = now
        self._now = max(self._now, now)
        return sequence

    def _send(self, pdu: Pdu, now: float) -> None:
        self._outbound.append(encode(pdu))
        self._last_sent = now
