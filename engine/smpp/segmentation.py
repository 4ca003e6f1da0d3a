"""Split a long MT text into the submit_sm parts that carry it, counting the *encoded* length.

An SMS carries 140 octets. SMPP carries GSM text as unpacked septets, so the limits are:

==========  ======  =========================  ==========================
alphabet    single  part, 8-bit ref (IEI 0x00)  part, 16-bit ref (IEI 0x08)
==========  ======  =========================  ==========================
GSM 03.38   160     153 septets                 152 septets
UCS-2       70      67 UTF-16 units             66 UTF-16 units
==========  ======  =========================  ==========================

(A 6-octet UDH takes 48 bits = 7 septets with fill bits, leaving 153; a 7-octet UDH takes 8
septets, leaving 152. In UCS-2, 140 - 6 = 134 octets = 67 units; 140 - 7 = 133 octets, of which an
even 132 = 66 units are usable.)

Parts are filled greedily, one whole character at a time, so a GSM escape pair (0x1B xx) or a
UTF-16 surrogate pair is never cut; a part may therefore be one unit short of the limit. Grapheme
clusters (an emoji with a skin-tone modifier, a letter with a combining accent) may be cut between
their code points: handsets join the parts before showing them, so this only matters on phones
that show parts separately, and honouring it would cost parts.

Modes (how the SMSC learns that parts belong together):

- ``udh``: each short_message starts with a User Data Header (05 00 03 ref total seq, or
  06 08 04 refhi reflo total seq) and the part asks for esm_class 0x40 (UDHI).
- ``sar``: no UDH; the sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs say it and
  the SMSC builds the UDH. Parts are sized as for ``udh`` with the same reference width, because
  the SMSC has to fit that UDH into the same 140 octets.
- ``payload``: one submit_sm, the whole text in the message_payload TLV and an empty short_message;
  the SMSC segments it. message_payload holds at most 65535 octets.

A text that fits a single SMS is sent as one plain part (no UDH, no TLVs) in every mode, because
every SMSC accepts that. The caller owns the reference number (a per-destination counter, say)
and passes it in; the width is chosen with ``reference_bits`` (8 or 16).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from engine.smpp.encoding import (
    DATA_CODING_SMSC_DEFAULT,
    EncodingPreference,
    encode_characters,
    encode_whole,
    text_alphabet,
)

__all__ = [
    "ESM_CLASS_UDHI",
    "MAX_PARTS",
    "MAX_MESSAGE_PAYLOAD_OCTETS",
    "SegmentationMode",
    "Part",
    "SegmentedMessage",
    "MessageTooLong",
    "TooManyParts",
    "single_part_limit",
    "multi_part_limit",
    "split_encoded",
    "count_sms_parts",
    "split_message",
]

ESM_CLASS_UDHI = 0x40
MAX_PARTS = 255  # the UDH and SAR total fields are one octet
MAX_MESSAGE_PAYLOAD_OCTETS = 0xFFFF

IEI_CONCAT_8BIT_REF = 0x00
IEI_CONCAT_16BIT_REF = 0x08

SegmentationMode = Literal["udh", "sar", "payload"]

# Limits in the units the encoded chunks are measured in: septets (= octets, unpacked) for GSM,
# octets for UCS-2.
_SMS_OCTETS = 140
_GSM_SINGLE_SEPTETS = 160
_GSM_PART_SEPTETS = {8: 153, 16: 152}
_UCS2_PART_OCTETS = {8: 134, 16: 132}


class MessageTooLong(ValueError):
    """The text is longer than the chosen mode can carry."""


class TooManyParts(MessageTooLong):
    """The text needs more than 255 parts (the concatenation header counts parts in one octet)."""

    def __init__(self, parts_needed: int, max_parts: int) -> None:
        super().__init__(
            f"text needs {parts_needed} SMS parts; at most {max_parts} can be concatenated"
        )
        self.parts_needed = parts_needed
        self.max_parts = max_parts


@dataclass(frozen=True)
class Part:
    """One submit_sm's worth: OR `esm_class_flags` into esm_class; `tlvs` use smpplib's names."""

    short_message: bytes
    esm_class_flags: int = 0
    tlvs: dict[str, int | bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class SegmentedMessage:
    """All parts of one text; every part goes out with this `data_coding`."""

    data_coding: int
    parts: tuple[Part, ...]


def single_part_limit(data_coding: int) -> int:
    """Septets (GSM) or octets (UCS-2) one unsegmented SMS carries."""
    return _GSM_SINGLE_SEPTETS if data_coding == DATA_CODING_SMSC_DEFAULT else _SMS_OCTETS


def multi_part_limit(data_coding: int, reference_bits: int = 8) -> int:
    """Septets (GSM) or octets (UCS-2) of text in one part of a concatenated SMS."""
    _check_reference_bits(reference_bits)
    table = _GSM_PART_SEPTETS if data_coding == DATA_CODING_SMSC_DEFAULT else _UCS2_PART_OCTETS
    return table[reference_bits]


def split_encoded(chunks: list[bytes], data_coding: int, reference_bits: int = 8) -> list[bytes]:
    """Pack per-character chunks into part bodies (no UDH), never cutting a chunk."""
    total = sum(map(len, chunks))
    if total <= single_part_limit(data_coding):
        return [b"".join(chunks)]
    limit = multi_part_limit(data_coding, reference_bits)
    bodies: list[bytes] = []
    current: list[bytes] = []
    used = 0
    for chunk in chunks:
        if used + len(chunk) > limit:
            bodies.append(b"".join(current))
            current, used = [], 0
        current.append(chunk)
        used += len(chunk)
    bodies.append(b"".join(current))
    return bodies


def single_sms_room(text: str, prefer: EncodingPreference = "gsm") -> tuple[int, int]:
    """(units `text` takes, units one unsegmented SMS holds) in the alphabet it would go out in."""
    data_coding = text_alphabet(text, prefer)
    used = len(encode_whole(text, data_coding))
    if data_coding != DATA_CODING_SMSC_DEFAULT:
        return used // 2, single_part_limit(data_coding) // 2
    return used, single_part_limit(data_coding)


def fits_one_sms(text: str, prefer: EncodingPreference = "gsm") -> bool:
    used, room = single_sms_room(text, prefer)
    return used <= room


def count_sms_parts(text: str, prefer: EncodingPreference = "gsm", reference_bits: int = 8) -> int:
    """How many SMS `text` costs when segmented with UDH or SAR (1 if it fits a single SMS)."""
    data_coding = text_alphabet(text, prefer)
    return len(split_encoded(encode_characters(text, data_coding), data_coding, reference_bits))


def split_message(
    text: str,
    *,
    reference: int,
    mode: SegmentationMode = "udh",
    prefer: EncodingPreference = "gsm",
    reference_bits: int = 8,
    max_parts: int = MAX_PARTS,
) -> SegmentedMessage:
    """Encode `text` and cut it into submit_sm parts for `mode`; raise `TooManyParts` past `max_parts`."""
    if mode not in ("udh", "sar", "payload"):
        raise ValueError(f"segmentation mode must be 'udh', 'sar' or 'payload', not {mode!r}")
    _check_reference(reference, reference_bits)
    if not 1 <= max_parts <= MAX_PARTS:
        raise ValueError(f"max_parts must be between 1 and {MAX_PARTS}, not {max_parts}")
    data_coding = text_alphabet(text, prefer)
    whole = encode_whole(text, data_coding)
    if len(whole) <= single_part_limit(data_coding):
        bodies = [whole]  # most texts: one part, no need to cut between characters
    else:
        bodies = split_encoded(encode_characters(text, data_coding), data_coding, reference_bits)
    if len(bodies) > max_parts:
        raise TooManyParts(len(bodies), max_parts)
    if len(bodies) == 1:
        return SegmentedMessage(data_coding, (Part(bodies[0]),))
    if mode == "payload":
        payload = b"".join(bodies)
        if len(payload) > MAX_MESSAGE_PAYLOAD_OCTETS:
            raise MessageTooLong(
                f"encoded text is {len(payload)} octets; message_payload holds at most "
                f"{MAX_MESSAGE_PAYLOAD_OCTETS}"
            )
        return SegmentedMessage(data_coding, (Part(b"", 0, {"message_payload": payload}),))
    total = len(bodies)
    if mode == "udh":
        parts = tuple(
            Part(_concat_udh(reference, reference_bits, total, number) + body, ESM_CLASS_UDHI)
            for number, body in enumerate(bodies, start=1)
        )
    else:
        parts = tuple(
            Part(
                body,
                0,
                {
                    "sar_msg_ref_num": reference,
                    "sar_total_segments": total,
                    "sar_segment_seqnum": number,
                },
            )
            for number, body in enumerate(bodies, start=1)
        )
    return SegmentedMessage(data_coding, parts)


def _concat_udh(reference: int, reference_bits: int, total: int, number: int) -> bytes:
    if reference_bits == 8:
        return bytes([0x05, IEI_CONCAT_8BIT_REF, 0x03, reference, total, number])
    return bytes([0x06, IEI_CONCAT_16BIT_REF, 0x04, reference >> 8, reference & 0xFF, total, number])


def _check_reference_bits(reference_bits: int) -> None:
    if reference_bits not in (8, 16):
        raise ValueError(f"reference_bits must be 8 or 16, not {reference_bits!r}")


def _check_reference(reference: int, reference_bits: int) -> None:
    _check_reference_bits(reference_bits)
    if not 0 <= reference < (1 << reference_bits):
        raise ValueError(
            f"concatenation reference {reference} does not fit {reference_bits} bits "
            f"(0..{(1 << reference_bits) - 1})"
        )
