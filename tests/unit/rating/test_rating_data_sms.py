"""Data and SMS rating, and bundles, worked by hand (micro-units: 1 GBP = 1,000,000)."""

import re

import pytest
from rating_fixtures import SUBSCRIBER, make_tariff, record

from engine.rating.allowances import seed_counters
from engine.rating.rater import Rater, RatedRecord, RatingError, rating_order

NOON = "2026-03-11T12:00:00+00:00"
PAYG = {SUBSCRIBER: "payg"}
BUNDLE = {SUBSCRIBER: "bundle"}


def rater(plan_of=PAYG, counters=None, **changes) -> Rater:
    return Rater(make_tariff(**changes), plan_of, counters)


def rated(rater_, record_tuple) -> RatedRecord:
    return RatedRecord._make(rater_.rate(record_tuple))


@pytest.mark.parametrize(
    ("volume", "billed", "retail", "wholesale"),
    [
        # whole 100,000-byte blocks at 0.02 per 1,000,000 bytes: billed * 20,000 / 1,000,000;
        # wholesale per byte at 0.001/MB: volume * 1,000 / 1,000,000, half-up.
        (1, 100_000, 2_000, 0),  # 1 byte -> one block; wholesale 0.001 -> 0
        (100_000, 100_000, 2_000, 100),
        (150_001, 200_000, 4_000, 150),  # wholesale 150.001 -> 150
        (1_500_000, 1_500_000, 30_000, 1_500),
        (0, 0, 0, 0),
    ],
)
def test_data_sessions_round_up_to_blocks(volume, billed, retail, wholesale):
    result = rated(rater(), record("data", NOON, volume=volume))
    assert (result.zone, result.billed, result.retail, result.wholesale) == ("", billed, retail, wholesale)


def test_data_roaming_outside_the_eu():
    # world: 1,000-byte blocks at 5.00/MB: 1,001 bytes -> 2,000 * 5,000,000 / 1,000,000 = 10,000.
    # wholesale 0.50/MB per byte: 1,001 * 500,000 / 1,000,000 = 500.5 -> 501 (half-up).
    result = rated(rater(BUNDLE), record("data", NOON, volume=1_001, roaming="world"))
    assert (result.included, result.billed, result.retail, result.wholesale) == (0, 2_000, 10_000, 501)


@pytest.mark.parametrize(
    ("called", "zone", "retail"),
    [("07700900123", "uk_mobile", 50_000), ("0033123456789", "france", 100_000), ("0039123456789", "europe", 200_000),
     ("09001234567", "premium", 400_000), ("767", "zero", 0)],
)
def test_sms_priced_by_zone(called, zone, retail):
    result = rated(rater(), record("sms", NOON, called=called))
    assert (result.zone, result.retail, result.wholesale) == (zone, retail, 2_000)


def test_sms_while_roaming_outside_the_eu():
    result = rated(rater(BUNDLE), record("sms", NOON, called="07700900123", roaming="world"))
    assert (result.included, result.retail, result.wholesale) == (0, 300_000, 10_000)


def test_voice_bundle_crossing_its_end_splits_the_call():
    bundled = rater(BUNDLE)
    first = rated(bundled, record("voice", NOON, 500, called="07700900123"))
    assert (first.included, first.chargeable, first.retail) == (500, 0, 0)
    # 150 s with 100 s left: 100 included; 50 s charged in whole 60 s "next" steps, no connect:
    # 60 * 120,000 (peak) / 60 = 120,000.
    crossing = rated(bundled, record("voice", NOON, 150, called="07700900123", record_id="r2"))
    assert (crossing.included, crossing.chargeable, crossing.billed, crossing.retail) == (100, 50, 60, 120_000)
    # The bundle is empty: a 30 s call is a whole call again (first 60 s).
    after = rated(bundled, record("voice", NOON, 30, called="07700900123", record_id="r3"))
    assert (after.included, after.billed, after.retail) == (0, 60, 120_000)
    assert bundled.counters == {(SUBSCRIBER, "2026-03", "voice"): 600}


def test_voice_bundle_covers_only_its_zones():
    bundled = rater(BUNDLE)
    # france is outside the bundle: 60 s * 300,000 / 60 + 100,000 = 400,000.
    result = rated(bundled, record("voice", NOON, 60, called="0033123456789"))
    assert (result.included, result.retail) == (0, 400_000)
    assert bundled.counters == {}


