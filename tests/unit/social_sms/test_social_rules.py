"""Rules around the commands: opt-out, fan-out filters, quiet hours, limits, gifts, trust, scale."""

import time as wallclock
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.social_sms import actions
from engine.social_sms.ports import Follow, Gift, Subscriber, cause_key
from engine.social_sms.settings import FloodSection, GiveSection, LimitsSection, SubscribersSection
from engine.social_sms.testing import CAUSE_POSTER, OPERATOR_NUMBER, World, make_context, sample_social

UTC = timezone.utc
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
NIGHT = datetime(2026, 3, 10, 22, 0, tzinfo=UTC)  # 22:00 in London (GMT)
ALICE, BOB, CHLOE = "+447400123456", "+447400123457", "+33612345678"


def world_with(**social_changes) -> World:
    return World(ctx=make_context(social=sample_social(**social_changes)))


def members(world, *pairs, now=NOON):
    for number, handle in pairs:
        world.sms(number, f"JOIN {handle}", now)


@pytest.fixture
def world():
    w = World()
    members(w, (ALICE, "alice"), (BOB, "bob"), (CHLOE, "chloe"))
    w.sms(BOB, "FOLLOW alice", NOON)
    w.sms(CHLOE, "FOLLOW alice", NOON)
    return w


def fanned_to(world) -> list[str]:
    return [number for batch in world.outbox.batches for number in batch.recipients]


# --- opt-out -------------------------------------------------------------------------------------


def test_stop_silences_fanout_and_dms_until_start(world):
    assert world.reply(BOB, "STOP", NOON) == "People's Mobile: you are unsubscribed and will get no more messages. Text START to come back."
    world.sms(ALICE, "POST one", NOON)
    assert fanned_to(world) == [CHLOE]
    assert world.reply(ALICE, "D bob hi", NOON) == "@bob is not taking messages now."
    assert world.reply(BOB, "START", NOON).startswith("Welcome back to People's Mobile.")
    world.sms(ALICE, "POST two", NOON)
    assert sorted(world.outbox.batches[-1].recipients) == sorted([BOB, CHLOE])
    assert world.repo.get_follow(BOB, ALICE) is not None  # follows survive STOP


def test_stop_withdraws_the_posts_and_messages_waiting_for_that_number_only(world):
    world.sms(ALICE, "POST late news", NIGHT)  # held until the followers' mornings
    world.outbox.enqueue_many([BOB], "Your bill is ready", "notice", None, "7777")
    world.sms(BOB, "STOP", NIGHT + timedelta(minutes=5))
    assert [(b.text, b.message_class) for b in world.outbox.to(BOB)] == [("Your bill is ready", "notice")]
    assert [b.text for b in world.outbox.to(CHLOE)] == ["@alice: late news"]
    assert world.outbox.withdrawn == [(BOB, "@alice: late news", "withdrawn: the recipient opted out (STOP)")]


def test_off_withdraws_what_waits_but_off_for_one_follow_only_stops_what_comes_next(world):
    world.sms(ALICE, "POST first", NIGHT)
    world.sms(CHLOE, "OFF alice", NIGHT)
    assert [b.text for b in world.outbox.to(CHLOE)] == ["@alice: first"]  # a queued post records no follow
    world.sms(BOB, "OFF", NIGHT)
    assert world.outbox.to(BOB) == []
    assert [(number, why) for number, _text, why in world.outbox.withdrawn] == [
        (BOB, "withdrawn: the recipient turned notifications off (OFF)")]
    world.sms(BOB, "ON", NIGHT)
    assert world.outbox.to(BOB) == []  # ON brings nothing back: it was withdrawn, not paused


def test_a_line_that_ended_gets_no_posts_or_messages_but_its_essential_notices(world):
    world.repo.save_subscriber(replace(world.repo.get_subscriber(BOB), status="terminated"))
    assert world.reply(ALICE, "POST after the end", NOON) == "Posted. Followers reached: 1."
    assert fanned_to(world) == [CHLOE]
    assert world.reply(ALICE, "D bob hi", NOON) == "@bob is not taking messages now."
    ended = world.repo.get_subscriber(BOB)
    assert actions.deliverable(world.ctx, ended, "notice", "bill") and not actions.deliverable(world.ctx, ended, "notice")


