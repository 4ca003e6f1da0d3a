"""Housekeeping deletes only what no rule can see any more: counted actions past every limit's
window and flood buckets that are full; every limit and every flood answer stays the same."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from twisted.internet.testing import MemoryReactorClock

from engine.config.loader import load_config
from engine.service.assembly import build_engine
from engine.social_sms.housekeeping import prune_social_history
from engine.social_sms.ports import ACTION_DM, ACTION_FOLLOW, ACTION_LIMIT_WINDOW, Subscriber, ThrottleState
from engine.social_sms.settings import FloodSection
from engine.social_sms.sql_repository import SqlSocialRepository
from engine.social_sms.timing import bucket_refill_time, take_token
from engine.store.schema import sms_throttles, social_actions
from tests.support.configs import copy_project_config, replace_in

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
ANN, BOB = "+447400000001", "+447400000002"
FLOOD = FloodSection(burst=10, per_minute=6)  # an empty bucket fills in 100 s


def member(msisdn: str) -> Subscriber:
    return Subscriber(msisdn=msisdn, kind="line", status="active", language="en", time_zone="Europe/London",
                      joined_at=NOW - timedelta(days=30))


def counted(database, msisdn: str, action: str, at: datetime) -> int:
    with database.begin() as connection:
        return SqlSocialRepository(connection, at, "Europe/London").count_actions(msisdn, action, at - ACTION_LIMIT_WINDOW)


def test_bucket_refill_time_is_when_an_empty_bucket_is_full_again():
    refill = bucket_refill_time(10, 7)  # 85,714.28... ms: rounded up, never down
    assert refill == timedelta(milliseconds=85_715)
    empty = ThrottleState(0, NOW)
    assert take_token(empty, NOW + refill, 10, 7)[1].milli_tokens == 9_000  # full, then one spent
    assert take_token(empty, NOW + refill - timedelta(milliseconds=1), 10, 7)[1].milli_tokens < 9_000


def test_counted_actions_past_the_window_go_and_every_limit_counts_the_same(database):
    times = {  # how long before NOW each action was counted
        "older than the window": ACTION_LIMIT_WINDOW + timedelta(seconds=1),
        "exactly the window": ACTION_LIMIT_WINDOW,  # `at > since` already excludes it
        "inside the window": ACTION_LIMIT_WINDOW - timedelta(seconds=1),
        "an hour ago": timedelta(hours=1),
    }
    with database.begin() as connection:
        repo = SqlSocialRepository(connection, NOW, "Europe/London")
        repo.save_subscriber(member(ANN))
        repo.save_subscriber(member(BOB))
        for age in times.values():
            repo.record_action(ANN, ACTION_FOLLOW, NOW - age)
            repo.record_action(BOB, ACTION_DM, NOW - age)
    later = [NOW, NOW + timedelta(seconds=1), NOW + timedelta(hours=5)]
    before = [(counted(database, ANN, ACTION_FOLLOW, at), counted(database, BOB, ACTION_DM, at)) for at in later]

    pruned = prune_social_history(database, NOW, FLOOD)

    assert pruned.counted_actions == 4  # the two oldest of each number
    assert [(counted(database, ANN, ACTION_FOLLOW, at), counted(database, BOB, ACTION_DM, at)) for at in later] == before
    assert before[0] == (2, 2)
    with database.connect() as connection:
        oldest = connection.execute(select(func.min(social_actions.c.at))).scalar_one()
    assert oldest == NOW - times["inside the window"]
    assert prune_social_history(database, NOW, FLOOD).counted_actions == 0  # idempotent


def test_only_full_flood_buckets_go_and_every_flood_answer_stays_the_same(database):
    refill = bucket_refill_time(FLOOD.burst, FLOOD.per_minute)
    buckets = {
        "+447400000101": ThrottleState(0, NOW - refill - timedelta(milliseconds=1)),  # empty long ago: full now
        "+447400000102": ThrottleState(9_000, NOW - refill - timedelta(days=3)),
        "+447400000103": ThrottleState(0, NOW - refill),  # exactly full: kept (the cut-off is strict)
        "+447400000104": ThrottleState(0, NOW - refill + timedelta(milliseconds=1)),  # not yet full
        "+447400000105": ThrottleState(4_000, NOW - timedelta(seconds=5)),
    }
    with database.begin() as connection:
        repo = SqlSocialRepository(connection, NOW, "Europe/London")
        for msisdn, state in buckets.items():
            repo.save_throttle(msisdn, state)

    pruned = prune_social_history(database, NOW, FLOOD)

    with database.begin() as connection:
        repo = SqlSocialRepository(connection, NOW, "Europe/London")
        after = {msisdn: repo.get_throttle(msisdn) for msisdn in buckets}
        left = connection.execute(select(func.count()).select_from(sms_throttles)).scalar_one()
    assert pruned.full_buckets == 2 and left == 3
    assert [msisdn for msisdn, state in after.items() if state is None] == ["+447400000101", "+447400000102"]
    for moment in (NOW, NOW + timedelta(seconds=1), NOW + timedelta(minutes=10)):
        for msisdn, state in buckets.items():
            assert take_token(after[msisdn], moment, FLOOD.burst, FLOOD.per_minute) == \
                take_token(state, moment, FLOOD.burst, FLOOD.per_minute), (msisdn, moment)


def test_tpo_run_prunes_hourly_with_the_configured_flood_settings(tmp_path, database):
    directory = copy_project_config(tmp_path / "config")
    replace_in(directory / "social.toml", "burst = 10\nper_minute = 6", "burst = 3\nper_minute = 60")  # full in 3 s
    clock = MemoryReactorClock()
    clock.advance(NOW.timestamp())
    engine = build_engine(clock, load_config(directory, environ={}), database)
    [job] = [job for job in engine.jobs if job.job_id == "social-housekeeping"]
    assert job.seconds == 3600
    with database.begin() as connection:
        repo = SqlSocialRepository(connection, NOW, "Europe/London")
        repo.save_subscriber(member(ANN))
        repo.record_action(ANN, ACTION_FOLLOW, NOW - ACTION_LIMIT_WINDOW - timedelta(minutes=1))
        repo.record_action(ANN, ACTION_FOLLOW, NOW - timedelta(minutes=1))
        repo.save_throttle(ANN, ThrottleState(0, NOW - timedelta(seconds=4)))  # full under the config, not the default
        repo.save_throttle(BOB, ThrottleState(0, NOW - timedelta(seconds=2)))

    job.run()

    with database.connect() as connection:
        assert connection.execute(select(social_actions.c.at)).scalars().all() == [NOW - timedelta(minutes=1)]
        assert connection.execute(select(sms_throttles.c.msisdn)).scalars().all() == [BOB]
