"""The band timeline caches a whole run of minutes at once; every cached answer must be the one
computed for that minute alone, on ordinary days, DST change days and holidays, in any order."""

from __future__ import annotations

import random
from datetime import date

import pytest

from engine.rating.bands import BandTimeline
from tests.unit.rating.rating_fixtures import epoch

NAMES = ("off_peak", "peak", "night", "weekend", "holiday")
OFF_PEAK, PEAK, NIGHT, WEEKEND, HOLIDAY = range(5)


def week() -> list[list[int]]:
    days = []
    for weekday in range(7):
        minutes = [OFF_PEAK] * 1440
        if weekday >= 5:
            minutes = [WEEKEND] * 1440
        else:
            minutes[8 * 60 : 19 * 60] = [PEAK] * (11 * 60)
        # Edges inside the hours the clocks change (01:00-02:00 in London, 02:00-03:00 in Paris).
        minutes[60 + 30 : 2 * 60 + 30] = [NIGHT] * 60
        days.append(minutes)
    return days


@pytest.mark.parametrize("zone", ["Europe/London", "Europe/Paris", "America/New_York", "Australia/Lord_Howe"])
@pytest.mark.parametrize("order", ["forward", "shuffled"])
def test_cached_runs_equal_minute_by_minute(zone: str, order: str) -> None:
    timeline = BandTimeline(zone, NAMES, week(), [date(2026, 3, 29), date(2026, 12, 25)], HOLIDAY)
    reference = BandTimeline(zone, NAMES, week(), [date(2026, 3, 29), date(2026, 12, 25)], HOLIDAY)
    minutes = []
    # Around both DST changes of the zones above, month ends, and a holiday.
    for start in ("2026-03-06T00:00:00+00:00", "2026-03-27T00:00:00+00:00", "2026-04-03T00:00:00+00:00",
                  "2026-10-02T00:00:00+00:00", "2026-10-24T00:00:00+00:00", "2026-10-30T00:00:00+00:00",
                  "2026-11-01T00:00:00+00:00", "2026-12-24T00:00:00+00:00"):
        first = epoch(start) // 60
        minutes.extend(range(first, first + 3 * 1440))
    if order == "shuffled":
        random.Random(5).shuffle(minutes)
    for minute in minutes:
        seconds = random.Random(minute).randrange(60)
        assert timeline.at(minute * 60 + seconds) == reference._compute(minute * 60), (zone, minute)
