"""SMPP 3.4 PDU codec: bytes <-> `Pdu`, and the repairs smpplib 2.2.4 needs.

Why not call `smpplib.smpp.parse_pdu` / `Command.generate` on the hot path
--------------------------------------------------------------------------
smpplib's codec is the project's reference for command names and codes, but on
2.2.4 it is both slow (about 15,000 submit_sm encode+decode pairs per second on
the development box before any wrapping) and loose with garbage: a C-octet
string without its NUL decodes silently as a wrong value, a truncated body
raises `struct.error`, TLVs missing from a command's table raise `KeyError`
(smpplib issue #104), a request PDU cannot even be parsed without a client
object. Wrapping it would cost more than the 10,000 submit_sm/s budget, so the
codec here is a small table-driven encoder/decoder written from the SMPP 3.4
layout (section 4 for bodies, section 5.3.2 for TLVs). smpplib still supplies
the command-id table, and at import this module repairs smpplib's own command
classes (`repair_smpplib`) so any code that does use smpplib objects (tests
compare against it; see `to_smpplib`) agrees with this codec.

Representation the rest of the engine sees
------------------------------------------
`Pdu(command, sequence, status, params)` - an immutable dataclass. `command` is
the SMPP name (`"submit_sm"`), `params` a dict that must be treated as
read-only. Values in `params`:

* C-octet strings (addresses, system_id, message_id, receipted_message_id,
  schedule/validity times, ...): `str`. Decoded as latin-1, which maps every
  byte to one character, so nothing is lost; encoded as latin-1, so a
  character above U+00FF is an encode error (SMPP addresses and ids are ASCII).
* Octet strings (`short_message`, `message_payload`, `network_error_code`,
  `callback_num`, subaddresses, `callback_num_atag`): `bytes`. Text encoding
  (GSM 03.38, UCS-2) belongs to the encoding module, not here.
* Integers, including the TLVs `ussd_service_op` (one octet) and
  `its_session_info` (two octets read big-endian: session number in the high
  octet, sequence number and end-of-session bit 0 in the low octet): `int`.
* The value-less TLV `alert_on_message_delivery`: `True` when present.
* `sm_length` never appears: it is derived from `short_message`.
* TLVs this module does not know (vendor tags) are kept, not dropped, as
  `params["unknown_tlvs"]`: a tuple of `(tag, value_bytes)`; encode writes them
  back unchanged.

A decoded PDU always has every mandatory body field of its command (defaults
`""`, `0`, `b""` where a response arrived header-only, as SMSCs do for error
responses) plus only the TLVs that were present. Commands whose body this
codec does not lay out (`submit_multi`, `replace_sm`, `cancel_sm`, `outbind`
...) decode with the header only and `params == {"body": raw_bytes}` so the
session can still answer them with the right response.

Errors
------
`decode` raises only `PduDecodeError` (command_id, sequence when readable, and
the SMPP status to answer with); `extract_pdus` raises `FramingError`, a
subclass, when the length header itself is impossible and framing is lost.
`encode` raises `PduEncodeError` (a `ValueError`) for a caller mistake.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Mapping

from smpplib import command as smpplib_command
from smpplib import command_codes as smpplib_command_codes
from smpplib import consts as smpplib_consts
from smpplib import ptypes as smpplib_ptypes

__all__ = [
    "CommandStatus",
    "Pdu",
    "PduDecodeError",
    "FramingError",
    "PduEncodeError",
    "COMMAND_IDS",
    "COMMAND_NAMES",
    "HEADER_LENGTH",
    "MAX_PDU_LENGTH",
    "STANDARD_TLVS",
    "decode",
    "decode_header",
    "encode",
    "extract_pdus",
    "is_response",
    "response_command",
    "response_to",
    "generic_nack",
    "repair_smpplib",
    "to_smpplib",
]

HEADER_LENGTH = 16
# No legitimate SMPP 3.4 PDU comes near this (message_payload is at most 64 KiB
# by its 2-byte TLV length); anything larger means the stream is not SMPP.
MAX_PDU_LENGTH = 64 * 1024 + 1024


class CommandStatus(IntEnum):
    """The SMPP 3.4 command_status values the engine produces or acts on."""

    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSYSTYP = 0x53
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


_S = CommandStatus


# --------------------------------------------------------------------------- errors


class PduDecodeError(Exception):
    """Bytes that are not a valid SMPP 3.4 PDU.

    `status` is what to answer with in a generic_nack (or the command's
    response); `sequence` is None when the header itself was unreadable.
    """

    def __init__(self, message: str, *, status: int, command_id: int | None = None,
                 sequence: int | None = None) -> None:
        super().__init__(message)
        self.status = int(status)
        self.command_id = command_id
        self.sequence = sequence


class FramingError(PduDecodeError):
    """The command_length header is impossible: the byte stream cannot be re-synchronised."""


class PduEncodeError(ValueError):
    """A PDU the caller asked for cannot be encoded (unknown field, value out of range...)."""


# --------------------------------------------------------------------------- the PDU value


@dataclass(frozen=True, slots=True)
class Pdu:
    """One SMPP PDU. `params` is read-only by convention (see module docstring)."""

    command: str
    sequence: int
    status: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def command_id(self) -> int:
        return COMMAND_IDS[self.command]

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


# --------------------------------------------------------------------------- command table

# smpplib's command-id table is correct and complete for SMPP 3.4; reuse it.
COMMAND_IDS: dict[str, int] = dict(smpplib_command_codes.commands)
COMMAND_NAMES: dict[int, str] = {code: name for name, code in COMMAND_IDS.items()}

_RESPONSE_BIT = 0x80000000


def is_response(command: str) -> bool:
    return bool(COMMAND_IDS[command] & _RESPONSE_BIT)


def response_command(command: str) -> str | None:
    """The response's name for a request (`submit_sm` -> `submit_sm_resp`); None if it has none."""
    name = command + "_resp"
    return name if name in COMMAND_IDS else None


