"""Notices the engine sends on its own (the host network activated a line, or refused it): a
catalogue message in the subscriber's language, queued in the outbox in the same transaction as the
change it announces. This is the host network's `Notifier` port, wired to the SMS side.

Activation notices are the `activation` topic: they still reach a number that texted STOP when the
topic is listed in `social.toml`'s `opt_out.essential_topics` (a line going live is not marketing).
A notice waits for the end of the subscriber's quiet hours when `quiet_hours.held_classes` lists
`notice` (the default): an answer from the host at 03:00 is read at 08:00, not at 03:00.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from engine.smpp.outbox import OutgoingMessage, Outbox
from engine.social_sms.actions import deliverable, hold_until
from engine.social_sms.context import SocialContext
from engine.social_sms.money import share_percent
from engine.social_sms.sql_repository import SqlSocialRepository

TOPIC_OF = {"line_active": "activation", "line_activation_failed": "activation", "welcome": "activation"}


class CatalogueNotifier:
    def __init__(self, context: SocialContext, outbox: Outbox):
        self.context = context
        self.outbox = outbox

    def notify(self, connection: Connection, msisdn: str, message_key: str, values: dict, now: datetime) -> None:
        context = self.context
        subscriber = SqlSocialRepository(connection, now, context.operator.time_zone).get_subscriber(msisdn)
        if subscriber is not None and not deliverable(context, subscriber, "notice", TOPIC_OF.get(message_key)):
            return
        language = subscriber.language if subscriber is not None else None
        time_zone = subscriber.time_zone if subscriber is not None else context.operator.time_zone
        params = {
            "program": context.operator.name,
            "share": share_percent(context.social.donation_share),
            "care_number": context.operator.care_number,
            "plan_code": values.get("plan_code", ""),
            "reason": values.get("reason", ""),
        }
        text = context.catalogue.render(language, message_key, **params)
        not_before = hold_until(context, "notice", time_zone, now)
        self.outbox.enqueue(connection, [OutgoingMessage(msisdn, text, "notice", not_before)], now)
