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
MT_STATES = ("queued", "submitted", "delivered", "undeliverable", "expired", "rejected", "failed")
MO_STATES = ("received", "handled", "failed")


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
    _one_of("kind", SUBSCRIBER_KINDS),
    _one_of("status", SUBSCRIBER_STATUSES),
    CheckConstraint("msisdn LIKE '+%'", name="msisdn_e164"),
)

# Messages from phones (MO). A row exists before the SMSC gets its deliver_sm_resp, so a crash
# makes the SMSC redeliver; `dedupe_key` recognises the redelivery.
mo_messages = Table(
    "mo_messages",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("source_addr", String(21), nullable=False),
    Column("destination_addr", String(21), nullable=False),
    Column("text", Text, nullable=False),
    Column("data_coding", SmallInteger, nullable=False, server_default="0"),
    Column("dedupe_key", String(64), nullable=False, unique=True),
    Column("bind_name", String(32)),
    Column("state", String(10), nullable=False, server_default="received"),
    Column("received_at", UtcDateTime, nullable=False),
    Column("handled_at", UtcDateTime),
    Column("claimed_by", String(32)),
    Column("error", Text),
    _one_of("state", MO_STATES),
    Index(None, "state", "id"),
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
    Column("state", String(14), nullable=False, server_default="queued"),
    Column("not_before", UtcDateTime, nullable=False),
    Column("attempts", SmallInteger, nullable=False, server_default="0"),
    Column("bind_name", String(32)),
    Column("smsc_message_id", String(65)),
    Column("last_status", Integer),
    Column("error", Text),
    Column("reply_to_mo_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("mo_messages.id")),
    Column("claimed_by", String(32)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("submitted_at", UtcDateTime),
    Column("done_at", UtcDateTime),
    _one_of("state", MT_STATES),
    Index(None, "state", "not_before", "id"),
    Index(None, "smsc_message_id"),
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
