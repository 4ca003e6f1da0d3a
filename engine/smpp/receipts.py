"""Delivery receipts (DLRs): read the deliver_sm an SMSC sends about an earlier MT, and write one.

Reading prefers the SMPP 3.4 TLVs, which are typed and unambiguous: `receipted_message_id` and
`message_state` (section 5.2.28). Many SMSCs send only the de-facto text of SMPP 3.4 Appendix B::

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E Text:...

so each field missing from the TLVs is taken from the text. The text is read leniently because
vendors differ: any letter case, spaces around the colons or between fields, `submit_date` /
`done_date` spellings, fields missing or in another order, 10-digit (YYMMDDhhmm), 12-digit
(with seconds) or 14-digit (four-digit year) dates. Everything after `text:` is the original
message's first characters and is never searched for fields (it may itself contain "stat:").

Mapping to the outbox (`final_state`):

=================  ==================  ===============================================
message_state      final_state         why
=================  ==================  ===============================================
DELIVERED          delivered
UNDELIVERABLE      undeliverable
EXPIRED            expired
REJECTED           rejected
DELETED            undeliverable       the SMSC removed it (cancel_sm or its operator);
                                        it will not be delivered and no other receipt
                                        follows
UNKNOWN            undeliverable       final in SMPP 3.4: no further receipt follows, and
                                        we must not claim delivery we cannot show
ENROUTE, ACCEPTED  None (in flight)    intermediate notifications; ACCEPTED is final in
                                        the letter of 3.4 but SMSCs widely send ACCEPTD
                                        on acceptance, before the real outcome
unrecognised stat  None (in flight)    the raw `status_text` is kept for the log; the
                                        outbox's own expiry settles the message
=================  ==================  ===============================================

Dates in receipt text carry no zone. They are read in `smsc_timezone` (UTC unless configured)
and returned as aware UTC datetimes; an unreadable date is None, not an error, because the outcome
matters more than the timestamp. The text is read as Latin-1 (its fields are ASCII by Appendix B)
unless data_coding says UCS-2.

Message ids: SMPP leaves the format to the SMSC, and some SMSCs answer submit_sm with a hex id but
report the receipt with the same number in decimal (or the reverse). `message_id_variants` gives
every spelling worth looking up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from enum import IntEnum, StrEnum

__all__ = [
    "MessageState",
    "FinalState",
    "DeliveryReceipt",
    "MalformedReceipt",
    "is_delivery_receipt",
    "parse_receipt",
    "final_state_for",
    "message_id_variants",
    "format_receipt_text",
    "receipt_tlvs",
    "ESM_CLASS_SMSC_DELIVERY_RECEIPT",
    "ESM_CLASS_INTERMEDIATE_NOTIFICATION",
]

ESM_CLASS_MESSAGE_TYPE_MASK = 0x3C
ESM_CLASS_SMSC_DELIVERY_RECEIPT = 0x04
ESM_CLASS_INTERMEDIATE_NOTIFICATION = 0x20


class MessageState(IntEnum):
    """SMPP 3.4 section 5.2.28 message_state values."""

    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


class FinalState(StrEnum):
    """The outbox states a receipt can settle an MT in."""

    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"
    EXPIRED = "expired"
    REJECTED = "rejected"


class MalformedReceipt(ValueError):
    """The deliver_sm claims to be a receipt but names no message id anywhere."""


@dataclass(frozen=True)
class DeliveryReceipt:
    """What a receipt says. `final_state` is None while the message is still in flight."""

    message_id: str
    message_state: MessageState | None
    final_state: FinalState | None
    error_code: str | None = None
    done_at: datetime | None = None
    submitted_at: datetime | None = None
    status_text: str | None = None
    submitted_parts: int | None = None
    delivered_parts: int | None = None
    text: str | None = None
    network_error: tuple[int, int] | None = None  # (network type, error code) from the TLV


_FINAL_STATES = {
    MessageState.DELIVERED: FinalState.DELIVERED,
    MessageState.UNDELIVERABLE: FinalState.UNDELIVERABLE,
    MessageState.EXPIRED: FinalState.EXPIRED,
    MessageState.REJECTED: FinalState.REJECTED,
    MessageState.DELETED: FinalState.UNDELIVERABLE,
    MessageState.UNKNOWN: FinalState.UNDELIVERABLE,
}

# Appendix B abbreviations first, then spellings seen from real SMSCs.
_STAT_WORDS = {
    "DELIVRD": MessageState.DELIVERED,
    "DELIVERED": MessageState.DELIVERED,
    "DELIVER": MessageState.DELIVERED,
    "EXPIRED": MessageState.EXPIRED,
    "EXPIRD": MessageState.EXPIRED,
    "DELETED": MessageState.DELETED,
    "DELETD": MessageState.DELETED,
    "UNDELIV": MessageState.UNDELIVERABLE,
    "UNDELIVERABLE": MessageState.UNDELIVERABLE,
    "UNDELIVERED": MessageState.UNDELIVERABLE,
    "FAILED": MessageState.UNDELIVERABLE,
    "ACCEPTD": MessageState.ACCEPTED,
    "ACCEPTED": MessageState.ACCEPTED,
    "UNKNOWN": MessageState.UNKNOWN,
    "REJECTD": MessageState.REJECTED,
    "REJECTED": MessageState.REJECTED,
    "ENROUTE": MessageState.ENROUTE,
    "BUFFRED": MessageState.ENROUTE,
    "BUFFERED": MessageState.ENROUTE,
}

_STAT_ABBREVIATIONS = {
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
}

_FIELD_KEY = re.compile(
    r"(?<![A-Za-z_])(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err|text)\s*:",
    re.IGNORECASE,
)


def is_delivery_receipt(esm_class: int) -> bool:
    """True for an SMSC delivery receipt (0x04) or intermediate notification (0x20) deliver_sm."""
    return (esm_class & ESM_CLASS_MESSAGE_TYPE_MASK) in (
        ESM_CLASS_SMSC_DELIVERY_RECEIPT,
        ESM_CLASS_INTERMEDIATE_NOTIFICATION,
    )


def final_state_for(state: MessageState | None) -> FinalState | None:
    """The outbox state a message_state settles in, or None while in flight."""
    return None if state is None else _FINAL_STATES.get(state)


def parse_receipt(
    short_message: bytes | str,
    tlvs: Mapping[str, object] | None = None,
    *,
    data_coding: int = 0,
    smsc_timezone: tzinfo = timezone.utc,
) -> DeliveryReceipt:
    """Read a receipt deliver_sm from its short_message and TLVs (smpplib names); TLVs win."""
    tlvs = tlvs or {}
    body = short_message
    if not body and tlvs.get("message_payload"):
        body = tlvs["message_payload"]  # type: ignore[assignment]
    text = _as_text(body, data_coding)
    fields = _text_fields(text)

    message_id = _tlv_text(tlvs.get("receipted_message_id")) or fields.get("id")
    if not message_id:
        raise MalformedReceipt(
            f"receipt names no message id (no receipted_message_id TLV and no id: field in {text[:80]!r})"
        )

    status_text = fields.get("stat")
    state = _tlv_state(tlvs.get("message_state"))
    if state is None and status_text:
        state = _STAT_WORDS.get(status_text.upper())

    return DeliveryReceipt(
        message_id=message_id,
        message_state=state,
        final_state=final_state_for(state),
        error_code=fields.get("err") or None,
        done_at=_parse_date(fields.get("done date"), smsc_timezone),
        submitted_at=_parse_date(fields.get("submit date"), smsc_timezone),
        status_text=status_text,
        submitted_parts=_parse_count(fields.get("sub")),
        delivered_parts=_parse_count(fields.get("dlvrd")),
        text=fields.get("text"),
        network_error=_network_error(tlvs.get("network_error_code")),
    )


def message_id_variants(message_id: str) -> tuple[str, ...]:
    """Spellings of `message_id` an outbox lookup should try: as given, hex<->decimal, no leading zeros.

    The first entry is always the id as given (stripped). Ambiguous ids (all digits) yield both
    their decimal-as-hex and plain forms; the caller decides by lookup which one exists.
    """
    given = message_id.strip().rstrip("\x00")
    variants = [given]

    def add(candidate: str) -> None:
        if candidate and candidate not in variants:
            variants.append(candidate)

    if re.fullmatch(r"[0-9]+", given):
        add(given.lstrip("0") or "0")
        number = int(given)
        add(format(number, "x"))
        add(format(number, "X"))
    if re.fullmatch(r"[0-9A-Fa-f]+", given):
        add(given.lower())
        add(given.upper())
        add(str(int(given, 16)))
    return tuple(variants)


def format_receipt_text(
    message_id: str,
    state: MessageState,
    *,
    submitted_at: datetime,
    done_at: datetime,
    submitted_parts: int = 1,
    delivered_parts: int | None = None,
    error_code: int = 0,
    original_text: str = "",
    timezone_for_dates: tzinfo = timezone.utc,
) -> str:
    """The Appendix B receipt text an SMSC (our simulator) puts in short_message.

    Dates are written as YYMMDDhhmm in `timezone_for_dates`; naive datetimes are taken as UTC.
    `delivered_parts` defaults to all parts when delivered, else none.
    """
    if delivered_parts is None:
        delivered_parts = submitted_parts if state is MessageState.DELIVERED else 0
    return (
        f"id:{message_id} sub:{submitted_parts:03d} dlvrd:{delivered_parts:03d}"
        f" submit date:{_format_date(submitted_at, timezone_for_dates)}"
        f" done date:{_format_date(done_at, timezone_for_dates)}"
        f" stat:{_STAT_ABBREVIATIONS[MessageState(state)]} err:{error_code:03d}"
        f" text:{original_text[:20]}"
    )


def receipt_tlvs(
    message_id: str,
    state: MessageState,
    network_error: tuple[int, int] | None = None,
) -> dict[str, object]:
    """The SMPP 3.4 receipt TLVs (smpplib names) matching `format_receipt_text`."""
    tlvs: dict[str, object] = {
        "receipted_message_id": message_id,
        "message_state": int(state),
    }
    if network_error is not None:
        network_type, code = network_error
        tlvs["network_error_code"] = bytes([network_type, code >> 8, code & 0xFF])
    return tlvs


def _as_text(body: bytes | str | object, data_coding: int) -> str:
    if isinstance(body, str):
        return body
    if not isinstance(body, (bytes, bytearray, memoryview)):
        return ""
    raw = bytes(body)
    if data_coding == 0x08:
        return raw.decode("utf-16-be", errors="replace")
    return raw.decode("latin-1")


_DATE_KEYS = {"submitdate": "submit date", "donedate": "done date"}


# The Appendix B text exactly as SMSCs (and our simulator) write it, read in one match. No value may
# hold a colon or a space, so no field name can hide in one: where this matches, it reads what
# `_general_text_fields` reads (tests/unit/smpp/test_receipts.py checks both on generated texts),
# in a third of the time, once per reply.
_APPENDIX_B = re.compile(
    r"id:([^\s:]+) sub:([^\s:]*) dlvrd:([^\s:]*) submit date:([^\s:]*) done date:([^\s:]*)"
    r" stat:([^\s:]*) err:([^\s:]*)(?: text:(.*))?",
    re.IGNORECASE | re.DOTALL,
)
_APPENDIX_B_KEYS = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err")


def _text_fields(text: str) -> dict[str, str]:
    """Field name (lower case, `submit date` / `done date` normalised) -> value."""
    standard = _APPENDIX_B.fullmatch(text)
    if standard is None:
        return _general_text_fields(text)
    fields = dict(zip(_APPENDIX_B_KEYS, standard.groups()))
    if standard.group(8) is not None:
        fields["text"] = standard.group(8)
    return fields


def _general_text_fields(text: str) -> dict[str, str]:
    """`_text_fields` for any order, spacing and spelling of the field names."""
    fields: dict[str, str] = {}
    matches = list(_FIELD_KEY.finditer(text))
    for index, match in enumerate(matches):
        key = match.group(1).lower().replace(" ", "").replace("_", "")
        key = _DATE_KEYS.get(key, key)
        if key == "text":
            # Free text runs to the end and may contain anything, including "stat:".
            fields.setdefault("text", text[match.end():])
            break
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        value = text[match.end():end].strip()
        fields.setdefault(key, value.split()[0] if value else "")
    return fields


def _tlv_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("latin-1")
    text = str(value).strip().rstrip("\x00").strip()
    return text or None


def _tlv_state(value: object) -> MessageState | None:
    if isinstance(value, (bytes, bytearray)) and len(value) == 1:
        value = value[0]
    try:
        return MessageState(int(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _network_error(value: object) -> tuple[int, int] | None:
    if isinstance(value, str):
        value = value.encode("latin-1", errors="replace")
    if isinstance(value, (bytes, bytearray)) and len(value) == 3:
        return value[0], int.from_bytes(value[1:3], "big")
    return None


def _parse_count(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _parse_date(value: str | None, smsc_timezone: tzinfo) -> datetime | None:
    if not value:
        return None
    digits = value if value.isdecimal() else re.sub(r"\D", "", value)  # isdecimal: exactly what \d matches
    # YYMMDDhhmm[ss] or YYYYMMDDhhmmss, read by slicing: strptime cost 16 µs a date, two a receipt,
    # one receipt per reply. Two-digit years as strptime's %y reads them (69-99: 1900s).
    if len(digits) == 14:
        year, rest = int(digits[:4]), digits[4:]
    elif len(digits) in (10, 12):
        short_year, rest = int(digits[:2]), digits[2:]
        year = short_year + (1900 if short_year >= 69 else 2000)
    else:
        return None
    try:
        local = datetime(year, int(rest[0:2]), int(rest[2:4]), int(rest[4:6]), int(rest[6:8]),
                         int(rest[8:10]) if len(rest) == 10 else 0)
    except ValueError:
        return None
    return local.replace(tzinfo=smsc_timezone).astimezone(timezone.utc)


def _format_date(moment: datetime, zone: tzinfo) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(zone).strftime("%y%m%d%H%M")
