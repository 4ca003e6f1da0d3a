"""`config/tariffs.toml`: plans, destination zones, time bands, rate cards; and their compiled form.

Two layers:
- `TariffsFile`, the pydantic model of the file: every value checked for type and range, and
  each problem reported as `config/tariffs.toml: key.path: what is wrong (expected ...)`. Checks
  that relate one part of the file to another (a plan's zones exist, a rate card prices every
  zone and band) are in `tariff_problems`, run by the loader as a cross-check so that every
  problem is listed with its own key path in one pass.
- `Tariff`, built once by `compile_tariff`: prices as integer micro-units, increments as int
  pairs, zones in a prefix table, bands in a cached timeline. The rater reads only this.

An absent tariffs.toml is an empty `TariffsFile` (no plans): the rest of the engine still loads,
and `compile_tariff` refuses it with a clear message when something tries to rate.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal, NamedTuple

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from engine.config.loader import register_cross_check, register_file
from engine.config.model import Amount, Code, FrozenModel
from engine.config.model import _decimal_amount, _non_negative  # the same rules as Amount, for band tables
from engine.config.problems import ConfigProblem
from engine.rating.bands import DAY_NAMES, MINUTES_PER_DAY, BandTimeline
from engine.rating.money import ROUNDING_RULES, micros_from_decimal
from engine.rating.records import UsageFormat
from engine.rating.zones import NumberCanonicaliser, PrefixTable

FILE_NAME = "tariffs.toml"


# ---------------------------------------------------------------------------------------------
# The file's model


def _fits_micros(amount: Decimal) -> Decimal:
    micros_from_decimal(amount)  # raises "... more than 6 decimal places (expected at most 6)"
    return amount


Price = Annotated[Amount, AfterValidator(_fits_micros)]
"""A non-negative amount written as a string ("0.035"), exact to a micro-unit."""

_INCREMENTS = re.compile(r"^(\d+)/(\d+)$")


def _increments(value: object) -> tuple[int, int]:
    expected = 'expected "first/next" in seconds, each 1 or more, like "60/60", "30/6" or "1/1"'
    if not isinstance(value, str) or not _INCREMENTS.match(value.strip()):
        raise ValueError(f"{value!r} is not a charging increment ({expected})")
    first, following = (int(part) for part in value.strip().split("/"))
    if first < 1 or following < 1:
        raise ValueError(f"{value!r} has a zero increment ({expected})")
    return first, following


Increments = Annotated[tuple[int, int], BeforeValidator(_increments)]


def _per_band(value: object) -> dict[str, Decimal]:
    # One price for every band, or a table of band -> price; both become a table, "*" meaning all.
    if isinstance(value, dict):
        table = {}
        for band, amount in value.items():
            try:
                table[str(band)] = _fits_micros(_price(amount))
            except ValueError as problem:
                raise ValueError(f"{band}: {problem}") from None
        if not table:
            raise ValueError("no prices (expected a price, or a table of band = price)")
        return table
    return {"*": _fits_micros(_price(value))}


def _price(value: object) -> Decimal:
    return _non_negative(_decimal_amount(value))


PerBandPrice = Annotated[dict[str, Decimal], BeforeValidator(_per_band)]


class VoiceRate(FrozenModel):
    per_minute: PerBandPrice
    connect: Price = Decimal(0)
    minimum: Price = Decimal(0)
    increments: Increments = (60, 60)


class DataRate(FrozenModel):
    per_mb: Price
    block_bytes: int = Field(default=1024, ge=1)


class RoamingRates(FrozenModel):
    """Rates while in a roaming zone, whatever the destination (zero-rated numbers stay free)."""

    voice: VoiceRate
    sms: Price
    data: DataRate


class RateCard(FrozenModel):
    name: str = ""
    voice: dict[Code, VoiceRate] = {}
    sms: dict[Code, Price] = {}
    data: DataRate | None = None
    roaming: dict[Code, RoamingRates] = {}


_PREFIX = re.compile(r"^\+?[0-9]{1,15}$")


class Zone(FrozenModel):
    name: str = ""
    prefixes: tuple[str, ...] = Field(min_length=1)
    zero_rated: bool = False

    @field_validator("prefixes")
    @classmethod
    def _prefixes(cls, prefixes: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in prefixes:
            if not _PREFIX.match(prefix):
                raise ValueError(
                    f"{prefix!r} is not a number prefix "
                    '(expected "+" and country code digits like "+447", or short-code digits like "999")'
                )
        return prefixes


class RoamingZone(FrozenModel):
    name: str = ""
    # Roam like at home: the plan's home rates and home allowances apply (EU-style regulation).
    roam_like_at_home: bool = False


class Allowance(FrozenModel):
    """amount: seconds for voice, messages for sms; zones: the destination zones it covers."""

    amount: int = Field(ge=0)
    zones: tuple[Code, ...] = Field(min_length=1)


class DataAllowance(FrozenModel):
    amount: int = Field(ge=0)  # bytes


class PlanAllowances(FrozenModel):
    voice: Allowance | None = None
    sms: Allowance | None = None
    data: DataAllowance | None = None


class Plan(FrozenModel):
    name: str = Field(min_length=1)
    monthly_fee: Price
    rate_card: Code
    allowances: PlanAllowances = PlanAllowances()


_CLOCK = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])$")


def _minute_of_day(value: object) -> int:
    if isinstance(value, str) and _CLOCK.match(value.strip()):
        hours, minutes = (int(part) for part in value.strip().split(":"))
        if hours * 60 + minutes <= MINUTES_PER_DAY:
            return hours * 60 + minutes
    raise ValueError(f"{value!r} is not a time of day (expected \"HH:MM\" from \"00:00\" to \"24:00\")")


MinuteOfDay = Annotated[int, BeforeValidator(_minute_of_day)]
DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


class TimeWindow(FrozenModel):
    band: Code
    days: tuple[DayName, ...] = Field(min_length=1)
    start: MinuteOfDay = Field(alias="from")
    end: MinuteOfDay = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self):
        if self.end <= self.start:
            raise ValueError(
                f"to {_clock(self.end)} is not after from {_clock(self.start)} "
                "(expected a window within one day; write an overnight window as two)"
            )
        return self


class TimeBands(FrozenModel):
    default: Code = "off_peak"
    holiday_band: Code | None = None
    public_holidays: tuple[date, ...] = ()
    windows: tuple[TimeWindow, ...] = ()

    @model_validator(mode="after")
    def _no_overlap(self):
        owner: dict[tuple[int, int], int] = {}
        for index, window in enumerate(self.windows):
            for day in window.days:
                weekday = DAY_NAMES.index(day)
                for minute in range(window.start, window.end):
                    earlier = owner.setdefault((weekday, minute), index)
                    if earlier != index:
                        raise ValueError(
                            f"windows[{earlier}] ({self.windows[earlier].band}) and windows[{index}] ({window.band}) "
                            f"both cover {day} {_clock(minute)} (expected each minute of the week in at most one window)"
                        )
        if self.public_holidays and self.holiday_band is None:
            raise ValueError("holiday_band: not set but public_holidays are (expected the band holidays are rated at)")
        return self

    @property
    def band_names(self) -> tuple[str, ...]:
        names = [self.default] + [window.band for window in self.windows]
        if self.holiday_band:
            names.append(self.holiday_band)
        return tuple(dict.fromkeys(names))


class TariffsFile(FrozenModel):
    default_plan: str = ""
    band_boundary: Literal["start", "split"] = "start"
    invoice_rounding: Literal["half_up", "half_even", "down", "up"] = "half_up"
    megabyte_bytes: int = Field(default=1_000_000, ge=1)
    wholesale_rate_card: str = ""
    usage_format: UsageFormat = UsageFormat()
    time_bands: TimeBands = TimeBands()
    zones: dict[Code, Zone] = {}
    roaming_zones: dict[Code, RoamingZone] = {}
    rate_cards: dict[Code, RateCard] = {}
    plans: dict[Code, Plan] = {}


# ---------------------------------------------------------------------------------------------
# Checks across the file (and against engine.toml)


def tariff_problems(tariffs: TariffsFile, short_code: str = "", care_number: str = "", default_region: str = "GB"):
    """Every cross-reference problem as (key path, message); empty when the tariff is usable."""
    problems: list[tuple[str, str]] = []
    if not tariffs.plans:
        return problems if tariffs == TariffsFile() else [("plans", "none defined (expected at least one [plans.CODE])")]
    zones, roaming = tariffs.zones, tariffs.roaming_zones
    bands = tariffs.time_bands.band_names

    def one_of(names) -> str:
        return ", ".join(sorted(names)) or "none defined"

    if tariffs.default_plan not in tariffs.plans:
        problems.append(("default_plan", f"unknown plan {tariffs.default_plan!r} (expected one of {one_of(tariffs.plans)})"))
    if tariffs.wholesale_rate_card not in tariffs.rate_cards:
        problems.append(
            ("wholesale_rate_card", f"unknown rate card {tariffs.wholesale_rate_card!r} (expected one of {one_of(tariffs.rate_cards)})")
        )
    seen_prefixes: dict[str, str] = {}
    for code, zone in zones.items():
        for prefix in zone.prefixes:
            if prefix in seen_prefixes:
                problems.append(
                    (f"zones.{code}.prefixes", f"{prefix!r} is also in zone {seen_prefixes[prefix]} (expected each prefix in one zone)")
                )
            seen_prefixes.setdefault(prefix, code)

    retail_cards = {plan.rate_card for plan in tariffs.plans.values()}
    for code, plan in tariffs.plans.items():
        key = f"plans.{code}"
        if plan.rate_card not in tariffs.rate_cards:
            problems.append((f"{key}.rate_card", f"unknown rate card {plan.rate_card!r} (expected one of {one_of(tariffs.rate_cards)})"))
        for service in ("voice", "sms"):
            allowance = getattr(plan.allowances, service)
            for zone in allowance.zones if allowance else ():
                if zone not in zones:
                    problems.append((f"{key}.allowances.{service}.zones", f"unknown zone {zone!r} (expected one of {one_of(zones)})"))

    for card_code, card in tariffs.rate_cards.items():
        key = f"rate_cards.{card_code}"
        wholesale = card_code == tariffs.wholesale_rate_card
        needed_zones = {z for z, zone in zones.items() if wholesale or not zone.zero_rated}
        needed_roaming = {r for r, zone in roaming.items() if wholesale or not zone.roam_like_at_home}
        used = wholesale or card_code in retail_cards
        for service, table in (("voice", card.voice), ("sms", card.sms)):
            for zone in table:
                if zone not in zones:
                    problems.append((f"{key}.{service}.{zone}", f"unknown zone {zone!r} (expected one of {one_of(zones)})"))
            missing = sorted(needed_zones - set(table)) if used else []
            if missing:
                every = "every zone" if wholesale else "every zone not zero-rated"
                problems.append((f"{key}.{service}", f"no rate for zones {', '.join(missing)} (expected a rate for {every})"))
        if used and card.data is None:
            problems.append((f"{key}.data", "missing (expected the home data rate)"))
        for zone in card.roaming:
            if zone not in roaming:
                problems.append((f"{key}.roaming.{zone}", f"unknown roaming zone {zone!r} (expected one of {one_of(roaming)})"))
        missing = sorted(needed_roaming - set(card.roaming)) if used else []
        if missing:
            every = "every roaming zone" if wholesale else "every roaming zone not roamed like at home"
            problems.append((f"{key}.roaming", f"no rates for roaming zones {', '.join(missing)} (expected rates for {every})"))
        voice_rates = [(f"{key}.voice.{z}", rate) for z, rate in card.voice.items()]
        voice_rates += [(f"{key}.roaming.{z}.voice", rates.voice) for z, rates in card.roaming.items()]
        for rate_key, rate in voice_rates:
            prices = rate.per_minute
            if "*" in prices:
                continue
            unknown = sorted(set(prices) - set(bands))
            missing = [band for band in bands if band not in prices]
            if unknown:
                problems.append((f"{rate_key}.per_minute", f"unknown bands {', '.join(unknown)} (expected only {', '.join(bands)})"))
            if missing:
                expected = f"expected a price for each of {', '.join(bands)}"
                problems.append((f"{rate_key}.per_minute", f"no price for bands {', '.join(missing)} ({expected})"))

    if tariffs.zones:
        canonical = NumberCanonicaliser(default_region)
        # Built from each prefix's first zone, so a duplicated prefix (reported above) cannot raise here.
        table = PrefixTable((prefix, code) for prefix, code in seen_prefixes.items())
        for label, number in (("short_code", short_code), ("care_number", care_number)):
            if not number:
                continue
            zone = table.match(canonical(number))
            if zone is None or not zones[zone].zero_rated:
                problems.append((
                    "zones",
                    f"the operator's {label} {number} is not in a zero-rated zone "
                    "(expected its prefix in a zone with zero_rated = true)",
                ))
    return problems


def _cross_check(config) -> list[ConfigProblem]:
    tariffs = config.files.get(FILE_NAME)
    if tariffs is None:
        return []
    operator = config.engine.operator
    label = config.label(FILE_NAME)
    return [
        ConfigProblem(label, key, message)
        for key, message in tariff_problems(tariffs, operator.short_code, operator.care_number, operator.default_region)
    ]


register_file(FILE_NAME, TariffsFile, required=True)
register_cross_check(_cross_check)


# ---------------------------------------------------------------------------------------------
# The compiled tariff: what the rater reads


class CompiledVoiceRate(NamedTuple):
    connect: int  # micro-units per call
    minimum: int  # micro-units per call, connect fee included
    first: int  # seconds
    next: int  # seconds
    per_minute: tuple[int, ...]  # micro-units per minute, indexed by band
    flat: int | None  # the per-minute price when every band has it (skips band lookups)


class CompiledDataRate(NamedTuple):
    per_mb: int  # micro-units per megabyte (tariff's megabyte_bytes)
    block: int  # bytes; each session is rounded up to a whole number of blocks


class CompiledRoaming(NamedTuple):
    voice: CompiledVoiceRate
    sms: int
    data: CompiledDataRate


class CompiledCard(NamedTuple):
    code: str
    voice: dict  # zone -> CompiledVoiceRate
    sms: dict  # zone -> micro-units per message
    data: CompiledDataRate | None
    roaming: dict  # roaming zone -> CompiledRoaming


class CompiledPlan(NamedTuple):
    code: str
    monthly_fee: int  # micro-units
    card: CompiledCard
    voice_seconds: int
    voice_zones: frozenset
    sms_messages: int
    sms_zones: frozenset
    data_bytes: int


class Tariff(NamedTuple):
    plans: dict  # code -> CompiledPlan
    default_plan: str
    wholesale: CompiledCard
    zones: PrefixTable  # canonical number -> zone code
    zero_rated: frozenset
    roaming_zones: dict  # code -> roam like at home (bool)
    timeline: BandTimeline
    band_names: tuple[str, ...]
    split_at_band_boundary: bool
    megabyte_bytes: int
    invoice_rounding: str
    usage_format: UsageFormat
    default_region: str


def _voice(rate: VoiceRate, bands: tuple[str, ...]) -> CompiledVoiceRate:
    prices = rate.per_minute
    per_band = tuple(micros_from_decimal(prices.get("*", prices.get(band, Decimal(0)))) for band in bands)
    flat = per_band[0] if len(set(per_band)) == 1 else None
    return CompiledVoiceRate(
        micros_from_decimal(rate.connect), micros_from_decimal(rate.minimum), rate.increments[0], rate.increments[1], per_band, flat
    )


def _data(rate: DataRate | None) -> CompiledDataRate | None:
    return None if rate is None else CompiledDataRate(micros_from_decimal(rate.per_mb), rate.block_bytes)


def _card(code: str, card: RateCard, bands: tuple[str, ...]) -> CompiledCard:
    return CompiledCard(
        code,
        {zone: _voice(rate, bands) for zone, rate in card.voice.items()},
        {zone: micros_from_decimal(price) for zone, price in card.sms.items()},
        _data(card.data),
        {
            zone: CompiledRoaming(_voice(rates.voice, bands), micros_from_decimal(rates.sms), _data(rates.data))
            for zone, rates in card.roaming.items()
        },
    )


def _week(bands: TimeBands, names: tuple[str, ...]) -> list[list[int]]:
    week = [[names.index(bands.default)] * MINUTES_PER_DAY for _ in DAY_NAMES]
    for window in bands.windows:
        for day in window.days:
            minutes = week[DAY_NAMES.index(day)]
            minutes[window.start : window.end] = [names.index(window.band)] * (window.end - window.start)
    return week


def compile_tariff(tariffs: TariffsFile, time_zone: str, default_region: str = "GB") -> Tariff:
    """The rater's form of a validated tariffs file; raises ValueError if it cannot rate."""
    problems = tariff_problems(tariffs, default_region=default_region)
    if not tariffs.plans:
        problems.append(("plans", "none defined (expected at least one [plans.CODE] to rate usage)"))
    if problems:
        raise ValueError("; ".join(f"{key}: {message}" for key, message in problems))
    names = tariffs.time_bands.band_names
    cards = {code: _card(code, card, names) for code, card in tariffs.rate_cards.items()}
    plans = {}
    for code, plan in tariffs.plans.items():
        allowances = plan.allowances
        plans[code] = CompiledPlan(
            code,
            micros_from_decimal(plan.monthly_fee),
            cards[plan.rate_card],
            allowances.voice.amount if allowances.voice else 0,
            frozenset(allowances.voice.zones) if allowances.voice else frozenset(),
            allowances.sms.amount if allowances.sms else 0,
            frozenset(allowances.sms.zones) if allowances.sms else frozenset(),
            allowances.data.amount if allowances.data else 0,
        )
    bands = tariffs.time_bands
    timeline = BandTimeline(
        time_zone,
        names,
        _week(bands, names),
        bands.public_holidays,
        names.index(bands.holiday_band) if bands.holiday_band else None,
    )
    assert tariffs.invoice_rounding in ROUNDING_RULES
    return Tariff(
        plans=plans,
        default_plan=tariffs.default_plan,
        wholesale=cards[tariffs.wholesale_rate_card],
        zones=PrefixTable((prefix, code) for code, zone in tariffs.zones.items() for prefix in zone.prefixes),
        zero_rated=frozenset(code for code, zone in tariffs.zones.items() if zone.zero_rated),
        roaming_zones={code: zone.roam_like_at_home for code, zone in tariffs.roaming_zones.items()},
        timeline=timeline,
        band_names=names,
        split_at_band_boundary=tariffs.band_boundary == "split",
        megabyte_bytes=tariffs.megabyte_bytes,
        invoice_rounding=tariffs.invoice_rounding,
        usage_format=tariffs.usage_format,
        default_region=default_region,
    )


def tariff_from_config(config) -> Tariff:
    operator = config.engine.operator
    return compile_tariff(config[FILE_NAME], operator.time_zone, operator.default_region)


def load_tariff_file(path, time_zone: str, default_region: str = "GB") -> Tariff:
    """One tariffs file on its own (tools, benchmarks, tests); problems raise ConfigError like the loader's."""
    import tomllib
    from pathlib import Path

    from pydantic import ValidationError

    from engine.config.loader import problems_from_validation
    from engine.config.problems import ConfigError

    path = Path(path)
    try:
        with path.open("rb") as handle:
            tariffs = TariffsFile.model_validate(tomllib.load(handle))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([ConfigProblem(str(path), "", f"not valid TOML: {error}")]) from None
    except ValidationError as error:
        raise ConfigError(problems_from_validation(str(path), error)) from None
    problems = tariff_problems(tariffs, default_region=default_region)
    if problems:
        raise ConfigError([ConfigProblem(str(path), key, message) for key, message in problems])
    return compile_tariff(tariffs, time_zone, default_region)
