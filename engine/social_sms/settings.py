"""`config/social.toml` and `config/causes.toml`: the rules' numbers, and the causes people choose.

Limits, quiet hours and the give cap are operations' choices, so they live in config with defaults
that are safe for a small operator. Every rule reads them from here and nowhere else.
"""

from __future__ import annotations

import re
from datetime import time
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from engine.config.model import Amount, Code, FrozenModel

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_PREFIX = re.compile(r"^\+[1-9][0-9]{0,14}$")
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")

MESSAGE_CLASSES = ("reply", "fanout", "dm", "notice")


def _e164(value: str) -> str:
    if not isinstance(value, str) or not _E164.match(value.strip()):
        raise ValueError(f"{value!r} is not an E.164 number (expected e.g. \"+447700900123\")")
    return value.strip()


def _clock(value: object) -> time:
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not _CLOCK.match(value.strip()):
        raise ValueError(f"{value!r} is not a time of day (expected \"HH:MM\" in 24-hour form, like \"21:00\")")
    hours, minutes = value.strip().split(":")
    return time(int(hours), int(minutes))


class LimitsSection(FrozenModel):
    posts_per_hour: int = Field(default=10, ge=1)
    follows_per_day: int = Field(default=100, ge=1)
    dms_per_day: int = Field(default=50, ge=1)
    duplicate_post_window_minutes: int = Field(default=60, ge=0)


class FloodSection(FrozenModel):
    """A token bucket per sending number: `burst` messages at once, then `per_minute` on average."""

    burst: int = Field(default=10, ge=1)
    per_minute: int = Field(default=6, ge=1)


class QuietHoursSection(FrozenModel):
    """Local time in each recipient's zone; `start` after `end` means the quiet spans midnight."""

    enabled: bool = True
    start: time = time(21, 0)
    end: time = time(8, 0)
    held_classes: tuple[Literal["fanout", "dm", "notice"], ...] = ("fanout", "dm", "notice")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _time(cls, value: object) -> time:
        return _clock(value)

    @model_validator(mode="after")
    def _not_empty(self):
        if self.enabled and self.start == self.end:
            raise ValueError("start and end are equal (expected a window, or enabled = false)")
        return self


class OptOutSection(FrozenModel):
    """Notice topics that still reach a number after STOP (a bill is a contract, not marketing)."""

    essential_topics: tuple[Code, ...] = ("bill", "activation")


class GiveSection(FrozenModel):
    min_amount: Amount = Decimal("1")
    max_per_month: Amount = Decimal("50")
    confirm_minutes: int = Field(default=10, ge=1, le=1440)

    @model_validator(mode="after")
    def _order(self):
        if self.min_amount <= 0:
            raise ValueError("min_amount: must be more than zero (expected e.g. \"1.00\")")
        if self.max_per_month < self.min_amount:
            raise ValueError("max_per_month: less than min_amount (expected a cap at least the minimum gift)")
        return self


class SubscribersSection(FrozenModel):
    """Which numbers are ours (billed mobile lines); any other number can only be a social member."""

    our_number_prefixes: tuple[str, ...] = ()
    default_plan: Code = "basic"
    blocked_numbers: tuple[str, ...] = ()

    @field_validator("our_number_prefixes")
    @classmethod
    def _prefixes(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not _PREFIX.match(value):
                raise ValueError(f"{value!r} is not a number prefix (expected \"+\" and digits, like \"+4477009\")")
        return values

    @field_validator("blocked_numbers")
    @classmethod
    def _blocked(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_e164(value) for value in values)

    def is_ours(self, msisdn: str) -> bool:
        return any(msisdn.startswith(prefix) for prefix in self.our_number_prefixes)


class SocialFile(FrozenModel):
    catch_all: Literal["post", "unknown"] = "unknown"
    post_max_chars: int = Field(default=130, ge=1, le=1000)
    donation_share: Amount = Decimal("0.10")
    subscribers: SubscribersSection = SubscribersSection()
    limits: LimitsSection = LimitsSection()
    flood: FloodSection = FloodSection()
    quiet_hours: QuietHoursSection = QuietHoursSection()
    opt_out: OptOutSection = OptOutSection()
    give: GiveSection = GiveSection()

    @field_validator("donation_share")
    @classmethod
    def _share(cls, value: Decimal) -> Decimal:
        if value > 1:
            raise ValueError(f"{value} is more than 1 (expected a share like \"0.10\" for 10%)")
        return value


class Cause(FrozenModel):
    code: Code
    name: dict[str, str]
    description: dict[str, str] = {}
    authorised_numbers: tuple[str, ...] = ()

    @field_validator("authorised_numbers")
    @classmethod
    def _numbers(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_e164(value) for value in values)

    @field_validator("name")
    @classmethod
    def _names(cls, names: dict[str, str]) -> dict[str, str]:
        if not names:
            raise ValueError("no name (expected a name per language, like en = \"Red Cross\")")
        for language, name in names.items():
            if not 1 <= len(name.strip()) <= 30:
                raise ValueError(f"{language}: {name!r} is not 1-30 characters (expected a short name)")
        return names

    @field_validator("description")
    @classmethod
    def _descriptions(cls, descriptions: dict[str, str]) -> dict[str, str]:
        for language, text in descriptions.items():
            if len(text) > 100:
                raise ValueError(f"{language}: {len(text)} characters (expected at most 100, to fit one SMS)")
        return descriptions

    def name_in(self, language: str, fallback: str) -> str:
        return self.name.get(language) or self.name.get(fallback) or self.code

    def description_in(self, language: str, fallback: str) -> str:
        return self.description.get(language) or self.description.get(fallback) or ""


class CausesFile(FrozenModel):
    causes: tuple[Cause, ...] = ()

    @model_validator(mode="after")
    def _unique(self):
        codes = [cause.code for cause in self.causes]
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        if repeated:
            raise ValueError(f"causes: codes {', '.join(repeated)} repeat (expected each code once)")
        return self

    def find(self, code: str) -> Cause | None:
        wanted = code.strip().lower()
        return next((cause for cause in self.causes if cause.code == wanted), None)

    def authorised_for(self, msisdn: str) -> tuple[Cause, ...]:
        return tuple(cause for cause in self.causes if msisdn in cause.authorised_numbers)