# Field kinds of the mandatory body (SMPP 3.4 section 4).
_INT1, _CSTR, _SHORT_MESSAGE = 1, 2, 3

_BIND_BODY = (
    ("system_id", _CSTR, 16), ("password", _CSTR, 9), ("system_type", _CSTR, 13),
    ("interface_version", _INT1, 1), ("addr_ton", _INT1, 1), ("addr_npi", _INT1, 1),
    ("address_range", _CSTR, 41),
)
_SM_BODY = (
    ("service_type", _CSTR, 6), ("source_addr_ton", _INT1, 1), ("source_addr_npi", _INT1, 1),
    ("source_addr", _CSTR, 21), ("dest_addr_ton", _INT1, 1), ("dest_addr_npi", _INT1, 1),
    ("destination_addr", _CSTR, 21), ("esm_class", _INT1, 1), ("protocol_id", _INT1, 1),
    ("priority_flag", _INT1, 1), ("schedule_delivery_time", _CSTR, 17),
    ("validity_period", _CSTR, 17), ("registered_delivery", _INT1, 1),
    ("replace_if_present_flag", _INT1, 1), ("data_coding", _INT1, 1),
    ("sm_default_msg_id", _INT1, 1), ("short_message", _SHORT_MESSAGE, 254),
)
_MESSAGE_ID_BODY = (("message_id", _CSTR, 65),)

