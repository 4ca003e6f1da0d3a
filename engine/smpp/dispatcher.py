"""Sending the outbox: claim due parts, spread them over the bound links, record what happened.

The dispatcher is the `LinkListener` for the MT direction. It keeps every link's window full (within
its token bucket), claiming parts from the outbox in batches, and records outcomes write-behind: the
answers of one short interval are written in one transaction, because one UPDATE per
submit_sm_resp would cap the link at the database's commit rate. An answer not yet written when the
process dies leaves its part `sending`, and the part is sent again at restart (at least once).

Retry policy (the issue's): throttling (0x58) and a full queue (0x14) pause the link briefly and
retry the part with exponential backoff, as do response timeouts and lost binds; every other error
status fails the part permanently with the status recorded. A part that has been tried
`max_attempts` times fails with "gave up".

With several nodes, a claimed part is its node's until answered. A node holds parts only while it
can send them: when its last bind goes down, the parts it claimed and had not yet handed to a link
go back to the queue at once, for a node with a bind up. A node that dies holding parts would take
them back only when started again under its name; so every node puts back the parts another node
claimed more than `claim_lease_seconds` ago and never answered for (checked every tenth of the
lease). A live node renews, at each check, its claims on the parts it still holds (a batch waiting
under a low throughput cap may take minutes), so no part is sent twice by two live nodes.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from twisted.internet import defer, task

from engine.smpp.codec import CommandStatus
from engine.smpp.outbox import ClaimedPart, Outbox
from engine.store.held import Transactions

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL})

# How many recently accepted parts the dispatcher remembers by SMSC message id, so that their
# receipts are matched on arrival without a lookup (`part_for_receipt`): a host network's receipts
# mostly come within seconds, and 100,000 is 50 s of submits at 2,000 a second (about 15 MB).
# Older ones are matched from the database by message id.
RECENT_SUBMITS = 100_000


@dataclass(frozen=True)
class Claim:
    """Parts claimed by `MtDispatcher.claim_within` in another's transaction; `limit` 0: none asked."""

    parts: tuple[ClaimedPart, ...]
    limit: int


@dataclass(frozen=True)
class RetryPolicy:
    first_delay_seconds: float = 2.0
    max_delay_seconds: float = 300.0
    max_attempts: int = 10
    throttle_pause_seconds: float = 1.0

    def delay(self, attempts_so_far: int) -> float:
        return min(self.max_delay_seconds, self.first_delay_seconds * 2 ** max(0, attempts_so_far))


