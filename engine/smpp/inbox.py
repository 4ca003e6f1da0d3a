"""The MO inbox: messages from phones stored before the SMSC gets its deliver_sm_resp.

`store` writes what `intake.classify` found, in the caller's transaction; only after that commits
does the link acknowledge, so a crash makes the SMSC redeliver, and the dedupe key makes the
redelivery a no-op. Parts of a long message are stored one by one and become one `mo_messages` row
when the last arrives; parts still incomplete after the reassembly timeout are processed as they
are (with a gap marker) or discarded, by config. Completion is checked in the database, not in one
node's memory, because two engine nodes may each receive some of a message's parts.

`claim` hands received messages to the command rules; PostgreSQL's SKIP LOCKED lets several nodes
claim without taking the same row.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import Connection, Integer, bindparam, delete, func, select, update

from engine.smpp import intake
from engine.smpp.reassembly import IncomingPart, Reassembler
from engine.store.prepared import Prepared
from engine.store.schema import mo_messages, mo_parts
from engine.store.upsert import insert_unless_present, insert_unless_present_keyed_statement


class ReceivedMessage(NamedTuple):
    id: int
    kind: str
    source: str
    destination: str
    text: str
    complete: bool
    ussd_service_op: int | None
    its_session_info: int | None
    user_message_reference: int | None
    received_at: datetime


_RECEIVED_COLUMNS = (
    mo_messages.c.id, mo_messages.c.kind, mo_messages.c.source_addr, mo_messages.c.destination_addr,
    mo_messages.c.text, mo_messages.c.complete, mo_messages.c.ussd_service_op, mo_messages.c.its_session_info,
    mo_messages.c.user_message_reference, mo_messages.c.received_at,
)


# The statements of every MO, built once and run on the driver's cursor (engine/store/prepared.py):
# SQLAlchemy's per-execute bookkeeping cost more than the database took to run them
# (benchmarks/mo_commands.py).
# The insert is `insert_unless_present_keyed_statement`'s, per dialect; a message's values are completed
# with the columns' server defaults (`_MESSAGE_DEFAULTS`, `_received_row`), so every row has every key.
_MESSAGE_DEFAULTS = {"data_coding": 0, "complete": True, "ussd_service_op": None, "its_session_info": None,
                     "user_message_reference": None, "bind_name": None}
_MESSAGE_KEYS = ("kind", "source_addr", "destination_addr", "text", "dedupe_key", "state", "received_at",
                 *_MESSAGE_DEFAULTS)
_INSERT_MESSAGE = {name: Prepared(insert_unless_present_keyed_statement(mo_messages, name), keys=_MESSAGE_KEYS)
                   for name in ("sqlite", "postgresql")}  # run by Prepared.inserted_keys
_SEEN = Prepared(select(mo_messages.c.dedupe_key).where(mo_messages.c.dedupe_key.in_(bindparam("keys", expanding=True))))


def _received_row(values: dict, dedupe_key: str, now: datetime) -> dict:
    """A message's row for `_INSERT_MESSAGE`: every key, the unset ones at their defaults."""
    return {**_MESSAGE_DEFAULTS, **values, "dedupe_key": dedupe_key, "received_at": now, "state": "received"}


def _claim(for_update: bool) -> Prepared:
    """Claim the oldest `limit` received messages for `node` and return them, in one statement."""
    due = select(mo_messages.c.id).where(
        mo_messages.c.state == "received", mo_messages.c.claimed_by.is_(None)
    ).order_by(mo_messages.c.id).limit(bindparam("limit", type_=Integer))
    if for_update:
        due = due.with_for_update(skip_locked=True)
    return Prepared(update(mo_messages).where(mo_messages.c.id.in_(due.scalar_subquery()))
                    .values(claimed_by=bindparam("node")).returning(*_RECEIVED_COLUMNS))


_CLAIM = {"sqlite": _claim(False), "postgresql": _claim(True)}
_MARK_HANDLED = Prepared(update(mo_messages).where(mo_messages.c.id == bindparam("message_id"))
                         .values(state="handled", handled_at=bindparam("at")))


