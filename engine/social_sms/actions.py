"""The social network's actions, one function each, callable without any SMS text.

The SMS layer (`sms.py`) parses a message and calls one of these; the USSD menus will call the same
functions from menu choices, and the CLI calls `post_as_cause`. Each takes the context, the ports,
the acting number and `now` (aware UTC), changes state only through the repository and outbox, and
returns an `Outcome`. A refused action returns a reply saying why and changes nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Callable, Iterable

import phonenumbers
from phonenumbers import timezone as number_time_zones

from engine.social_sms.catalogue import HELP_COMMANDS, normalise_keyword
from engine.social_sms.context import Outcome, Outgoing, Ports, Reply, SocialContext
from engine.smpp.segmentation import fits_one_sms
from engine.social_sms.money import BadAmount, cause_share, format_amount, parse_amount, share_percent, to_minor
from engine.social_sms.ports import (
    ACTION_DM,
    ACTION_FOLLOW,
    ACTION_LIMIT_WINDOW,
    Follow,
    Gift,
    PendingGive,
    Post,
    Subscriber,
    cause_key,
)
from engine.social_sms.settings import Cause
from engine.social_sms.timing import period_of, quiet_release_time, require_utc

HANDLE = re.compile(r"^[a-z0-9_]{3,15}$")
RESERVED_HANDLES = frozenset({"admin", "operator", "support", "official", "system", "root", "staff"})
FANOUT_CHUNK = 5000  # recipients per enqueue_many call: bounded memory, few round trips
LIST_LIMIT = 50  # follows/followers read to build one SMS listing


# --- helpers -----------------------------------------------------------------------------------


def reply(language: str | None, key: str, **params: object) -> Outcome:
    return Outcome(replies=(Reply(key, params),), language=language)


def language_of(ctx: SocialContext, subscriber: Subscriber | None, fallback: str | None = None) -> str:
    if subscriber is not None:
        return ctx.catalogue.language_or_default(subscriber.language)
    return ctx.catalogue.language_or_default(fallback)


def _program(ctx: SocialContext) -> str:
    return ctx.operator.name


def _money(ctx: SocialContext, language: str, minor: int) -> str:
    pack = ctx.catalogue.pack(language)
    return format_amount(minor, ctx.currency, ctx.minor_unit, pack.decimal_mark, pack.currency_after)


def _cause_name(ctx: SocialContext, cause: Cause, language: str) -> str:
    return cause.name_in(language, ctx.catalogue.default_language)


def normalise_handle(text: str) -> str:
    return text.strip().lstrip("@").lower()


def handle_problem(ctx: SocialContext, handle: str) -> str | None:
    """Why `handle` cannot be a handle, or None. Keywords and cause codes are refused so that
    FOLLOW and WHOIS never have to guess what a word means."""
    if not HANDLE.match(handle):
        return "3-15 of a-z, 0-9 and _"
    if handle in RESERVED_HANDLES or handle.upper() in ctx.catalogue.keyword_table():
        return "reserved"
    if ctx.causes.find(handle) is not None:
        return "a cause's code"
    return None


def deliverable(ctx: SocialContext, subscriber: Subscriber, message_class: str, topic: str | None = None) -> bool:
    """May a message of this class reach this subscriber? Replies always may (they asked).

    After STOP only notices on an essential topic (a bill) still go; notifications OFF stops
    fan-out and direct messages but not notices. A line that has ended (terminated) is treated as
    STOP: its number may be someone else's by now. Other subsystems (the bill run) ask this too.
    """
    if message_class == "reply":
        return True
    if subscriber.opted_out or subscriber.status == "terminated":
        return message_class == "notice" and topic in ctx.social.opt_out.essential_topics
    if message_class in ("fanout", "dm"):
        return subscriber.notifications_on
    return True


def hold_until(ctx: SocialContext, message_class: str, time_zone: str, now: datetime) -> datetime | None:
    if message_class not in ctx.social.quiet_hours.held_classes:
        return None
    return quiet_release_time(now, time_zone, ctx.social.quiet_hours)


def _pack_list(render: Callable[[str], str], items: Iterable[str], separator: str = ", ") -> tuple[str, int]:
    """Join as many items as fit one SMS once rendered; returns the list text and how many fit."""
    text, count = "", 0
    for item in items:
        candidate = item if not text else text + separator + item
        if not fits_one_sms(render(candidate)):
            break
        text, count = candidate, count + 1
    return text, count


# --- joining and leaving -----------------------------------------------------------------------


def time_zone_for(msisdn: str, operator_zone: str) -> str:
    """A new member's zone for quiet hours: the number's own zone when its country has only one
    (a French number sleeps on Paris time), else the operator's."""
    try:
        zones = number_time_zones.time_zones_for_number(phonenumbers.parse(msisdn))
    except phonenumbers.NumberParseException:
        return operator_zone
    if operator_zone in zones or len(zones) != 1 or zones[0] == "Etc/Unknown":
        return operator_zone
    return zones[0]



