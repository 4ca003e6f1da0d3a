"""Amounts typed by subscribers, amounts shown to them, and the cause's share of a bill.

Money is an integer count of minor units (pence, cents) from the moment it is parsed. Text goes to
`Decimal`, never to float, so "5.10" is 510 exactly.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}

_AMOUNT = re.compile(r"^[0-9]+([.,][0-9]+)?$")


class BadAmount(ValueError):
    """The text is not an amount the subscriber could mean; the message says why."""


def parse_amount(text: str, currency: str, minor_unit: int) -> int:
    """Return `text` as minor units: "5", "5.50", "5,50", "£5", "5 £", "5 GBP" are accepted (for GBP).

    A comma is a decimal mark (French writes 5,50), so "1,000" has three decimals and is refused
    rather than guessed as a thousand: a gift is confirmed by the subscriber, but a wrong guess by
    a factor of a thousand is not something to ask them to catch. Another currency's symbol or
    code ("5€" where the bill is in pounds) is refused, not read as the bill's currency.
    """
    cleaned = (text or "").strip().replace(" ", "")
    upper = cleaned.upper()
    if upper.endswith(currency):
        cleaned = cleaned[: -len(currency)]
    symbol = CURRENCY_SYMBOLS.get(currency, "")
    if symbol and cleaned.startswith(symbol):
        cleaned = cleaned[len(symbol):]
    elif symbol and cleaned.endswith(symbol):
        cleaned = cleaned[: -len(symbol)]
    for code, other in CURRENCY_SYMBOLS.items():
        if code != currency and (other in cleaned or code in upper):
            raise BadAmount(f"{text!r} is in {code} (expected an amount in {currency})")
    if not cleaned or not _AMOUNT.match(cleaned):
        raise BadAmount(f"{text!r} is not an amount (expected digits like 5 or 5.50)")
    digits = cleaned.replace(",", ".")
    decimals = len(digits.partition(".")[2])
    if decimals > minor_unit:
        raise BadAmount(f"{text!r} has {decimals} decimals (expected at most {minor_unit})")
    try:
        amount = Decimal(digits)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise BadAmount(f"{text!r} is not an amount") from None
    return int(amount.scaleb(minor_unit))


def to_minor(amount: Decimal, minor_unit: int) -> int:
    """A config amount ("50.00") in minor units; config amounts never carry more decimals than that."""
    scaled = amount.scaleb(minor_unit)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than {minor_unit} decimals")
    return int(scaled)


def format_amount(minor: int, currency: str, minor_unit: int, decimal_mark: str = ".", symbol_after: bool = False) -> str:
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**minor_unit)
    number = f"{whole}{decimal_mark}{fraction:0{minor_unit}d}" if minor_unit else str(whole)
    symbol = CURRENCY_SYMBOLS.get(currency)
    if symbol is None:
        return f"{sign}{number} {currency}"
    return f"{sign}{number} {symbol}" if symbol_after else f"{sign}{symbol}{number}"


def cause_share(charges_minor: int, share: Decimal) -> int:
    """The cause's share of a bill, rounded down to the minor unit.

    Rounding down is the named rule for the estimate shown by BILL: the estimate never promises a
    cause more than the split can pay. The monthly split in engine/donations allocates the exact
    total across causes (largest remainder); this is only what one subscriber sees.
    """
    numerator, denominator = share.as_integer_ratio()
    return (charges_minor * numerator) // denominator


def share_percent(share: Decimal) -> str:
    """0.10 -> "10%", 0.125 -> "12.5%" for replies."""
    percent = (share * 100).normalize()
    return f"{percent:f}%"
