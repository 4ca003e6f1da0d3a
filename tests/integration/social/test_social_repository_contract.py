"""One contract, two repositories: every scenario runs on MemoryRepository and on the SQL repository
(SQLite and PostgreSQL), so the unit tests' stand-in cannot drift from what the engine runs on."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from engine.social_sms.memory_repository import MemoryRepository
from engine.social_sms.ports import Follow, Gift, PendingGive, Post, Recipient, Subscriber, ThrottleState, cause_key
from engine.social_sms.sql_repository import SqlSocialRepository
from engine.social_sms.testing import sample_causes
from engine.social_sms.wiring import sync_causes

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
ANN, BOB, CAT, DAN = "+447400000001", "+447400000002", "+33612345678", "+447400000004"


def member(msisdn: str, **changes) -> Subscriber:
    values = dict(msisdn=msisdn, kind="line", status="active", language="en", time_zone="Europe/London",
                  joined_at=NOW - timedelta(days=3))
    values.update(changes)
    return Subscriber(**values)


def with_members(repo, *numbers: str) -> None:
    for number in numbers:
        repo.save_subscriber(member(number))


def at(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


# --- scenarios: each takes a fresh repository --------------------------------------------------


def subscribers_and_handles(repo):
    assert repo.get_subscriber(ANN) is None and repo.find_by_handle("ann") is None
    ann = member(ANN, kind="social", language="fr", time_zone="Europe/Paris", plan=None)
    repo.save_subscriber(ann)
    assert repo.get_subscriber(ANN) == ann
    changed = replace(ann, kind="line", status="activating", plan="basic", cause="water", opted_out=True,
                      notifications_on=False)
    repo.save_subscriber(changed)
    assert repo.get_subscriber(ANN) == changed
    assert repo.claim_handle(ANN, "ann") is True
    assert repo.get_subscriber(ANN).handle == "ann" and repo.find_by_handle("ann").msisdn == ANN
    assert repo.claim_handle(ANN, "ann") is True  # one's own handle again
    repo.save_subscriber(replace(changed, handle="sneaky", status="suspended"))  # handle only via claim_handle
    assert repo.get_subscriber(ANN).handle == "ann" and repo.get_subscriber(ANN).status == "suspended"
    repo.save_subscriber(member(BOB))
    assert repo.claim_handle(BOB, "ann") is False
    assert repo.claim_handle(ANN, "annie") is True
    assert repo.find_by_handle("ann") is None  # the old handle is free again
    assert repo.claim_handle(BOB, "ann") is True
    assert repo.find_by_handle("annie").msisdn == ANN and repo.find_by_handle("ann").msisdn == BOB
    assert repo.get_subscriber(BOB).status == "active"


def follows_and_listings(repo):
    with_members(repo, ANN, BOB, CAT, DAN)
    assert repo.get_follow(ANN, BOB) is None and repo.following_page(ANN, 10) == (0, [])
    repo.save_follow(Follow(ANN, BOB, True, at(1)))
    repo.save_follow(Follow(ANN, cause_key("water"), True, at(2)))
    repo.save_follow(Follow(ANN, CAT, True, at(3)))
    assert repo.get_follow(ANN, BOB) == Follow(ANN, BOB, True, at(1))
    assert repo.get_follow(BOB, ANN) is None
    repo.save_follow(Follow(ANN, BOB, False, at(9)))  # a new value for the same follow, in the same place
    assert repo.get_follow(ANN, BOB) == Follow(ANN, BOB, False, at(9))
    count, newest = repo.following_page(ANN, 10)
    assert count == 3 and [f.followee for f in newest] == [CAT, cause_key("water"), BOB]
    assert repo.following_page(ANN, 2) == (3, [Follow(ANN, CAT, True, at(3)), Follow(ANN, cause_key("water"), True, at(2))])
    repo.save_follow(Follow(BOB, CAT, True, at(4)))
    repo.save_follow(Follow(DAN, CAT, True, at(5)))
    assert repo.followers_page(CAT, 10) == (3, [DAN, BOB, ANN]) and repo.followers_page(CAT, 1) == (3, [DAN])
    assert repo.followers_page(cause_key("water"), 5) == (1, [ANN]) and repo.followers_page(BOB, 5) == (1, [ANN])
    assert repo.followers_page(DAN, 5) == (0, []) and repo.followers_page(cause_key("climate"), 5) == (0, [])
    with pytest.raises(ValueError, match="at least 1"):
        repo.following_page(ANN, 0)
    assert repo.profile("cat") is None  # no handle yet
    assert repo.claim_handle(CAT, "cat") is True and repo.claim_handle(DAN, "dan") is True
    profile = repo.profile("cat")
    assert (profile.subscriber.msisdn, profile.subscriber.handle, profile.followers, profile.following) == (CAT, "cat", 3, 0)
    assert repo.profile("dan")[1:] == (0, 1)
    assert repo.delete_follow(ANN, CAT) is True and repo.delete_follow(ANN, CAT) is False
    assert repo.followers_page(CAT, 10)[0] == 2 and repo.following_page(ANN, 10)[0] == 2
    assert repo.profile("cat")[1:] == (2, 0)
    assert repo.delete_follow(ANN, cause_key("water")) is True
    repo.save_follow(Follow(ANN, CAT, True, at(6)))  # back again: now the newest
    assert repo.followers_page(CAT, 10) == (3, [ANN, DAN, BOB])


def fan_out_audience(repo):
    with_members(repo, ANN, BOB, DAN)
    repo.save_subscriber(member(CAT, language="fr", time_zone="Europe/Paris", kind="social"))
    quiet = "+447400000005"
    stopped = "+447400000006"
    muted = "+447400000007"
    repo.save_subscriber(member(quiet, notifications_on=False))
    repo.save_subscriber(member(stopped, opted_out=True))
    repo.save_subscriber(member(muted))
    for number in (BOB, CAT, quiet, stopped, muted):
        repo.save_follow(Follow(number, ANN, number != muted, NOW))
    repo.save_follow(Follow(DAN, cause_key("water"), True, NOW))
    # Order is not part of the contract: fan-out groups by language and zone anyway.
    assert sorted(repo.notified_followers(ANN)) == [
        Recipient(CAT, "fr", "Europe/Paris"), Recipient(BOB, "en", "Europe/London")]
    assert list(repo.notified_followers(cause_key("water"))) == [Recipient(DAN, "en", "Europe/London")]
    assert list(repo.notified_followers(cause_key("climate"))) == []
    assert list(repo.notified_followers(DAN)) == []


def posts_windows(repo):
    with_members(repo, ANN, BOB)
    repo.add_post(Post(ANN, "first", at(0)))
    repo.add_post(Post(ANN, "second", at(30)))
    repo.add_post(Post(BOB, "bob's", at(31)))
    repo.add_post(Post(cause_key("water"), "from the cause", at(32)))
    assert repo.recent_posts(ANN, at(-1)) == [Post(ANN, "first", at(0)), Post(ANN, "second", at(30))]
    assert repo.recent_posts(ANN, at(0)) == [Post(ANN, "second", at(30))]  # strictly after: half-open window
    assert repo.recent_posts(ANN, at(30)) == []
    assert repo.recent_posts(cause_key("water"), at(0)) == [Post(cause_key("water"), "from the cause", at(32))]
    assert repo.recent_posts(cause_key("climate"), at(0)) == []


def action_counts(repo):
    with_members(repo, ANN, BOB)
    for minute in (0, 10, 20):
        repo.record_action(ANN, "follow", at(minute))
    repo.record_action(ANN, "dm", at(15))
    repo.record_action(BOB, "follow", at(15))
    assert repo.count_actions(ANN, "follow", at(-1)) == 3
    assert repo.count_actions(ANN, "follow", at(10)) == 1  # strictly after
    assert repo.count_actions(ANN, "dm", at(-1)) == 1
    assert repo.count_actions(ANN, "post", at(-1)) == 0
    assert repo.count_actions(DAN, "follow", at(-1)) == 0  # never joined: nothing counted


def throttles(repo):
    assert repo.get_throttle(DAN) is None  # numbers that never joined have buckets too
    repo.save_throttle(DAN, ThrottleState(9000, at(0)))
    assert repo.get_throttle(DAN) == ThrottleState(9000, at(0))
    repo.save_throttle(DAN, ThrottleState(8000, at(1)))
    assert repo.get_throttle(DAN) == ThrottleState(8000, at(1))


def gives_and_gifts(repo):
    with_members(repo, ANN, BOB)
    assert repo.get_pending_give(ANN) is None
    repo.set_pending_give(ANN, PendingGive(500, "water", at(10)))
    repo.set_pending_give(ANN, PendingGive(700, "climate", at(12)))  # the newest replaces the older
    assert repo.get_pending_give(ANN) == PendingGive(700, "climate", at(12))
    assert repo.get_pending_give(BOB) is None
    repo.set_pending_give(ANN, None)
    repo.set_pending_give(ANN, None)  # clearing nothing is fine
    assert repo.get_pending_give(ANN) is None
    repo.add_gift(Gift(ANN, "2026-11", 500, "water", at(1)))
    repo.add_gift(Gift(ANN, "2026-11", 250, "climate", at(2)))
    repo.add_gift(Gift(ANN, "2026-12", 100, "water", at(3)))
    repo.add_gift(Gift(BOB, "2026-11", 900, "water", at(4)))
    assert repo.gifts_in_period(ANN, "2026-11") == [Gift(ANN, "2026-11", 500, "water", at(1)),
                                                   Gift(ANN, "2026-11", 250, "climate", at(2))]
    assert repo.gifts_in_period(ANN, "2027-01") == []


SCENARIOS = [subscribers_and_handles, follows_and_listings, fan_out_audience, posts_windows, action_counts,
             throttles, gives_and_gifts]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_memory_repository(scenario):
    scenario(MemoryRepository())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_sql_repository(scenario, database):
    with database.begin() as connection:
        sync_causes(connection, sample_causes(), NOW)
        scenario(SqlSocialRepository(connection, NOW, "Europe/London"))
