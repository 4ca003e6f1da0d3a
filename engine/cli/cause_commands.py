"""`tpo cause ...`: causes as the operator sees them. `post` sends a cause's news to its followers,
`list` shows each cause with how many follow it and how many chose it for their 10%.

`post` goes through the same rule as the CAUSEPOST text (`actions.post_as_cause`), so the length,
duplicate and rate limits, opt-outs, notifications and quiet hours are the ones subscribers get;
the CLI is trusted (whoever runs it is the operator), so no sender number is checked. The MTs are
queued in the database; a running engine sends them.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from engine.cli import context


def register(commands, common) -> None:
    group = commands.add_parser("cause", help="causes: post to a cause's followers, list causes", parents=[common])
    actions = group.add_subparsers(dest="action", metavar="ACTION", title="actions")
    actions.required = True

    post = actions.add_parser("post", help="post as a cause to its followers (queued for sending)", parents=[common])
    post.add_argument("code", metavar="CODE", help="the cause's code in causes.toml, like water")
    post.add_argument("text", metavar="TEXT", nargs="+", help="the post (quote it, or give it as several words)")
    post.set_defaults(handler=post_as_cause)

    listing = actions.add_parser("list", help="causes with follower and chosen-by counts", parents=[common])
    listing.set_defaults(handler=list_causes)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _NotUsed:
    """Ports a cause's post never reaches; a call would be a bug, so it says so."""

    def __init__(self, port: str):
        self.port = port

    def __getattr__(self, name):
        raise RuntimeError(f"`tpo cause post` does not use the {self.port} port (called {name})")


def post_as_cause(args) -> int:
    from engine.social_sms import actions
    from engine.social_sms.context import SocialContext, render_replies
    from engine.social_sms.wiring import outbox_for, social_ports, sync_causes

    config = context.load(args)
    social = SocialContext.from_config(config)
    text = " ".join(args.text)
    now = _now()
    database = context.database(config)
    try:
        with database.begin() as connection:
            sync_causes(connection, social.causes, now, social.catalogue.default_language)
            ports = social_ports(connection, social, lambda _connection: _NotUsed("billing"), outbox_for(config), _NotUsed("provisioning"), now)
            outcome = actions.post_as_cause(social, ports, args.code, text, now)
    finally:
        database.dispose()
    [message] = render_replies(social.catalogue, outcome)
    if outcome.replies[0].key != "cause_post_sent":
        print(f"not posted: {message}", file=sys.stderr)
        return 1
    print(f"{message} ({outcome.fanned_out} message(s) queued)")
    return 0


def list_causes(args) -> int:
    from engine.social_sms.wiring import cause_counts

    config = context.load(args)
    causes = config.files.get("causes.toml")
    configured = [cause.code for cause in causes.causes] if causes else []
    database = context.database(config)
    try:
        with database.connect() as connection:
            counts = cause_counts(connection)
    finally:
        database.dispose()
    codes = configured + sorted(code for code in counts if code not in configured)
    if not codes:
        print("no causes (add some to causes.toml)")
        return 0
    language = "en"
    messages = config.files.get("messages.toml")
    if messages is not None:
        language = messages.default_language
    print(f"{'code':<16} {'name':<31} {'followers':>9} {'chosen by':>9}  note")
    for code in codes:
        cause = causes.find(code) if causes else None
        name = cause.name_in(language, next(iter(cause.name))) if cause else counts[code].name
        followers, chosen = counts[code].followers if code in counts else 0, counts[code].chosen_by if code in counts else 0
        note = "" if cause else "not in causes.toml (inactive)"
        print(f"{code:<16} {name:<31} {followers:>9} {chosen:>9}  {note}".rstrip())
    return 0
