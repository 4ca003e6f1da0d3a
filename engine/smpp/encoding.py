"""Text <-> SMPP `short_message` bytes: which alphabet a message goes out in, and how incoming bytes read.

Outgoing (MT) text is sent in the GSM 03.38 default alphabet when every character is in it (the
basic table or the extension table), else in UCS-2. GSM goes out as `data_coding` 0x00 ("SMSC
default alphabet"): SMPP carries GSM text as *unpacked* septets, one per octet, and the SMSC packs
them for the air interface. An extension character (`€ [ ] { } \\ ~ ^ |` and form feed) is the
escape 0x1B followed by its code, so it costs two septets. UCS-2 goes out as 0x08 in UTF-16-BE: a
character outside the Basic Multilingual Plane (most emoji) is a surrogate pair, four octets, the
way every handset in use sends and shows it (strict UCS-2 could not carry it at all).

Choices where the standards leave room:

- The character tables come from the `gsm0338` codec (read through its public `decode`), so there
  is one source of truth; encoding is a dictionary lookup per character because the codec builds
  its output with `bytes +=`, which is quadratic on a 255-part message.
- U+001B (ESC) is *not* treated as GSM text even though the codec maps it: sent raw it would
  escape the next character. A text holding it goes out as UCS-2.
- Only the default alphabet and its extension table are used, never the national language shift
  tables (Turkish, Spanish, Portuguese, Indian): SMSCs and handsets support them unevenly. So `ç`
  (not in the default table; only `Ç` is) makes a message UCS-2.
- `prefer="ucs2"` forces UCS-2 for every message, for an SMSC that mangles data_coding 0.
- Decoding `data_coding` 0x00 assumes the SMSC default alphabet is GSM 03.38 (the common case);
  `smsc_default_alphabet="latin1"` or `"ascii"` reads it otherwise for SMSCs configured that way.
  GSM decoding follows 3GPP TS 23.038 for odd input instead of raising: an escape before a code
  with no extension character reads as the basic character, ESC ESC reads as a space, a trailing
  lone escape is dropped, and an octet above 0x7F (not a septet) reads as U+FFFD.
- UCS-2 decoding replaces a dangling odd octet or a lone surrogate with U+FFFD.
- Binary payloads (0x02, 0x04, and GSM DCS values that say 8-bit data) are not text; they decode
  to a visible marker `[binary:<hex>]` so that nothing downstream mistakes them for a command.
- GSM message-class DCS values (0x10-0x3F without compression, 0xF0-0xFF), which some SMSCs pass
  through from the air interface, are read by their alphabet bits.

USSD (`fits_ussd_page`): the USSD string is at most 160 octets (3GPP TS 24.080 / MAP). Packed
7-bit GSM that is 160 * 8 / 7 = 182 septets (an extension character counts two); in UCS-2 it is
160 / 2 = 80 UTF-16 code units. Some gateways allow less; the limits are parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec the tables are read from)

__all__ = [
    "DATA_CODING_SMSC_DEFAULT",
    "DATA_CODING_IA5",
    "DATA_CODING_BINARY",
    "DATA_CODING_LATIN1",
    "DATA_CODING_BINARY_8BIT",
    "DATA_CODING_UCS2",
    "GSM_ESCAPE",
    "GSM_ALPHABET",
    "GSM_EXTENSION_CHARACTERS",
    "USSD_PAGE_GSM_SEPTETS",
    "USSD_PAGE_UCS2_UNITS",
    "EncodedText",
    "EncodingPreference",
    "SmscDefaultAlphabet",
    "UnencodableText",
    "UnsupportedDataCoding",
    "is_gsm_text",
    "first_non_gsm_character",
    "encode_text",
    "encode_characters",
    "encode_whole",
    "decode_short_message",
    "decode_gsm_septets",
    "text_alphabet",
    "ussd_units",
    "fits_ussd_page",
]

DATA_CODING_SMSC_DEFAULT = 0x00  # we read and write it as GSM 03.38
DATA_CODING_IA5 = 0x01
DATA_CODING_BINARY = 0x02
DATA_CODING_LATIN1 = 0x03
DATA_CODING_BINARY_8BIT = 0x04
DATA_CODING_UCS2 = 0x08

GSM_ESCAPE = 0x1B

USSD_PAGE_GSM_SEPTETS = 182
USSD_PAGE_UCS2_UNITS = 80

EncodingPreference = Literal["gsm", "ucs2"]
SmscDefaultAlphabet = Literal["gsm0338", "latin1", "ascii"]


class UnencodableText(ValueError):
    """The text cannot be sent at all (it holds a lone UTF-16 surrogate, which no encoding carries)."""


class UnsupportedDataCoding(ValueError):
    """An incoming `data_coding` names an alphabet this engine does not read (e.g. JIS Kanji)."""

    def __init__(self, data_coding: int) -> None:
        super().__init__(f"data_coding 0x{data_coding:02X} is not an alphabet this engine can read")
        self.data_coding = data_coding


@dataclass(frozen=True)
class EncodedText:
    """Text ready for `short_message`: `units` is septets for GSM, UTF-16 code units for UCS-2."""

    data_coding: int
    payload: bytes
    units: int


def _build_gsm_tables() -> tuple[dict[str, bytes], dict[int, str], dict[int, str]]:
    basic: dict[int, str] = {}
    extension: dict[int, str] = {}
    for code in range(0x80):
        if code == GSM_ESCAPE:
            continue
        basic[code] = bytes([code]).decode("gsm03.38")
        try:
            extension[code] = bytes([GSM_ESCAPE, code]).decode("gsm03.38")
        except UnicodeDecodeError:
            pass
    encoder = {char: bytes([code]) for code, char in basic.items()}
    for code, char in extension.items():
        encoder.setdefault(char, bytes([GSM_ESCAPE, code]))
    return encoder, basic, extension


_GSM_ENCODER, _GSM_BASIC, _GSM_EXTENSION = _build_gsm_tables()

GSM_ALPHABET: frozenset[str] = frozenset(_GSM_ENCODER)
"""Every character sendable as GSM 03.38 (basic table without ESC, plus the extension table)."""
GSM_EXTENSION_CHARACTERS: frozenset[str] = frozenset(_GSM_EXTENSION.values())
"""The characters that cost two septets (escape + code)."""


# GSM 03.38 as a str.translate table onto one latin-1 character per octet, so a whole text is
# encoded by two C calls instead of a Python step per character (every MT is encoded).
_GSM_TRANSLATION = {ord(char): code.decode("latin-1") for char, code in _GSM_ENCODER.items()}


def is_gsm_text(text: str) -> bool:
    """True when every character is in the GSM 03.38 default alphabet or its extension table."""
    return GSM_ALPHABET.issuperset(text)


def first_non_gsm_character(text: str) -> str | None:
    """The first character that forces UCS-2, for messages that explain why a text got costlier."""
    return next((char for char in text if char not in _GSM_ENCODER), None)


def text_alphabet(text: str, prefer: EncodingPreference = "gsm") -> int:
    """The data_coding `text` goes out in: 0x00 (GSM) when it fits and GSM is allowed, else 0x08."""
    _check_preference(prefer)
    if prefer == "gsm" and is_gsm_text(text):
        return DATA_CODING_SMSC_DEFAULT
    return DATA_CODING_UCS2


def encode_characters(text: str, data_coding: int) -> list[bytes]:
    """One encoded chunk per character (code point) of `text`, in the given data_coding (0x00 or 0x08).

    Segmentation cuts only between chunks, which is what keeps an escape pair or a surrogate pair
    whole.
    """
    if data_coding == DATA_CODING_SMSC_DEFAULT:
        try:
            return [_GSM_ENCODER[char] for char in text]
        except KeyError as error:
            raise UnencodableText(f"{error.args[0]!r} is not in the GSM 03.38 alphabet") from None
    if data_coding == DATA_CODING_UCS2:
        try:
            return [char.encode("utf-16-be") for char in text]
        except UnicodeEncodeError as error:
            raise UnencodableText(
                f"text holds a lone surrogate {error.object[error.start]!r} at position {error.start}"
            ) from None
    raise ValueError(f"can only encode to data_coding 0x00 (GSM) or 0x08 (UCS-2), not 0x{data_coding:02X}")


def encode_whole(text: str, data_coding: int) -> bytes:
    """`b"".join(encode_characters(text, data_coding))`, without a chunk per character."""
    if data_coding == DATA_CODING_SMSC_DEFAULT and is_gsm_text(text):
        return text.translate(_GSM_TRANSLATION).encode("latin-1")
    if data_coding == DATA_CODING_UCS2:
        try:
            return text.encode("utf-16-be")
        except UnicodeEncodeError:
            pass  # encode_characters says which character
    return b"".join(encode_characters(text, data_coding))


def encode_text(text: str, prefer: EncodingPreference = "gsm") -> EncodedText:
    """Encode `text` in GSM 03.38 when it fits (and `prefer` allows), else UCS-2."""
    data_coding = text_alphabet(text, prefer)
    payload = encode_whole(text, data_coding)
    units = len(payload) if data_coding == DATA_CODING_SMSC_DEFAULT else len(payload) // 2
    return EncodedText(data_coding=data_coding, payload=payload, units=units)


def ussd_units(text: str, prefer: EncodingPreference = "gsm") -> tuple[int, int]:
    """(data_coding, size) of `text` as a USSD string: septets for GSM, UTF-16 code units for UCS-2."""
    encoded = encode_text(text, prefer)
    return encoded.data_coding, encoded.units


def fits_ussd_page(
    text: str,
    prefer: EncodingPreference = "gsm",
    *,
    gsm_septets: int = USSD_PAGE_GSM_SEPTETS,
    ucs2_units: int = USSD_PAGE_UCS2_UNITS,
) -> bool:
    """True when `text` fits one USSD screen: 182 GSM septets, or 80 UCS-2 units if it needs UCS-2."""
    data_coding, size = ussd_units(text, prefer)
    limit = gsm_septets if data_coding == DATA_CODING_SMSC_DEFAULT else ucs2_units
    return size <= limit


def decode_short_message(
    payload: bytes,
    data_coding: int,
    *,
    smsc_default_alphabet: SmscDefaultAlphabet = "gsm0338",
) -> str:
    """Read `short_message` (or `message_payload`) bytes, UDH already removed, as text.

    Never raises for odd bytes in a known alphabet (they become U+FFFD); raises
    `UnsupportedDataCoding` for an alphabet we do not read.
    """
    payload = bytes(payload)
    alphabet = _alphabet_of(data_coding)
    if alphabet == "default":
        if smsc_default_alphabet == "gsm0338":
            return decode_gsm_septets(payload)
        if smsc_default_alphabet == "latin1":
            return payload.decode("latin-1")
        if smsc_default_alphabet == "ascii":
            return payload.decode("ascii", errors="replace")
        raise ValueError(f"unknown smsc_default_alphabet {smsc_default_alphabet!r}")
    if alphabet == "gsm":
        return decode_gsm_septets(payload)
    if alphabet == "binary":
        return f"[binary:{payload.hex()}]"
    if alphabet == "ucs2":
        return payload.decode("utf-16-be", errors="replace")
    return payload.decode(alphabet, errors="replace")


def decode_gsm_septets(payload: bytes) -> str:
    """Unpacked GSM 03.38 septets (one per octet) to text, following TS 23.038 for odd sequences."""
    out: list[str] = []
    index = 0
    length = len(payload)
    while index < length:
        code = payload[index]
        index += 1
        if code > 0x7F:
            out.append("\ufffd")
            continue
        if code != GSM_ESCAPE:
            out.append(_GSM_BASIC[code])
            continue
        if index == length:
            break  # a lone trailing escape carries no character
        escaped = payload[index]
        index += 1
        if escaped == GSM_ESCAPE:
            out.append(" ")  # TS 23.038: reserved for a further extension table, shown as a space
        elif escaped > 0x7F:
            out.append("\ufffd")
        else:
            out.append(_GSM_EXTENSION.get(escaped, _GSM_BASIC[escaped]))
    return "".join(out)


# SMPP 3.4 section 5.2.19 values, then the GSM DCS groups some SMSCs pass through.
_SMPP_ALPHABETS = {
    0x00: "default",
    0x01: "ascii",
    0x02: "binary",
    0x03: "latin-1",
    0x04: "binary",
    0x06: "iso8859-5",
    0x07: "iso8859-8",
    0x08: "ucs2",
    0x0A: "iso2022_jp",
    0x0E: "euc_kr",
}


def _alphabet_of(data_coding: int) -> str:
    if data_coding in _SMPP_ALPHABETS:
        return _SMPP_ALPHABETS[data_coding]
    if 0x10 <= data_coding <= 0x7F and not data_coding & 0x20:
        # General data coding group (with message class, or marked for automatic deletion):
        # bits 3-2 name the alphabet. Compressed text (bit 5) we cannot read.
        alphabet = {0: "gsm", 1: "binary", 2: "ucs2"}.get((data_coding >> 2) & 0x03)
        if alphabet is not None:
            return alphabet
    if 0xC0 <= data_coding <= 0xDF:
        return "gsm"  # message waiting indication groups: discard/store, GSM alphabet
    if 0xE0 <= data_coding <= 0xEF:
        return "ucs2"  # message waiting indication group, store, UCS-2
    if data_coding >= 0xF0:
        return "binary" if data_coding & 0x04 else "gsm"
    raise UnsupportedDataCoding(data_coding)


def _check_preference(prefer: str) -> None:
    if prefer not in ("gsm", "ucs2"):
        raise ValueError(f"encoding preference must be 'gsm' or 'ucs2', not {prefer!r}")
