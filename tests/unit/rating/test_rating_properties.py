"""Properties over generated records: determinism, conservation of units, totals."""

from hypothesis import given, settings
from hypothesis import strategies as st
from rating_fixtures import epoch, make_tariff

from engine.rating.rater import Rater, rating_order, totals_by_subscriber

TARIFFS = {mode: make_tariff(band_boundary=mode) for mode in ("start", "split")}
SUBSCRIBERS = {"+447400000001": "bundle", "+447400000002": "payg", "+447400000003": "bundle"}
MONTH_START = epoch("2026-03-01T00:00:00+00:00")
DESTINATIONS = ["+447700900123", "+441632960001", "+449001234567", "+4470001", "118118", "999", "+33123", "+39123"]

records = st.lists(
    st.tuples(
        st.sampled_from(sorted(SUBSCRIBERS)),
        st.sampled_from(["voice", "sms", "data"]),
        st.integers(0, 62 * 86400),  # March and the start of April, DST change included
        st.integers(0, 5000),
        st.integers(0, 3_000_000),
        st.sampled_from(DESTINATIONS),
        st.sampled_from(["", "", "eu", "world"]),
    ),
    max_size=40,
).map(
    lambda rows: [
        (i, f"r{i}", msisdn, service, MONTH_START + offset,
         duration if service == "voice" else 0, volume if service == "data" else 0,
         "" if service == "data" else called, roaming)
        for i, (msisdn, service, offset, duration, volume, called, roaming) in enumerate(rows)
    ]
)


def rate_all(rows, mode="split", counters=None):
    rated, failed = Rater(TARIFFS[mode], SUBSCRIBERS, counters).rate_all(rows)
    assert failed == []
    return rated


@settings(max_examples=150, deadline=None)
@given(records, st.sampled_from(["start", "split"]))
def test_rating_is_deterministic_whatever_the_input_order(rows, mode):
    first = rate_all(rows, mode)
    again = rate_all(list(reversed(rows)), mode)
    assert first == again


@settings(max_examples=150, deadline=None)
@given(records, st.sampled_from(["start", "split"]))
def test_splitting_never_loses_units_and_bundles_never_overflow(rows, mode):
    counters: dict = {}
    for record, result in rate_all(rows, mode, counters):
        quantity = {"voice": record[5], "sms": 1, "data": record[6]}[record[3]]
        assert result[4] + result[5] == quantity  # included + chargeable
        assert result[4] >= 0 and result[5] >= 0
        assert result[6] >= result[5] or result[7] == 0  # billed units cover the chargeable ones
        assert result[7] >= 0 and result[8] >= 0
    for (_, _, service), used in counters.items():
        assert used <= {"voice": 600, "sms": 2, "data": 1_000_000}[service]


@settings(max_examples=100, deadline=None)
@given(records)
def test_total_charged_equals_the_sum_of_record_charges(rows):
    rated = rate_all(rows)
    totals = totals_by_subscriber(rated)
    assert sum(totals.values()) == sum(result[7] for _, result in rated)
    for (msisdn, period), total in totals.items():
        assert total == sum(r[7] for rec, r in rated if rec[2] == msisdn and r[0] == period)


@settings(max_examples=100, deadline=None)
@given(records, st.integers(0, 40))
def test_rating_in_two_files_with_seeded_counters_equals_rating_in_one(rows, cut):
    ordered = sorted(rows, key=rating_order)
    whole = rate_all(ordered)
    counters: dict = {}
    halves = rate_all(ordered[:cut], counters=counters) + rate_all(ordered[cut:], counters=counters)
    assert halves == whole


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 62 * 86400), st.integers(0, 3 * 86400))
def test_band_split_keeps_every_second(offset, seconds):
    pieces = TARIFFS["split"].timeline.split(MONTH_START + offset, seconds)
    assert sum(piece for _, piece in pieces) == seconds
    assert all(piece > 0 for _, piece in pieces)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(DESTINATIONS[:5] + DESTINATIONS[6:]), st.integers(0, 62 * 86400), st.integers(0, 5000), st.sampled_from(["start", "split"]))
def test_the_inlined_voice_price_agrees_with_the_general_one(called, offset, duration, mode):
    rater = Rater(TARIFFS[mode], SUBSCRIBERS)
    start = MONTH_START + offset
    result = rater.rate((1, "r", "+447400000002", "voice", start, duration, 0, called, ""))
    plan = TARIFFS[mode].plans["payg"]
    band = TARIFFS[mode].timeline.at(start)[0]
    assert result[6:8] == rater._voice_price(plan.card.voice[result[2]], start, 0, duration, band)
    assert result[8] == rater._voice_price(TARIFFS[mode].wholesale.voice[result[2]], start, 0, duration, band)[1]