# Mandatory body per command, in spec order. A command absent here but present in
# COMMAND_IDS is known-but-not-laid-out: header decoded, body kept raw.
BODY_LAYOUTS: dict[str, tuple[tuple[str, int, int], ...]] = {
    "bind_transmitter": _BIND_BODY,
    "bind_receiver": _BIND_BODY,
    "bind_transceiver": _BIND_BODY,
    "bind_transmitter_resp": (("system_id", _CSTR, 16),),
    "bind_receiver_resp": (("system_id", _CSTR, 16),),
    "bind_transceiver_resp": (("system_id", _CSTR, 16),),
    "outbind": (("system_id", _CSTR, 16), ("password", _CSTR, 9)),
    "unbind": (),
    "unbind_resp": (),
    "enquire_link": (),
    "enquire_link_resp": (),
    "generic_nack": (),
    "submit_sm": _SM_BODY,
    "submit_sm_resp": _MESSAGE_ID_BODY,
    "deliver_sm": _SM_BODY,
    "deliver_sm_resp": _MESSAGE_ID_BODY,
    "data_sm": (
        ("service_type", _CSTR, 6), ("source_addr_ton", _INT1, 1), ("source_addr_npi", _INT1, 1),
        ("source_addr", _CSTR, 65), ("dest_addr_ton", _INT1, 1), ("dest_addr_npi", _INT1, 1),
        ("destination_addr", _CSTR, 65), ("esm_class", _INT1, 1),
        ("registered_delivery", _INT1, 1), ("data_coding", _INT1, 1),
    ),
    "data_sm_resp": _MESSAGE_ID_BODY,
    "query_sm": (
        ("message_id", _CSTR, 65), ("source_addr_ton", _INT1, 1), ("source_addr_npi", _INT1, 1),
        ("source_addr", _CSTR, 21),
    ),
    "query_sm_resp": (
        ("message_id", _CSTR, 65), ("final_date", _CSTR, 17), ("message_state", _INT1, 1),
        ("error_code", _INT1, 1),
    ),
    "cancel_sm_resp": (),
    "replace_sm_resp": (),
    "alert_notification": (
        ("source_addr_ton", _INT1, 1), ("source_addr_npi", _INT1, 1), ("source_addr", _CSTR, 65),
        ("esme_addr_ton", _INT1, 1), ("esme_addr_npi", _INT1, 1), ("esme_addr", _CSTR, 65),
    ),
}

# A string that overflows its field gets the field's own status, so the peer can tell why.
_FIELD_STATUS = {
    "source_addr": _S.ESME_RINVSRCADR, "destination_addr": _S.ESME_RINVDSTADR,
    "system_id": _S.ESME_RINVSYSID, "password": _S.ESME_RINVPASWD,
    "system_type": _S.ESME_RINVSYSTYP, "service_type": _S.ESME_RINVSERTYP,
    "message_id": _S.ESME_RINVMSGID, "schedule_delivery_time": _S.ESME_RINVSCHED,
    "validity_period": _S.ESME_RINVEXPIRY, "short_message": _S.ESME_RINVMSGLEN,
}

# --------------------------------------------------------------------------- TLVs (SMPP 3.4 5.3.2)

# TLV value kinds.
_TLV_INT, _TLV_CSTR, _TLV_OSTR, _TLV_FLAG = "int", "cstr", "ostr", "flag"