def test_partly_bundled_call_split_across_a_band_edge():
    # 18:58:00 GMT, 120 s with 60 s of bundle left: the charged 60 s run 18:59-19:00 at peak,
    # billed 60 s: 60 * 120,000 / 60 = 120,000.
    bundled = rater(BUNDLE, {(SUBSCRIBER, "2026-03", "voice"): 540}, band_boundary="split")
    result = rated(bundled, record("voice", "2026-03-11T18:58:00+00:00", 120, called="07700900123"))
    assert (result.included, result.chargeable, result.retail) == (60, 60, 120_000)
    # 150 s: 60 included; the charged 90 s are 60 s peak + 30 s off-peak, rounded to 120 s with the
    # extra 30 s off-peak: (60 * 120,000 + 60 * 60,000) / 60 = 180,000.
    bundled = rater(BUNDLE, {(SUBSCRIBER, "2026-03", "voice"): 540}, band_boundary="split")
    result = rated(bundled, record("voice", "2026-03-11T18:58:00+00:00", 150, called="07700900123"))
    assert (result.included, result.chargeable, result.billed, result.retail) == (60, 90, 120, 180_000)


def test_sms_bundle_then_charged():
    bundled = rater(BUNDLE)
    results = [rated(bundled, record("sms", NOON, called="07700900123", record_id=f"r{i}")) for i in range(3)]
    assert [(r.included, r.chargeable, r.retail) for r in results] == [(1, 0, 0), (1, 0, 0), (0, 1, 50_000)]


def test_data_bundle_crossing_its_end_splits_the_session():
    bundled = rater(BUNDLE)
    first = rated(bundled, record("data", NOON, volume=700_000))
    assert (first.included, first.retail) == (700_000, 0)
    # 500,000 bytes with 300,000 left: 200,000 charged = 2 blocks: 200,000 * 20,000 / 1,000,000 = 4,000.
    second = rated(bundled, record("data", NOON, volume=500_000, record_id="r2"))
    assert (second.included, second.chargeable, second.billed, second.retail) == (300_000, 200_000, 200_000, 4_000)


def test_eu_roaming_uses_the_home_bundle_and_world_roaming_does_not():
    bundled = rater(BUNDLE)
    assert rated(bundled, record("data", NOON, volume=400_000, roaming="eu")).included == 400_000
    assert rated(bundled, record("data", NOON, volume=400_000, roaming="world")).included == 0
    assert bundled.counters == {(SUBSCRIBER, "2026-03", "data"): 400_000}


def test_counters_seeded_from_stored_totals_continue_the_bundle():
    counters = seed_counters([(SUBSCRIBER, "2026-03", "voice", 550), (SUBSCRIBER, "2026-02", "voice", 600)])
    result = rated(rater(BUNDLE, counters), record("voice", NOON, 80, called="07700900123"))
    assert (result.included, result.chargeable) == (50, 30)


def test_a_new_month_starts_a_new_bundle():
    bundled = rater(BUNDLE, {(SUBSCRIBER, "2026-03", "voice"): 600})
    assert rated(bundled, record("voice", "2026-04-01T09:00:00+01:00", 60, called="07700900123")).included == 60


def test_rate_all_consumes_bundles_in_time_order():
    later = record("voice", "2026-03-11T13:00:00+00:00", 500, called="07700900123", record_id="late")
    earlier = record("voice", "2026-03-11T12:00:00+00:00", 500, called="07700900123", record_id="early")
    results, failed = rater(BUNDLE).rate_all([later, earlier])
    assert failed == []
    assert [(rec[1], res[4]) for rec, res in results] == [("early", 500), ("late", 100)]
    assert sorted([later, earlier], key=rating_order)[0] is earlier


@pytest.mark.parametrize(
    ("record_tuple", "plan_of", "reason"),
    [
        (record("voice", NOON, 60, called="0033123456789", msisdn="+447400999999"), PAYG, "subscriber +447400999999 is unknown"),
        (record("voice", NOON, 60, called="0800123456"), PAYG, "is in no zone"),
        (record("voice", NOON, 60, called="07700900123", roaming="mars"), PAYG, "roaming zone 'mars' is unknown"),
        (record("voice", NOON, 60, called="07700900123"), {SUBSCRIBER: "gold"}, "plan 'gold'"),
    ],
)
def test_records_that_cannot_be_rated_say_why(record_tuple, plan_of, reason):
    with pytest.raises(RatingError, match=re.escape(reason)):
        rater(plan_of).rate(record_tuple)


def test_records_rebuilt_from_storage_rate_the_same():
    # Re-rating reads services and numbers back from the database: equal strings, not the same objects.
    original = record("voice", NOON, 61, called="07700900123")
    rebuilt = tuple("".join(list(field)) if isinstance(field, str) else field for field in original)
    assert rebuilt[3] is not original[3]
    assert rater().rate(rebuilt) == rater().rate(original)
