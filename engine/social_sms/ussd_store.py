"""USSD on the real database: dialogues kept in `ussd_sessions`, and the MO handler for USSD.

`ussd_handler(...)` returns the function `MoWorker` calls for each stored USSD message
(`mo_messages.kind = 'ussd'`), inside the transaction that marks it handled. For one message it

1. reads the session stored under the message's key (`UssdSessions.key_of`), locking the row on
   PostgreSQL so two nodes cannot both advance one dialogue;
2. lets the pure rules decide (`UssdSessions.handle` with `UssdMenu` and `DomainUssdActions` on the
   same ports the SMS handler builds, so the menu's actions change state in this transaction);
3. stores the new session, marks it ended, or leaves it (IGNORE), and returns the screen as a
   `message_class="ussd"` MT carrying `ussd_service_op`, `its_session_info` (end bit set on the
   final screen) and `user_message_reference` (echoed).

So the screen sent, the session row and every state change commit together with the MO being
handled, or not at all; a crash re-handles the message from the same stored session.

Design choices:

- **The table is the only memory.** Nothing about a dialogue stays in a node's memory, so the next
  answer may be handled by any node, and a restart loses no dialogue.
- **Ended, not deleted.** A finished dialogue is marked `ended` and kept until `expires_at`, when
  the periodic `expire_ussd_sessions` deletes it with the abandoned ones: a late answer finds no
  live session either way (and gets the short `ended` text), and support can still see how a
  dialogue ended for a few minutes. Expiry sends nothing: the network has released the phone.
- **Liveness is the rules' call.** `expires_at` is stored for the sweep and the gauge; whether a
  stored session is still live is decided by `UssdSessions.is_live` from `last_seen_at` and the
  configured timeout, so the rules stay in one place.
- **Who is speaking** is the SMSC's `source_addr`, normalised to E.164 exactly as for SMS; a number
  that cannot be normalised, or a blocked one, gets no answer (as by SMS: an answer would confirm
  the number is live). The SMS flood bucket does not apply: a USSD dialogue moves only as fast as
  the network lets the phone answer our screens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from engine.hostnet.provisioning import ProvisioningService
from engine.numbers import sender_msisdn
from engine.smpp.inbox import ReceivedMessage
from engine.smpp.outbox import OutgoingMessage, Outbox
from engine.social_sms.context import Ports, SocialContext
from engine.social_sms.wiring import BillingFor
from engine.social_sms.timing import require_utc
from engine.social_sms.ussd_actions import DomainUssdActions
from engine.social_sms.ussd_menu import UssdMenu
from engine.social_sms.ussd_sessions import Disposition, Handled, UssdIndication, UssdSession, UssdSessions
from engine.social_sms.wiring import Handler, social_ports, to_outgoing
from engine.store.schema import ussd_sessions

__all__ = [
    "UssdSessionStore",
    "ussd_handler",
    "expire_ussd_sessions",
    "open_sessions_count",
    "PortsFactory",
]

log = logging.getLogger(__name__)

PortsFactory = Callable[[Connection, datetime], Ports]


# ---------------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True)
class UssdSessionStore:
    """`UssdSession` records in `ussd_sessions`, on the caller's connection (its transaction)."""

    timeout_seconds: int

    def load(self, connection: Connection, key: str) -> UssdSession | None:
        """The dialogue stored under `key`, or None if there is none or it has ended. On PostgreSQL
        the row stays locked until the transaction ends: the next answer of the same dialogue,
        handled by another node, waits for this one instead of advancing from the same screen."""
        query = select(ussd_sessions).where(ussd_sessions.c.key == key)
        if connection.dialect.name == "postgresql":
            query = query.with_for_update()
        row = connection.execute(query).first()
        if row is None or row.ended:
            return None
        return UssdSession(
            key=row.key, msisdn=row.msisdn, opened_at=row.opened_at, last_activity=row.last_seen_at,
            menu_state=dict(row.menu_state), its_session_info=row.its_session_info,
            user_message_reference=row.user_message_reference,
        )

    def save(self, connection: Connection, session: UssdSession) -> None:
        """Insert or replace the row under `session.key` (a new dialogue may reuse an old key)."""
        values = {
            "key": session.key,
            "msisdn": session.msisdn,
            "menu_state": dict(session.menu_state),
            "its_session_info": session.its_session_info,
            "user_message_reference": session.user_message_reference,
            "opened_at": session.opened_at,
            "last_seen_at": session.last_activity,
            "expires_at": session.expires_at(self.timeout_seconds),
            "ended": False,
        }
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(ussd_sessions).values(values)
        changed = {name: statement.excluded[name] for name in values if name != "key"}
        connection.execute(statement.on_conflict_do_update(index_elements=[ussd_sessions.c.key], set_=changed))

    def end(self, connection: Connection, key: str, now: datetime) -> None:
        """Mark the dialogue under `key` ended; kept until its `expires_at` (module docstring)."""
        connection.execute(
            update(ussd_sessions)
            .where(ussd_sessions.c.key == key, ussd_sessions.c.ended == False)  # noqa: E712
            .values(ended=True, last_seen_at=now)
        )

    def apply(self, connection: Connection, handled: Handled, now: datetime) -> None:
        """Do what the rules decided for the record: store it, end it, or leave it (IGNORE)."""
        if handled.disposition is Disposition.IGNORE:
            return
        if handled.session is None:
            self.end(connection, handled.key, now)
        else:
            self.save(connection, handled.session)