# name: (tag, kind, size) - size is the octet count for ints and fixed octet strings,
# the maximum (NUL included) for C-strings, the maximum for variable octet strings.
STANDARD_TLVS: dict[str, tuple[int, str, int]] = {
    "dest_addr_subunit": (0x0005, _TLV_INT, 1),
    "dest_network_type": (0x0006, _TLV_INT, 1),
    "dest_bearer_type": (0x0007, _TLV_INT, 1),
    "dest_telematics_id": (0x0008, _TLV_INT, 2),
    "source_addr_subunit": (0x000D, _TLV_INT, 1),
    "source_network_type": (0x000E, _TLV_INT, 1),
    "source_bearer_type": (0x000F, _TLV_INT, 1),
    "source_telematics_id": (0x0010, _TLV_INT, 1),
    "qos_time_to_live": (0x0017, _TLV_INT, 4),
    "payload_type": (0x0019, _TLV_INT, 1),
    "additional_status_info_text": (0x001D, _TLV_CSTR, 256),
    "receipted_message_id": (0x001E, _TLV_CSTR, 65),
    "ms_msg_wait_facilities": (0x0030, _TLV_INT, 1),
    "privacy_indicator": (0x0201, _TLV_INT, 1),
    "source_subaddress": (0x0202, _TLV_OSTR, 23),
    "dest_subaddress": (0x0203, _TLV_OSTR, 23),
    "user_message_reference": (0x0204, _TLV_INT, 2),
    "user_response_code": (0x0205, _TLV_INT, 1),
    "source_port": (0x020A, _TLV_INT, 2),
    "destination_port": (0x020B, _TLV_INT, 2),
    "sar_msg_ref_num": (0x020C, _TLV_INT, 2),
    "language_indicator": (0x020D, _TLV_INT, 1),
    "sar_total_segments": (0x020E, _TLV_INT, 1),
    "sar_segment_seqnum": (0x020F, _TLV_INT, 1),
    "sc_interface_version": (0x0210, _TLV_INT, 1),
    "callback_num_pres_ind": (0x0302, _TLV_INT, 1),
    "callback_num_atag": (0x0303, _TLV_OSTR, 65),
    "number_of_messages": (0x0304, _TLV_INT, 1),
    "callback_num": (0x0381, _TLV_OSTR, 19),
    "dpf_result": (0x0420, _TLV_INT, 1),
    "set_dpf": (0x0421, _TLV_INT, 1),
    "ms_availability_status": (0x0422, _TLV_INT, 1),
    "network_error_code": (0x0423, _TLV_OSTR, 3),
    "message_payload": (0x0424, _TLV_OSTR, 0xFFFF),
    "delivery_failure_reason": (0x0425, _TLV_INT, 1),
    "more_messages_to_send": (0x0426, _TLV_INT, 1),
    "message_state": (0x0427, _TLV_INT, 1),
    "ussd_service_op": (0x0501, _TLV_INT, 1),
    "display_time": (0x1201, _TLV_INT, 1),
    "sms_signal": (0x1203, _TLV_INT, 2),
    "ms_validity": (0x1204, _TLV_INT, 1),
    "alert_on_message_delivery": (0x130C, _TLV_FLAG, 0),
    "its_reply_type": (0x1380, _TLV_INT, 1),
    "its_session_info": (0x1383, _TLV_INT, 2),
}
_TLV_BY_TAG = {tag: (name, kind, size) for name, (tag, kind, size) in STANDARD_TLVS.items()}
# Aliases accepted on encode for readability elsewhere in the engine.
_TLV_ALIASES = {"dest_port": "destination_port"}

# --------------------------------------------------------------------------- framing

_HEADER = struct.Struct(">IIII")
_LENGTH = struct.Struct(">I")
_TLV_HEADER = struct.Struct(">HH")


def decode_header(data: bytes) -> tuple[int, int, int, int]:
    """(command_length, command_id, command_status, sequence_number) of the first 16 bytes."""
    if len(data) < HEADER_LENGTH:
        raise PduDecodeError(f"PDU shorter than the 16-byte header ({len(data)} bytes)",
                             status=_S.ESME_RINVCMDLEN)
    return _HEADER.unpack_from(data)


def extract_pdus(buffer: bytearray) -> list[bytes]:
    """Remove and return every complete PDU at the front of `buffer`.

    A partial PDU stays in the buffer for the next call. Raises `FramingError`
    when a command_length is below 16 or above MAX_PDU_LENGTH: the stream can no
    longer be split into PDUs and the connection should be dropped. PDUs
    completed before the bad header are removed from the buffer and attached
    to the error as `.pdus` so they are not lost.
    """
    pdus: list[bytes] = []
    position = 0
    available = len(buffer)
    while available - position >= 4:
        (length,) = _LENGTH.unpack_from(buffer, position)
        if length < HEADER_LENGTH or length > MAX_PDU_LENGTH:
            command_id = sequence = None
            if available - position >= HEADER_LENGTH:
                _, command_id, _, sequence = _HEADER.unpack_from(buffer, position)
            del buffer[:position]
            error = FramingError(
                f"command_length {length} outside {HEADER_LENGTH}..{MAX_PDU_LENGTH}: framing lost",
                status=_S.ESME_RINVCMDLEN, command_id=command_id, sequence=sequence)
            error.pdus = pdus  # type: ignore[attr-defined]
            raise error
        if available - position < length:
            break
        pdus.append(bytes(buffer[position:position + length]))
        position += length
    if position:
        del buffer[:position]
    return pdus