def join(ctx: SocialContext, ports: Ports, msisdn: str, now: datetime, handle: str | None = None,
         language: str | None = None) -> Outcome:
    """Sign up, or come back after STOP.

    A number in our ranges becomes a line (kind 'line') on the default plan and the host network is asked
    to activate it; any other number becomes a social-only member (follow, post, receive; never
    billed). `language` is the language of the keyword used, so INSCRIPTION answers in French.
    A line that has ended (the host refused its activation, or terminated it) signs up again as a
    new number would, and so does a social member whose number has since moved to our ranges: the
    member keeps handle, cause, follows and language.
    """
    now = require_utc(now)
    repo = ports.repo
    subscriber = repo.get_subscriber(msisdn)
    ours = ctx.social.subscribers.is_ours(msisdn)
    plan = ctx.social.subscribers.default_plan
    if subscriber is None or subscriber.status == "terminated" or (ours and subscriber.kind == "social"):
        signup = {"kind": "line" if ours else "social", "status": "activating" if ours else "active",
                  "plan": plan if ours else None}
        if subscriber is None:
            subscriber = Subscriber(msisdn=msisdn, language=ctx.catalogue.language_or_default(language),
                                    time_zone=time_zone_for(msisdn, ctx.operator.time_zone), joined_at=now, **signup)
        else:
            subscriber = replace(subscriber, opted_out=False, **signup)
        repo.save_subscriber(subscriber)
        key = "welcome_mobile" if ours else "welcome_social"
        if ours:
            ports.provisioning.request_activation(msisdn, plan)
    elif subscriber.opted_out:
        subscriber = replace(subscriber, opted_out=False)
        repo.save_subscriber(subscriber)
        key = "welcome_back"
    else:
        key = "already_member"
    lang = language_of(ctx, subscriber)
    replies = [Reply(key, {"program": _program(ctx), "share": share_percent(ctx.social.donation_share),
                           "short_code": ctx.operator.short_code})]
    if handle:
        replies.extend(set_handle(ctx, ports, msisdn, handle, now).replies)
    return Outcome(replies=tuple(replies), language=lang)


def opt_out(ctx: SocialContext, ports: Ports, msisdn: str, now: datetime, language: str | None = None) -> Outcome:
    """STOP: every non-essential message stops at once, for every follow; a pending gift is dropped.
    "At once" includes posts and direct messages already queued for this number and not yet sent
    (held for its quiet hours, or behind a large fan-out): they are withdrawn. Queued notices are
    left: a notice does not record its topic, and an essential one (a bill) must still go.

    A number we do not know gets the same confirmation and nothing is stored: there is nothing to
    send it anyway."""
    repo = ports.repo
    subscriber = repo.get_subscriber(msisdn)
    if subscriber is not None:
        if not subscriber.opted_out:
            repo.save_subscriber(replace(subscriber, opted_out=True))
        repo.set_pending_give(msisdn, None)
        ports.outbox.withdraw(msisdn, "withdrawn: the recipient opted out (STOP)")
    return reply(language_of(ctx, subscriber, language), "stopped", program=_program(ctx))


