"""Handling stored MO messages: claim, run the command rules, enqueue replies, mark handled.

A batch is claimed and handled in one transaction, together with the replies and state changes it
causes: a message is handled exactly once even with several engine nodes (claims use SKIP LOCKED on
PostgreSQL, and the claimed rows stay locked until the batch commits), and a crash mid-way leaves
the whole batch `received` for the next pass. One commit per batch, not per message, and one
savepoint, one reply insert and one handled update per batch, are what lets PostgreSQL keep up
(benchmarks/mo_latency.py). The dispatcher claims the batch's replies in that same transaction
(`Sender.claim_within`) rather than in one of its own, one commit fewer per batch: at 2,000
commands a second, the engine's cost is mostly per transaction (benchmarks/RESULTS.md, stop 12).
A handler may also do part of its work once per batch (`BatchHandler`: the SMS rules read and write
the senders' flood buckets in one statement each), over each run of messages of its kind.

If any message of the batch raises, the batch's savepoint is rolled back and the batch is handled
again with a SAVEPOINT per message, so a message that raises rolls back only its own. If the error is a collision with another
transaction (a unique key that another node inserted first, a deadlock), the message is handled
again on its own, in a transaction of its own, after the batch commits: it then sees the other
node's row. Any other error, or the same error twice, marks only that message failed, with the
error, and the worker moves on.

A batch is handled sender by sender (by number, each sender's messages in the order they came),
not in id order: the rules lock rows of the sender (its flood bucket, its subscriber row), and two
nodes each handling messages of the same two numbers in opposite orders deadlocked on PostgreSQL.
Each deadlock stalled a node for a second (PostgreSQL's deadlock_timeout) with its deliver_sm
unanswered, long enough for the SMSC to deliver them again (tests/e2e/test_two_nodes.py). Messages
of different senders in one batch arrived within moments of each other; either order is theirs.

Batches start at least `BATCH_SPACING` apart (group commit): a wake within that time of the last
batch's start waits for the rest of it, so what arrives meanwhile shares the batch. An idle worker
starts at once. At 2,000 commands a second with a receipt per reply, batches started on every wake
held 5 commands; 2 ms apart, the engine's CPU per command fell from 464-486 to 433-446 µs in
alternating runs, and the replies came sooner (benchmarks/RESULTS.md, stop 13). Longer spacing
saved little more and held the reactor longer per batch (5 ms: p99 70 ms against 52 ms). On a
slower box, where 2,000 commands a second kept the engine ~90% busy, 4 ms took 2-6% less CPU per
command than 2 ms in each of four alternating rounds, with a lower p99 in three, and at 2,500/s
answered 2,499 and 2,498 a second against 2,494 and 2,077; 6 ms saved no more and raised p50
(stop 15).
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import datetime, timezone
from itertools import groupby
from operator import attrgetter
from typing import Callable, ContextManager, Iterator, Protocol, runtime_checkable

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, OperationalError
from twisted.internet import task

from engine.smpp.dispatcher import Claim
from engine.smpp.inbox import Inbox, ReceivedMessage
from engine.smpp.outbox import OutgoingMessage, Outbox
from engine.store.held import Transactions

log = logging.getLogger(__name__)

# Errors that say another transaction got in the way (two nodes writing one row at once), not that
# the message or the rules are wrong: the message is worth one more try in a fresh transaction.
COLLISIONS = (IntegrityError, OperationalError)

BATCH_SPACING = 0.004
# At most this many messages a batch: a batch holds the reactor (no MO read, no answer written) for
# its whole length, ~0.3 ms a command. 200 held it ~60 ms, while an SMSC sending 2,000 MO and 2,000
# receipts a second through a window of 10 needs answers every 2.5 ms. Beyond a few dozen messages
# a batch's fixed costs are already amortised.
BATCH_LIMIT = 50


class MessageHandler(Protocol):
    def __call__(self, connection: Connection, message: ReceivedMessage, now: datetime) -> list[OutgoingMessage]: ...


@runtime_checkable
class BatchHandler(MessageHandler, Protocol):
    """A handler that does part of its work once for a batch of messages (the SMS rules read and
    write the senders' flood buckets so). `batch` gives the handler for each of `messages`, in the
    batch's transaction, and finishes the batch's work when its block ends without an error; a
    message that raises sends the batch to one savepoint per message, each with the plain handler."""

    def batch(self, connection: Connection, messages: list[ReceivedMessage]) -> ContextManager[MessageHandler]: ...


class Sender(Protocol):
    """Where replies go once enqueued: the MT dispatcher."""

    def claim_within(self, connection: Connection) -> Claim: ...
    def take(self, claim: Claim) -> None: ...
    def wake(self) -> None: ...


class _NoSender:
    """Replies stay queued for whatever sends the outbox (tests of the rules alone)."""

    def claim_within(self, connection: Connection) -> Claim:
        return Claim((), 0)

    def take(self, claim: Claim) -> None:
        pass

    def wake(self) -> None:
        pass


class MoWorker:
    def __init__(
        self, reactor, database: Transactions, inbox: Inbox, outbox: Outbox, handlers: dict[str, MessageHandler], node: str,
        *, sender: Sender | None = None, batch: int = BATCH_LIMIT, idle_poll: float = 0.25,
        utc_now: Callable[[], datetime] | None = None,
    ):
        self.reactor = reactor
        self.database = database
        self.inbox = inbox
        self.outbox = outbox
        self.handlers = handlers
        self.node = node
        self.sender = sender or _NoSender()
        self.batch = batch
        self.utc_now = utc_now or (lambda: datetime.fromtimestamp(reactor.seconds(), timezone.utc))
        self._poller = task.LoopingCall(self._one_batch_then_yield)
        self._poller.clock = reactor
        self.idle_poll = idle_poll
        self._scheduled = None
        self._last_batch_at = float("-inf")

    def start(self) -> None:
        with self.database.begin() as connection:
            self.inbox.release_claims(connection, self.node)
        self._poller.start(self.idle_poll, now=True)

    def stop(self) -> None:
        if self._poller.running:
            self._poller.stop()
        if self._scheduled is not None and self._scheduled.active():
            self._scheduled.cancel()
        self._scheduled = None

    def wake(self, _ids=None) -> None:
        if self._poller.running and self._scheduled is None:
            wait = self._last_batch_at + BATCH_SPACING - self.reactor.seconds()
            self._scheduled = self.reactor.callLater(max(0.0, wait), self._wake_now)

    def _wake_now(self) -> None:
        self._scheduled = None
        self._one_batch_then_yield()

    def _one_batch_then_yield(self) -> None:
        """One batch, then back to the reactor: with more waiting, the next batch comes after the
        links have read and answered what arrived meanwhile. Draining a backlog batch after batch
        left the SMSC's deliver_sm and enquire_link unanswered for as long (seconds, for the backlog
        of an outage)."""
        try:
            handled = self._one_batch()
        except Exception:
            # The database itself failed (gone, locked past its timeout): the batch rolled back and
            # its messages stay `received`. Raised into the poller, this stopped it for good and the
            # engine handled nothing more until restarted; the next poll tries again instead.
            log.exception("MO batch failed; the messages stay received and the next poll (in %s s) tries again",
                          self.idle_poll)
            return
        if handled >= self.batch:
            self.wake()

    def work(self) -> int:
        """Handle everything waiting now, batch after batch; returns how many messages were handled."""
        done = 0
        while True:
            handled = self._one_batch()
            done += handled
            if handled < self.batch:
                return done  # that was everything waiting; a new arrival wakes us again

    def _one_batch(self) -> int:
        again: list[ReceivedMessage] = []
        sending = None
        started = self.reactor.seconds()
        with self.database.begin() as connection:
            claimed = self.inbox.claim(connection, self.node, self.batch)
            if claimed:
                self._last_batch_at = started
                if not self._handle_batch(connection, claimed):
                    again = self._handle_each(connection, claimed)
                sending = self.sender.claim_within(connection)
        if sending is not None:
            self.sender.take(sending)
        for message in again:
            self._handle_alone(message)
        if again:
            self.sender.wake()
        return len(claimed)

    def _handle_batch(self, connection: Connection, claimed: list[ReceivedMessage]) -> bool:
        """The fast way: the whole batch in one savepoint, its replies in one insert and its marks in
        one update. False (and nothing changed) if any message raised: then `_handle_each`."""
        try:
            with connection.begin_nested():
                replies, handled = [], []
                for kind, messages in _runs_of_one_kind(_in_lock_order(claimed)):
                    with self._batch_handler(connection, kind, messages) as rules:
                        for message in messages:
                            now = self.utc_now()
                            replies.append((rules(connection, message, now), now))
                            handled.append((message.id, now))
                self.outbox.enqueue_each(connection, replies)
                self.inbox.mark_handled_many(connection, handled)
            return True
        except Exception:
            return False

    def _handle_each(self, connection: Connection, claimed: list[ReceivedMessage]) -> list[ReceivedMessage]:
        """One savepoint per message, so a message that raises changes nothing but its own state.
        Returns the messages that collided with another transaction, for `_handle_alone`."""
        failed: list[tuple[ReceivedMessage, datetime, Exception]] = []
        again: list[ReceivedMessage] = []
        for message in _in_lock_order(claimed):
            now = self.utc_now()
            try:
                with connection.begin_nested():
                    self._handle(connection, message, now)
            except COLLISIONS as error:
                log.info("message %d collided with another transaction (%s); handling it again on its own",
                         message.id, type(error.orig).__name__ if error.orig is not None else type(error).__name__)
                again.append(message)
            except Exception as error:
                failed.append((message, now, error))
        for message, now, error in failed:
            self._mark_failed(connection, message, now, error)
        return again

    def _handler(self, kind: str) -> MessageHandler:
        handler = self.handlers.get(kind)
        if handler is None:
            raise LookupError(f"no handler for {kind} messages")
        return handler

    def _batch_handler(self, connection: Connection, kind: str,
                       messages: list[ReceivedMessage]) -> ContextManager[MessageHandler]:
        handler = self._handler(kind)
        if isinstance(handler, BatchHandler):
            return handler.batch(connection, messages)
        return nullcontext(handler)

    def _rules(self, connection: Connection, message: ReceivedMessage, now: datetime) -> list[OutgoingMessage]:
        return self._handler(message.kind)(connection, message, now)

    def _handle(self, connection: Connection, message: ReceivedMessage, now: datetime) -> None:
        self.outbox.enqueue(connection, self._rules(connection, message, now), now)
        self.inbox.mark_handled(connection, message.id, now)

    def _handle_alone(self, message: ReceivedMessage) -> None:
        """The second try of a message that collided with another transaction, in its own."""
        now = self.utc_now()
        try:
            with self.database.begin() as connection:
                self._handle(connection, message, now)
        except Exception as error:
            with self.database.begin() as connection:
                self._mark_failed(connection, message, now, error)

    def _mark_failed(self, connection: Connection, message: ReceivedMessage, now: datetime, error: Exception) -> None:
        log.error("message %d from %s could not be handled", message.id, message.source,
                  exc_info=(type(error), error, error.__traceback__))
        self.inbox.mark_failed(connection, message.id, f"{type(error).__name__}: {error}", now)


def _runs_of_one_kind(messages: list[ReceivedMessage]) -> Iterator[tuple[str, list[ReceivedMessage]]]:
    """Consecutive messages of one kind, in the order given (the lock order is kept)."""
    for kind, run in groupby(messages, key=attrgetter("kind")):
        yield kind, list(run)


def _in_lock_order(claimed: list[ReceivedMessage]) -> list[ReceivedMessage]:
    """By sender, then as they came: every node takes a batch's per-sender locks in one order."""
    return sorted(claimed, key=lambda message: (message.source, message.id))
