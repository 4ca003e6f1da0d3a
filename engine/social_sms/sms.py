"""The SMS front door: one incoming text -> parse -> action -> catalogue replies.

Order of checks, and why:
1. The sender is the SMSC's `source_addr`, normalised to E.164; a text cannot claim another number.
2. Blocked numbers are ignored without a reply (a reply would confirm the number is live).
3. The per-number token bucket: a flooding phone is throttled without slowing anyone else. STOP
   still takes effect when throttled (an opt-out must never be lost), but no reply is sent.
4. HELP and STOP are answered for any number; everything else needs JOIN first.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from engine.numbers import sender_msisdn
from engine.social_sms import actions
from engine.social_sms.context import Outcome, Outgoing, Ports, SocialContext, render_replies
from engine.social_sms.money import CURRENCY_SYMBOLS
from engine.social_sms.parser import ParsedSms, bare_word, closest_keyword, looks_like_mistyped_command, parse_sms
from engine.social_sms.timing import require_utc, take_token

OPEN_COMMANDS = frozenset({"join", "help", "stop", "causepost"})  # answered before JOIN; CAUSEPOST checks its own sender


class SmsResult(NamedTuple):
    status: str  # "handled", "ignored" (bad or blocked sender), "throttled"
    command: str | None = None
    messages: tuple[Outgoing, ...] = ()  # replies first, then DMs; fan-out went to the outbox
    fanned_out: int = 0

    @property
    def replies(self) -> list[str]:
        return [m.text for m in self.messages if m.message_class == "reply"]


def handle_sms(ctx: SocialContext, ports: Ports, source_addr: str, text: str, now: datetime) -> SmsResult:
    now = require_utc(now)
    msisdn = sender_msisdn(source_addr, ctx.operator.default_region)
    if msisdn is None:
        return SmsResult("ignored")
    if msisdn in ctx.social.subscribers.blocked_numbers:
        return SmsResult("ignored")
    parsed = parse_sms(ctx.catalogue, text)
    flood = ctx.social.flood
    allowed, bucket = take_token(ports.repo.get_throttle(msisdn), now, flood.burst, flood.per_minute)
    ports.repo.save_throttle(msisdn, bucket)
    if not allowed:
        if parsed.command == "stop":
            actions.opt_out(ctx, ports, msisdn, now, parsed.language)
        return SmsResult("throttled", parsed.command)
    outcome, command = _dispatch(ctx, ports, msisdn, parsed, now)
    replies = tuple(Outgoing(msisdn, text, "reply") for text in render_replies(ctx.catalogue, outcome))
    return SmsResult("handled", command, replies + outcome.messages, outcome.fanned_out)


def _dispatch(ctx: SocialContext, ports: Ports, msisdn: str, parsed: ParsedSms, now: datetime) -> tuple[Outcome, str | None]:
    command = parsed.command
    subscriber = ports.repo.get_subscriber(msisdn)
    if command is None and ctx.social.catch_all == "post" and parsed.text and subscriber is not None:
        if not looks_like_mistyped_command(ctx.catalogue, parsed):
            command = "post"
            parsed = ParsedSms("post", parsed.keyword, None, parsed.text, parsed.text)
    if subscriber is None and command not in OPEN_COMMANDS:
        language = actions.language_of(ctx, None, parsed.language)
        if command is None and parsed.text:
            return _unknown(ctx, parsed, language), None
        return actions.reply(language, "not_member", program=ctx.operator.name), command
    if command is None:
        return _unknown(ctx, parsed, actions.language_of(ctx, subscriber)), None
    return _run(ctx, ports, msisdn, command, parsed, now), command


def _unknown(ctx: SocialContext, parsed: ParsedSms, language: str) -> Outcome:
    suggestion = closest_keyword(ctx.catalogue, parsed.keyword, language) if parsed.keyword else None
    if suggestion:
        return actions.reply(language, "unknown_suggest", suggestion=suggestion)
    return actions.reply(language, "unknown")


def _first_and_rest(rest: str) -> tuple[str, str]:
    """The first word (a handle or a cause code, bare) and the text after it, as typed."""
    parts = rest.split(maxsplit=1)
    if not parts:
        return "", ""
    return bare_word(parts[0]), parts[1] if len(parts) > 1 else ""


def _give_arguments(ctx: SocialContext, args: list[str]) -> tuple[str, str | None]:
    """GIVE 5 water, GIVE water 5, GIVE £5 (to the chosen cause): a known cause code first means
    the amount follows it; otherwise the amount comes first. A currency written as a word of its
    own belongs to the amount beside it: DON 5,50 £ water, GIVE £ 5, GIVE 5 GBP."""
    args = _currency_joined(args)
    if not args:
        return "", None
    if len(args) >= 2 and ctx.causes.find(args[0]) is not None:
        return args[1], args[0]
    return args[0], (args[1] if len(args) > 1 else None)


def _currency_joined(args: list[str]) -> list[str]:
    joined: list[str] = []
    for word in args:
        currency = word.upper() in CURRENCY_SYMBOLS or word in CURRENCY_SYMBOLS.values()
        if joined and currency and joined[-1][:1].isdigit():
            joined[-1] += word  # "5,50" "£" -> "5,50£"
        elif joined and joined[-1] in CURRENCY_SYMBOLS.values() and word[:1].isdigit():
            joined[-1] += word  # "£" "5" -> "£5"
        else:
            joined.append(word)
    return joined


def _page_number(word: str) -> int:
    """The page asked for by HELP 2 or CAUSES 3; 1 for anything else."""
    return int(word) if word.isdigit() and len(word) < 4 else 1


def _run(ctx: SocialContext, ports: Ports, msisdn: str, command: str, parsed: ParsedSms, now: datetime) -> Outcome:
    args = parsed.args
    first = args[0] if args else ""
    if command == "join":
        return actions.join(ctx, ports, msisdn, now, handle=first or None, language=parsed.language)
    if command == "stop":
        return actions.opt_out(ctx, ports, msisdn, now, parsed.language)
    if command == "help":
        return actions.help_text(ctx, ports, msisdn, parsed.language, _page_number(first))
    if command == "lang":
        return actions.set_language(ctx, ports, msisdn, first)
    if command == "causes":
        return actions.list_causes(ctx, ports, msisdn, _page_number(first))
    if command == "cause":
        return actions.choose_cause(ctx, ports, msisdn, first, now)
    if command == "mycause":
        return actions.my_cause(ctx, ports, msisdn)
    if command == "bill":
        return actions.bill(ctx, ports, msisdn, now)
    if command == "name":
        if not first:
            return actions.reply(actions.language_of(ctx, ports.repo.get_subscriber(msisdn)), "name_invalid")
        return actions.set_handle(ctx, ports, msisdn, first, now)
    if command == "whois":
        return actions.whois(ctx, ports, msisdn, first)
    if command == "follow":
        return actions.follow(ctx, ports, msisdn, first, now)
    if command == "unfollow":
        return actions.unfollow(ctx, ports, msisdn, first)
    if command in ("on", "off"):
        return actions.set_notifications(ctx, ports, msisdn, command == "on", first)
    if command == "following":
        return actions.list_following(ctx, ports, msisdn)
    if command == "followers":
        return actions.list_followers(ctx, ports, msisdn)
    if command == "post":
        return actions.post(ctx, ports, msisdn, parsed.rest, now)
    if command == "dm":
        handle, body = _first_and_rest(parsed.rest)
        return actions.direct_message(ctx, ports, msisdn, handle, body, now)
    if command == "give":
        amount, cause = _give_arguments(ctx, args)
        return actions.give(ctx, ports, msisdn, amount, cause, now)
    if command == "yes":
        return actions.confirm_give(ctx, ports, msisdn, now)
    if command == "no":
        return actions.cancel_give(ctx, ports, msisdn)
    if command == "causepost":
        code, body = _first_and_rest(parsed.rest)
        if not code or not body:
            return actions.reply(actions.language_of(ctx, ports.repo.get_subscriber(msisdn), parsed.language),
                                 "cause_post_usage")
        return actions.post_as_cause(ctx, ports, code, body, now, sender=msisdn, language=parsed.language)
    raise AssertionError(f"command {command!r} has no action")  # COMMANDS and this table disagree
