"""Money in the rating core: integer micro-units, and every rounding rule by name.

A record's charge is an `int` of micro-units (10**-6 of the currency unit, so 1 GBP = 1_000_000):
fine enough that a per-second rate of a few pence per minute loses nothing that matters, coarse
enough that a month of records sums without overflow worries in any database BIGINT. The hot loop
only adds and multiplies ints; the one division (price per minute or per megabyte into a record's
seconds or bytes) rounds half-up to the micro-unit at one named place, `divide_half_up`.

Rounding to the currency's minor unit (pence, cents) happens only on invoice lines, with a rule
chosen by name in tariffs.toml (`invoice_rounding`, default "half_up").
"""

from __future__ import annotations

from decimal import Decimal
from typing import Callable

MICROS_PER_UNIT = 1_000_000
MICRO_DECIMALS = 6


def micros_from_decimal(amount: Decimal) -> int:
    """An exact config amount ("0.035") as micro-units; refuses amounts finer than a micro-unit."""
    scaled = amount.scaleb(MICRO_DECIMALS)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount:f} has more than {MICRO_DECIMALS} decimal places (expected at most {MICRO_DECIMALS})")
    return int(scaled)


def decimal_from_micros(micros: int) -> Decimal:
    """For display and export: 1234567 -> Decimal('1.234567')."""
    return Decimal(micros).scaleb(-MICRO_DECIMALS)


def divide_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero; the per-record rounding rule."""
    if numerator >= 0:
        return (2 * numerator + denominator) // (2 * denominator)
    return -((-2 * numerator + denominator) // (2 * denominator))


def _divide_half_even(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(abs(numerator), denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def _divide_down(numerator: int, denominator: int) -> int:
    # Towards zero: a refund is rounded the same way as a charge, never "more negative".
    quotient = abs(numerator) // denominator
    return quotient if numerator >= 0 else -quotient


def _divide_up(numerator: int, denominator: int) -> int:
    quotient = -(-abs(numerator) // denominator)
    return quotient if numerator >= 0 else -quotient


ROUNDING_RULES: dict[str, Callable[[int, int], int]] = {
    "half_up": divide_half_up,
    "half_even": _divide_half_even,
    "down": _divide_down,
    "up": _divide_up,
}
"""Named rules for micro-units -> minor units. half_up and half_even are "away from zero" and
"banker's" at exactly half a minor unit; down and up are towards and away from zero."""


def minor_units_from_micros(micros: int, minor_unit: int, rule: str = "half_up") -> int:
    """An invoice line's total in the currency's minor unit (pence for GBP, minor_unit=2)."""
    if not 0 <= minor_unit <= MICRO_DECIMALS:
        raise ValueError(f"minor unit {minor_unit} out of range (expected 0 to {MICRO_DECIMALS})")
    return ROUNDING_RULES[rule](micros, 10 ** (MICRO_DECIMALS - minor_unit))


def micros_from_minor_units(minor_units: int, minor_unit: int) -> int:
    return minor_units * 10 ** (MICRO_DECIMALS - minor_unit)
