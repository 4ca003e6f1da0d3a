"""The whole engine in one place: what `tpo run` starts, in the order data flows.

    SMSC --deliver_sm--> BindLink --> MoReceiver (store, then ack) --> MoWorker (rules) --> Outbox
    Outbox --> MtDispatcher (claim, spread over binds) --> BindLink --submit_sm--> SMSC
    host folders --> inbound files (hostnet, usage) ;  scheduler --> periodic jobs ; HTTP --> metrics

Each part is built from the validated config; `parts` that a later issue adds (the bill run, the
donation split) are one more entry in `extra_jobs` or `folder_pollers`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import Engine
from twisted.internet import defer, task, threads

from engine.config.loader import Config
from engine.service.metrics import EngineMetrics
from engine.service.mo_worker import MessageHandler, MoWorker
from engine.service.scheduling import IntervalJob, build_scheduler
from engine.smpp.dispatcher import MtDispatcher, RetryPolicy
from engine.smpp.inbox import Inbox
from engine.smpp.link import BindLink
from engine.smpp.outbox import Outbox
from engine.smpp.receiver import MoReceiver
from engine.store.held import HeldConnection

log = logging.getLogger(__name__)


class LinkEvents:
    """One listener per link: the MT events go to the dispatcher, the MO events to the receiver."""

    def __init__(self, dispatcher: MtDispatcher, receiver: MoReceiver):
        self.dispatcher = dispatcher
        self.receiver = receiver

    def link_bound(self, link):
        self.dispatcher.link_bound(link)

    def link_lost(self, link, outstanding_refs, reason):
        self.dispatcher.link_lost(link, outstanding_refs, reason)
        self.receiver.link_lost(link)

    def submit_accepted(self, link, ref, message_id):
        self.dispatcher.submit_accepted(link, ref, message_id)

    def submit_rejected(self, link, ref, status):
        self.dispatcher.submit_rejected(link, ref, status)

    def submit_timed_out(self, link, ref):
        self.dispatcher.submit_timed_out(link, ref)

    def message_received(self, link, event):
        self.receiver.message_received(link, event)

    def end_of_read(self, link):
        self.receiver.flush()


@dataclass
class FolderPoller:
    name: str
    poll: Callable[[], object]


@dataclass
class EngineParts:
    handlers: dict[str, MessageHandler]
    folder_pollers: list[FolderPoller] = field(default_factory=list)
    extra_jobs: list[IntervalJob] = field(default_factory=list)
    # Refreshed on every node (not only the scheduling one): each node exports its own metrics.
    gauges: list[Callable[[], None]] = field(default_factory=list)


class EngineService:
    def __init__(self, reactor, config: Config, database: Engine,
                 parts: EngineParts | Callable[["EngineService"], EngineParts], metrics: EngineMetrics | None = None):
        """`parts` may be a function of the service: handlers need the service's one outbox."""
        self.reactor = reactor
        self.config = config
        self.database = database
        self.metrics = metrics or EngineMetrics()
        engine = config.engine
        self.node = engine.node_name
        self.utc_now = lambda: datetime.fromtimestamp(reactor.seconds(), timezone.utc)
        self.outbox = Outbox(engine.operator.short_code, engine.smpp.long_messages,
                             "ucs2" if engine.smpp.default_data_coding == "ucs2-only" else "gsm")
        smpp = engine.smpp
        self.inbox = Inbox(smpp.dedupe_window_seconds, smpp.reassembly_timeout_seconds, smpp.incomplete_messages)
        if callable(parts):
            parts = parts(self)
        retry = RetryPolicy(smpp.retry_first_seconds, smpp.retry_max_seconds, smpp.retry_max_attempts,
                            smpp.throttle_pause_seconds)
        # The three that run a transaction at every MO and MT share one kept connection: their
        # transactions follow one another on the reactor thread (engine/store/held.py).
        self.hot_transactions = HeldConnection(database)
        self.dispatcher = MtDispatcher(reactor, self.hot_transactions, self.outbox, self.node, retry=retry, metrics=self.metrics,
                                       utc_now=self.utc_now, claim_lease_seconds=smpp.claim_lease_seconds)
        self.worker = MoWorker(reactor, self.hot_transactions, self.inbox, self.outbox, parts.handlers, self.node,
                               sender=self.dispatcher, utc_now=self.utc_now)
        self.receiver = MoReceiver(reactor, self.hot_transactions, self.inbox, self.outbox, before_receipts=self.dispatcher.flush,
                                   part_for_receipt=self.dispatcher.part_for_receipt,
                                   on_messages=self.worker.wake, metrics=self.metrics, utc_now=self.utc_now)
        listener = LinkEvents(self.dispatcher, self.receiver)
        self.links: list[BindLink] = []
        if engine.smpp.enabled:
            for bind in engine.smpp.binds:
                if bind.mode == "transceiver":
                    self.links.append(BindLink(reactor, bind, listener))
                else:
                    self.links.append(BindLink(reactor, bind, listener, mode="transmitter", name=f"{bind.name}-tx"))
                    self.links.append(BindLink(reactor, bind, listener, mode="receiver", name=f"{bind.name}-rx"))
        for link in self.links:
            self.dispatcher.add_link(link)
        self.folder_pollers = parts.folder_pollers
        self._folder_loop = task.LoopingCall(self.poll_folders)
        self._folder_loop.clock = reactor
        self.jobs = self._standard_jobs() + parts.extra_jobs
        self.gauges = [self.refresh_gauges, *parts.gauges]
        self._gauge_loop = task.LoopingCall(self._refresh_gauges_off_the_reactor)
        self._gauge_loop.clock = reactor
        self._gauge_refresh: defer.Deferred | None = None
        self.scheduler = None
        self.http_port = None
        self.running = False

    # ------------------------------------------------------------------ jobs

    def _standard_jobs(self) -> list[IntervalJob]:
        return [
            IntervalJob("mo-parts-expiry", 10, self.expire_mo_parts, "settle long messages whose parts stopped coming"),
            IntervalJob("receipts", 30, self.receiver.apply_receipts, "match receipts that arrived before their answer"),
        ]

    def expire_mo_parts(self) -> None:
        with self.database.begin() as connection:
            made, _discarded = self.inbox.expire_parts(connection, self.utc_now())
        if made:
            self.worker.wake()

    def refresh_gauges(self) -> None:
        with self.database.connect() as connection:
            for state, count in self.outbox.depth(connection, self.utc_now()).items():
                self.metrics.outbox_depth.labels(state=state).set(count)

    def _refresh_gauges_off_the_reactor(self) -> defer.Deferred:
        """The gauges' counts run in a thread of the reactor's pool, on connections of their own.
        The outbox depth counts every part submitted in the last 48 hours: 65-75 ms at 130,000, and
        on the reactor thread that stalled every MO and answer each 5 s, longer as traffic grows
        (benchmarks/RESULTS.md, stop 16). The loop waits for one refresh before the next."""
        self._gauge_refresh = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                                        self._refresh_all_gauges)
        return self._gauge_refresh

    def _refresh_all_gauges(self) -> None:
        for refresh in self.gauges:
            try:
                refresh()
            except Exception:
                log.exception("refreshing a gauge failed; will try again")

    def poll_folders(self) -> None:
        for poller in self.folder_pollers:
            try:
                poller.poll()
            except Exception:
                log.exception("polling %s failed; will try again", poller.name)

    # ------------------------------------------------------------------ lifecycle

    def health(self) -> dict:
        bound = [link.name for link in self.links if link.is_bound]
        status = "ok" if self.running and (bound or not self.links) else "degraded"
        return {"status": status, "node": self.node, "binds_up": bound, "binds": [link.name for link in self.links]}

    def start(self, listen_http: bool = True) -> None:
        engine = self.config.engine
        self.dispatcher.start()
        self.worker.start()
        for link in self.links:
            self.metrics.binds_up.labels(bind=link.name).set(0)
            link.start()
        self._gauge_loop.start(5, now=True)
        if self.folder_pollers:
            self._folder_loop.start(engine.folders.poll_seconds, now=True)
        if engine.scheduler.enabled:
            self.scheduler = build_scheduler(self.reactor, self.jobs, engine.scheduler.misfire_grace_seconds)
            self.scheduler.start()
        if listen_http and engine.http.enabled:
            from engine.service.http import status_site

            self.http_port = self.reactor.listenTCP(engine.http.port, status_site(self.metrics, self.health),
                                                    interface=engine.http.interface)
        self.running = True
        log.info("engine %s started: %d bind(s), scheduler %s", self.node, len(self.links),
                 "on" if self.scheduler else "off")

    @defer.inlineCallbacks
    def stop(self):
        """Graceful: stop taking MO, finish or requeue what is in flight, unbind, nothing lost."""
        self.running = False
        self.receiver.stop()
        self.worker.stop()
        if self._gauge_loop.running:
            self._gauge_loop.stop()
        if self._gauge_refresh is not None and not self._gauge_refresh.called:
            yield self._gauge_refresh  # its counts finish before the database is let go
        if self._folder_loop.running:
            self._folder_loop.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        yield self.dispatcher.stop()
        yield defer.DeferredList([link.stop() for link in self.links])
        if self.http_port is not None:
            yield self.http_port.stopListening()
        self.hot_transactions.release()
        log.info("engine %s stopped", self.node)