def test_a_direct_message_to_oneself_is_refused_and_not_counted(world):
    assert world.reply(ALICE, "D alice note to self", NOON) == \
        "That is you. Text D, a name and your message to write to someone else."
    assert world.repo.count_actions(ALICE, "dm", NOON - timedelta(days=1)) == 0


def test_stop_is_one_confirmation_and_clears_a_pending_gift(world):
    world.sms(ALICE, "GIVE 5 water", NOON)
    result = world.sms(ALICE, "stopall", NOON)
    assert len(result.messages) == 1 and result.command == "stop"
    assert world.reply(ALICE, "YES", NOON) == "No gift is waiting for a yes. Text GIVE, an amount and a cause."


def test_stop_in_a_sentence_is_not_an_opt_out(world):
    assert world.reply(BOB, "stop the war", NOON) == "Sorry, that is not a command. Did you mean STOP? Text HELP for all."
    assert world.repo.get_subscriber(BOB).opted_out is False


def test_stop_in_a_sentence_is_a_post_when_free_text_is_posted():
    w = world_with(catch_all="post")
    members(w, (ALICE, "alice"), (BOB, "bob"))
    w.sms(BOB, "FOLLOW alice", NOON)
    assert w.reply(ALICE, "stop the war", NOON) == "Posted. Followers reached: 1."
    assert w.outbox.batches[0].text == "@alice: stop the war"
    assert w.repo.get_subscriber(ALICE).opted_out is False
    assert w.reply(ALICE, "FOLOW bob", NOON).startswith("Sorry, that is not a command. Did you mean FOLLOW?")
    assert w.reply(ALICE, "STOP", NOON).startswith("People's Mobile: you are unsubscribed")


def test_essential_notices_still_reach_an_opted_out_number(world):
    world.sms(BOB, "ARRET", NOON)
    bob = world.repo.get_subscriber(BOB)
    assert actions.deliverable(world.ctx, bob, "notice", "bill")
    assert actions.deliverable(world.ctx, bob, "reply")
    assert not actions.deliverable(world.ctx, bob, "notice", "promotion")
    assert not actions.deliverable(world.ctx, bob, "fanout")
    assert not actions.deliverable(world.ctx, bob, "dm")


def test_notifications_off_globally_and_per_follow(world):
    world.sms(BOB, "OFF", NOON)
    world.sms(CHLOE, "OFF alice", NOON)
    assert world.reply(ALICE, "POST hello", NOON) == "Posted. Followers reached: 0."
    world.sms(CHLOE, "ON alice", NOON)
    world.sms(ALICE, "POST hello again", NOON)
    assert fanned_to(world) == [CHLOE]


# --- quiet hours ---------------------------------------------------------------------------------


def test_fanout_in_quiet_hours_is_held_per_recipient_time_zone(world):
    world.repo.save_subscriber(replace(world.repo.get_subscriber(CHLOE), time_zone="America/New_York"))
    result = world.sms(ALICE, "POST late news", NIGHT)
    assert result.replies == ["Posted. Followers reached: 2."]
    assert result.messages[0].not_before is None  # the author's own reply is never held
    held = {batch.recipients: batch.not_before for batch in world.outbox.batches}
    assert held[(BOB,)] == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)  # 08:00 in London
    assert held[(CHLOE,)] is None  # 18:00 in New York


def test_held_posts_keep_their_order(world):
    world.sms(ALICE, "POST first", NIGHT)
    world.sms(ALICE, "POST second", NIGHT + timedelta(minutes=5))
    release = datetime(2026, 3, 11, 8, 0, tzinfo=UTC)
    assert [(b.text, b.not_before) for b in world.outbox.to(BOB)] == [("@alice: first", release), ("@alice: second", release)]
    # Chloe's French number sleeps on Paris time: 08:00 there is 07:00 UTC.
    paris = datetime(2026, 3, 11, 7, 0, tzinfo=UTC)
    assert [(b.text, b.not_before) for b in world.outbox.to(CHLOE)] == [("@alice: first", paris), ("@alice: second", paris)]


def test_a_members_time_zone_comes_from_the_number_when_unambiguous(world):
    assert world.repo.get_subscriber(CHLOE).time_zone == "Europe/Paris"
    assert world.repo.get_subscriber(ALICE).time_zone == "Europe/London"  # the operator's zone is among the UK's
    assert actions.time_zone_for("+12125551234", "Europe/London") == "America/New_York"


