"""The MT outbox: every message to a phone is a stored row before it is sent.

A message becomes one row per SMS part at enqueue time, already encoded and segmented, so the send
path only reads bytes and builds a submit_sm. A part's life:

    queued --claim--> sending --submit_sm_resp OK--> submitted --receipt--> delivered | undeliverable
                                                                                 | expired | rejected
                         \\--transient error, timeout, lost bind--> queued (later, attempts + 1)
                         \\--permanent error--> failed (status recorded)

`sending` is the claim of one engine node (`claimed_by`): the row is on its way to the SMSC. At
start-up a node puts its own `sending` rows back to `queued`, so messages in flight when it stopped
or crashed are sent again (delivery is at least once; the SMSC may have accepted some). Claims use
`FOR UPDATE SKIP LOCKED` on PostgreSQL so that two nodes never take the same row.

Receipts are stored first (their own table, acknowledged to the SMSC only after that) and then
matched to parts by SMSC message id; a receipt that outruns the submit_sm_resp's bookkeeping, or
reaches another node, stays unmatched until the next pass.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta
from typing import Iterable, NamedTuple

from sqlalchemy import Connection, Integer, bindparam, case, func, literal_column, or_, select, text, update

from engine.smpp.receipts import message_id_variants
from engine.smpp.encoding import encode_text
from engine.smpp.segmentation import Part, SegmentedMessage, split_message
from engine.store.chunks import chunks
from engine.store.prepared import Prepared
from engine.store.schema import QUEUED_WITHDRAWABLE, delivery_receipts, mt_messages

MESSAGE_CLASSES = ("reply", "fanout", "dm", "notice", "ussd")

# A receipt comes before its part is recorded as submitted only by the write-behind's milliseconds:
# one still unmatched after this is for a message we do not hold as submitted (a receipt sent twice,
# an id from before a restart re-sent the part). It stays in the table, unapplied, for audit, but is
# no longer matched again on every pass and every arriving receipt.
RECEIPT_MATCH_HORIZON = timedelta(hours=1)
_IDS_PER_STATEMENT = 500  # part ids or message ids in one IN list


class OutgoingMessage(NamedTuple):
    """A message the engine wants a phone to receive. `not_before` holds it (quiet hours)."""

    destination: str
    text: str
    message_class: str = "reply"
    not_before: datetime | None = None
    reply_to_mo_id: int | None = None
    ussd_service_op: int | None = None
    its_session_info: int | None = None
    user_message_reference: int | None = None  # a USSD reply echoes the indication's (gateways match by it)


class ClaimedPart(NamedTuple):
    id: int
    destination: str
    source: str
    short_message: bytes
    data_coding: int
    esm_class: int
    group_ref: int | None
    part_number: int
    parts_total: int
    in_message_payload: bool
    ussd_service_op: int | None
    its_session_info: int | None
    attempts: int
    user_message_reference: int | None = None

    def submit_params(self) -> dict:
        """The submit_sm fields for this part, in the codec's representation."""
        params = {
            "source_addr_ton": 0 if self.source.isdigit() and len(self.source) <= 8 else 1,
            "source_addr_npi": 1,
            "source_addr": self.source.lstrip("+"),
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "destination_addr": self.destination.lstrip("+"),
            "esm_class": self.esm_class,
            "registered_delivery": 1,
            "data_coding": self.data_coding,
        }
        if self.in_message_payload:
            params["short_message"] = b""
            params["message_payload"] = self.short_message
        else:
            params["short_message"] = self.short_message
        if self.parts_total > 1 and not self.esm_class & 0x40 and not self.in_message_payload:
            params["sar_msg_ref_num"] = self.group_ref
            params["sar_total_segments"] = self.parts_total
            params["sar_segment_seqnum"] = self.part_number
        if self.ussd_service_op is not None:
            params["ussd_service_op"] = self.ussd_service_op
            # USSD screens are not stored and forwarded: no receipt is wanted for them.
            params["registered_delivery"] = 0
        if self.its_session_info is not None:
            params["its_session_info"] = self.its_session_info
        if self.user_message_reference is not None:
            params["user_message_reference"] = self.user_message_reference
        return params


