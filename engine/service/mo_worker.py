"""Handling stored MO messages: claim, run the command rules, enqueue replies, mark handled.

Each message is handled in its own transaction together with the replies and state changes it
causes, so a message is handled exactly once even with several engine nodes (claims use SKIP
LOCKED on PostgreSQL) and a crash mid-way leaves it `received` for the next pass. A handler that
raises marks only that message failed, with the error, and the worker moves on.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable, Protocol

from sqlalchemy import Connection, Engine
from twisted.internet import task

from engine.smpp.inbox import Inbox, ReceivedMessage
from engine.smpp.outbox import OutgoingMessage, Outbox

log = logging.getLogger(__name__)


class MessageHandler(Protocol):
    def __call__(self, connection: Connection, message: ReceivedMessage, now: datetime) -> list[OutgoingMessage]: ...


class MoWorker:
    def __init__(
        self, reactor, database: Engine, inbox: Inbox, outbox: Outbox, handlers: dict[str, MessageHandler], node: str,
        *, on_enqueued: Callable[[], None] = lambda: None, batch: int = 200, idle_poll: float = 0.25,
        utc_now: Callable[[], datetime] | None = None,
    ):
        self.reactor = reactor
        self.database = database
        self.inbox = inbox
        self.outbox = outbox
        self.handlers = handlers
        self.node = node
        self.on_enqueued = on_enqueued
        self.batch = batch
        self.utc_now = utc_now or (lambda: datetime.fromtimestamp(reactor.seconds(), timezone.utc))
        self.handled = 0
        self._poller = task.LoopingCall(self.work)
        self._poller.clock = reactor
        self.idle_poll = idle_poll
        self._scheduled = None

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
            self._scheduled = self.reactor.callLater(0, self._wake_now)

    def _wake_now(self) -> None:
        self._scheduled = None
        self.work()

    def work(self) -> int:
        """Handle everything waiting now; returns how many messages were handled."""
        done = 0
        while True:
            with self.database.begin() as connection:
                claimed = self.inbox.claim(connection, self.node, self.batch)
            if not claimed:
                break
            for message in claimed:
                self._handle(message)
                done += 1
            self.on_enqueued()
            if len(claimed) < self.batch:
                break  # that was everything waiting; a new arrival wakes us again
        self.handled += done
        return done

    def _handle(self, message: ReceivedMessage) -> None:
        now = self.utc_now()
        handler = self.handlers.get(message.kind)
        try:
            with self.database.begin() as connection:
                if handler is None:
                    raise LookupError(f"no handler for {message.kind} messages")
                replies = handler(connection, message, now)
                self.outbox.enqueue(connection, replies, now)
                self.inbox.mark_handled(connection, message.id, now)
        except Exception as error:
            log.exception("message %d from %s could not be handled", message.id, message.source)
            with self.database.begin() as connection:
                self.inbox.mark_failed(connection, message.id, f"{type(error).__name__}: {error}", now)