def test_direct_message_in_quiet_hours_is_held(world):
    result = world.sms(ALICE, "D bob are you up?", NIGHT)
    assert result.messages[-1].not_before == datetime(2026, 3, 11, 8, 0, tzinfo=UTC)


# --- limits --------------------------------------------------------------------------------------


def test_posts_per_hour(world):
    for i in range(10):
        assert world.reply(ALICE, f"POST number {i}", NOON + timedelta(minutes=i)).startswith("Posted.")
    assert world.reply(ALICE, "POST eleven", NOON + timedelta(minutes=30)) == "You can post 10 times an hour. Please wait a little."
    assert world.reply(ALICE, "POST eleven", NOON + timedelta(minutes=60)).startswith("Posted.")


def test_duplicate_post_within_the_window(world):
    world.sms(ALICE, "POST Big news today", NOON)
    assert world.reply(ALICE, "POST  big NEWS   today ", NOON + timedelta(minutes=59)) == "You just posted that."
    assert world.reply(ALICE, "POST Big news today", NOON + timedelta(minutes=60)).startswith("Posted.")


def test_follows_per_day():
    w = world_with(limits=LimitsSection(follows_per_day=2))
    members(w, (ALICE, "alice"), (BOB, "bob"), (CHLOE, "chloe"))
    assert w.reply(ALICE, "FOLLOW bob", NOON) == "You now follow @bob."
    assert w.reply(ALICE, "FOLLOW water", NOON) == "You now follow Clean Water Fund."
    assert w.reply(ALICE, "FOLLOW chloe", NOON) == "You can follow 2 a day. Please try again tomorrow."
    w.sms(ALICE, "UNFOLLOW bob", NOON)  # unfollowing does not give a follow back
    assert w.reply(ALICE, "FOLLOW chloe", NOON + timedelta(hours=23)).startswith("You can follow 2 a day")
    assert w.reply(ALICE, "FOLLOW chloe", NOON + timedelta(days=1)) == "You now follow @chloe."


def test_dms_per_day():
    w = world_with(limits=LimitsSection(dms_per_day=1))
    members(w, (ALICE, "alice"), (BOB, "bob"))
    assert w.reply(ALICE, "D bob one", NOON) == "Sent to @bob."
    assert w.reply(ALICE, "D bob two", NOON) == "You can send 1 messages a day. Please try again tomorrow."
    assert w.reply(ALICE, "D bob two", NOON + timedelta(hours=23)).startswith("You can send 1 messages a day")
    assert w.reply(ALICE, "D bob two", NOON + timedelta(days=1)) == "Sent to @bob."  # a rolling day


def test_a_flood_from_one_number_does_not_slow_another():
    w = world_with(flood=FloodSection(burst=3, per_minute=6))
    members(w, (ALICE, "alice"))  # spends one of Alice's tokens
    assert [w.sms(ALICE, "HELP", NOON).status for _ in range(3)] == ["handled", "handled", "throttled"]
    assert w.sms(ALICE, "HELP", NOON).messages == ()
    assert w.sms(BOB, "HELP", NOON).status == "handled"
    assert w.sms(ALICE, "HELP", NOON + timedelta(seconds=10)).status == "handled"


def test_stop_is_honoured_even_when_throttled():
    w = world_with(flood=FloodSection(burst=1, per_minute=1))
    members(w, (ALICE, "alice"))
    result = w.sms(ALICE, "STOP", NOON)
    assert result.status == "throttled" and result.messages == ()
    assert w.repo.get_subscriber(ALICE).opted_out


# --- trust ---------------------------------------------------------------------------------------


def test_no_command_acts_for_a_number_it_names(world):
    """The sender is who the SMSC says: a number written in the text is at most an argument."""
    def bobs_state():
        repo = world.repo
        return (repo.get_subscriber(BOB), {key: f for key, f in repo.follows.items() if key[0] == BOB},
                repo.pending_gives.get(BOB), [g for g in repo.gifts if g.msisdn == BOB],
                [b for b in world.outbox.batches if BOB in b.recipients])

    before = bobs_state()
    for text in (f"STOP {BOB}", f"JOIN {BOB}", f"NAME {BOB}", f"LANG FR {BOB}", f"CAUSE water {BOB}",
                 f"OFF {BOB}", f"UNFOLLOW alice {BOB}", f"GIVE 5 water {BOB}", "YES", f"FOLLOW {BOB}"):
        world.sms(CHLOE, text, NOON)
    assert bobs_state() == before


