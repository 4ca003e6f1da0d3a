"""The social rules on the real database: ports built on one connection, and the MO handler.

`SmsHandler` is what `MoWorker` calls for each stored SMS (or batch of them), inside the transaction
that marks the message handled. It builds the four ports on that transaction's connection, so the
rules' state changes, the fan-out MTs, a provisioning request and the replies all commit together
or not at all (a crash re-handles the message from scratch):

- `SqlSocialRepository` (sql_repository.py) for the social state;
- `OutboxPort`, the rules' bulk `Outbox` port onto `engine.smpp.outbox.Outbox`, same connection;
- `ProvisioningPort`, the `Provisioning` port onto `engine.hostnet.provisioning.ProvisioningService`;
- any object with `.preview(msisdn, now)` for `Billing` (rating's preview).

`causes.toml` is the source of truth for causes; the `causes` table exists because subscribers,
follows and gifts point at it with foreign keys. `sync_causes` brings the table in line with the
config and `prepare_sms_handler` runs it before the first message is handled.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Callable, Iterable, Iterator

from sqlalchemy import Connection, Engine, func, select, update

from engine.hostnet.provisioning import ProvisioningService
from engine.numbers import sender_msisdn
from engine.smpp.inbox import ReceivedMessage
from engine.smpp.outbox import INSERT_PART, OutgoingMessage, Outbox
from engine.social_sms.context import Outgoing, Ports, SocialContext
from engine.social_sms.ports import Billing, MessageClass
from engine.social_sms.settings import CausesFile
from engine.social_sms.sms import handle_sms
from engine.social_sms.sql_repository import BatchSenders, SqlSocialRepository
from engine.social_sms.timing import require_utc
from engine.store.schema import causes, follows, subscribers

log = logging.getLogger(__name__)

INSERT_CHUNK = 5000  # rows per executemany: bounded memory whatever the caller hands in


# ---------------------------------------------------------------------------------------------
# Ports


class OutboxPort:
    """The rules' `Outbox` port: one text to many recipients, stored as MT rows in this transaction.

    A fan-out repeats one text, so the smpp Outbox builds the rows of the first recipient (encoded
    and segmented once) and every other recipient's rows are those values with another destination.
    The values are put through the columns' bind processors once (`INSERT_PART.parameters`), and
    the rows go to the driver as tuples in one executemany per chunk: at 100,000 recipients
    SQLAlchemy's per-row parameter processing, not SQLite, was most of the time (benchmarks/fanout.py).
    """

    def __init__(self, connection: Connection, outbox: Outbox, now: datetime):
        self.connection = connection
        self.outbox = outbox
        self.now = require_utc(now)

    def enqueue_many(self, recipients: Iterable[str], text: str, message_class: MessageClass,
                     not_before: datetime | None, sender: str) -> int:
        count = 0
        parts: list[tuple[tuple, tuple]] | None = None  # each part's driver values before and after the destination
        batch: list[tuple] = []
        for recipient in recipients:
            if parts is None:
                template = self.outbox.rows_for([OutgoingMessage(recipient, text, message_class, not_before)], self.now)
                at = INSERT_PART.position(self.connection, "destination_addr")
                parts = []
                for row in template:
                    values = INSERT_PART.parameters(self.connection, {**row, "source_addr": sender})
                    parts.append((values[:at], values[at + 1:]))
            batch.extend((*before, recipient, *after) for before, after in parts)
            count += 1
            if len(batch) >= INSERT_CHUNK:
                INSERT_PART.run_many_processed(self.connection, batch)
                batch = []
        INSERT_PART.run_many_processed(self.connection, batch)
        return count

    def withdraw(self, recipient: str, reason: str) -> int:
        return self.outbox.withdraw(self.connection, recipient, reason, self.now)


class ProvisioningPort:
    """The rules' `Provisioning` port: queues the host request in the caller's transaction, so a
    JOIN's subscriber row and its activation request commit together."""

    def __init__(self, connection: Connection, service: ProvisioningService, now: datetime):
        self.connection = connection
        self.service = service
        self.now = require_utc(now)

    def request_activation(self, msisdn: str, plan: str) -> None:
        self.service.request_activation(self.connection, msisdn, plan, self.now)


BillingFor = Callable[[Connection], Billing]
"""The billing port for one unit of work: it reads on that unit's connection."""


def social_ports(connection: Connection, context: SocialContext, billing_for: BillingFor, outbox: Outbox,
                 provisioning: ProvisioningService, now: datetime, senders: BatchSenders | None = None) -> Ports:
    """The four ports on one connection, for one unit of work at `now` (of an MO batch: `senders`)."""
    return Ports(
        repo=SqlSocialRepository(connection, now, context.operator.time_zone, senders),
        outbox=OutboxPort(connection, outbox, now),
        provisioning=ProvisioningPort(connection, provisioning, now),
        billing=billing_for(connection),
    )


# ---------------------------------------------------------------------------------------------
# Causes: config -> table


@dataclass(frozen=True)
class CauseSync:
    added: tuple[str, ...] = ()
    renamed: tuple[str, ...] = ()
    reactivated: tuple[str, ...] = ()
    deactivated: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.added or self.renamed or self.reactivated or self.deactivated)


