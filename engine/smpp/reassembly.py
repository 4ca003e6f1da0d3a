"""Put concatenated MO messages back together, from UDH or SAR TLVs, without sockets or clocks.

A phone splits a long text into parts that share a reference number. The SMSC delivers each part
as its own deliver_sm, either with the phone's User Data Header still in front of the text
(esm_class bit 0x40, UDHI) or with the header turned into the SAR TLVs (sar_msg_ref_num,
sar_total_segments, sar_segment_seqnum). Both concatenation IEs are read: 0x00 (8-bit reference)
and 0x08 (16-bit reference); any other IE in the header (port addressing, national language
shift, ...) is skipped.

Design and choices:

- Parts are keyed by (source address, reference, total), as the phone numbers them. Parts may
  arrive in any order. A part whose sequence number is already held is a duplicate and ignored
  (the first copy wins).
- The *bytes* of the parts are joined in sequence order and decoded once: a GSM escape (0x1B) may
  sit at the end of one part with its character at the start of the next, and only the joined
  septets read correctly. Should parts disagree on data_coding, each run of parts sharing one is
  joined and decoded on its own.
- Per 3GPP TS 23.040 9.2.3.24.1, a concatenation IE with total 0, sequence 0 or sequence > total
  is ignored, so such a part is a message of its own; so is a "concatenated" message of 1 part.
- Time is a number the caller passes in (seconds on any monotonic clock). A message incomplete
  `timeout_seconds` after its *first* part arrived is expired by `expire(now)`: it comes back with
  `complete=False` and `should_process` telling the policy: `on_timeout="process"` hands the parts
  we have to the command rules (runs decoded separately and joined with `gap_marker`, because a
  GSM escape must not bind across a gap); `"discard"` only reports it, for the log.
- After a message completes or expires, its key is remembered for another `timeout_seconds` so
  that a retransmitted part (same sequence, same bytes) or a straggler (a sequence we never got)
  is ignored instead of starting a fragment that would later be processed as a message of its own.
  A part under that key with a held sequence but *different* bytes is a new message that reused
  the reference, and starts afresh.
- The reassembler holds state in memory only. To keep "nothing lost", the adapter stores each
  part before acknowledging it and, after a restart, replays the stored parts in arrival order;
  `ReassembledMessage.parts` gives back the `IncomingPart`s (with the caller's `handle`, e.g. a
  row id) so their rows can be cleared once the message is handled.
- A malformed UDH (lengths that overrun the message) raises `MalformedUdh`; nothing is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from engine.smpp.encoding import SmscDefaultAlphabet, decode_short_message
from engine.smpp.segmentation import ESM_CLASS_UDHI, IEI_CONCAT_8BIT_REF, IEI_CONCAT_16BIT_REF

__all__ = [
    "ESM_CLASS_UDHI",
    "InformationElement",
    "MalformedUdh",
    "ConcatenationInfo",
    "IncomingPart",
    "ReassembledMessage",
    "Reassembler",
    "TimeoutPolicy",
    "parse_udh",
    "strip_udh",
    "concatenation_info",
]

TimeoutPolicy = Literal["process", "discard"]


class MalformedUdh(ValueError):
    """The User Data Header's lengths do not fit the message."""


@dataclass(frozen=True)
class InformationElement:
    """One IE of a User Data Header."""

    iei: int
    data: bytes


@dataclass(frozen=True)
class ConcatenationInfo:
    """Where a part sits in its message; `sequence` counts from 1."""

    reference: int
    total: int
    sequence: int


@dataclass(frozen=True)
class IncomingPart:
    """The fields of one deliver_sm the reassembler needs; `handle` is the caller's, returned as is."""

    source_addr: str
    short_message: bytes
    data_coding: int = 0
    esm_class: int = 0
    tlvs: Mapping[str, object] = field(default_factory=dict)
    handle: object = None


@dataclass(frozen=True)
class ReassembledMessage:
    """A whole message, or what arrived of one before it timed out."""

    source_addr: str
    text: str
    complete: bool
    should_process: bool
    total_parts: int
    received_sequences: tuple[int, ...]
    parts: tuple[IncomingPart, ...]
    reference: int | None = None
    first_part_at: float | None = None

    @property
    def missing_sequences(self) -> tuple[int, ...]:
        held = set(self.received_sequences)
        return tuple(n for n in range(1, self.total_parts + 1) if n not in held)


