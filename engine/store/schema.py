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
MT_STATES = ("queued", "sending", "submitted", "delivered", "undeliverable", "expired", "rejected", "failed")
MO_STATES = ("received", "handled", "failed")
MO_KINDS = ("sms", "ussd")


def _one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    quoted = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=f"{column}_known")


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