class Inbox:
    def __init__(self, dedupe_window_seconds: int = intake.DEFAULT_DEDUPE_WINDOW_SECONDS,
                 reassembly_timeout_seconds: int = 120, on_incomplete: str = "process"):
        self.dedupe_window = dedupe_window_seconds
        self.reassembly_timeout = timedelta(seconds=reassembly_timeout_seconds)
        self.on_incomplete = on_incomplete
        # Digests of SMS this process stored and acknowledged on a live link, by when: the SMSC got
        # those answers, so the same text again is the person texting again, not a redelivery.
        # Oldest first (an acknowledgement moves its digest to the end), so expiry takes from the
        # front and a link loss from the back, each touching only the entries it drops.
        self._acknowledged: OrderedDict[str, float] = OrderedDict()

    # ------------------------------------------------------------------ storing

    def store_all(self, connection: Connection, arrivals, now: datetime) -> list[int | None]:
        """Store classified deliver_sm, each `(arrival, bind name)`, in arrival order; for each, the
        new message's id when a whole message became ready, else None (a redelivery, or a part of
        a message still incomplete). One query checks the whole batch's previous-window keys and one
        executemany inserts its messages (on PostgreSQL one round trip each, not one per MO)."""
        epoch = now.timestamp()
        seen = self._stored_previous_keys(
            connection, [arrived.digest for arrived, _bind in arrivals if isinstance(arrived, intake.SmsArrived)], epoch)
        ids: list[int | None] = [None] * len(arrivals)
        rows: list[dict] = []
        owners: list[int] = []

        def insert_waiting() -> None:
            for owner, key in zip(owners, _INSERT_MESSAGE[connection.dialect.name].inserted_keys(connection, rows)):
                ids[owner] = key
            rows.clear()
            owners.clear()

        for index, (arrived, bind_name) in enumerate(arrivals):
            if isinstance(arrived, intake.SmsArrived):
                row = self._message_row(arrived.digest, now, {
                    "kind": "sms", "source_addr": arrived.source, "destination_addr": arrived.destination,
                    "text": arrived.text, "data_coding": arrived.data_coding, "bind_name": bind_name,
                }, seen)
            elif isinstance(arrived, intake.UssdArrived):
                # USSD is a live dialogue, not store-and-forward: gateways do not redeliver it, and
                # the same answer twice ("0" to page on, twice) is two answers. So each is its own.
                row = self._new_row(f"ussd:{arrived.digest[:40]}", now, {
                    "kind": "ussd", "source_addr": arrived.source, "destination_addr": arrived.destination,
                    "text": arrived.text, "ussd_service_op": arrived.service_op,
                    "its_session_info": arrived.its_session_info,
                    "user_message_reference": arrived.user_message_reference, "bind_name": bind_name,
                })
            elif isinstance(arrived, intake.PartArrived):
                insert_waiting()  # ids follow arrival order, also across a message completed here
                ids[index] = self._store_part(connection, arrived, bind_name, now)
                continue
            else:
                raise TypeError(f"not a message: {arrived!r}")
            if row is not None:
                rows.append(row)
                owners.append(index)
        insert_waiting()
        return ids

    def store(self, connection: Connection, arrived, bind_name: str, now: datetime) -> int | None:
        """`store_all` for one arrival."""
        [message_id] = self.store_all(connection, [(arrived, bind_name)], now)
        return message_id

    def _stored_previous_keys(self, connection: Connection, digests: list[str], epoch: float) -> set[str]:
        """The previous-window dedupe keys of these SMS digests that are stored."""
        keys = {intake.previous_key(digest, epoch, self.dedupe_window) for digest in digests}
        if not keys:
            return set()
        return {key for (key,) in _SEEN.rows(connection, {"keys": sorted(keys)})}

    def store_unreadable(self, connection: Connection, source: str, reason: str, params_digest: str, now: datetime) -> None:
        """Kept, not lost: an unreadable message is stored as failed with the reason, for operators."""
        insert_unless_present(connection, mo_messages, {
            "kind": "sms", "source_addr": source or "?", "destination_addr": "?", "text": "",
            "dedupe_key": intake.dedupe_key(params_digest, now.timestamp(), self.dedupe_window),
            "state": "failed", "error": reason, "received_at": now,
        })

    def note_acknowledged(self, digests: list[str], epoch: float) -> None:
        """Remember these digests as acknowledged at `epoch`, and forget those acknowledged more
        than two dedupe windows ago (what `_message_row` still asks about). Only the expired entries
        are visited: rebuilding the whole memory on every batch once it was large (it holds every
        SMS of the last 20 minutes by default) made the engine's CPU per MO double at 2,500 MO/s."""
        acknowledged = self._acknowledged
        for digest in digests:
            acknowledged[digest] = epoch
            acknowledged.move_to_end(digest)
        horizon = epoch - 2 * self.dedupe_window
        while acknowledged and next(iter(acknowledged.values())) < horizon:
            acknowledged.popitem(last=False)

    def forget_acknowledged_since(self, epoch: float) -> None:
        """A link dropped: answers written just before may never have reached the SMSC, which will
        then deliver those messages again; they must be recognised as redeliveries."""
        acknowledged = self._acknowledged
        while acknowledged and next(reversed(acknowledged.values())) >= epoch:
            acknowledged.popitem()

    def _new_row(self, prefix: str, now: datetime, values: dict) -> dict:
        """A message that is certainly not a redelivery: stored under a key no other can have."""
        return _received_row(values, f"{prefix}:{uuid.uuid4().hex}", now)

    def _message_row(self, digest: str, now: datetime, values: dict, seen: set[str]) -> dict | None:
        """The row to insert for an SMS, or None for a redelivery of one stored in the previous
        window (`seen`: those of `_stored_previous_keys`); one in this window is caught by its key."""
        epoch = now.timestamp()
        acknowledged_at = self._acknowledged.get(digest)
        if acknowledged_at is not None and epoch - acknowledged_at < 2 * self.dedupe_window:
            # Texted again (BILL twice, YES to a second GIVE): a new message, not a redelivery.
            return self._new_row(f"{digest[:40]}:again", now, values)
        if intake.previous_key(digest, epoch, self.dedupe_window) in seen:
            return None
        return _received_row(values, intake.dedupe_key(digest, epoch, self.dedupe_window), now)

    def _store_part(self, connection: Connection, part: intake.PartArrived, bind_name: str, now: datetime) -> int | None:
        inserted = insert_unless_present(connection, mo_parts, {
            "source_addr": part.source, "destination_addr": part.destination, "reference": part.reference,
            "parts_total": part.total, "part_number": part.number, "body": part.body,
            "data_coding": part.data_coding, "bind_name": bind_name, "received_at": now,
            "dedupe_key": intake.dedupe_key(part.digest, now.timestamp(), self.dedupe_window),
        })
        if not inserted:
            return None
        rows = self._parts_of(connection, part.source, part.reference, part.total)
        if len({row.part_number for row in rows}) < part.total:
            return None
        return self._assemble(connection, rows, complete=True, now=now)

    def _parts_of(self, connection: Connection, source: str, reference: int, total: int):
        return connection.execute(
            select(mo_parts).where(
                mo_parts.c.source_addr == source, mo_parts.c.reference == reference, mo_parts.c.parts_total == total
            ).order_by(mo_parts.c.id)
        ).all()

    def _assemble(self, connection: Connection, rows, complete: bool, now: datetime) -> int | None:
        """Join stored parts into one message (reusing the reassembler's decoding) and clear them."""
        reassembler = Reassembler(timeout_seconds=1, on_timeout="process")
        message = None
        for row in rows:
            udh = bytes([0x05, 0x00, 0x03, row.reference & 0xFF, row.parts_total, row.part_number])
            message = reassembler.add(IncomingPart(row.source_addr, udh + row.body, row.data_coding, 0x40), 0.0) or message
        if message is None:
            [message] = reassembler.expire(float("inf"))
        connection.execute(delete(mo_parts).where(mo_parts.c.id.in_([row.id for row in rows])))
        first = rows[0]
        digest = f"parts:{first.source_addr}:{first.reference}:{first.parts_total}:{first.received_at.timestamp():.6f}"
        seen = self._stored_previous_keys(connection, [digest], now.timestamp())
        row = self._message_row(digest, now, {
            "kind": "sms", "source_addr": first.source_addr, "destination_addr": first.destination_addr,
            "text": message.text, "data_coding": first.data_coding, "bind_name": first.bind_name,
            "complete": complete,
        }, seen)
        return None if row is None else _INSERT_MESSAGE[connection.dialect.name].inserted_keys(connection, [row])[0]

    def expire_parts(self, connection: Connection, now: datetime) -> tuple[list[int], int]:
        """Settle messages whose parts stopped arriving: (ids of messages made, groups discarded)."""
        cutoff = now - self.reassembly_timeout
        groups = connection.execute(
            select(mo_parts.c.source_addr, mo_parts.c.reference, mo_parts.c.parts_total)
            .group_by(mo_parts.c.source_addr, mo_parts.c.reference, mo_parts.c.parts_total)
            .having(func.min(mo_parts.c.received_at) <= cutoff)
        ).all()
        made, discarded = [], 0
        for source, reference, total in groups:
            rows = self._parts_of(connection, source, reference, total)
            complete = len({row.part_number for row in rows}) == total
            if complete or self.on_incomplete == "process":
                message_id = self._assemble(connection, rows, complete=complete, now=now)
                if message_id is not None:
                    made.append(message_id)
            else:
                connection.execute(delete(mo_parts).where(mo_parts.c.id.in_([row.id for row in rows])))
                discarded += 1
        return made, discarded

    # ------------------------------------------------------------------ handling

    def claim(self, connection: Connection, node: str, limit: int) -> list[ReceivedMessage]:
        """The oldest `limit` received messages nobody claimed, now claimed by `node`, oldest first."""
        rows = _CLAIM[connection.dialect.name].rows(connection, {"node": node, "limit": limit})
        return [ReceivedMessage(*row) for row in sorted(rows)]  # RETURNING promises no order

    def mark_handled(self, connection: Connection, message_id: int, now: datetime) -> None:
        _MARK_HANDLED.run(connection, {"message_id": message_id, "at": now})

    def mark_handled_many(self, connection: Connection, handled: list[tuple[int, datetime]]) -> None:
        """`handled`: (message id, when) for a batch, in one executemany."""
        _MARK_HANDLED.run_many(connection, [{"message_id": message_id, "at": at} for message_id, at in handled])

    def mark_failed(self, connection: Connection, message_id: int, error: str, now: datetime) -> None:
        connection.execute(
            update(mo_messages).where(mo_messages.c.id == message_id)
            .values(state="failed", handled_at=now, error=error[:2000])
        )

    def release_claims(self, connection: Connection, node: str) -> int:
        """A node's claimed-but-unhandled messages go back to the pool (start-up after a crash)."""
        return connection.execute(
            update(mo_messages).where(mo_messages.c.state == "received", mo_messages.c.claimed_by == node)
            .values(claimed_by=None)
        ).rowcount
