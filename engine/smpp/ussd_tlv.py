"""The SMPP 3.4 TLVs that carry a USSD dialogue: `ussd_service_op` and `its_session_info`.

Pure values and arithmetic; the codec (`engine.smpp.codec`) already reads both TLVs as integers,
`its_session_info` big-endian, so these helpers take and return that integer form (and accept the
raw two octets too, for tests and vendor tools that hand bytes around).

`its_session_info` (SMPP 3.4 section 5.3.2.43), two octets:

    octet 1 (high): session number, 0-255, chosen by the network for the dialogue
    octet 2 (low):  bits 7-1 the dialogue unit's sequence number (0-127), bit 0 end of session

Choices where the specification leaves room, all in `reply_session_info`:

- Our reply keeps the session number it answers: that is what ties the reply to the dialogue.
- The sequence number is increased by one (modulo 128) by default: each message of the dialogue
  is a new dialogue unit, and gateways that check the sequence expect it to move on. Some gateways
  want the received value echoed unchanged instead; `sequence="echo"` (config
  `sessions.its_sequence`) does that.
- The end bit is honoured both ways: set on our reply exactly when the reply ends the dialogue
  (PSSR response), and an incoming value with the bit set means the other side has closed it (the
  session layer then sends nothing; see `engine.social_sms.ussd_sessions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

__all__ = [
    "USSD_SERVICE_OP_TAG",
    "ITS_SESSION_INFO_TAG",
    "USER_MESSAGE_REFERENCE_TAG",
    "UssdServiceOp",
    "PSSD_INDICATION",
    "PSSR_INDICATION",
    "USSR_REQUEST",
    "USSN_REQUEST",
    "PSSD_RESPONSE",
    "PSSR_RESPONSE",
    "USSR_CONFIRM",
    "USSN_CONFIRM",
    "STANDARD_SERVICE_OPS",
    "SequencePolicy",
    "SessionInfo",
    "reply_session_info",
    "reply_service_op",
]

USSD_SERVICE_OP_TAG = 0x0501
ITS_SESSION_INFO_TAG = 0x1383
USER_MESSAGE_REFERENCE_TAG = 0x0204


class UssdServiceOp(IntEnum):
    """SMPP 3.4 section 5.3.2.44. 0-3 come from the network to us (or are our requests), 16-19 are
    the answers. Values 32-255 are reserved for vendors (several use one to say "user aborted")."""

    PSSD_INDICATION = 0  # phase 1 one-shot request from the phone
    PSSR_INDICATION = 1  # phone dialled the service code: a dialogue starts
    USSR_REQUEST = 2  # we show a screen and want an answer: the dialogue continues
    USSN_REQUEST = 3  # we push a notification
    PSSD_RESPONSE = 16  # our answer to a PSSD indication (ends it)
    PSSR_RESPONSE = 17  # our last screen: the dialogue ends
    USSR_CONFIRM = 18  # the phone's answer to our USSR request
    USSN_CONFIRM = 19  # the phone acknowledged a notification


PSSD_INDICATION = UssdServiceOp.PSSD_INDICATION
PSSR_INDICATION = UssdServiceOp.PSSR_INDICATION
USSR_REQUEST = UssdServiceOp.USSR_REQUEST
USSN_REQUEST = UssdServiceOp.USSN_REQUEST
PSSD_RESPONSE = UssdServiceOp.PSSD_RESPONSE
PSSR_RESPONSE = UssdServiceOp.PSSR_RESPONSE
USSR_CONFIRM = UssdServiceOp.USSR_CONFIRM
USSN_CONFIRM = UssdServiceOp.USSN_CONFIRM

STANDARD_SERVICE_OPS = frozenset(int(op) for op in UssdServiceOp)

SequencePolicy = Literal["increment", "echo"]

_SEQUENCE_MODULUS = 128  # seven bits


@dataclass(frozen=True)
class SessionInfo:
    """One decoded `its_session_info`: session number, dialogue unit sequence, end-of-session bit."""

    session_number: int
    sequence: int
    end: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.session_number <= 0xFF:
            raise ValueError(f"session number {self.session_number} is outside 0-255")
        if not 0 <= self.sequence < _SEQUENCE_MODULUS:
            raise ValueError(f"sequence number {self.sequence} is outside 0-127")

    @classmethod
    def decode(cls, value: int | bytes) -> "SessionInfo":
        """From the codec's integer (or the raw two octets, big-endian)."""
        if isinstance(value, (bytes, bytearray)):
            if len(value) != 2:
                raise ValueError(f"its_session_info is {len(value)} octets (expected 2)")
            value = int.from_bytes(value, "big")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
            raise ValueError(f"its_session_info {value!r} is not a two-octet value")
        low = value & 0xFF
        return cls(session_number=value >> 8, sequence=low >> 1, end=bool(low & 0x01))

    def encode(self) -> int:
        """The codec's integer form."""
        return (self.session_number << 8) | (self.sequence << 1) | int(self.end)

    def to_bytes(self) -> bytes:
        return self.encode().to_bytes(2, "big")


def reply_session_info(
    received: SessionInfo | int | bytes | None,
    *,
    end: bool,
    sequence: SequencePolicy = "increment",
) -> int | None:
    """The `its_session_info` to put on our reply to `received`, or None when none came in (a
    gateway that does not use the TLV must not be sent one). See the module docstring for why."""
    if received is None:
        return None
    info = received if isinstance(received, SessionInfo) else SessionInfo.decode(received)
    if sequence == "increment":
        next_sequence = (info.sequence + 1) % _SEQUENCE_MODULUS
    elif sequence == "echo":
        next_sequence = info.sequence
    else:
        raise ValueError(f"sequence policy must be 'increment' or 'echo', not {sequence!r}")
    return SessionInfo(info.session_number, next_sequence, end).encode()


def reply_service_op(received_op: int | None, continues: bool) -> int:
    """The `ussd_service_op` of our reply: a phase 1 (PSSD) request can only get a PSSD response;
    otherwise a USSR request when we wait for an answer, a PSSR response when we are done."""
    if received_op == PSSD_INDICATION:
        return int(PSSD_RESPONSE)
    return int(USSR_REQUEST if continues else PSSR_RESPONSE)
