"""The Twisted adapter of one SMPP bind: moves bytes between TCP and the sans-I/O `Session`.

`BindLink` owns the configured bind: a `ClientService` keeps one TCP connection up, reconnecting
with exponential backoff and jitter (`pacing.ReconnectBackoff`); each connection gets a fresh
`Session`. The link adds only what needs a reactor: TCP_NODELAY (without it a window of small PDUs
waits on Nagle's algorithm and throughput collapses), a timer at the session's next deadline, the
per-bind token bucket, and a graceful unbind on stop. Everything the link learns is passed to its
`LinkListener` (the MT dispatcher and the MO intake); it makes no decisions of its own.
"""

from __future__ import annotations

import logging
from typing import Hashable, Mapping, Protocol as TypingProtocol

from twisted.application.internet import ClientService
from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory, Protocol

from engine.smpp import session as smpp
from engine.smpp.pacing import ReconnectBackoff, TokenBucket

log = logging.getLogger(__name__)


class LinkListener(TypingProtocol):
    def link_bound(self, link: "BindLink") -> None: ...
    def link_lost(self, link: "BindLink", outstanding_refs: tuple, reason: str) -> None: ...
    def submit_accepted(self, link: "BindLink", ref: Hashable, message_id: str) -> None: ...
    def submit_rejected(self, link: "BindLink", ref: Hashable, status: int) -> None: ...
    def submit_timed_out(self, link: "BindLink", ref: Hashable) -> None: ...
    def message_received(self, link: "BindLink", event: smpp.MessageReceived) -> None: ...
    def end_of_read(self, link: "BindLink") -> None:
        """Every PDU of one read from the SMSC has been passed on: answer what awaits an answer."""


