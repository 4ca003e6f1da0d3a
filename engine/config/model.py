"""Building blocks for the typed, immutable config models.

Each config file is a pydantic model built from `FrozenModel`: unknown keys are errors (a typo must
not silently fall back to a default), values are checked for type and range, and the loaded object
cannot be changed while the engine runs.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict


class FrozenModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _decimal_amount(value: object) -> Decimal:
    # TOML floats are binary fractions (0.1 is not 0.1), so money must be written as a string or
    # an integer: the value an operator typed is the value used, to the last digit.
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError(f"{value!r} is a float (expected an amount in quotes, like \"9.99\")")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not an amount (expected a decimal like \"9.99\")") from None
        if not amount.is_finite():
            raise ValueError(f"{value!r} is not an amount (expected a decimal like \"9.99\")")
        return amount
    raise ValueError(f"{value!r} is not an amount (expected a decimal like \"9.99\")")


def _non_negative(amount: Decimal) -> Decimal:
    if amount < 0:
        raise ValueError(f"{amount} is negative (expected zero or more)")
    return amount


Amount = Annotated[Decimal, BeforeValidator(lambda v: _non_negative(_decimal_amount(v)))]
"""A non-negative decimal amount of money in the operator's currency, exact as written."""

SignedAmount = Annotated[Decimal, BeforeValidator(_decimal_amount)]


def _time_zone(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a time zone (expected an IANA name like \"Europe/London\")")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (expected an IANA name like \"Europe/London\")") from None
    return value


TimeZoneName = Annotated[str, BeforeValidator(_time_zone)]

_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def _code(value: object) -> str:
    if not isinstance(value, str) or not _CODE.match(value):
        raise ValueError(
            f"{value!r} is not a valid code (expected 1-32 of a-z, 0-9, _ or -, starting with a letter or digit)"
        )
    return value


Code = Annotated[str, BeforeValidator(_code)]
"""An identifier that operations type and subscribers may text: plan codes, cause codes, zones."""
