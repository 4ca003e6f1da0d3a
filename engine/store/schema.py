"""The database schema as SQLAlchemy Core tables: the one definition that migrations must match.

Core tables rather than ORM classes because the hot paths (usage records, the outbox) are bulk
statements; repositories map rows to the domain's plain values. Money columns are integers in the
currency's minor unit (or a documented finer scale); times are `UtcDateTime`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    JSON,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

from engine.store.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

SUBSCRIBER_KINDS = ("line", "social")
SUBSCRIBER_STATUSES = ("activating", "active", "suspended", "terminated")
# withdrawn: taken back before it was sent, because the recipient opted out meanwhile (STOP, OFF)
MT_STATES = ("queued", "sending", "submitted", "delivered", "undeliverable", "expired", "rejected", "failed", "withdrawn")
MO_STATES = ("received", "handled", "failed")
MO_KINDS = ("sms", "ussd")


def one_of_condition(column: str, values: tuple[str, ...]) -> str:
    """`column` is one of `values`, as comparisons joined by OR, not `IN (...)`: SQLite checks an
    IN list of three or more values by building a temporary table for it, a 4 KB page cleared and
    filled on every insert and update of the row (a third of an MO's state update; the engine
    updates mo_messages and mt_messages states several times per command). Migration 0008."""
    return " OR ".join(f"{column} = '{value}'" for value in values)


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    return CheckConstraint(one_of_condition(column, values), name=f"{column}_known")


# The MTs that a recipient's STOP or OFF takes back while they still wait (engine/social_sms/actions.py):
# a query that finds them must say this condition word for word to use the index made for it.
WITHDRAWABLE_CLASSES = ("fanout", "dm")
QUEUED_WITHDRAWABLE = f"state = 'queued' AND ({one_of_condition('message_class', WITHDRAWABLE_CLASSES)})"


causes = Table(
    "causes",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(80), nullable=False),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("created_at", UtcDateTime, nullable=False),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("msisdn", String(16), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),
    Column("status", String(12), nullable=False),
    Column("language", String(2), nullable=False, server_default="en"),
    Column("plan_code", String(32)),
    Column("cause_code", String(32), ForeignKey("causes.code")),
    Column("handle", String(15), unique=True),
    Column("time_zone", String(64)),
    Column("opted_out", Boolean, nullable=False, server_default="0"),
    Column("notifications_on", Boolean, nullable=False, server_default="1"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # The SIM in the line, as the host network's lifecycle events say (engine/hostnet/lifecycle.py).
    Column("iccid", String(22)),
    Column("imsi", String(15)),
    _one_of("kind", SUBSCRIBER_KINDS),
    _one_of("status", SUBSCRIBER_STATUSES),
    CheckConstraint("msisdn LIKE '+%'", name="msisdn_e164"),
)

# Messages from phones (MO). A row exists before the SMSC gets its deliver_sm_resp, so a crash
# makes the SMSC redeliver; `dedupe_key` (content digest and time window, engine/smpp/intake.py)
# recognises the redelivery.
mo_messages = Table(
    "mo_messages",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("kind", String(4), nullable=False, server_default="sms"),
    Column("source_addr", String(21), nullable=False),
    Column("destination_addr", String(21), nullable=False),
    Column("text", Text, nullable=False),
    Column("data_coding", SmallInteger, nullable=False, server_default="0"),
    Column("complete", Boolean, nullable=False, server_default="1"),
    Column("ussd_service_op", SmallInteger),
    Column("its_session_info", Integer),
    Column("user_message_reference", Integer),
    Column("dedupe_key", String(80), nullable=False, unique=True),
    Column("bind_name", String(32)),
    Column("state", String(10), nullable=False, server_default="received"),
    Column("received_at", UtcDateTime, nullable=False),
    Column("handled_at", UtcDateTime),
    Column("claimed_by", String(32)),
    Column("error", Text),
    _one_of("state", MO_STATES),
    _one_of("kind", MO_KINDS),
    Index(None, "state", "id"),
)

# Parts of a concatenated MO, stored before each part is acknowledged, until the message is whole
# (or its timeout passes); then they become one mo_messages row and are deleted.
mo_parts = Table(
    "mo_parts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("source_addr", String(21), nullable=False),
    Column("destination_addr", String(21), nullable=False),
    Column("reference", Integer, nullable=False),
    Column("parts_total", SmallInteger, nullable=False),
    Column("part_number", SmallInteger, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("data_coding", SmallInteger, nullable=False),
    Column("dedupe_key", String(80), nullable=False, unique=True),
    Column("bind_name", String(32)),
    Column("received_at", UtcDateTime, nullable=False),
    Index(None, "source_addr", "reference", "parts_total"),
)

# Messages to phones (MT): the outbox. One row per SMS part as submitted, so each part has its
# own SMSC message id and delivery receipt; `group_ref` ties the parts of a long message.
mt_messages = Table(
    "mt_messages",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("destination_addr", String(21), nullable=False),
    Column("source_addr", String(21), nullable=False),
    Column("text", Text, nullable=False),
    Column("message_class", String(12), nullable=False),
    Column("group_ref", Integer),
    Column("part_number", SmallInteger, nullable=False, server_default="1"),
    Column("parts_total", SmallInteger, nullable=False, server_default="1"),
    Column("short_message", LargeBinary, nullable=False),
    Column("data_coding", SmallInteger, nullable=False),
    Column("esm_class", SmallInteger, nullable=False, server_default="0"),
    Column("in_message_payload", Boolean, nullable=False, server_default="0"),
    Column("ussd_service_op", SmallInteger),
    Column("its_session_info", Integer),
    Column("user_message_reference", Integer),  # echoed on a USSD reply: some gateways match by it
    Column("state", String(14), nullable=False, server_default="queued"),
    Column("not_before", UtcDateTime, nullable=False),
    Column("attempts", SmallInteger, nullable=False, server_default="0"),
    Column("bind_name", String(32)),
    Column("smsc_message_id", String(65)),
    Column("last_status", Integer),
    Column("error", Text),
    Column("reply_to_mo_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("mo_messages.id")),
    Column("claimed_by", String(32)),
    Column("claimed_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("submitted_at", UtcDateTime),
    Column("done_at", UtcDateTime),
    _one_of("state", MT_STATES),
    Index(None, "state", "not_before", "id"),
    Index(None, "smsc_message_id"),
    # The posts and direct messages still waiting for one number, for withdrawing them when it opts
    # out: partial, so neither the sent history nor the replies (most MTs) are in it.
    Index("ix_mt_messages_queued_destination", "destination_addr",
          sqlite_where=text(QUEUED_WITHDRAWABLE), postgresql_where=text(QUEUED_WITHDRAWABLE)),
)

# Delivery receipts as received, stored before the SMSC gets its deliver_sm_resp and matched to
# mt_messages by SMSC message id (engine/smpp/outbox.py). `final_state` is None for intermediate
# states (enroute, accepted).
delivery_receipts = Table(
    "delivery_receipts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("smsc_message_id", String(65), nullable=False),
    Column("final_state", String(14)),
    Column("error", Text),
    Column("done_at", UtcDateTime),
    Column("received_at", UtcDateTime, nullable=False),
    Column("applied", Boolean, nullable=False, server_default="0"),
    Index(None, "applied", "id"),
)

# Every file taken in from the host network, by content digest: the memory that refuses duplicates
# and lets a crash between commit and move be finished instead of repeated.
inbound_files = Table(
    "inbound_files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(255), nullable=False),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("size_bytes", BigInteger, nullable=False),
    Column("summary", JSON, nullable=False),
    Column("taken_in_at", UtcDateTime, nullable=False),
)


# --- host network ---
# Files exchanged with the host network (engine/hostnet/): provisioning requests until their
# acknowledgement, lifecycle events by id (replays are no-ops), wholesale statements per period and
# the adjustments agreed with the host. Rows are added, never edited, except a request's progress.

Index("ix_subscribers_iccid", subscribers.c.iccid, unique=True)
Index("ix_subscribers_imsi", subscribers.c.imsi, unique=True)

PROVISIONING_ACTIONS = ("activate", "change_plan", "suspend", "restore", "terminate")
PROVISIONING_STATES = ("queued", "sent", "accepted", "rejected")

# One row per provisioning file written to provisioning_out; `sequence` names the file.
provisioning_files = Table(
    "provisioning_files",
    metadata,
    Column("sequence", Integer, primary_key=True, autoincrement=False),
    Column("name", String(255), nullable=False, unique=True),
    Column("request_count", Integer, nullable=False),
    Column("written_at", UtcDateTime, nullable=False),
)

# A request lives from `queued` (waiting for the next flush) through `sent` to the host's answer,
# `accepted` or `rejected`. A resend puts it back to `queued` with the same request id.
provisioning_requests = Table(
    "provisioning_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("request_id", String(40), nullable=False, unique=True),
    Column("action", String(12), nullable=False),
    Column("msisdn", String(16), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id")),
    Column("plan_code", String(32)),
    Column("state", String(10), nullable=False),
    Column("attempts", SmallInteger, nullable=False, server_default="0"),
    Column("file_sequence", Integer, ForeignKey("provisioning_files.sequence")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_sent_at", UtcDateTime),
    Column("overdue_since", UtcDateTime),
    Column("acknowledged_at", UtcDateTime),
    Column("answer_reason", Text),
    _one_of("action", PROVISIONING_ACTIONS),
    _one_of("state", PROVISIONING_STATES),
    Index(None, "state", "id"),
    Index(None, "msisdn", "state"),
)

LIFECYCLE_EVENT_TYPES = ("sim_activation", "sim_swap", "msisdn_change", "port_out", "termination")

# Every lifecycle event applied, by the host's event id: a replay finds its row and changes nothing.
lifecycle_events = Table(
    "lifecycle_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("event_type", String(16), nullable=False),
    Column("msisdn", String(16), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("outcome", Text, nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("applied_at", UtcDateTime, nullable=False),
    _one_of("event_type", LIFECYCLE_EVENT_TYPES),
)

WHOLESALE_SERVICES = ("voice", "sms", "data")

# The host's wholesale statement of a period; a corrected statement is a new row, the newest counts.
wholesale_statements = Table(
    "wholesale_statements",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("period", String(7), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Index(None, "period", "id"),
)

wholesale_statement_lines = Table(
    "wholesale_statement_lines",
    metadata,
    Column("statement_id", Integer, ForeignKey("wholesale_statements.id"), primary_key=True),
    Column("service", String(8), primary_key=True),
    Column("records", BigInteger, nullable=False),
    Column("volume", BigInteger, nullable=False),  # seconds, messages or bytes
    Column("amount_minor", BigInteger, nullable=False),
    _one_of("service", WHOLESALE_SERVICES),
)

# Adjustments agreed with the host for a period, in minor units, added to the statement's total to
# give the wholesale cost finance uses; a correction is another row, so the period's adjustment is
# the sum of its rows.
wholesale_adjustments = Table(
    "wholesale_adjustments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("period", String(7), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index(None, "period", "id"),
)


# --- usage and rating ---
# Rated usage (engine/rating/mediation.py). `usage_records` is the hot table: up to millions of rows a
# file, written with the driver's bulk paths, so it carries only what rating, re-rating and the bill
# need, no CHECK constraints, and two indexes: the host's record id as primary key (the duplicate
# check) and the start time (re-rating a period walks it in time order). Per-subscriber questions
# (allowance seeds, bill previews, wholesale totals) are answered by `usage_totals`, a small
# aggregate kept in the same transaction, instead of an index on msisdn that every insert would pay.
# Money is integer micro-units (10**-6 of the currency unit); rounding to minor units happens on
# invoice lines only. Host-supplied text is Text: a long id or number must not fail a whole file.

USAGE_SERVICES = ("voice", "sms", "data")

usage_records = Table(
    "usage_records",
    metadata,
    Column("record_id", Text, primary_key=True),
    Column("msisdn", Text, nullable=False),
    Column("service", String(5), nullable=False),
    Column("start_epoch", BigInteger, nullable=False),  # UTC epoch seconds, as rating uses them
    Column("duration_s", BigInteger, nullable=False),
    Column("volume_bytes", BigInteger, nullable=False),
    Column("called_number", Text, nullable=False),  # canonical form; "" for data
    Column("roaming_zone", Text, nullable=False),  # "" at home
    Column("period", String(7), nullable=False),  # usage month in the operator's zone
    Column("plan_code", String(32), nullable=False),
    Column("zone", String(32), nullable=False),
    Column("band", String(32), nullable=False),
    Column("included", BigInteger, nullable=False),
    Column("chargeable", BigInteger, nullable=False),
    Column("billed", BigInteger, nullable=False),
    Column("retail_micros", BigInteger, nullable=False),
    Column("wholesale_micros", BigInteger, nullable=False),
    Column("bill_period", String(7), nullable=False),  # the bill it goes on: `period`, or later if late
    Column("note", Text),  # why bill_period differs from period
    Index(None, "start_epoch"),
)

# Records that read well but could not be rated (unknown subscriber, number in no zone): kept with
# the reason until a re-run rates them (`tpo cdr suspense --rerun`, and the scheduler).
usage_suspense = Table(
    "usage_suspense",
    metadata,
    Column("record_id", Text, primary_key=True),
    Column("msisdn", Text, nullable=False),
    Column("service", String(5), nullable=False),
    Column("start_epoch", BigInteger, nullable=False),
    Column("duration_s", BigInteger, nullable=False),
    Column("volume_bytes", BigInteger, nullable=False),
    Column("called_number", Text, nullable=False),
    Column("roaming_zone", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("last_tried_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="1"),
)

# Sums of usage_records per subscriber, usage period, bill period and service. `included` seeds the
# allowance counters of the next import; the bill preview and the wholesale reconciliation read it.
usage_totals = Table(
    "usage_totals",
    metadata,
    Column("msisdn", Text, primary_key=True),
    Column("period", String(7), primary_key=True),
    Column("bill_period", String(7), primary_key=True),
    Column("service", String(5), primary_key=True),
    Column("records", BigInteger, nullable=False),
    Column("quantity", BigInteger, nullable=False),  # seconds, messages or bytes
    Column("included", BigInteger, nullable=False),
    Column("billed", BigInteger, nullable=False),
    Column("retail_micros", BigInteger, nullable=False),
    Column("wholesale_micros", BigInteger, nullable=False),
    Index(None, "period", "service"),
)

# Periods the bill run has closed: usage of a closed period arriving later is billed in the next
# open period, with a note (written by the bill run; read by mediation).
closed_periods = Table(
    "closed_periods",
    metadata,
    Column("period", String(7), primary_key=True),
    Column("closed_at", UtcDateTime, nullable=False),
)


# --- social network ---
# The SMS social network's state (engine/social_sms/sql_repository.py). Rows point at subscribers
# by id, not by MSISDN, so a number change (a lifecycle msisdn_change) keeps a person's follows,
# posts and gifts. A followee or an author is a subscriber or a cause: exactly one of the two.
# Money is integer minor units.

_SOCIAL_ID = BigInteger().with_variant(Integer, "sqlite")

follows = Table(
    "follows",
    metadata,
    Column("id", _SOCIAL_ID, primary_key=True),  # insertion order: "newest follows" without a sort key tie
    Column("follower_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("followee_id", Integer, ForeignKey("subscribers.id")),
    Column("followee_cause", String(32), ForeignKey("causes.code")),
    Column("notify", Boolean, nullable=False, server_default="1"),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("(followee_id IS NULL) <> (followee_cause IS NULL)", name="one_followee"),
    # Also the "follows by follower" index. NULLs are distinct in a unique index on both backends,
    # so a cause follow never collides with a subscriber follow.
    Index(None, "follower_id", "followee_id", unique=True),
    Index(None, "follower_id", "followee_cause", unique=True),
    # Fan-out: one range scan gives the followers to notify, without reading the table rows.
    Index(None, "followee_id", "notify", "follower_id"),
    Index(None, "followee_cause", "notify", "follower_id"),
)

posts = Table(
    "posts",
    metadata,
    Column("id", _SOCIAL_ID, primary_key=True),
    Column("author_id", Integer, ForeignKey("subscribers.id")),
    Column("author_cause", String(32), ForeignKey("causes.code")),
    Column("text", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("(author_id IS NULL) <> (author_cause IS NULL)", name="one_author"),
    Index(None, "author_id", "created_at"),
    Index(None, "author_cause", "created_at"),
)

# Counted actions for the per-sender limits (follows per day, DMs per day); windows are at most a
# day, so social housekeeping deletes older rows.
social_actions = Table(
    "social_actions",
    metadata,
    Column("id", _SOCIAL_ID, primary_key=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("action", String(12), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index(None, "subscriber_id", "action", "at"),
)

# The flood bucket of each sending number. Keyed by MSISDN, not subscriber, because numbers that
# never joined are throttled too.
sms_throttles = Table(
    "sms_throttles",
    metadata,
    Column("msisdn", String(16), primary_key=True),
    Column("milli_tokens", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# A GIVE waiting for YES: at most one per subscriber, the newest replaces the older.
pending_gives = Table(
    "pending_gives",
    metadata,
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), primary_key=True),
    Column("amount_minor", BigInteger, nullable=False),
    Column("cause_code", String(32), ForeignKey("causes.code"), nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
)

# Confirmed one-off gifts, charged on the bill of `period` (YYYY-MM, operator's zone), 100% to the cause.
gifts = Table(
    "gifts",
    metadata,
    Column("id", _SOCIAL_ID, primary_key=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("period", String(7), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("cause_code", String(32), ForeignKey("causes.code"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    Index(None, "subscriber_id", "period"),
    Index(None, "period", "cause_code"),
)


# --- ussd ---
# USSD dialogues in progress (engine/social_sms/ussd_store.py), so a dialogue survives from one MO
# row to the next and from one engine node to another. `key` is UssdSessions.key_of: the number
# plus the gateway's session number or message reference, by the configured key mode. A row lives
# until `expires_at` (its last message plus the timeout); `ended` marks a dialogue that finished
# before that (last screen sent, phone hung up), kept until then for support questions.
ussd_sessions = Table(
    "ussd_sessions",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("msisdn", String(21), nullable=False),
    Column("menu_state", JSON, nullable=False),  # MenuState.to_json(), under 1 KB
    Column("its_session_info", Integer),  # as last received: session number, sequence, end bit
    Column("user_message_reference", Integer),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("last_seen_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("ended", Boolean, nullable=False, server_default="0"),
    Index(None, "expires_at"),
)