def parse_udh(user_data: bytes) -> tuple[tuple[InformationElement, ...], bytes]:
    """Split user data that starts with a UDH into its IEs and the text after it."""
    user_data = bytes(user_data)
    if not user_data:
        raise MalformedUdh("UDHI is set but the message is empty")
    header_length = user_data[0]
    if 1 + header_length > len(user_data):
        raise MalformedUdh(
            f"UDH length {header_length} overruns the {len(user_data)}-octet message"
        )
    header = user_data[1 : 1 + header_length]
    elements: list[InformationElement] = []
    index = 0
    while index < len(header):
        if index + 2 > len(header):
            raise MalformedUdh(f"UDH ends inside an IE header at octet {index + 1}")
        iei, length = header[index], header[index + 1]
        start = index + 2
        if start + length > len(header):
            raise MalformedUdh(f"IE 0x{iei:02X} of length {length} overruns the {header_length}-octet UDH")
        elements.append(InformationElement(iei, header[start : start + length]))
        index = start + length
    return tuple(elements), user_data[1 + header_length :]


def strip_udh(short_message: bytes, esm_class: int) -> bytes:
    """The text octets of a deliver_sm: the UDH removed when esm_class has UDHI set."""
    if not esm_class & ESM_CLASS_UDHI:
        return bytes(short_message)
    return parse_udh(short_message)[1]


def concatenation_info(part: IncomingPart) -> ConcatenationInfo | None:
    """The part's concatenation reference from its UDH (preferred) or SAR TLVs, if any is valid."""
    if part.esm_class & ESM_CLASS_UDHI:
        elements, _ = parse_udh(_user_data(part))
        for element in elements:
            info = _from_element(element)
            if info is not None:
                return info
    tlvs = part.tlvs
    if "sar_msg_ref_num" not in tlvs:
        return None  # a message in one part, nearly every MO: no exception raised and caught for it
    try:
        reference = int(tlvs["sar_msg_ref_num"])  # type: ignore[call-overload]
        total = int(tlvs["sar_total_segments"])  # type: ignore[call-overload]
        sequence = int(tlvs["sar_segment_seqnum"])  # type: ignore[call-overload]
    except (KeyError, TypeError, ValueError):
        return None
    return _valid(reference, total, sequence)


_Key = tuple[str, int, int]


@dataclass
class _Pending:
    first_part_at: float
    parts: dict[int, IncomingPart]


@dataclass
class _Settled:
    forget_at: float
    bodies: dict[int, bytes]