# --------------------------------------------------------------------------- decode


def decode(data: bytes) -> Pdu:
    """Decode exactly one PDU (as produced by `extract_pdus`). Raises only PduDecodeError."""
    try:
        return _decode(data)
    except PduDecodeError:
        raise
    except Exception as unexpected:  # a codec bug must not take the link down
        command_id = sequence = None
        if len(data) >= HEADER_LENGTH:
            _, command_id, _, sequence = _HEADER.unpack_from(data)
        raise PduDecodeError(f"undecodable PDU ({type(unexpected).__name__}: {unexpected})",
                             status=_S.ESME_RSYSERR, command_id=command_id,
                             sequence=sequence) from unexpected


def _decode(data: bytes) -> Pdu:
    size = len(data)
    if size < HEADER_LENGTH:
        raise PduDecodeError(f"PDU shorter than the 16-byte header ({size} bytes)",
                             status=_S.ESME_RINVCMDLEN)
    length, command_id, status, sequence = _HEADER.unpack_from(data)
    if length != size:
        raise PduDecodeError(f"command_length {length} but {size} bytes given",
                             status=_S.ESME_RINVCMDLEN, command_id=command_id, sequence=sequence)
    command = COMMAND_NAMES.get(command_id)
    if command is None:
        raise PduDecodeError(f"unknown command_id 0x{command_id:08x}", status=_S.ESME_RINVCMDID,
                             command_id=command_id, sequence=sequence)
    layout = BODY_LAYOUTS.get(command)
    if layout is None:
        return Pdu(command, sequence, status, {"body": bytes(data[HEADER_LENGTH:])})
    if not layout:
        if size == HEADER_LENGTH:
            return Pdu(command, sequence, status, {})
        params: dict[str, Any] = {}
        _decode_tlvs(data, HEADER_LENGTH, size, params, command_id, sequence)
        return Pdu(command, sequence, status, params)

    params = {}
    if size == HEADER_LENGTH and command_id & _RESPONSE_BIT:
        # SMSCs omit the body of (error) responses: fill the defaults.
        for name, kind, _ in layout:
            params[name] = "" if kind == _CSTR else (0 if kind == _INT1 else b"")
        return Pdu(command, sequence, status, params)

    position = HEADER_LENGTH
    for name, kind, limit in layout:
        if kind == _INT1:
            if position >= size:
                raise _truncated(command, name, command_id, sequence)
            params[name] = data[position]
            position += 1
        elif kind == _CSTR:
            end = data.find(b"\x00", position, position + limit)
            if end < 0:
                status_for_field = _FIELD_STATUS.get(name, _S.ESME_RINVCMDLEN)
                if data.find(b"\x00", position, size) < 0:
                    raise _truncated(command, name, command_id, sequence, status_for_field)
                raise PduDecodeError(
                    f"{command}: {name} longer than {limit - 1} characters",
                    status=status_for_field, command_id=command_id, sequence=sequence)
            params[name] = data[position:end].decode("latin-1")
            position = end + 1
        else:  # _SHORT_MESSAGE: sm_length octet then that many octets
            if position >= size:
                raise _truncated(command, "sm_length", command_id, sequence)
            sm_length = data[position]
            position += 1
            if position + sm_length > size:
                raise PduDecodeError(
                    f"{command}: sm_length {sm_length} runs past the end of the PDU",
                    status=_S.ESME_RINVMSGLEN, command_id=command_id, sequence=sequence)
            params[name] = bytes(data[position:position + sm_length])
            position += sm_length
    if position < size:
        _decode_tlvs(data, position, size, params, command_id, sequence)
    return Pdu(command, sequence, status, params)