_CLAIMED_COLUMNS = (
    mt_messages.c.id,
    mt_messages.c.destination_addr,
    mt_messages.c.source_addr,
    mt_messages.c.short_message,
    mt_messages.c.data_coding,
    mt_messages.c.esm_class,
    mt_messages.c.group_ref,
    mt_messages.c.part_number,
    mt_messages.c.parts_total,
    mt_messages.c.in_message_payload,
    mt_messages.c.ussd_service_op,
    mt_messages.c.its_session_info,
    mt_messages.c.attempts,
    mt_messages.c.user_message_reference,
)


# The statements of every message, built once and run on the driver's cursor
# (engine/store/prepared.py): SQLAlchemy's per-execute bookkeeping cost more than the database took
# to run them (benchmarks/mo_commands.py, benchmarks/fanout.py).
PART_COLUMNS = (
    "destination_addr", "source_addr", "text", "message_class", "group_ref", "part_number", "parts_total",
    "short_message", "in_message_payload", "data_coding", "esm_class", "state", "not_before", "attempts",
    "reply_to_mo_id", "ussd_service_op", "its_session_info", "user_message_reference", "created_at",
)
"""The keys of a part's row (`rows_for`): the columns `INSERT_PART` writes, so a key missing here
would not be stored (tests/integration/smpp/test_outbox_store.py keeps the two equal)."""
INSERT_PART = Prepared(mt_messages.insert(), keys=PART_COLUMNS)


def _state_is(*states: str):
    """mt_messages.state is one of `states`, written into the SQL, not bound. Compared with a bound
    value, the state made SQLite weigh the partial index of queued posts and DMs (whose condition
    names the state) against each value bound, preparing the statement again at every execution:
    a claim and the record of its answers took 355 µs instead of 207 (benchmarks/RESULTS.md, stop 16)."""
    return or_(*(mt_messages.c.state == literal_column(f"'{state}'") for state in states))


def _unclaim(connection: Connection, *which) -> int:
    """The claimed (`sending`) parts that match `which` back in the queue, unclaimed, their attempts
    as they were; returns how many."""
    return connection.execute(
        update(mt_messages).where(_state_is("sending"), *which).values(state="queued", claimed_by=None)).rowcount


def _claim(for_update: bool) -> Prepared:
    """Claim the first `limit` parts due at `now` for `node`, by when they were due and then as they
    were made, and return them, in one statement. That order is the index's (state, not_before,
    id), so the claim reads only the rows it takes: ordered by id alone, each claim sorted every
    due part first, 14 ms a claim with 100,000 queued (benchmarks/RESULTS.md, stop 15)."""
    due = (
        select(mt_messages.c.id)
        .where(_state_is("queued"), mt_messages.c.not_before <= bindparam("now"))
        .order_by(mt_messages.c.not_before, mt_messages.c.id)
        .limit(bindparam("limit", type_=Integer))
    )
    if for_update:
        due = due.with_for_update(skip_locked=True)
    return Prepared(update(mt_messages).where(mt_messages.c.id.in_(due.scalar_subquery()))
                    .values(state="sending", claimed_by=bindparam("node"), claimed_at=bindparam("now"))
                    .returning(*_CLAIMED_COLUMNS))


_CLAIM = {"sqlite": _claim(False), "postgresql": _claim(True)}
_receipt = delivery_receipts.c
_INSERT_RECEIPT = Prepared(delivery_receipts.insert(),
                           keys=("smsc_message_id", "final_state", "error", "done_at", "received_at", "applied"))
_PENDING_RECEIPTS = Prepared(
    select(_receipt.id, _receipt.smsc_message_id, _receipt.final_state, _receipt.error, _receipt.done_at)
    .where(_receipt.applied == False, _receipt.received_at >= bindparam("since"))  # noqa: E712
    .order_by(_receipt.id))
# By message id alone, so that the only index the planner can take is the message id's: with the
# state in the WHERE too, SQLite walked the state index over every submitted part.
_PARTS_BY_MESSAGE_ID = Prepared(select(mt_messages.c.id, mt_messages.c.smsc_message_id, mt_messages.c.state).where(
    mt_messages.c.smsc_message_id.in_(bindparam("message_ids", expanding=True))))
# A part finished by its receipt, by primary key. A receipt matched on arrival (`Outbox.finish_parts`)
# may come before the dispatcher's write-behind has recorded its submit_sm_resp, so `sending` is
# finished too, and `_MARK_SUBMITTED` then leaves the final state as it is.
_FINISH_PART = Prepared(
    update(mt_messages)
    .where(mt_messages.c.id == bindparam("part_id"),
           _state_is("sending", "submitted"))
    .values(state=bindparam("final_state"), error=bindparam("error"), done_at=bindparam("done_at")))
