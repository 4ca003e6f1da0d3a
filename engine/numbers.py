"""Phone numbers: the one place where any input becomes E.164 (`+447700900123`) or is refused."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


class InvalidNumber(ValueError):
    """The text is not a valid phone number; the message says why, for the person who typed it."""


def normalise_msisdn(text: str, default_region: str) -> str:
    """Return `text` as E.164, reading national formats in `default_region` (an ISO 3166 code)."""
    cleaned = (text or "").strip()
    if not cleaned:
        raise InvalidNumber(f"empty phone number (expected digits, e.g. {_example(default_region)})")
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    elif cleaned.isdigit() and len(cleaned) > 10 and not cleaned.startswith("0"):
        # SMSCs commonly send international numbers without the plus (TON=1): 447700900123.
        cleaned = "+" + cleaned
    try:
        number = phonenumbers.parse(cleaned, default_region)
    except phonenumbers.NumberParseException as error:
        raise InvalidNumber(f"{text!r} is not a phone number ({_reason(error)})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidNumber(
            f"{text!r} is not a valid number in its numbering plan (expected e.g. {_example(default_region)})"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=65536)
def sender_msisdn(source_addr: str, default_region: str) -> str | None:
    """The sender of an MO (the SMSC's `source_addr`) as E.164, or None when it is not a phone
    number. Remembered: parsing a number costs more than most commands' rules (benchmarks/mo_commands.py)."""
    try:
        return normalise_msisdn(source_addr, default_region)
    except InvalidNumber:
        return None


def _reason(error: phonenumbers.NumberParseException) -> str:
    return {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        phonenumbers.NumberParseException.NOT_A_NUMBER: "it holds no number",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }.get(error.error_type, "unreadable")


def _example(region: str) -> str:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164) if example else "+447400123456"