class MtDispatcher:
    def __init__(
        self, reactor, database: Transactions, outbox: Outbox, node: str, *, retry: RetryPolicy | None = None,
        claim_batch: int = 512, flush_interval: float = 0.02, idle_poll: float = 0.25, metrics=None,
        utc_now: Callable[[], datetime] | None = None, claim_lease_seconds: float = 600.0,
    ):
        self.reactor = reactor
        self.database = database
        self.outbox = outbox
        self.node = node
        self.retry = retry or RetryPolicy()
        self.claim_batch = claim_batch
        self.flush_interval = flush_interval
        self.idle_poll = idle_poll
        self.metrics = metrics
        # Looked up once: labels() per part was a visible share of the send path.
        self._submitted_metric = metrics.mt_messages.labels(state="submitted") if metrics is not None else None
        self.utc_now = utc_now or (lambda: datetime.fromtimestamp(reactor.seconds(), timezone.utc))
        self.links: list = []
        self._ready: deque[ClaimedPart] = deque()
        self._in_flight: dict[int, ClaimedPart] = {}
        self._accepted: list[tuple[int, str, str]] = []
        self._retries: list[tuple[int, int | None, str, datetime]] = []
        self._failures: list[tuple[int, int | None, str]] = []
        self._recent_submits: dict[str, int] = {}  # SMSC message id -> part id, oldest first
        self._running = False
        self._pump_call = None
        # False once a claim came back short (the outbox had no more due parts); set again by
        # wake() and the idle poll. Answers then refill the window from `_ready` without asking
        # the database, instead of one (empty) claim transaction per submit_sm_resp.
        self._outbox_may_have_more = True
        self._poller = task.LoopingCall(self.pump)
        self._flusher = task.LoopingCall(self.flush)
        self.claim_lease_seconds = claim_lease_seconds
        self._stale_checker = task.LoopingCall(self.release_stale_claims)
        self._poller.clock = reactor
        self._flusher.clock = reactor
        self._stale_checker.clock = reactor
        self._next_link = 0

    # ------------------------------------------------------------------ lifecycle

    def add_link(self, link) -> None:
        self.links.append(link)

    def start(self) -> None:
        with self.database.begin() as connection:
            released = self.outbox.release_claims(connection, self.node)
        if released:
            log.warning("outbox: %d part(s) were in flight when this node last stopped; they will be sent again", released)
        self._running = True
        self._poller.start(self.idle_poll, now=True)
        self._flusher.start(self.flush_interval, now=False)
        self._stale_checker.start(self.claim_lease_seconds / 10, now=False)

    @defer.inlineCallbacks
    def stop(self, drain_seconds: float = 5.0):
        """Stop claiming; wait for answers to what is in flight; write everything; release the rest."""
        self._running = False
        for loop in (self._poller, self._stale_checker):
            if loop.running:
                loop.stop()
        waited = 0.0
        while self._in_flight and waited < drain_seconds:
            yield task.deferLater(self.reactor, 0.05, lambda: None)
            waited += 0.05
        if self._flusher.running:
            self._flusher.stop()
        self._requeue(list(self._ready) + list(self._in_flight.values()), None, "engine stopping", delay=0.0)
        self._ready.clear()
        self._in_flight.clear()
        self.flush()
        with self.database.begin() as connection:
            self.outbox.release_claims(connection, self.node)

    def wake(self) -> None:
        """New messages were enqueued: send them now rather than at the next poll."""
        self._outbox_may_have_more = True
        if self._running and self._pump_call is None:
            self._pump_call = self.reactor.callLater(0, self._scheduled_pump)

    # ------------------------------------------------------------------ sending

    def _scheduled_pump(self) -> None:
        self._pump_call = None
        self.pump(claim=False)  # wake() has set _outbox_may_have_more if there is news

    def pump(self, claim: bool = True) -> None:
        """Fill the links' windows; `claim=False` (after an answer) claims only if the outbox may have more."""
        if not self._running:
            return
        links = self._sending_links()
        if not links:
            return
        capacity = sum(link.free_window() for link in links)
        if capacity <= 0:
            return
        limit = self._claim_limit(capacity)
        if limit and (claim or self._outbox_may_have_more):
            self._claim(limit)
        self._hand_out(links)
        if self._ready:
            self._wake_when_tokens_return(links)

    def claim_within(self, connection) -> Claim:
        """What `pump` would claim now, in the caller's transaction: the MO worker's, so the replies
        it enqueued are claimed without a transaction of their own. Nothing is this dispatcher's
        until `take` is given the claim, after that transaction commits (rolled back, the parts stay
        queued)."""
        limit = self._claim_limit(sum(link.free_window() for link in self._sending_links())) if self._running else 0
        if not limit:
            return Claim((), 0)
        return Claim(tuple(self.outbox.claim(connection, self.node, limit, self.utc_now())), limit)

    def take(self, claim: Claim) -> None:
        """The parts of a committed `claim_within`, to send; with none claimed, a `wake`."""
        if not claim.limit:
            self.wake()
            return
        self._outbox_may_have_more = len(claim.parts) >= claim.limit
        self._ready.extend(claim.parts)
        self.pump(claim=False)

    def _sending_links(self) -> list:
        return [link for link in self.links if link.is_bound and link.can_transmit]

    def _claim_limit(self, capacity: int) -> int:
        """How many parts to claim to fill `capacity` free window places (a batch at least), 0 if
        the parts ready already do."""
        return max(self.claim_batch, capacity) if capacity > len(self._ready) else 0

    def _wake_when_tokens_return(self, links: list) -> None:
        """Parts are waiting on the throughput cap, not on answers: come back when it allows more."""
        waits = [link.seconds_until_tokens() for link in links if link.free_window() == 0]
        if waits and self._pump_call is None:
            self._pump_call = self.reactor.callLater(max(0.001, min(waits)), self._scheduled_pump)

    def _claim(self, limit: int) -> None:
        now = self.utc_now()
        try:
            with self.database.begin() as connection:
                claimed = self.outbox.claim(connection, self.node, limit, now)
        except Exception:
            # The database failed: nothing was claimed. Raised into the poller, this stopped it for
            # good; the next poll or wake tries again, and what is ready already is still sent.
            log.exception("outbox: could not claim parts to send; the next poll (in %s s) tries again", self.idle_poll)
            self._outbox_may_have_more = True
            return
        self._outbox_may_have_more = len(claimed) >= limit
        self._ready.extend(claimed)

    def _hand_out(self, links: list) -> None:
        count = len(links)
        idle_rounds = 0
        sent = 0
        while self._ready and idle_rounds < count:
            link = links[self._next_link % count]
            self._next_link += 1
            room = link.free_window()
            if room <= 0:
                idle_rounds += 1
                continue
            idle_rounds = 0
            for _ in range(min(room, len(self._ready))):
                part = self._ready.popleft()
                self._in_flight[part.id] = part
                link.submit(part.id, part.submit_params())
                sent += 1
        if sent and self.metrics is not None:
            self.metrics.mt_messages.labels(state="sent").inc(sent)

    # ------------------------------------------------------------------ LinkListener (MT side)

    def link_bound(self, link) -> None:
        if self.metrics is not None:
            self.metrics.binds_up.labels(bind=link.name).set(1)
        self.wake()

    def link_lost(self, link, outstanding_refs: tuple, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.binds_up.labels(bind=link.name).set(0)
        parts = [self._in_flight.pop(ref) for ref in outstanding_refs if ref in self._in_flight]
        self._requeue(parts, None, f"bind {link.name} lost: {reason}", delay=self.retry.first_delay_seconds)
        if self._ready and not self._sending_links():
            self._give_back_ready()
        self.wake()

    def _give_back_ready(self) -> None:
        """No bind of this node can send: what it claimed and has not sent goes back to the queue,
        for a node that can (kept in memory, the parts waited here for as long as the binds were down)."""
        ready = [part.id for part in self._ready]
        try:
            with self.database.begin() as connection:
                given_back = self.outbox.release_parts(connection, ready)
        except Exception:
            # Kept in memory, still claimed: sent when a bind comes back, as before.
            log.exception("outbox: could not put back %d part(s) after losing every bind", len(ready))
            return
        self._ready.clear()
        log.warning("outbox: no bind can send; %d claimed part(s) put back in the queue", given_back)

    def release_stale_claims(self) -> int:
        """Renew this node's claims on the parts it holds (waiting their turn under the throughput
        cap, or in flight), then put back the parts another node claimed over `claim_lease_seconds`
        ago and never answered for or renewed (it died): they are sent again, by whichever node
        claims them."""
        now = self.utc_now()
        claimed_before = now - timedelta(seconds=self.claim_lease_seconds)
        held = [part.id for part in self._ready] + list(self._in_flight)
        try:
            with self.database.begin() as connection:
                self.outbox.renew_claims(connection, self.node, held, now)
                released = self.outbox.release_stale_claims(connection, self.node, claimed_before)
        except Exception:
            log.exception("outbox: could not look for parts left by a stopped node; will try again")
            return 0
        if released:
            log.warning("outbox: %d part(s) claimed by another node before %s and never answered for are queued "
                        "again (that node stopped without releasing them)", released, claimed_before.isoformat())
            self.wake()
        return released

    def submit_accepted(self, link, ref, message_id: str) -> None:
        part = self._in_flight.pop(ref, None)
        if part is not None:
            self._accepted.append((ref, message_id, link.name))
            if part.ussd_service_op is None:  # USSD screens ask for no receipt
                recent = self._recent_submits
                recent[message_id] = part.id
                if len(recent) > RECENT_SUBMITS:
                    del recent[next(iter(recent))]
            if self._submitted_metric is not None:
                self._submitted_metric.inc()
        self.pump(claim=False)

    def part_for_receipt(self, message_id: str) -> int | None:
        """The part this node submitted lately under `message_id`, forgotten as it is named: a
        receipt settles its part once, and a second receipt for it goes the database's way."""
        return self._recent_submits.pop(message_id, None)

    def submit_rejected(self, link, ref, status: int) -> None:
        part = self._in_flight.pop(ref, None)
        if part is not None:
            if status in RETRYABLE_STATUSES:
                link.pause(self.retry.throttle_pause_seconds)
                self._requeue([part], status, f"SMSC status 0x{status:02X}", delay=None)
            else:
                self._failures.append((part.id, status, f"SMSC refused the message with status 0x{status:02X}"))
                if self.metrics is not None:
                    self.metrics.mt_messages.labels(state="failed").inc()
        self.pump(claim=False)

    def submit_timed_out(self, link, ref) -> None:
        part = self._in_flight.pop(ref, None)
        if part is not None:
            self._requeue([part], None, "no submit_sm_resp within the response timeout", delay=None)
        self.pump(claim=False)

    def _requeue(self, parts, status, reason: str, delay: float | None) -> None:
        now = self.utc_now()
        for part in parts:
            attempts = part.attempts + 1
            if attempts >= self.retry.max_attempts:
                self._failures.append((part.id, status, f"gave up after {attempts} attempts; last: {reason}"))
                if self.metrics is not None:
                    self.metrics.mt_messages.labels(state="failed").inc()
                continue
            wait = self.retry.delay(part.attempts) if delay is None else delay
            self._retries.append((part.id, status, reason, now + timedelta(seconds=wait)))

    # ------------------------------------------------------------------ bookkeeping

    def flush(self) -> None:
        if not (self._accepted or self._retries or self._failures):
            return
        accepted, retries, failures = self._accepted, self._retries, self._failures
        self._accepted, self._retries, self._failures = [], [], []
        now = self.utc_now()
        try:
            with self.database.begin() as connection:
                self.outbox.mark_submitted(connection, accepted, now)
                self.outbox.retry_later(connection, retries)
                self.outbox.mark_failed(connection, failures, now)
        except Exception:
            # Kept for the next flush; if the process dies first the parts are still `sending` and
            # go out again at restart.
            self._accepted[:0], self._retries[:0], self._failures[:0] = accepted, retries, failures
            log.exception("outbox: could not record %d answer(s); will retry", len(accepted) + len(retries) + len(failures))

    @property
    def in_flight(self) -> int:
        return len(self._in_flight) + len(self._ready)