def sync_causes(connection: Connection, causes_config: CausesFile, now: datetime, language: str = "en") -> CauseSync:
    """Make the `causes` table match causes.toml: insert new codes, update names, mark codes no
    longer in the config inactive (and active again if they come back). Never deletes: subscribers,
    follows and gifts still point at a retired cause, and its history must still add up.

    The table holds one name, in `language` (the catalogue's default); the rules take names in every
    language from the config itself.
    """
    now = require_utc(now)
    stored = {row.code: row for row in connection.execute(select(causes.c.code, causes.c.name, causes.c.active))}
    added, renamed, reactivated = [], [], []
    for cause in causes_config.causes:
        name = cause.name_in(language, next(iter(cause.name)))
        row = stored.get(cause.code)
        if row is None:
            connection.execute(causes.insert().values(code=cause.code, name=name, active=True, created_at=now))
            added.append(cause.code)
            continue
        if row.name != name:
            renamed.append(cause.code)
        if not row.active:
            reactivated.append(cause.code)
        if row.name != name or not row.active:
            connection.execute(update(causes).where(causes.c.code == cause.code).values(name=name, active=True))
    configured = {cause.code for cause in causes_config.causes}
    retired = sorted(code for code, row in stored.items() if row.active and code not in configured)
    if retired:
        connection.execute(update(causes).where(causes.c.code.in_(retired)).values(active=False))
    result = CauseSync(tuple(added), tuple(renamed), tuple(reactivated), tuple(retired))
    if result.changed:
        log.info("causes synced from config: added %s, renamed %s, reactivated %s, marked inactive %s",
                 list(result.added), list(result.renamed), list(result.reactivated), list(result.deactivated))
    return result


@dataclass(frozen=True)
class CauseCounts:
    name: str
    active: bool
    followers: int
    chosen_by: int  # subscribers (not terminated) whose 10% goes to it


def cause_counts(connection: Connection) -> dict[str, CauseCounts]:
    """Every cause in the table, with its follower and chosen-by counts, in one query."""
    followers = (select(func.count()).select_from(follows)
                 .where(follows.c.followee_cause == causes.c.code).scalar_subquery())
    chosen = (select(func.count()).select_from(subscribers)
              .where(subscribers.c.cause_code == causes.c.code, subscribers.c.status != "terminated").scalar_subquery())
    rows = connection.execute(select(causes.c.code, causes.c.name, causes.c.active, followers, chosen)
                              .order_by(causes.c.code))
    return {code: CauseCounts(name, bool(active), following, choosing) for code, name, active, following, choosing in rows}


def outbox_for(config) -> Outbox:
    """The smpp Outbox as `tpo run` builds it (engine/service/engine_service.py), for the CLI."""
    engine = config.engine
    return Outbox(engine.operator.short_code, engine.smpp.long_messages,
                  "ucs2" if engine.smpp.default_data_coding == "ucs2-only" else "gsm")


# ---------------------------------------------------------------------------------------------
# The MO handler


Handler = Callable[[Connection, ReceivedMessage, datetime], list[OutgoingMessage]]


def to_outgoing(message: Outgoing, mo_id: int) -> OutgoingMessage:
    """A rule's message as an MT to store. Replies name the MO they answer; a DM is not a reply to
    its recipient, so it names none."""
    return OutgoingMessage(
        destination=message.recipient,
        text=message.text,
        message_class=message.message_class,
        not_before=message.not_before,
        reply_to_mo_id=mo_id if message.message_class == "reply" else None,
    )


class SmsHandler:
    """The `MoWorker` handler for SMS: `handler(connection, message, now) -> [OutgoingMessage]`, and
    `handler.batch(connection, messages)` for a batch of them (see `MoWorker`): the senders' flood
    buckets and rows read once for the batch, the buckets written back once (`BatchSenders`).

    `outbox` is the same smpp Outbox the worker enqueues replies with (one reference counter for
    long messages); fan-out goes through it directly, replies and DMs are returned to the worker.
    """

    def __init__(self, context: SocialContext, billing_for: BillingFor, outbox: Outbox,
                 provisioning: ProvisioningService | None = None):
        self.context = context
        self.billing_for = billing_for
        self.outbox = outbox
        self.provisioning = provisioning or ProvisioningService()

    def __call__(self, connection: Connection, message: ReceivedMessage, now: datetime,
                 senders: BatchSenders | None = None) -> list[OutgoingMessage]:
        ports = social_ports(connection, self.context, self.billing_for, self.outbox, self.provisioning, now, senders)
        result = handle_sms(self.context, ports, message.source, message.text, now)
        if result.status != "handled":
            log.info("SMS %d from %s %s (%s)", message.id, message.source, result.status, result.command or "-")
        return [to_outgoing(outgoing, message.id) for outgoing in result.messages]

    @contextmanager
    def batch(self, connection: Connection, messages: list[ReceivedMessage]) -> Iterator[Handler]:
        """The handler for each message of `messages`, in this transaction; the buckets are written
        when the batch ends without an error (with one, the caller rolls the batch back)."""
        region = self.context.operator.default_region
        senders = BatchSenders(connection, (msisdn for msisdn in (sender_msisdn(message.source, region)
                                                                  for message in messages) if msisdn is not None))
        yield partial(self, senders=senders)
        senders.write(connection)


def prepare_sms_handler(database: Engine, context: SocialContext, billing_for: BillingFor, outbox: Outbox, now: datetime,
                        provisioning: ProvisioningService | None = None) -> SmsHandler:
    """Setup at start: sync the causes table from config (its own transaction), then the handler."""
    with database.begin() as connection:
        sync_causes(connection, context.causes, now, context.catalogue.default_language)
    return SmsHandler(context, billing_for, outbox, provisioning)