def _truncated(command: str, name: str, command_id: int, sequence: int,
               status: int = _S.ESME_RINVCMDLEN) -> PduDecodeError:
    return PduDecodeError(f"{command}: body ends before {name}", status=status,
                          command_id=command_id, sequence=sequence)


def _decode_tlvs(data: bytes, position: int, size: int, params: dict[str, Any],
                 command_id: int, sequence: int) -> None:
    unknown: list[tuple[int, bytes]] | None = None
    while position < size:
        if size - position < 4:
            raise PduDecodeError(f"{size - position} stray bytes after the last TLV",
                                 status=_S.ESME_RINVOPTPARSTREAM, command_id=command_id,
                                 sequence=sequence)
        tag, length = _TLV_HEADER.unpack_from(data, position)
        position += 4
        end = position + length
        if end > size:
            raise PduDecodeError(f"TLV 0x{tag:04x} length {length} runs past the end of the PDU",
                                 status=_S.ESME_RINVOPTPARSTREAM, command_id=command_id,
                                 sequence=sequence)
        known = _TLV_BY_TAG.get(tag)
        if known is None:
            if unknown is None:
                unknown = []
            unknown.append((tag, bytes(data[position:end])))
        else:
            name, kind, limit = known
            if kind == _TLV_INT:
                if length != limit:
                    raise PduDecodeError(f"TLV {name} has length {length}, expected {limit}",
                                         status=_S.ESME_RINVPARLEN, command_id=command_id,
                                         sequence=sequence)
                params[name] = int.from_bytes(data[position:end], "big")
            elif kind == _TLV_CSTR:
                # Lenient: some SMSCs omit the terminating NUL; cut at the first one if any.
                raw = bytes(data[position:end])
                nul = raw.find(b"\x00")
                params[name] = (raw if nul < 0 else raw[:nul]).decode("latin-1")
            elif kind == _TLV_OSTR:
                params[name] = bytes(data[position:end])
            else:
                params[name] = True
        position = end
    if unknown is not None:
        params["unknown_tlvs"] = tuple(unknown)


# --------------------------------------------------------------------------- encode

_HEADER_ONLY = frozenset(name for name, layout in BODY_LAYOUTS.items() if not layout)


def encode(pdu: Pdu) -> bytes:
    """Encode a Pdu to wire bytes. Raises PduEncodeError for an impossible PDU."""
    command = pdu.command
    command_id = COMMAND_IDS.get(command)
    if command_id is None:
        raise PduEncodeError(f"unknown SMPP command {command!r}")
    sequence = pdu.sequence
    if not 0 <= sequence <= 0xFFFFFFFF:
        raise PduEncodeError(f"{command}: sequence {sequence} outside 0..0xFFFFFFFF")
    params = pdu.params
    if not params and command in _HEADER_ONLY:
        return _HEADER.pack(HEADER_LENGTH, command_id, pdu.status, sequence)
    layout = BODY_LAYOUTS.get(command)
    if layout is None:
        body = params.get("body", b"")
        if set(params) - {"body"}:
            raise PduEncodeError(f"{command}: only a raw 'body' can be encoded for this command")
        return _HEADER.pack(HEADER_LENGTH + len(body), command_id, pdu.status, sequence) + body
    if pdu.status and command_id & _RESPONSE_BIT and not _has_tlvs(params, layout):
        # SMPP 3.4: the body of a response is not returned when command_status is non-zero.
        return _HEADER.pack(HEADER_LENGTH, command_id, pdu.status, sequence)

    parts: list[bytes] = [b""]
    append = parts.append
    for name, kind, limit in layout:
        value = params.get(name)
        if kind == _INT1:
            if value is None:
                append(b"\x00")
            elif isinstance(value, int) and 0 <= value <= 255:
                append(_BYTE[value])
            else:
                raise PduEncodeError(f"{command}: {name}={value!r} is not an integer 0..255")
        elif kind == _CSTR:
            if not value:
                append(b"\x00")
                continue
            try:
                raw = value.encode("latin-1")
            except (AttributeError, UnicodeEncodeError):
                raise PduEncodeError(f"{command}: {name}={value!r} is not a latin-1 str") from None
            if len(raw) >= limit or b"\x00" in raw:
                raise PduEncodeError(
                    f"{command}: {name}={value!r} longer than {limit - 1} characters or contains NUL")
            append(raw)
            append(b"\x00")
        else:  # short_message
            if value is None:
                value = b""
            if not isinstance(value, (bytes, bytearray)):
                raise PduEncodeError(f"{command}: short_message must be bytes, got {type(value).__name__}")
            if len(value) > limit:
                raise PduEncodeError(
                    f"{command}: short_message is {len(value)} octets, at most {limit} "
                    "(use message_payload or segment it)")
            if value and params.get("message_payload"):
                raise PduEncodeError(f"{command}: short_message and message_payload are exclusive")
            append(_BYTE[len(value)])
            append(bytes(value))
    mandatory = _MANDATORY_NAMES[command]
    for name, value in params.items():
        if name not in mandatory:
            append(_encode_tlv(command, name, value))
    body = b"".join(parts)
    return _HEADER.pack(HEADER_LENGTH + len(body), command_id, pdu.status, sequence) + body