def expire_ussd_sessions(database: Engine, now: datetime) -> int:
    """The periodic sweep: delete dialogues past their `expires_at`, ended or abandoned; returns
    how many. Sends nothing (the network has released the phone). Idempotent, any node may run it."""
    now = require_utc(now)
    with database.begin() as connection:
        deleted = connection.execute(delete(ussd_sessions).where(ussd_sessions.c.expires_at <= now)).rowcount
    if deleted:
        log.info("USSD sessions expired: %d", deleted)
    return deleted


def open_sessions_count(connection: Connection, now: datetime) -> int:
    """Dialogues in progress at `now`, for the `tpo_ussd_sessions_open` gauge."""
    now = require_utc(now)
    return connection.execute(
        select(func.count()).select_from(ussd_sessions)
        .where(ussd_sessions.c.ended == False, ussd_sessions.c.expires_at > now)  # noqa: E712
    ).scalar_one()


# ---------------------------------------------------------------------------------------------
# The MO handler


def ussd_handler(context: SocialContext, menu: UssdMenu, billing_for: BillingFor, outbox: Outbox,
                 provisioning: ProvisioningService | None = None, *,
                 ports_for: PortsFactory | None = None) -> Handler:
    """The `MoWorker` handler for USSD: `handler(connection, message, now) -> [OutgoingMessage]`.

    `billing_for`, `outbox` and `provisioning` build the same ports as `SmsHandler` (wiring.py) on the
    message's connection; `ports_for(connection, now)` replaces that (tests, other stores). The
    session rules come from `menu`'s `[sessions]` (key mode, timeout, release ops, sequence).
    Needs the `causes` table synced from config (`wiring.sync_causes`, run by
    `prepare_sms_handler`), since choosing a cause stores a foreign key to it.
    """
    service = provisioning or ProvisioningService()
    rules = UssdSessions(menu.file.sessions)
    store = UssdSessionStore(rules.settings.timeout_seconds)

    def default_ports(connection: Connection, now: datetime) -> Ports:
        return social_ports(connection, context, billing_for, outbox, service, now)

    make_ports = ports_for or default_ports

    def handle(connection: Connection, message: ReceivedMessage, now: datetime) -> list[OutgoingMessage]:
        now = require_utc(now)
        msisdn = sender_msisdn(message.source, context.operator.default_region)
        if msisdn is None:
            log.info("USSD %d from %r ignored: not a phone number", message.id, message.source)
            return []
        if msisdn in context.social.subscribers.blocked_numbers:
            log.info("USSD %d from a blocked number ignored", message.id)
            return []
        indication = UssdIndication(
            source_addr=message.source, text=message.text, service_op=message.ussd_service_op,
            its_session_info=message.its_session_info, user_message_reference=message.user_message_reference,
            msisdn=msisdn,
        )
        ports = make_ports(connection, now)
        actions = DomainUssdActions(context, ports)
        subscriber = ports.repo.get_subscriber(msisdn)
        stored = store.load(connection, rules.key_of(indication))
        handled = rules.handle(indication, stored, now, menu=menu, actions=actions,
                               language=subscriber.language if subscriber else None)
        store.apply(connection, handled, now)
        if handled.disposition in (Disposition.LATE, Disposition.RELEASE, Disposition.IGNORE):
            log.info("USSD %d from %s: %s", message.id, message.source, handled.disposition.value)
        replies = []
        if handled.send is not None:
            send = handled.send
            replies.append(OutgoingMessage(
                destination=send.destination, text=send.text, message_class="ussd", reply_to_mo_id=message.id,
                ussd_service_op=send.service_op, its_session_info=send.its_session_info,
                user_message_reference=send.user_message_reference,
            ))
        return replies + [to_outgoing(outgoing, message.id) for outgoing in actions.messages]

    return handle

