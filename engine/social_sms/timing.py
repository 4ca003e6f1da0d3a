"""Time rules of the social network: billing period, quiet hours, and the per-number flood bucket.

All take `now` as an aware UTC datetime; none reads a clock, so tests move time by passing values.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from engine.social_sms.ports import ThrottleState
from engine.social_sms.settings import QuietHoursSection


def require_utc(now: datetime) -> datetime:
    if now.tzinfo is timezone.utc:  # the engine's clocks: every rule asks, several times per message
        return now
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"{now!r} is a naive datetime (expected an aware UTC time)")
    return now.astimezone(timezone.utc)


def period_of(now: datetime, time_zone: str) -> str:
    """The billing period (YYYY-MM) that `now` falls in, in the operator's time zone."""
    local = require_utc(now).astimezone(ZoneInfo(time_zone))
    return f"{local.year:04d}-{local.month:02d}"


def quiet_release_time(now: datetime, time_zone: str, quiet: QuietHoursSection) -> datetime | None:
    """When a message made at `now` may reach a recipient in `time_zone`: None if at once, else the
    UTC time the recipient's quiet window ends.

    The window is wall-clock time where the recipient lives, so across a DST change 08:00 stays
    08:00 local. Returning a `not_before` rather than holding messages here keeps this pure: the
    outbox releases held messages in order when their time comes.
    """
    if not quiet.enabled:
        return None
    now = require_utc(now)
    zone = ZoneInfo(time_zone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    start, end = quiet.start, quiet.end
    if start < end:
        in_quiet = start <= clock < end
    else:
        in_quiet = clock >= start or clock < end
    if not in_quiet:
        return None
    opening_day = local.date() if clock < end else local.date() + timedelta(days=1)
    opening = datetime.combine(opening_day, end, tzinfo=zone).astimezone(timezone.utc)
    # An `end` that falls in a spring-forward gap can map to a moment already past; never hold
    # a message into the past.
    return max(opening, now)


def take_token(state: ThrottleState | None, now: datetime, burst: int, per_minute: int) -> tuple[bool, ThrottleState]:
    """One message from a number spends one token; tokens refill at `per_minute`, up to `burst`.

    A bucket per number throttles a flood from one phone without slowing anyone else, and lets a
    person send a short burst (JOIN, NAME, CAUSE in a row) without being refused.
    """
    now = require_utc(now)
    capacity = burst * 1000
    if state is None:
        tokens = capacity
    else:
        elapsed_ms = max(0, (now - state.updated_at) // timedelta(milliseconds=1))
        tokens = min(capacity, state.milli_tokens + elapsed_ms * per_minute // 60)
    if tokens < 1000:
        return False, ThrottleState(tokens, now)
    return True, ThrottleState(tokens - 1000, now)


def bucket_refill_time(burst: int, per_minute: int) -> timedelta:
    """How long `take_token`'s bucket takes to fill from empty. A bucket untouched for longer is
    full, which is what no bucket at all means to `take_token`: housekeeping deletes its row."""
    return timedelta(milliseconds=-(-burst * 60_000 // per_minute))