class SmppLinkProtocol(Protocol):
    def __init__(self, link: "BindLink"):
        self.link = link
        self.clock = link.reactor
        self.session = smpp.Session(smpp.Role.ESME, link.session_config)
        self._timer = None
        self._written = False  # during the current read

    # ---------------------------------------------------------------- Twisted callbacks

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        self.link._protocol_made(self)
        settings = self.link.settings
        self.session.bind(
            settings.system_id,
            settings.password.get_secret_value(),
            smpp.BindMode(self.link.mode),
            self.clock.seconds(),
            system_type=settings.system_type,
        )
        self._after_session_call()

    def dataReceived(self, data: bytes):
        self._written = False
        events = self.session.receive_data(data, self.clock.seconds())
        try:
            self._dispatch(events)
        finally:
            self.link.listener.end_of_read(self.link)
        self._after_session_call()
        self._write_at_once()

    def connectionLost(self, reason):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        events = self.session.connection_lost(reason.getErrorMessage(), self.clock.seconds())
        self._dispatch(events)
        self.link._protocol_gone(self)

    # ---------------------------------------------------------------- operations for the link

    def submit(self, ref: Hashable, params: Mapping) -> int:
        sequence = self.session.submit(ref, params, self.clock.seconds())
        self._after_session_call()
        return sequence

    def acknowledge(self, sequence: int, status: int = 0) -> bool:
        answered = self.session.acknowledge(sequence, status)
        self._after_session_call()
        return answered

    def unbind(self) -> None:
        if self.session.state in (smpp.State.BOUND_TRX, smpp.State.BOUND_TX, smpp.State.BOUND_RX):
            self.session.unbind(self.clock.seconds())
            self._after_session_call()
        else:
            self.transport.loseConnection()

    # ---------------------------------------------------------------- internals

    def _after_session_call(self) -> None:
        data = self.session.data_to_send()
        if data:
            self.transport.write(data)
            self._written = True
        if self.session.state is smpp.State.CLOSED:
            self.transport.loseConnection()
            return
        self._schedule_tick()

    def _write_at_once(self) -> None:
        # Twisted holds what is written until its next poll, which comes only after every call due
        # in this pass of the reactor (an MO batch's rules among them). An SMSC whose deliver_sm
        # window is full sends nothing meanwhile: with a receipt per reply through a window of 10,
        # waiting held MO replies at p50 125-415 ms where writing at once gave 5-34 ms
        # (benchmarks/RESULTS.md, stop 13). doWrite is the transport's IWriteDescriptor method,
        # what the reactor itself calls; TLS and test transports have none and keep their buffering.
        if not self._written:
            return  # the read asked for nothing: no empty send
        transport = self.transport
        write = getattr(transport, "doWrite", None)
        if write is not None and transport.connected and not transport.disconnecting:
            write()

    def _schedule_tick(self) -> None:
        deadline = self.session.next_deadline()
        if deadline is None:
            return
        delay = max(0.0, deadline - self.clock.seconds())
        if self._timer is not None and self._timer.active():
            if self._timer.getTime() <= deadline:
                return
            self._timer.reset(delay)
            return
        self._timer = self.clock.callLater(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        events = self.session.tick(self.clock.seconds())
        self._dispatch(events)
        self._after_session_call()

    def _dispatch(self, events: list) -> None:
        link, listener = self.link, self.link.listener
        for event in events:
            kind = type(event)
            if kind is smpp.SubmitAccepted:
                listener.submit_accepted(link, event.ref, event.message_id)
            elif kind is smpp.MessageReceived:
                listener.message_received(link, event)
            elif kind is smpp.SubmitRejected:
                listener.submit_rejected(link, event.ref, event.status)
            elif kind is smpp.SubmitTimedOut:
                listener.submit_timed_out(link, event.ref)
            elif kind is smpp.BindSucceeded:
                link._bound(self)
            elif kind is smpp.BindFailed:
                log.error("bind %s refused by the SMSC: %s", link.name, event.reason)
            elif kind in (smpp.LinkBroken, smpp.PeerUnbound, smpp.Unbound):
                reason = getattr(event, "reason", kind.__name__)
                link._unbound(self, event.outstanding_refs, reason)
            elif kind is smpp.GarbageReceived:
                log.warning("bind %s: undecodable PDU from the SMSC answered with generic_nack: %s", link.name, event.detail)
            elif kind is smpp.GenericNackReceived:
                log.warning("bind %s: SMSC sent generic_nack status 0x%02X", link.name, event.status)


class BindLink:
    """One configured bind (a transceiver, or one half of a transmitter+receiver pair)."""

    def __init__(self, reactor, settings, listener: LinkListener, mode: str | None = None, name: str | None = None):
        self.reactor = reactor
        self.settings = settings
        self.listener = listener
        self.mode = mode or settings.mode
        self.name = name or settings.name
        self.session_config = smpp.SessionConfig(
            window=settings.window,
            response_timeout=settings.response_timeout_seconds,
            enquire_link_interval=settings.enquire_link_seconds,
        )
        self.bucket = TokenBucket(settings.throughput_per_second, max(1, settings.window), reactor.seconds())
        self.paused_until = 0.0
        self._backoff = ReconnectBackoff(settings.reconnect_min_seconds, settings.reconnect_max_seconds)
        self._protocol: SmppLinkProtocol | None = None
        self._bound_protocol: SmppLinkProtocol | None = None
        self._stopping = False
        endpoint = TCP4ClientEndpoint(reactor, settings.host, settings.port, timeout=10)
        factory = Factory.forProtocol(lambda: SmppLinkProtocol(self))
        self.service = ClientService(endpoint, factory, retryPolicy=self._retry_delay, clock=reactor)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._stopping = False
        self.service.startService()

    @defer.inlineCallbacks
    def stop(self, unbind_timeout: float = 5.0):
        """Unbind gracefully (waiting for unbind_resp up to the session's timeout), then disconnect."""
        self._stopping = True
        protocol = self._protocol
        if protocol is not None:
            gone = defer.Deferred()
            self._on_gone = gone
            protocol.unbind()
            timeout = self.reactor.callLater(unbind_timeout, lambda: gone.called or gone.callback(None))
            yield gone
            if timeout.active():
                timeout.cancel()
        yield self.service.stopService()

    # ---------------------------------------------------------------- for the dispatcher

    @property
    def is_bound(self) -> bool:
        return self._bound_protocol is not None

    @property
    def can_transmit(self) -> bool:
        return self.mode in ("transceiver", "transmitter")

    def free_window(self) -> int:
        protocol = self._bound_protocol
        if protocol is None or not self.can_transmit or self._stopping:
            return 0
        now = self.reactor.seconds()
        if now < self.paused_until:
            return 0
        room = self.session_config.window - protocol.session.outstanding_submits
        return max(0, min(room, self.bucket.available(now)))

    def submit(self, ref: Hashable, params: Mapping) -> None:
        protocol = self._bound_protocol
        if protocol is None:
            raise smpp.IllegalStateError(f"bind {self.name} is not bound")
        self.bucket.try_take(self.reactor.seconds())
        protocol.submit(ref, params)

    def acknowledge(self, sequence: int, status: int = 0) -> bool:
        protocol = self._protocol
        return protocol.acknowledge(sequence, status) if protocol is not None else False

    def pause(self, seconds: float) -> None:
        """Back off after the SMSC said it is throttling us."""
        self.paused_until = max(self.paused_until, self.reactor.seconds() + seconds)

    def seconds_until_tokens(self) -> float:
        return self.bucket.seconds_until_available(self.reactor.seconds())

    # ---------------------------------------------------------------- from the protocol

    def _retry_delay(self, failed_attempts: int) -> float:
        delay = self._backoff.next_delay()
        # The first failure and every tenth after it are worth an operator's attention; the rest
        # would only flood the log while the SMSC is down.
        level = logging.WARNING if failed_attempts % 10 == 0 else logging.INFO
        log.log(level, "bind %s: cannot reach the SMSC at %s:%s; retrying in %.1f s (attempt %d)", self.name,
                self.settings.host, self.settings.port, delay, failed_attempts + 1)
        return delay

    def _bound(self, protocol: SmppLinkProtocol) -> None:
        self._protocol = protocol
        self._bound_protocol = protocol
        self._backoff.reset()
        log.info("bind %s: bound as %s to %s:%s", self.name, self.mode, self.settings.host, self.settings.port)
        self.listener.link_bound(self)

    def _unbound(self, protocol: SmppLinkProtocol, outstanding_refs: tuple, reason: str) -> None:
        was_bound = self._bound_protocol is protocol
        self._bound_protocol = None
        if was_bound or outstanding_refs:
            level = logging.INFO if self._stopping else logging.WARNING
            log.log(level, "bind %s: link down (%s); %d submit(s) in flight requeued", self.name, reason, len(outstanding_refs))
            self.listener.link_lost(self, tuple(outstanding_refs), reason)

    def _protocol_gone(self, protocol: SmppLinkProtocol) -> None:
        if self._bound_protocol is protocol:
            self._unbound(protocol, protocol.session.outstanding_refs(), "connection lost")
        if self._protocol is protocol:
            self._protocol = None
        gone = getattr(self, "_on_gone", None)
        if gone is not None and not gone.called:
            gone.callback(None)

    def _protocol_made(self, protocol: SmppLinkProtocol) -> None:
        self._protocol = protocol