def test_blocked_and_unreadable_senders_are_ignored():
    w = world_with(subscribers=SubscribersSection(our_number_prefixes=("+447400",), blocked_numbers=(ALICE,)))
    assert w.sms(ALICE, "JOIN", NOON).status == "ignored"
    assert w.repo.get_subscriber(ALICE) is None
    assert w.sms("PEOPLES", "JOIN", NOON).status == "ignored"  # alphanumeric sender: nobody to answer


def test_cause_posts_only_from_authorised_or_operator_numbers(world):
    world.sms(BOB, "FOLLOW water", NOON)
    world.sms(CHLOE, "FOLLOW water", NOON)
    world.sms(CHLOE, "LANG FR", NOON)
    assert world.reply(ALICE, "CAUSEPOST water Donate now", NOON) == "Sorry, this number may not do that."
    result = world.sms(CAUSE_POSTER, "CAUSEPOST water New well opened!", NOON)  # not even a member
    assert result.replies == ["Clean Water Fund: posted. Followers reached: 2."]
    texts = {batch.recipients: batch.text for batch in world.outbox.batches}
    assert texts == {(BOB,): "[Clean Water Fund] New well opened!", (CHLOE,): "[Fonds Eau Potable] New well opened!"}
    assert world.reply(CAUSE_POSTER, "CAUSEPOST climate Hello", NOON) == "Sorry, this number may not do that."
    assert world.reply(OPERATOR_NUMBER, "CAUSEPOST climate Hello", NOON).startswith("Climate Action: posted.")
    assert world.reply(OPERATOR_NUMBER, "CAUSEPOST nope Hello", NOON) == "There is no cause nope. Text CAUSES for the list."
    assert world.reply(OPERATOR_NUMBER, "CAUSEPOST water", NOON) == "Text CAUSEPOST, the cause code and the message."


def test_cli_cause_post_calls_the_same_function(world):
    world.sms(BOB, "FOLLOW water", NOON)
    outcome = actions.post_as_cause(world.ctx, world.ports, "water", "From the CLI", NOON)
    assert outcome.fanned_out == 1 and outcome.replies[0].key == "cause_post_sent"
    assert world.repo.posts[-1].author == cause_key("water")


# --- gifts ---------------------------------------------------------------------------------------


def test_give_confirmation_expires(world):
    world.sms(ALICE, "GIVE 5 water", NOON)
    assert world.reply(ALICE, "YES", NOON + timedelta(minutes=10)) == "That gift expired, nothing was charged. Text GIVE again."
    assert world.repo.gifts == []
    world.sms(ALICE, "GIVE 5 water", NOON)
    assert world.reply(ALICE, "YES", NOON + timedelta(minutes=9, seconds=59)).startswith("Thank you! £5.00")


def test_give_monthly_cap(world):
    world.sms(ALICE, "GIVE 45 water", NOON)
    world.sms(ALICE, "YES", NOON)
    assert world.reply(ALICE, "GIVE 10 water", NOON) == "Gifts are capped at £50.00 a month; you can give £5.00 more."
    assert world.reply(ALICE, "GIVE 5 water", NOON).startswith("Give £5.00")
    # A gift made another way while this one waited: the cap is checked again at YES.
    world.repo.add_gift(Gift(ALICE, "2026-03", 100, "water", NOON))
    assert world.reply(ALICE, "YES", NOON) == "Gifts are capped at £50.00 a month; you can give £4.00 more."
    # A new month, a new cap.
    april = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
    world.sms(ALICE, "GIVE 50 water", april)
    assert world.reply(ALICE, "YES", april).startswith("Thank you! £50.00")
    assert sorted(g.period for g in world.repo.gifts) == ["2026-03", "2026-03", "2026-04"]


def test_give_refusals(world):
    assert world.reply(ALICE, "GIVE five water", NOON) == "Give £1.00 or more, written like GIVE 5 or GIVE 5.50"
    assert world.reply(ALICE, "GIVE 0.50 water", NOON) == "Give £1.00 or more, written like GIVE 5 or GIVE 5.50"
    assert world.reply(ALICE, "GIVE 5.555 water", NOON).startswith("Give £1.00 or more")
    assert world.reply(ALICE, "GIVE 5", NOON).startswith("Text GIVE, an amount and a cause code")
    assert world.reply(ALICE, "GIVE 5 nope", NOON) == "There is no cause nope. Text CAUSES for the list."
    assert world.reply(CHLOE, "GIVE 5 water", NOON) == "Gifts go on a monthly bill, and this number has no line with us."
    assert world.reply(ALICE, "GIVE 5€ water", NOON).startswith("Give £1.00 or more")  # not read as pounds
    assert world.reply(ALICE, "GIVE $5 water", NOON).startswith("Give £1.00 or more")
    assert world.repo.pending_gives == {}