_BYTE = [bytes((value,)) for value in range(256)]
_MANDATORY_NAMES = {command: frozenset(name for name, _, _ in layout)
                    for command, layout in BODY_LAYOUTS.items()}


def _has_tlvs(params: Mapping[str, Any], layout: tuple) -> bool:
    names = {name for name, _, _ in layout}
    return any(name not in names for name in params)


def _encode_tlv(command: str, name: str, value: Any) -> bytes:
    if name == "unknown_tlvs":
        return b"".join(_TLV_HEADER.pack(tag, len(raw)) + bytes(raw) for tag, raw in value)
    known = STANDARD_TLVS.get(_TLV_ALIASES.get(name, name))
    if known is None:
        raise PduEncodeError(f"{command}: unknown parameter {name!r}")
    tag, kind, limit = known
    if value is None:
        return b""
    if kind == _TLV_INT:
        if not isinstance(value, int) or not 0 <= value < (1 << (8 * limit)):
            raise PduEncodeError(f"{command}: {name}={value!r} is not an integer of {limit} octet(s)")
        return _TLV_HEADER.pack(tag, limit) + value.to_bytes(limit, "big")
    if kind == _TLV_CSTR:
        try:
            raw = value.encode("latin-1") + b"\x00"
        except (AttributeError, UnicodeEncodeError):
            raise PduEncodeError(f"{command}: {name}={value!r} is not a latin-1 str") from None
        if len(raw) > limit or b"\x00" in raw[:-1]:
            raise PduEncodeError(f"{command}: {name} longer than {limit - 1} characters or contains NUL")
        return _TLV_HEADER.pack(tag, len(raw)) + raw
    if kind == _TLV_OSTR:
        if not isinstance(value, (bytes, bytearray)):
            raise PduEncodeError(f"{command}: {name} must be bytes, got {type(value).__name__}")
        if len(value) > limit:
            raise PduEncodeError(f"{command}: {name} is {len(value)} octets, at most {limit}")
        return _TLV_HEADER.pack(tag, len(value)) + bytes(value)
    return _TLV_HEADER.pack(tag, 0) if value else b""


# --------------------------------------------------------------------------- responses

_RESPONSE_BODY_DEFAULTS = {
    name: {field_name: ("" if kind == _CSTR else 0) for field_name, kind, _ in layout}
    for name, layout in BODY_LAYOUTS.items() if name.endswith("_resp")
}