class Reassembler:
    """Collects parts into messages; feed it with `add`, and call `expire` when `next_expiry` comes."""

    def __init__(
        self,
        timeout_seconds: float,
        on_timeout: TimeoutPolicy = "process",
        *,
        gap_marker: str = "…",
        smsc_default_alphabet: SmscDefaultAlphabet = "gsm0338",
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError(f"reassembly timeout must be positive, not {timeout_seconds!r}")
        if on_timeout not in ("process", "discard"):
            raise ValueError(f"on_timeout must be 'process' or 'discard', not {on_timeout!r}")
        self.timeout_seconds = timeout_seconds
        self.on_timeout = on_timeout
        self.gap_marker = gap_marker
        self.smsc_default_alphabet = smsc_default_alphabet
        self._pending: dict[_Key, _Pending] = {}
        self._settled: dict[_Key, _Settled] = {}
        self.duplicates_ignored = 0
        self.stragglers_ignored = 0

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def add(self, part: IncomingPart, now: float) -> ReassembledMessage | None:
        """Take one part; return the message when this part completes it (or is a whole message)."""
        info = concatenation_info(part)
        if info is None or info.total == 1:
            return self._message([(1, part)], total=1, complete=True, reference=None, first_part_at=now)

        key = (part.source_addr, info.reference, info.total)
        body = self._body(part)
        settled = self._settled.get(key)
        if settled is not None and settled.forget_at > now:
            held = settled.bodies.get(info.sequence)
            if held is None:
                self.stragglers_ignored += 1
                return None
            if held == body:
                self.duplicates_ignored += 1
                return None
            del self._settled[key]  # same reference, different text: a new message

        pending = self._pending.setdefault(key, _Pending(first_part_at=now, parts={}))
        if info.sequence in pending.parts:
            self.duplicates_ignored += 1
            return None
        pending.parts[info.sequence] = part
        if len(pending.parts) < info.total:
            return None

        del self._pending[key]
        self._remember(key, pending, now)
        return self._message(
            sorted(pending.parts.items()),
            total=info.total,
            complete=True,
            reference=info.reference,
            first_part_at=pending.first_part_at,
        )

    def expire(self, now: float) -> list[ReassembledMessage]:
        """Incomplete messages whose first part is `timeout_seconds` old, oldest first."""
        for key in [k for k, s in self._settled.items() if s.forget_at <= now]:
            del self._settled[key]
        due = sorted(
            (p.first_part_at, key)
            for key, p in self._pending.items()
            if p.first_part_at + self.timeout_seconds <= now
        )
        expired: list[ReassembledMessage] = []
        for _, key in due:
            pending = self._pending.pop(key)
            self._remember(key, pending, now)
            expired.append(
                self._message(
                    sorted(pending.parts.items()),
                    total=key[2],
                    complete=False,
                    reference=key[1],
                    first_part_at=pending.first_part_at,
                )
            )
        return expired

    def next_expiry(self) -> float | None:
        """When `expire` next has something to return (the caller schedules a call then)."""
        if not self._pending:
            return None
        return min(p.first_part_at for p in self._pending.values()) + self.timeout_seconds

    def _remember(self, key: _Key, pending: _Pending, now: float) -> None:
        self._settled[key] = _Settled(
            forget_at=now + self.timeout_seconds,
            bodies={sequence: self._body(part) for sequence, part in pending.parts.items()},
        )

    def _body(self, part: IncomingPart) -> bytes:
        user_data = _user_data(part)
        if part.esm_class & ESM_CLASS_UDHI:
            return parse_udh(user_data)[1]
        return user_data

    def _message(
        self,
        numbered_parts: list[tuple[int, IncomingPart]],
        *,
        total: int,
        complete: bool,
        reference: int | None,
        first_part_at: float,
    ) -> ReassembledMessage:
        return ReassembledMessage(
            source_addr=numbered_parts[0][1].source_addr,
            text=self._decode_runs(numbered_parts),
            complete=complete,
            should_process=complete or self.on_timeout == "process",
            total_parts=total,
            received_sequences=tuple(n for n, _ in numbered_parts),
            parts=tuple(p for _, p in numbered_parts),
            reference=reference,
            first_part_at=first_part_at,
        )

    def _decode_runs(self, numbered_parts: list[tuple[int, IncomingPart]]) -> str:
        # A run is consecutive sequence numbers sharing a data_coding: its bytes decode as one.
        texts: list[str] = []
        run: list[bytes] = []
        run_coding: int | None = None
        previous: int | None = None
        for sequence, part in numbered_parts:
            gap = previous is not None and sequence != previous + 1
            if run and (gap or part.data_coding != run_coding):
                texts.append(self._decode(b"".join(run), run_coding))
                if gap:
                    texts.append(self.gap_marker)
                run = []
            run.append(self._body(part))
            run_coding = part.data_coding
            previous = sequence
        if run:
            texts.append(self._decode(b"".join(run), run_coding))
        return "".join(texts)

    def _decode(self, payload: bytes, data_coding: int | None) -> str:
        return decode_short_message(
            payload, data_coding or 0, smsc_default_alphabet=self.smsc_default_alphabet
        )


def _user_data(part: IncomingPart) -> bytes:
    if part.short_message:
        return bytes(part.short_message)
    payload = part.tlvs.get("message_payload")
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode("latin-1", errors="replace")
    return b""


def _from_element(element: InformationElement) -> ConcatenationInfo | None:
    if element.iei == IEI_CONCAT_8BIT_REF and len(element.data) == 3:
        reference, total, sequence = element.data
        return _valid(reference, total, sequence)
    if element.iei == IEI_CONCAT_16BIT_REF and len(element.data) == 4:
        reference = int.from_bytes(element.data[:2], "big")
        return _valid(reference, element.data[2], element.data[3])
    return None


def _valid(reference: int, total: int, sequence: int) -> ConcatenationInfo | None:
    if total < 1 or not 1 <= sequence <= total:
        return None
    return ConcatenationInfo(reference, total, sequence)