@pytest.mark.parametrize("text", ["DON 5,50 £ water", "GIVE £ 5.50 water", "GIVE 5.50 GBP water", "GIVE water 5.50 £",
                                  "GIVE 5.50. water!"])
def test_give_reads_the_currency_and_punctuation_around_the_amount(world, text):
    assert world.sms(ALICE, text, NOON).command == "give"
    assert world.repo.get_pending_give(ALICE).amount_minor == 550
    assert world.repo.get_pending_give(ALICE).cause == "water"


def test_yes_charges_nothing_once_the_line_ended_or_the_cause_is_gone():
    w = world_with()
    members(w, (ALICE, "alice"), (BOB, "bob"))
    w.sms(ALICE, "GIVE 5 water", NOON)
    w.repo.save_subscriber(replace(w.repo.get_subscriber(ALICE), status="terminated"))
    assert w.reply(ALICE, "YES", NOON) == "Gifts go on a monthly bill, and this number has no line with us."
    assert w.reply(ALICE, "GIVE 5 water", NOON) == "Gifts go on a monthly bill, and this number has no line with us."
    w.sms(BOB, "GIVE 5 climate", NOON)
    w.ctx = replace(w.ctx, causes=w.ctx.causes.model_copy(
        update={"causes": tuple(c for c in w.ctx.causes.causes if c.code != "climate")}))
    assert w.reply(BOB, "YES", NOON) == "There is no cause climate. Text CAUSES for the list."
    assert w.repo.gifts == [] and w.repo.pending_gives == {}


def test_give_cap_config_is_exact():
    w = world_with(give=GiveSection(min_amount="0.50", max_per_month="10.25"))
    members(w, (ALICE, "alice"))
    assert w.reply(ALICE, "GIVE 10.26 water", NOON) == "Gifts are capped at £10.25 a month; you can give £10.25 more."
    assert w.reply(ALICE, "GIVE 0,50 water", NOON).startswith("Give £0.50")


# --- shape ---------------------------------------------------------------------------------------


def test_actions_are_callable_without_text(world):
    """What the USSD menus will do: call the action with values, render the reply themselves."""
    outcome = actions.choose_cause(world.ctx, world.ports, ALICE, "water", NOON)
    assert outcome.replies[0].key == "cause_chosen" and outcome.replies[0].params["cause_name"] == "Clean Water Fund"
    assert world.repo.get_subscriber(ALICE).cause == "water"


def test_fanout_to_100000_followers_is_a_few_bulk_calls():
    w = World()
    members(w, (ALICE, "alice"))
    joined = NOON - timedelta(days=1)
    for i in range(100_000):
        number = f"+4474009{i:05d}"
        w.repo.subscribers[number] = Subscriber(number, "line", "active", "en" if i % 3 else "fr",
                                                "Europe/London" if i % 2 else "Africa/Abidjan", joined)
        w.repo.save_follow(Follow(number, cause_key("water"), True, joined))
    started = wallclock.perf_counter()
    outcome = actions.post_as_cause(w.ctx, w.ports, "water", "Thank you all!", NOON)
    elapsed = wallclock.perf_counter() - started
    assert outcome.fanned_out == 100_000
    assert len(w.outbox.batches) <= 24
    assert sum(len(b.recipients) for b in w.outbox.batches) == 100_000
    assert elapsed < 5


_CONTEXT = make_context()


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=200), sender=st.sampled_from([ALICE, BOB, "+447400555555", "+33699999999"]),
       catch_all=st.sampled_from(["post", "unknown"]))
def test_every_handled_message_gets_a_non_empty_reply(text, sender, catch_all):
    world = World(ctx=make_context(social=sample_social(catch_all=catch_all)) if catch_all == "post" else _CONTEXT)
    members(world, (ALICE, "alice"), (BOB, "bob"))
    world.sms(BOB, "FOLLOW alice", NOON)
    result = world.sms(sender, text, NOON)
    assert result.status == "handled"
    assert result.replies and all(reply.strip() for reply in result.replies)
