"""Quiet hours per recipient time zone, the flood bucket and billing periods, with times as values."""

from datetime import datetime, time, timedelta, timezone

import pytest

from engine.social_sms.settings import QuietHoursSection
from engine.social_sms.timing import period_of, quiet_release_time, take_token

UTC = timezone.utc
QUIET = QuietHoursSection(start=time(21, 0), end=time(8, 0))


def at(*parts):
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize("now, zone, release", [
    (at(2026, 1, 15, 12, 0), "Europe/London", None),
    (at(2026, 1, 15, 20, 59), "Europe/London", None),
    (at(2026, 1, 15, 21, 0), "Europe/London", at(2026, 1, 16, 8, 0)),
    (at(2026, 1, 16, 3, 0), "Europe/London", at(2026, 1, 16, 8, 0)),
    (at(2026, 1, 16, 8, 0), "Europe/London", None),
    # Summer: 08:00 in London is 07:00 UTC.
    (at(2026, 7, 1, 22, 0), "Europe/London", at(2026, 7, 2, 7, 0)),
    # Same instant, different recipients: 12:00 UTC is 21:00 in Tokyo, 07:00 in New York.
    (at(2026, 1, 15, 12, 0), "Asia/Tokyo", at(2026, 1, 15, 23, 0)),
    (at(2026, 1, 15, 12, 0), "America/New_York", at(2026, 1, 15, 13, 0)),
])
def test_release_time(now, zone, release):
    assert quiet_release_time(now, zone, QUIET) == release


def test_release_across_the_spring_dst_change():
    # The night of 28-29 March 2026 loses an hour in London: 08:00 BST on the 29th is 07:00 UTC.
    assert quiet_release_time(at(2026, 3, 28, 23, 30), "Europe/London", QUIET) == at(2026, 3, 29, 7, 0)
    # And the autumn night gains one: 08:00 GMT on 25 October is 08:00 UTC.
    assert quiet_release_time(at(2026, 10, 24, 22, 30), "Europe/London", QUIET) == at(2026, 10, 25, 8, 0)


def test_daytime_window_and_disabled():
    lunch = QuietHoursSection(start=time(12, 0), end=time(14, 0))
    assert quiet_release_time(at(2026, 1, 15, 13, 0), "UTC", lunch) == at(2026, 1, 15, 14, 0)
    assert quiet_release_time(at(2026, 1, 15, 23, 0), "UTC", lunch) is None
    assert quiet_release_time(at(2026, 1, 15, 23, 0), "UTC", QuietHoursSection(enabled=False)) is None


def test_equal_start_and_end_is_a_config_error():
    with pytest.raises(ValueError, match="start and end are equal"):
        QuietHoursSection(start="08:00", end="08:00")
    with pytest.raises(ValueError, match="HH:MM"):
        QuietHoursSection(start="8pm")


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="naive"):
        quiet_release_time(datetime(2026, 1, 1, 12), "UTC", QUIET)


def test_token_bucket_allows_a_burst_then_the_refill_rate():
    now = at(2026, 1, 1, 12, 0)
    state = None
    for _ in range(3):
        allowed, state = take_token(state, now, burst=3, per_minute=6)
        assert allowed
    allowed, state = take_token(state, now, burst=3, per_minute=6)
    assert not allowed
    allowed, state = take_token(state, now + timedelta(seconds=9), burst=3, per_minute=6)
    assert not allowed  # 0.9 of a token
    allowed, state = take_token(state, now + timedelta(seconds=10), burst=3, per_minute=6)
    assert allowed
    # A long quiet refills only up to the burst.
    later = now + timedelta(hours=1)
    results = []
    for _ in range(5):
        allowed, state = take_token(state, later, burst=3, per_minute=6)
        results.append(allowed)
    assert results == [True, True, True, False, False]


def test_period_is_the_operators_local_month():
    assert period_of(at(2026, 1, 31, 23, 30), "Europe/London") == "2026-01"
    assert period_of(at(2026, 6, 30, 23, 30), "Europe/London") == "2026-07"  # 00:30 BST on 1 July
    assert period_of(at(2026, 6, 30, 23, 30), "UTC") == "2026-06"