def response_to(request: Pdu | str, sequence: int | None = None, status: int = 0,
                **params: Any) -> Pdu:
    """The response Pdu for a request (or a request command name + sequence).

    Requests without a response in SMPP (outbind, alert_notification) and
    unknown commands get a generic_nack.
    """
    if isinstance(request, Pdu):
        command, sequence = request.command, request.sequence
    else:
        command = request
        if sequence is None:
            raise ValueError("response_to(command_name, ...) needs the request's sequence")
    name = response_command(command) if command in COMMAND_IDS and not is_response(command) else None
    if name is None:
        return generic_nack(sequence, status or _S.ESME_RINVCMDID)
    body = dict(_RESPONSE_BODY_DEFAULTS.get(name, {}))
    body.update(params)
    return Pdu(name, sequence, int(status), body)


def generic_nack(sequence: int | None, status: int) -> Pdu:
    """generic_nack for a PDU; sequence 0 when the offending PDU's own was unreadable."""
    return Pdu("generic_nack", sequence or 0, int(status), {})


# --------------------------------------------------------------------------- smpplib repairs


def _smpplib_param(kind: str, size: int) -> smpplib_command.Param:
    if kind == _TLV_INT:
        return smpplib_command.Param(type=int, size=size)
    if kind == _TLV_CSTR:
        return smpplib_command.Param(type=str, max=size)
    if kind == _TLV_FLAG:
        return smpplib_command.Param(type=smpplib_ptypes.flag)
    return smpplib_command.Param(type=smpplib_ptypes.ostr, max=size)


_SMPPLIB_COMMAND_CLASSES = (
    "BindTransmitter", "BindTransmitterResp", "DataSM", "DataSMResp", "GenericNAck", "SubmitSM",
    "SubmitSMResp", "DeliverSM", "DeliverSMResp", "QuerySM", "QuerySMResp", "Unbind",
    "UnbindResp", "EnquireLink", "EnquireLinkResp", "AlertNotification",
)


def repair_smpplib() -> None:
    """Give every smpplib 2.2.4 command class every standard SMPP 3.4 TLV, with spec sizes.

    smpplib looks a TLV's layout up in the *command's* `params` table, so a
    deliver_sm carrying ussd_service_op or its_session_info (or a
    submit_sm_resp carrying any TLV) raises KeyError even with
    allow_unknown_opt_params=True (smpplib issue #104). It also has wrong
    sizes (submit_sm source_addr_subunit as 2 octets; data_sm_resp
    delivery_failure_reason and network_error_code as C-strings). Idempotent.
    """
    for tag_name, (tag, _, _) in STANDARD_TLVS.items():
        smpplib_consts.OPTIONAL_PARAMS.setdefault(tag_name, tag)
    for class_name in _SMPPLIB_COMMAND_CLASSES:
        cls = getattr(smpplib_command, class_name)
        # Copy rather than mutate: subclasses share their parent's dict.
        params = dict(cls.__dict__.get("params", cls.params))
        order = list(cls.__dict__.get("params_order", cls.params_order))
        for tag_name, (_, kind, size) in STANDARD_TLVS.items():
            params[tag_name] = _smpplib_param(kind, size)
            if tag_name not in order:
                order.append(tag_name)
        cls.params = params
        cls.params_order = tuple(order)


repair_smpplib()


class _SequenceHolder:
    """smpplib's Command wants a client with next_sequence(); ours never advances it."""

    sequence = 0

    def next_sequence(self) -> int:
        return 0


def to_smpplib(pdu: Pdu) -> smpplib_command.Command:
    """The equivalent smpplib command object (for interop and tests), sequence set explicitly.

    smpplib 2.2.4 ignores the `sequence=` keyword (its property reads the
    client's counter), so the sequence is assigned after construction.
    """
    params = {name: value for name, value in pdu.params.items()
              if name not in ("unknown_tlvs", "body")}
    for name, value in list(params.items()):
        kind = STANDARD_TLVS.get(name, (0, None, 0))[1]
        if kind == _TLV_OSTR and isinstance(value, (bytes, bytearray)):
            params[name] = bytes(value)
    command_object = smpplib_command.factory(pdu.command, client=_SequenceHolder(), **params)
    command_object.sequence = pdu.sequence
    command_object.status = pdu.status
    return command_object

