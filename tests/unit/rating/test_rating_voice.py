"""Voice rating, worked by hand. 1 GBP = 1,000,000 micro-units; a price per minute is applied as
billed_seconds * per_minute / 60, rounded half-up to the micro-unit."""

import pytest
from rating_fixtures import make_tariff, record

from engine.rating.rater import Rater, RatedRecord

PAYG = {"+447400000001": "payg"}
WEDNESDAY_PEAK = "2026-03-11T10:00:00+00:00"  # GMT, so 10:00 local: peak


def rate(record_tuple, plan_of=PAYG, **tariff_changes) -> RatedRecord:
    return RatedRecord._make(Rater(make_tariff(**tariff_changes), plan_of).rate(record_tuple))


@pytest.mark.parametrize(
    ("seconds", "billed", "retail"),
    [
        (1, 60, 120_000),  # first 60 s: 60 * 120,000 / 60 = 120,000 (0.12)
        (60, 60, 120_000),
        (61, 120, 240_000),  # 60 + one 60 s step = 120 s: 120 * 120,000 / 60 = 240,000
        (121, 180, 360_000),
    ],
)
def test_increments_60_60(seconds, billed, retail):
    result = rate(record("voice", WEDNESDAY_PEAK, seconds, called="07700900123"))
    assert (result.zone, result.band, result.billed, result.retail) == ("uk_mobile", "peak", billed, retail)


@pytest.mark.parametrize(
    ("seconds", "billed", "retail"),
    [
        (20, 30, 30_000),  # the first 30 s whole: 30 * 60,000 / 60 = 30,000
        (31, 36, 36_000),  # 30 + one 6 s step: 36 * 60,000 / 60 = 36,000
        (37, 42, 42_000),  # 30 + two 6 s steps
    ],
)
def test_increments_30_6(seconds, billed, retail):
    result = rate(record("voice", WEDNESDAY_PEAK, seconds, called="01632960001"))
    assert (result.zone, result.billed, result.retail) == ("uk_fixed", billed, retail)


def test_increments_1_1_with_connect_fee():
    # france: 61 s * 300,000 / 60 = 305,000, plus the 100,000 connect fee = 405,000.
    result = rate(record("voice", WEDNESDAY_PEAK, 61, called="0033123456789"))
    assert (result.zone, result.billed, result.retail) == ("france", 61, 405_000)


def test_minimum_charge_includes_the_connect_fee():
    # premium 10 s: 10 * 1,200,000 / 60 = 200,000 + 250,000 connect = 450,000 < 500,000 minimum.
    short = rate(record("voice", WEDNESDAY_PEAK, 10, called="09001234567"))
    assert short.retail == 500_000
    # 20 s: 400,000 + 250,000 = 650,000, above the minimum.
    assert rate(record("voice", WEDNESDAY_PEAK, 20, called="09001234567")).retail == 650_000


def test_zero_second_call_costs_nothing():
    result = rate(record("voice", WEDNESDAY_PEAK, 0, called="09001234567"))
    assert (result.billed, result.retail, result.wholesale) == (0, 0, 0)


def test_wholesale_is_rated_alongside_retail():
    # host: 0.006/min per second: 61 * 6,000 / 60 = 6,100.
    result = rate(record("voice", WEDNESDAY_PEAK, 61, called="07700900123"))
    assert (result.retail, result.wholesale) == (240_000, 6_100)


def test_zero_rated_numbers_are_free_but_still_cost_us_wholesale():
    for called in ("999", "112", "767"):
        result = rate(record("voice", WEDNESDAY_PEAK, 60, called=called))
        # wholesale 60 * 6,000 / 60 = 6,000
        assert (result.zone, result.retail, result.billed, result.wholesale) == ("zero", 0, 0, 6_000)


CROSSING_PEAK_END = "2026-03-11T18:59:00+00:00"  # 18:59 GMT, a minute before off-peak


def test_call_crossing_a_band_edge_rated_by_start_time():
    # 90 s -> 120 s billed, all at peak: 120 * 120,000 / 60 = 240,000.
    result = rate(record("voice", CROSSING_PEAK_END, 90, called="07700900123"), band_boundary="start")
    assert (result.band, result.retail) == ("peak", 240_000)