def help_pages(ctx: SocialContext, language: str) -> list[str]:
    """Every command a subscriber may send (`HELP_COMMANDS`) with all its keywords in `language`
    ("STOP/QUIT/END"), as list texts, each page sized so its reply fits one SMS: built from the
    catalogue, so a keyword added there is listed without editing any help text."""
    entries = ["/".join(ctx.catalogue.keywords_for(command, language)) for command in HELP_COMMANDS]
    return _pages(entries, ctx, language, "help_page", "help_last_page")


def help_text(ctx: SocialContext, ports: Ports, msisdn: str, language: str | None = None, page: int = 1) -> Outcome:
    """HELP: who we are, where to get help, the rates line and how to stop; HELP 2, 3...: every
    command with its keywords (`help_pages`), numbered on from the first page."""
    subscriber = ports.repo.get_subscriber(msisdn)
    lang = language_of(ctx, subscriber, language)
    if page > 1:
        return _page_reply(lang, help_pages(ctx, lang), page, "help_page", "help_last_page", before=1)
    return reply(
        lang, "help", program=_program(ctx), help_url=ctx.operator.help_url, care_number=ctx.operator.care_number,
        rates=ctx.catalogue.pack(lang).rates_line, short_code=ctx.operator.short_code,
    )


def set_language(ctx: SocialContext, ports: Ports, msisdn: str, choice: str) -> Outcome:
    subscriber = ports.repo.get_subscriber(msisdn)
    wanted = choice.strip().lower()
    for code in ctx.catalogue.languages:
        names = {code, ctx.catalogue.pack(code).name.lower()}
        if wanted in names or normalise_keyword(wanted) in {normalise_keyword(n) for n in names}:
            ports.repo.save_subscriber(replace(subscriber, language=code))
            return reply(code, "lang_set")
    languages = ", ".join(code.upper() for code in ctx.catalogue.languages)
    return reply(language_of(ctx, subscriber), "lang_unknown", languages=languages)


# --- causes ------------------------------------------------------------------------------------


def _pages(entries: list[str], ctx: SocialContext, language: str, page_key: str, last_page_key: str) -> list[str]:
    """`entries` joined into list texts, each as many as fit one SMS once rendered, whichever of
    the two replies (a page with "more", the last page) it ends up in."""
    def render(listing: str) -> str:
        return max((ctx.catalogue.render(language, page_key, page=99, pages=99, list=listing, next=99),
                    ctx.catalogue.render(language, last_page_key, page=99, pages=99, list=listing)), key=len)

    pages: list[str] = []
    while entries:
        listing, count = _pack_list(render, entries)
        count = max(count, 1)  # an entry too long for a page still gets its own page
        pages.append(listing or entries[0])
        entries = entries[count:]
    return pages


def _page_reply(lang: str, listings: list[str], page: int, page_key: str, last_page_key: str,
                before: int = 0) -> Outcome:
    """Page `page` of a paged reply whose `listings` come after `before` pages that list nothing
    (HELP's first), numbered on from them; a page past the last is the last."""
    total = before + len(listings)
    page = min(max(page, before + 1), total)
    values = {"page": page, "pages": total, "list": listings[page - before - 1]}
    if page < total:
        return reply(lang, page_key, next=page + 1, **values)
    return reply(lang, last_page_key, **values)


def cause_pages(ctx: SocialContext, language: str) -> list[str]:
    """The causes as list texts, each page sized so its reply fits one SMS."""
    entries = [f"{cause.code}={_cause_name(ctx, cause, language)}" for cause in ctx.causes.causes]
    return _pages(entries, ctx, language, "causes_page", "causes_last_page")


def list_causes(ctx: SocialContext, ports: Ports, msisdn: str, page: int = 1) -> Outcome:
    lang = language_of(ctx, ports.repo.get_subscriber(msisdn))
    pages = cause_pages(ctx, lang)
    if not pages:
        return reply(lang, "causes_none")
    return _page_reply(lang, pages, page, "causes_page", "causes_last_page")