_MARK_APPLIED = Prepared(update(delivery_receipts).where(_receipt.id == bindparam("receipt_id")).values(applied=True))
_MARK_SUBMITTED = Prepared(
    update(mt_messages)
    .where(mt_messages.c.id == bindparam("part_id"))
    .values(state=case((mt_messages.c.state == "sending", "submitted"), else_=mt_messages.c.state),
            smsc_message_id=bindparam("message_id"), bind_name=bindparam("bind"),
            submitted_at=bindparam("now"), attempts=mt_messages.c.attempts + 1, claimed_by=None)
)


def _ussd_screen(text: str, prefer: str) -> SegmentedMessage:
    """A USSD screen is one short_message, never concatenated SMS parts: up to 182 GSM septets
    (one per octet in short_message) or 80 UCS-2 units; the menu keeps every screen within that."""
    encoded = encode_text(text, prefer)
    return SegmentedMessage(encoded.data_coding, (Part(encoded.payload),))


class Outbox:
    def __init__(self, source_addr: str, long_messages: str = "udh", prefer: str = "gsm"):
        self.source_addr = source_addr
        self.long_messages = long_messages
        self.prefer = prefer
        self._references = itertools.cycle(range(1, 256))

    # ------------------------------------------------------------------ enqueue

    def enqueue(self, connection: Connection, messages: Iterable[OutgoingMessage], now: datetime) -> int:
        """Store messages as queued parts, in one bulk insert; returns the number of parts."""
        rows = self.rows_for(messages, now)
        INSERT_PART.run_many(connection, rows)
        return len(rows)

    def enqueue_each(self, connection: Connection, batches: Iterable[tuple[Iterable[OutgoingMessage], datetime]]) -> int:
        """`enqueue` for several (messages, now) pairs, in one bulk insert; returns the number of parts."""
        rows = [row for messages, now in batches for row in self.rows_for(messages, now)]
        INSERT_PART.run_many(connection, rows)
        return len(rows)

    def rows_for(self, messages: Iterable[OutgoingMessage], now: datetime) -> list[dict]:
        """Encode and segment each distinct text once: a fan-out repeats one text to many phones."""
        segmented_texts: dict[tuple[str, bool], tuple[int | None, SegmentedMessage]] = {}
        rows = []
        for message in messages:
            if message.message_class not in MESSAGE_CLASSES:
                raise ValueError(f"unknown message class {message.message_class!r} (expected one of {MESSAGE_CLASSES})")
            ussd = message.message_class == "ussd"
            entry = segmented_texts.get((message.text, ussd))
            if entry is None:
                if ussd:
                    entry = (None, _ussd_screen(message.text, self.prefer))
                else:
                    reference = next(self._references)
                    entry = (reference, split_message(message.text, reference=reference, mode=self.long_messages,
                                                      prefer=self.prefer))
                segmented_texts[(message.text, ussd)] = entry
            reference, segmented = entry
            total = len(segmented.parts)
            for number, part in enumerate(segmented.parts, start=1):
                payload = part.tlvs.get("message_payload")
                rows.append(
                    {
                        "destination_addr": message.destination,
                        "source_addr": self.source_addr,
                        "text": message.text,
                        "message_class": message.message_class,
                        "group_ref": reference if total > 1 else None,
                        "part_number": number,
                        "parts_total": total,
                        "short_message": payload if payload is not None else part.short_message,
                        "in_message_payload": payload is not None,
                        "data_coding": segmented.data_coding,
                        "esm_class": part.esm_class_flags,
                        "state": "queued",
                        "not_before": message.not_before or now,
                        "attempts": 0,
                        "reply_to_mo_id": message.reply_to_mo_id,
                        "ussd_service_op": message.ussd_service_op,
                        "its_session_info": message.its_session_info,
                        "user_message_reference": message.user_message_reference,
                        "created_at": now,
                    }
                )
        return rows

    # ------------------------------------------------------------------ send path

    def claim(self, connection: Connection, node: str, limit: int, now: datetime) -> list[ClaimedPart]:
        """Take up to `limit` due parts for this node, the longest due first (then as made)."""
        rows = _CLAIM[connection.dialect.name].rows(connection, {"node": node, "limit": limit, "now": now})
        return [ClaimedPart(*row) for row in sorted(rows)]  # RETURNING promises no order

    def mark_submitted(self, connection: Connection, accepted: list[tuple[int, str, str]], now: datetime) -> None:
        """`accepted`: (part id, SMSC message id, bind name) for each submit_sm_resp OK."""
        _MARK_SUBMITTED.run_many(connection, [{"part_id": part_id, "message_id": message_id, "bind": bind, "now": now}
                                              for part_id, message_id, bind in accepted])

    def retry_later(self, connection: Connection, retries: list[tuple[int, int | None, str, datetime]]) -> None:
        """`retries`: (part id, SMPP status or None, reason, when to try again)."""
        if not retries:
            return
        connection.execute(
            update(mt_messages)
            .where(mt_messages.c.id == bindparam("part_id"))
            .values(
                state="queued",
                not_before=bindparam("retry_at"),
                last_status=bindparam("status"),
                error=bindparam("reason"),
                attempts=mt_messages.c.attempts + 1,
                claimed_by=None,
            ),
            [
                {"part_id": part_id, "status": status, "reason": reason, "retry_at": retry_at}
                for part_id, status, reason, retry_at in retries
            ],
        )

    def mark_failed(self, connection: Connection, failures: list[tuple[int, int | None, str]], now: datetime) -> None:
        """`failures`: (part id, SMPP status, reason) for errors that retrying cannot fix."""
        if not failures:
            return
        connection.execute(
            update(mt_messages)
            .where(mt_messages.c.id == bindparam("part_id"))
            .values(
                state="failed",
                last_status=bindparam("status"),
                error=bindparam("reason"),
                attempts=mt_messages.c.attempts + 1,
                done_at=now,
                claimed_by=None,
            ),
            [{"part_id": part_id, "status": status, "reason": reason} for part_id, status, reason in failures],
        )

    def release_claims(self, connection: Connection, node: str) -> int:
        """Put this node's in-flight parts back in the queue (start-up, lost bind, shutdown)."""
        return _unclaim(connection, mt_messages.c.claimed_by == node)

    def release_parts(self, connection: Connection, part_ids: list[int]) -> int:
        """Put these claimed parts back in the queue as they were: this node took them and can no
        longer send them (its last bind went down)."""
        return sum(_unclaim(connection, mt_messages.c.id.in_(chunk)) for chunk in chunks(part_ids, _IDS_PER_STATEMENT))

    def renew_claims(self, connection: Connection, node: str, part_ids: list[int], now: datetime) -> None:
        """This node still holds these parts: their claims start again from `now`, so no other node
        takes them for a dead node's (`release_stale_claims`)."""
        for chunk in chunks(part_ids, _IDS_PER_STATEMENT):
            connection.execute(
                update(mt_messages)
                .where(mt_messages.c.id.in_(chunk), mt_messages.c.claimed_by == node, _state_is("sending"))
                .values(claimed_at=now))

    def release_stale_claims(self, connection: Connection, node: str, claimed_before: datetime) -> int:
        """Put back in the queue the parts other nodes claimed before `claimed_before` and never
        answered for: their node died, and would have released them only when it started again
        under the same name. This node's own claims are its dispatcher's to settle."""
        return _unclaim(connection, mt_messages.c.claimed_at < claimed_before, mt_messages.c.claimed_by != node)

    def withdraw(self, connection: Connection, destination: str, reason: str, now: datetime) -> int:
        """Take back the posts and direct messages (`WITHDRAWABLE_CLASSES`) still queued for
        `destination`, held for quiet hours or waiting their turn: they end `withdrawn`, with
        `reason`, and are never sent. A part a node has already claimed (`sending`) is past recall,
        and so is the rest of its long message: withdrawn, the parts left would reach the phone
        as a message that never completes. Returns how many parts were withdrawn."""
        waiting = connection.execute(
            select(mt_messages.c.id, mt_messages.c.group_ref, mt_messages.c.created_at, mt_messages.c.parts_total)
            # The partial index's own condition, as literals: PostgreSQL's generic plan of a
            # prepared statement cannot use a partial index for a parameter's value.
            .where(mt_messages.c.destination_addr == destination, text(QUEUED_WITHDRAWABLE))
        ).all()
        queued_parts = Counter((group, created) for _id, group, created, _total in waiting if group is not None)
        whole = [part_id for part_id, group, created, total in waiting
                 if group is None or queued_parts[group, created] == total]
        return sum(connection.execute(update(mt_messages)
                                      .where(mt_messages.c.id.in_(chunk), _state_is("queued"))
                                      .values(state="withdrawn", error=reason, done_at=now)).rowcount
                   for chunk in chunks(whole, _IDS_PER_STATEMENT))

    # ------------------------------------------------------------------ receipts

    def store_receipts(self, connection: Connection,
                       receipts: list[tuple[str, str | None, str | None, datetime | None]], now: datetime) -> None:
        """`receipts`: (SMSC message id, final state or None, error, done at) of one batch, in one executemany."""
        _INSERT_RECEIPT.run_many(connection, [
            {"smsc_message_id": message_id, "final_state": final_state, "error": error, "done_at": done_at,
             "received_at": now, "applied": False}
            for message_id, final_state, error, done_at in receipts])

    def finish_parts(self, connection: Connection, finished: list[tuple[int, str, str | None, datetime]]) -> None:
        """`finished`: (part id, final state, error, done at) of receipts matched on arrival to parts
        this node submitted (`MtDispatcher.part_for_receipt`), in one executemany by primary key."""
        _FINISH_PART.run_many(connection, [
            {"part_id": part_id, "final_state": final_state, "error": error, "done_at": done_at}
            for part_id, final_state, error, done_at in finished])

    def apply_receipts(self, connection: Connection, now: datetime) -> int:
        """Match stored receipts (of the last `RECEIPT_MATCH_HORIZON`) to submitted parts; returns how
        many parts reached a final state. The parts are found by SMSC message id in one query per
        500 ids and finished by primary key: an UPDATE by message id and state, per receipt, let
        SQLite walk the state index over every submitted part (730 µs a receipt and growing, at
        2,000 receipts a second)."""
        pending = _PENDING_RECEIPTS.rows(connection, {"since": now - RECEIPT_MATCH_HORIZON})
        variants = {receipt_id: message_id_variants(message_id)
                    for receipt_id, message_id, final_state, _error, _done_at in pending if final_state is not None}
        wanted = sorted({variant for spellings in variants.values() for variant in spellings})
        parts: dict[str, list[int]] = {}
        for chunk in chunks(wanted, _IDS_PER_STATEMENT):
            for part_id, message_id, state in _PARTS_BY_MESSAGE_ID.rows(connection, {"message_ids": chunk}):
                if state == "submitted":
                    parts.setdefault(message_id, []).append(part_id)
        finished = 0
        applied = []
        for receipt_id, _message_id, final_state, error, done_at in pending:
            if final_state is None:
                applied.append(receipt_id)  # an intermediate state (enroute, accepted): nothing to change
                continue
            changed = sum(
                _FINISH_PART.run(connection, {"part_id": part_id, "final_state": final_state, "error": error,
                                              "done_at": done_at or now})
                for spelling in variants[receipt_id] for part_id in parts.get(spelling, ()))
            if changed:  # none: the part is not submitted (yet, or any more): kept for a later pass
                finished += changed
                applied.append(receipt_id)
        _MARK_APPLIED.run_many(connection, [{"receipt_id": receipt_id} for receipt_id in applied])
        return finished

    # ------------------------------------------------------------------ observation

    def depth(self, connection: Connection, now: datetime | None = None,
              receipt_horizon: timedelta = timedelta(hours=48)) -> dict[str, int]:
        """Parts waiting: queued, being sent, and submitted SMS still awaiting their receipt. USSD
        screens get no receipt, and a receipt not back after `receipt_horizon` will not come, so
        neither counts as waiting."""
        awaiting_receipt = _state_is("submitted") & (mt_messages.c.message_class != "ussd")
        if now is not None:
            awaiting_receipt &= mt_messages.c.submitted_at >= now - receipt_horizon
        rows = connection.execute(
            select(mt_messages.c.state, func.count())
            .where(_state_is("queued", "sending") | awaiting_receipt)
            .group_by(mt_messages.c.state)
        )
        counts = {"queued": 0, "sending": 0, "submitted": 0}
        counts.update({state: count for state, count in rows})
        return counts

    def next_due(self, connection: Connection) -> datetime | None:
        return connection.execute(
            select(func.min(mt_messages.c.not_before)).where(_state_is("queued"))
        ).scalar()