def test_call_crossing_a_band_edge_split_at_the_edge():
    # 60 s at peak (18:59-19:00) + 30 s off-peak, and the 30 s of rounding at the last band:
    # (60 * 120,000 + 30 * 60,000 + 30 * 60,000) / 60 = 10,800,000 / 60 = 180,000.
    result = rate(record("voice", CROSSING_PEAK_END, 90, called="07700900123"), band_boundary="split")
    assert (result.band, result.billed, result.retail) == ("peak", 120, 180_000)


def test_weekend_and_public_holiday_bands():
    saturday = rate(record("voice", "2026-03-14T12:00:00+00:00", 60, called="07700900123"))
    assert (saturday.band, saturday.retail) == ("weekend", 30_000)  # 60 * 30,000 / 60
    christmas = rate(record("voice", "2026-12-25T12:00:00+00:00", 60, called="07700900123"))  # a Friday
    assert (christmas.band, christmas.retail) == ("weekend", 30_000)
    christmas_eve = rate(record("voice", "2026-12-24T12:00:00+00:00", 60, called="07700900123"))
    assert (christmas_eve.band, christmas_eve.retail) == ("peak", 120_000)


@pytest.mark.parametrize(
    ("start", "band"),
    [
        ("2026-03-27T07:30:00+00:00", "off_peak"),  # Friday before the change: 07:30 GMT
        ("2026-03-30T07:30:00+00:00", "peak"),  # Monday after: 08:30 BST
        ("2026-10-23T07:30:00+00:00", "peak"),  # Friday before autumn change: 08:30 BST
        ("2026-10-26T07:30:00+00:00", "off_peak"),  # Monday after: 07:30 GMT
    ],
)
def test_bands_follow_local_time_across_dst(start, band):
    assert rate(record("voice", start, 60, called="07700900123")).band == band


def test_split_call_across_peak_start_in_summer_time():
    # Friday 2026-10-23 06:59:00Z is 07:59 BST: 60 s off-peak then 60 s peak (starts 07:00Z).
    # (60 * 60,000 + 60 * 120,000) / 60 = 180,000.
    result = rate(record("voice", "2026-10-23T06:59:00+00:00", 120, called="07700900123"), band_boundary="split")
    assert (result.band, result.retail) == ("off_peak", 180_000)


def test_dst_change_days_are_23_and_25_hours_long():
    timeline = make_tariff().timeline
    from rating_fixtures import epoch

    # Sunday 29 March: weekend from local midnight (00:00Z) to next local midnight (23:00Z).
    band, run_end, period = timeline.at(epoch("2026-03-29T00:30:00+00:00"))
    assert (timeline.band_names[band], run_end, period) == ("weekend", epoch("2026-03-29T23:00:00+00:00"), "2026-03")
    # Sunday 25 October, during the repeated hour (01:30 BST): the day ends at 00:00Z on the 26th.
    band, run_end, _ = timeline.at(epoch("2026-10-25T00:30:00+00:00"))
    assert run_end == epoch("2026-10-26T00:00:00+00:00")
    band, run_end, _ = timeline.at(epoch("2026-10-25T01:30:00+00:00"))  # 01:30 GMT, the second time
    assert (timeline.band_names[band], run_end) == ("weekend", epoch("2026-10-26T00:00:00+00:00"))


def test_period_is_the_local_month():
    # 23:30Z on 31 March is 00:30 BST on 1 April.
    assert rate(record("voice", "2026-03-31T23:30:00+00:00", 60, called="07700900123")).period == "2026-04"
    # 23:30Z on 31 October is 23:30 GMT, still October.
    assert rate(record("voice", "2026-10-31T23:30:00+00:00", 60, called="07700900123")).period == "2026-10"


def test_roaming_outside_the_eu_uses_its_own_rates_and_no_bundle():
    bundle = {"+447400000001": "bundle"}
    # world: 61 s -> 120 s at 1.50: 120 * 1,500,000 / 60 = 3,000,000; wholesale 61 * 300,000 / 60 = 305,000.
    world = rate(record("voice", WEDNESDAY_PEAK, 61, called="07700900123", roaming="world"), plan_of=bundle)
    assert (world.included, world.retail, world.wholesale) == (0, 3_000_000, 305_000)
    # eu roams like at home: the bundle covers it; wholesale is the host's EU rate.
    eu = rate(record("voice", WEDNESDAY_PEAK, 61, called="07700900123", roaming="EU".lower()), plan_of=bundle)
    assert (eu.included, eu.retail, eu.wholesale) == (61, 0, 305_000)