def choose_cause(ctx: SocialContext, ports: Ports, msisdn: str, code: str, now: datetime) -> Outcome:
    subscriber = ports.repo.get_subscriber(msisdn)
    lang = language_of(ctx, subscriber)
    if not code.strip():
        return reply(lang, "cause_usage")
    cause = ctx.causes.find(code)
    if cause is None:
        return reply(lang, "cause_unknown", cause=code.strip()[:32])
    ports.repo.save_subscriber(replace(subscriber, cause=cause.code))
    return reply(lang, "cause_chosen", cause_name=_cause_name(ctx, cause, lang),
                  share=share_percent(ctx.social.donation_share))


def my_cause(ctx: SocialContext, ports: Ports, msisdn: str) -> Outcome:
    subscriber = ports.repo.get_subscriber(msisdn)
    lang = language_of(ctx, subscriber)
    cause = ctx.causes.find(subscriber.cause) if subscriber.cause else None
    if cause is None:
        return reply(lang, "mycause_none")
    return reply(lang, "mycause", cause_name=_cause_name(ctx, cause, lang),
                  description=cause.description_in(lang, ctx.catalogue.default_language))


# --- bill and gifts ----------------------------------------------------------------------------


def bill(ctx: SocialContext, ports: Ports, msisdn: str, now: datetime) -> Outcome:
    """Charges so far this period, gifts pending on it, and the chosen cause's share (rounded down,
    see money.cause_share)."""
    now = require_utc(now)
    subscriber = ports.repo.get_subscriber(msisdn)
    lang = language_of(ctx, subscriber)
    if subscriber.kind != "line":
        return reply(lang, "bill_social", program=_program(ctx))
    preview = ports.billing.preview(msisdn, now)
    gifts = sum(gift.amount_minor for gift in ports.repo.gifts_in_period(msisdn, preview.period))
    mark = ctx.catalogue.pack(lang).decimal_mark
    tenths_of_mb = preview.data_bytes // 100_000
    params = dict(
        period=preview.period,
        charges=_money(ctx, lang, preview.charges_minor),
        minutes=-(-preview.voice_seconds // 60),  # a started minute shows as a minute
        texts=preview.sms_count,
        data_mb=f"{tenths_of_mb // 10}{mark}{tenths_of_mb % 10}",
        gifts=_money(ctx, lang, gifts),
    )
    cause = ctx.causes.find(subscriber.cause) if subscriber.cause else None
    if cause is None:
        return reply(lang, "bill_no_cause", **params)
    donation = cause_share(preview.charges_minor, ctx.social.donation_share)
    return reply(lang, "bill", **params, donation=_money(ctx, lang, donation),
                  cause_name=_cause_name(ctx, cause, lang))


def _give_cap_minor(ctx: SocialContext) -> int:
    return to_minor(ctx.social.give.max_per_month, ctx.minor_unit)


def give(ctx: SocialContext, ports: Ports, msisdn: str, amount_text: str, cause_code: str | None,
         now: datetime) -> Outcome:
    """Ask to give `amount_text` to a cause (the chosen one if none named); YES confirms.

    Nothing is charged until YES, within `give.confirm_minutes`: an SMS typo must not cost money.
    """
    now = require_utc(now)
    repo = ports.repo
    subscriber = repo.get_subscriber(msisdn)
    lang = language_of(ctx, subscriber)
    if not _billed(subscriber):
        return reply(lang, "give_social")
    minimum = to_minor(ctx.social.give.min_amount, ctx.minor_unit)
    try:
        amount = parse_amount(amount_text, ctx.currency, ctx.minor_unit)
    except BadAmount:
        return reply(lang, "give_bad_amount", minimum=_money(ctx, lang, minimum))
    if amount < minimum:
        return reply(lang, "give_bad_amount", minimum=_money(ctx, lang, minimum))
    code = cause_code or subscriber.cause
    if not code:
        return reply(lang, "give_usage")
    cause = ctx.causes.find(code)
    if cause is None:
        return reply(lang, "cause_unknown", cause=code[:32])
    refused = _over_cap(ctx, ports, msisdn, amount, now, lang)
    if refused:
        return refused
    minutes = ctx.social.give.confirm_minutes
    repo.set_pending_give(msisdn, PendingGive(amount, cause.code, now + timedelta(minutes=minutes)))
    return reply(lang, "give_confirm", amount=_money(ctx, lang, amount), cause_name=_cause_name(ctx, cause, lang),
                  minutes=minutes)


def _over_cap(ctx: SocialContext, ports: Ports, msisdn: str, amount: int, now: datetime, lang: str) -> Outcome | None:
    period = period_of(now, ctx.operator.time_zone)
    given = sum(gift.amount_minor for gift in ports.repo.gifts_in_period(msisdn, period))
    cap = _give_cap_minor(ctx)
    if given + amount <= cap:
        return None
    return reply(lang, "give_cap", cap=_money(ctx, lang, cap), remaining=_money(ctx, lang, max(0, cap - given)))


def confirm_give(ctx: SocialContext, ports: Ports, msisdn: str, now: datetime) -> Outcome:
    """YES: the pending gift becomes a charge of the current period (paid on the next bill, 100% to
    the cause). The cap is checked again: two GIVEs may have been asked before either was confirmed."""
    now = require_utc(now)
    repo = ports.repo
    subscriber = repo.get_subscriber(msisdn)
    lang = language_of(ctx, subscriber)
    pending = repo.get_pending_give(msisdn)
    if pending is None:
        return reply(lang, "give_nothing")
    repo.set_pending_give(msisdn, None)
    if now >= pending.expires_at:
        return reply(lang, "give_expired")
    if not _billed(subscriber):  # the line ended between GIVE and YES: no bill will carry it
        return reply(lang, "give_social")
    cause = ctx.causes.find(pending.cause)
    if cause is None:  # taken out of causes.toml between GIVE and YES: nobody to pay it to
        return reply(lang, "cause_unknown", cause=pending.cause)
    refused = _over_cap(ctx, ports, msisdn, pending.amount_minor, now, lang)
    if refused:
        return refused
    period = period_of(now, ctx.operator.time_zone)
    repo.add_gift(Gift(msisdn, period, pending.amount_minor, pending.cause, now))
    return reply(lang, "give_done", amount=_money(ctx, lang, pending.amount_minor),
                 cause_name=_cause_name(ctx, cause, lang))


def _billed(subscriber: Subscriber) -> bool:
    """A gift goes on a bill: only a line of ours that has not ended gets one."""
    return subscriber.kind == "line" and subscriber.status != "terminated"


def cancel_give(ctx: SocialContext, ports: Ports, msisdn: str) -> Outcome:
    lang = language_of(ctx, ports.repo.get_subscriber(msisdn))
    if ports.repo.get_pending_give(msisdn) is None:
        return reply(lang, "give_nothing")
    ports.repo.set_pending_give(msisdn, None)
    return reply(lang, "give_cancelled")


# --- handles and follows -----------------------------------------------------------------------


def set_handle(ctx: SocialContext, ports: Ports, msisdn: str, handle_text: str, now: datetime) -> Outcome:
    subscriber = ports.repo.get_subscriber(msisdn)
    lang = language_of(ctx, subscriber)
    handle = normalise_handle(handle_text)
    if handle_problem(ctx, handle):
        return reply(lang, "name_invalid")
    if not ports.repo.claim_handle(msisdn, handle):
        return reply(lang, "name_taken", handle=handle)
    return reply(lang, "name_set", handle=handle)


def whois(ctx: SocialContext, ports: Ports, msisdn: str, handle_text: str) -> Outcome:
    lang = language_of(ctx, ports.repo.get_subscriber(msisdn))
    handle = normalise_handle(handle_text)
    found = ports.repo.profile(handle) if HANDLE.match(handle) else None
    if found is None:
        return reply(lang, "unknown_handle", handle=handle[:15] or "?")
    return reply(lang, "whois", handle=handle, followers=found.followers, following=found.following)


def _resolve_target(ctx: SocialContext, ports: Ports, text: str, lang: str) -> tuple[str, str] | None:
    """A follow target: (followee key, label). A cause code wins over a handle; handles equal to a
    cause code are refused by NAME, so only a cause added later can shadow an old handle."""
    word = text.strip().lstrip("@#").lower()
    cause = ctx.causes.find(word) if word else None
    if cause is not None:
        return cause_key(cause.code), _cause_name(ctx, cause, lang)
    found = ports.repo.find_by_handle(word) if HANDLE.match(word) else None
    if found is not None:
        return found.msisdn, "@" + word
    return None


def _label_of(ctx: SocialContext, ports: Ports, followee: str, lang: str) -> str:
    if followee.startswith("cause:"):
        cause = ctx.causes.find(followee.removeprefix("cause:"))
        return _cause_name(ctx, cause, lang) if cause else followee.removeprefix("cause:")
    subscriber = ports.repo.get_subscriber(followee)
    return "@" + subscriber.handle if subscriber and subscriber.handle else "?"


def follow(ctx: SocialContext, ports: Ports, msisdn: str, target_text: str, now: datetime) -> Outcome:
    now = require_utc(now)
    repo = ports.repo
    lang = language_of(ctx, repo.get_subscriber(msisdn))
    if not target_text.strip():
        return reply(lang, "follow_usage")
    target = _resolve_target(ctx, ports, target_text, lang)
    if target is None:
        return reply(lang, "unknown_handle", handle=normalise_handle(target_text)[:15])
    key, label = target
    if key == msisdn:
        return reply(lang, "follow_self")
    if repo.get_follow(msisdn, key) is not None:
        return reply(lang, "follow_already", target=label)
    limit = ctx.social.limits.follows_per_day
    if repo.count_actions(msisdn, ACTION_FOLLOW, now - ACTION_LIMIT_WINDOW) >= limit:
        return reply(lang, "follow_limit", limit=limit)
    repo.save_follow(Follow(msisdn, key, notify=True, created_at=now))
    repo.record_action(msisdn, ACTION_FOLLOW, now)
    return reply(lang, "follow_done", target=label)


def unfollow(ctx: SocialContext, ports: Ports, msisdn: str, target_text: str) -> Outcome:
    lang = language_of(ctx, ports.repo.get_subscriber(msisdn))
    if not target_text.strip():
        return reply(lang, "follow_usage")
    target = _resolve_target(ctx, ports, target_text, lang)
    if target is None:
        return reply(lang, "unknown_handle", handle=normalise_handle(target_text)[:15])
    key, label = target
    if not ports.repo.delete_follow(msisdn, key):
        return reply(lang, "unfollow_not", target=label)
    return reply(lang, "unfollow_done", target=label)


def set_notifications(ctx: SocialContext, ports: Ports, msisdn: str, on: bool, target_text: str = "") -> Outcome:
    """ON/OFF alone: every fan-out and DM to this number, those already queued for it included;
    ON/OFF <handle|cause>: that follow's posts from now on (a queued post does not record whose
    follow brought it)."""
    repo = ports.repo
    subscriber = repo.get_subscriber(msisdn)
    lang = language_of(ctx, subscriber)
    if not target_text.strip():
        repo.save_subscriber(replace(subscriber, notifications_on=on))
        if not on:
            ports.outbox.withdraw(msisdn, "withdrawn: the recipient turned notifications off (OFF)")
        return reply(lang, "notifications_on" if on else "notifications_off")
    target = _resolve_target(ctx, ports, target_text, lang)
    if target is None:
        return reply(lang, "unknown_handle", handle=normalise_handle(target_text)[:15])
    key, label = target
    existing = repo.get_follow(msisdn, key)
    if existing is None:
        return reply(lang, "unfollow_not", target=label)
    repo.save_follow(replace(existing, notify=on))
    return reply(lang, "follow_notifications_on" if on else "follow_notifications_off", target=label)


def list_following(ctx: SocialContext, ports: Ports, msisdn: str) -> Outcome:
    repo = ports.repo
    lang = language_of(ctx, repo.get_subscriber(msisdn))
    count, newest = repo.following_page(msisdn, LIST_LIMIT)
    if not count:
        return reply(lang, "following_none")
    labels = [_label_of(ctx, ports, f.followee, lang) for f in newest]
    listing, _ = _pack_list(lambda text: ctx.catalogue.render(lang, "following_list", count=count, list=text), labels)
    return reply(lang, "following_list", count=count, list=listing)


def list_followers(ctx: SocialContext, ports: Ports, msisdn: str) -> Outcome:
    repo = ports.repo
    lang = language_of(ctx, repo.get_subscriber(msisdn))
    count, newest = repo.followers_page(msisdn, LIST_LIMIT)
    if not count:
        return reply(lang, "followers_none")
    labels = [_label_of(ctx, ports, number, lang) for number in newest]
    listing, _ = _pack_list(lambda text: ctx.catalogue.render(lang, "followers_list", count=count, list=text), labels)
    return reply(lang, "followers_list", count=count, list=listing)


# --- posts, fan-out, direct messages -----------------------------------------------------------


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def _post_refusal(ctx: SocialContext, ports: Ports, author: str, text: str, now: datetime, lang: str) -> Outcome | None:
    if not text.strip():
        return reply(lang, "post_empty")
    maximum = ctx.social.post_max_chars
    if len(text) > maximum:
        return reply(lang, "post_too_long", length=len(text), max=maximum)
    limits = ctx.social.limits
    window = timedelta(minutes=limits.duplicate_post_window_minutes)
    recent = ports.repo.recent_posts(author, now - max(window, timedelta(hours=1)))
    if sum(1 for p in recent if p.created_at > now - timedelta(hours=1)) >= limits.posts_per_hour:
        return reply(lang, "post_limit", limit=limits.posts_per_hour)
    if any(p.created_at > now - window and _same_text(p.text, text) for p in recent):
        return reply(lang, "post_duplicate")
    return None


def fan_out(ctx: SocialContext, ports: Ports, followee: str, render: Callable[[str], str], now: datetime,
            exclude: str | None = None) -> int:
    """Send one rendered post to every follower who wants it, through `Outbox.enqueue_many`.

    `render(language)` gives the text in a follower's language. Followers stream from the
    repository; they are grouped by language (the text) and time zone
    (the quiet-hours release), both few, and sent in chunks so 100,000 followers cost a few bulk
    inserts, not 100,000 calls.
    """
    texts: dict[str, str] = {}
    releases: dict[str, datetime | None] = {}
    groups: dict[tuple[str, datetime | None], list[str]] = defaultdict(list)
    sent = 0
    sender = ctx.operator.short_code

    def flush(group_key: tuple[str, datetime | None]) -> int:
        recipients = groups.pop(group_key)
        return ports.outbox.enqueue_many(recipients, group_key[0], "fanout", group_key[1], sender)

    for recipient in ports.repo.notified_followers(followee):
        if recipient.msisdn == exclude:
            continue
        language = ctx.catalogue.language_or_default(recipient.language)
        if language not in texts:
            texts[language] = render(language)
        if recipient.time_zone not in releases:
            releases[recipient.time_zone] = hold_until(ctx, "fanout", recipient.time_zone, now)
        group_key = (texts[language], releases[recipient.time_zone])
        groups[group_key].append(recipient.msisdn)
        if len(groups[group_key]) >= FANOUT_CHUNK:
            sent += flush(group_key)
    for group_key in list(groups):
        sent += flush(group_key)
    return sent


def post(ctx: SocialContext, ports: Ports, msisdn: str, text: str, now: datetime) -> Outcome:
    """POST: to every follower with notifications on, prefixed with the author's handle."""
    now = require_utc(now)
    subscriber = ports.repo.get_subscriber(msisdn)
    lang = language_of(ctx, subscriber)
    if not subscriber.handle:
        return reply(lang, "need_handle")
    text = text.strip()
    refused = _post_refusal(ctx, ports, msisdn, text, now, lang)
    if refused:
        return refused
    ports.repo.add_post(Post(msisdn, text, now))
    def render(language: str) -> str:
        return ctx.catalogue.render(language, "post_fanout", handle=subscriber.handle, text=text)

    count = fan_out(ctx, ports, msisdn, render, now, exclude=msisdn)
    return Outcome(replies=(Reply("post_sent", {"count": count}),), language=lang, fanned_out=count)


def post_as_cause(ctx: SocialContext, ports: Ports, code: str, text: str, now: datetime,
                  sender: str | None = None, language: str | None = None) -> Outcome:
    """A cause's post to its followers. `sender` None is the CLI (`tpo cause post`, already trusted);
    an SMS sender must be an operator number or one authorised for this cause in causes.toml. A
    sender who is no member is answered in the language of the keyword (`language`), as JOIN is:
    PUBLIERCAUSE in French."""
    now = require_utc(now)
    subscriber = ports.repo.get_subscriber(sender) if sender else None
    lang = language_of(ctx, subscriber, language)
    cause = ctx.causes.find(code) if code else None
    if sender is not None and not (ctx.is_operator(sender) or (cause and sender in cause.authorised_numbers)):
        return reply(lang, "not_allowed")
    if cause is None:
        return reply(lang, "cause_unknown", cause=(code or "?")[:32]) if code else reply(lang, "cause_post_usage")
    text = text.strip()
    author = cause_key(cause.code)
    refused = _post_refusal(ctx, ports, author, text, now, lang)
    if refused:
        return refused
    ports.repo.add_post(Post(author, text, now))

    def render(language: str) -> str:
        return ctx.catalogue.render(language, "cause_post_fanout", cause_name=_cause_name(ctx, cause, language), text=text)

    count = fan_out(ctx, ports, author, render, now)
    return Outcome(replies=(Reply("cause_post_sent", {"cause_name": _cause_name(ctx, cause, lang), "count": count}),),
                   language=lang, fanned_out=count)


def direct_message(ctx: SocialContext, ports: Ports, msisdn: str, handle_text: str, text: str,
                   now: datetime) -> Outcome:
    now = require_utc(now)
    repo = ports.repo
    subscriber = repo.get_subscriber(msisdn)
    lang = language_of(ctx, subscriber)
    if not subscriber.handle:
        return reply(lang, "need_handle")
    handle = normalise_handle(handle_text)
    text = text.strip()
    if not handle or not text:
        return reply(lang, "dm_usage")
    recipient = repo.find_by_handle(handle) if HANDLE.match(handle) else None
    if recipient is None:
        return reply(lang, "unknown_handle", handle=handle[:15])
    if recipient.msisdn == msisdn:
        return reply(lang, "dm_self")
    if len(text) > ctx.social.post_max_chars:
        return reply(lang, "post_too_long", length=len(text), max=ctx.social.post_max_chars)
    if not deliverable(ctx, recipient, "dm"):
        return reply(lang, "dm_unavailable", handle=handle)
    limit = ctx.social.limits.dms_per_day
    if repo.count_actions(msisdn, ACTION_DM, now - ACTION_LIMIT_WINDOW) >= limit:
        return reply(lang, "dm_limit", limit=limit)
    repo.record_action(msisdn, ACTION_DM, now)
    message = Outgoing(
        recipient=recipient.msisdn,
        text=ctx.catalogue.render(language_of(ctx, recipient), "dm_delivery", handle=subscriber.handle, text=text),
        message_class="dm",
        not_before=hold_until(ctx, "dm", recipient.time_zone, now),
    )
    return Outcome(replies=(Reply("dm_sent", {"handle": handle}),), language=lang, messages=(message,))
