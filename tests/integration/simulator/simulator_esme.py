"""A minimal ESME for the simulator's tests: the pure `Session(Role.ESME)` over a Twisted protocol.

It is deliberately not the engine's SMPP adapter: the simulator is tested against the protocol
itself, so the engine's adapter can later be tested against the simulator.
"""

from __future__ import annotations

from typing import Callable

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol
from twisted.internet.task import LoopingCall

from engine.smpp.session import (
    BindFailed,
    BindMode,
    BindSucceeded,
    LinkBroken,
    MessageReceived,
    Role,
    Session,
    SessionConfig,
    State,
    SubmitAccepted,
    SubmitRejected,
    SubmitTimedOut,
)

SMS_PARAMS = {
    "source_addr_ton": 5, "source_addr_npi": 0, "source_addr": "TPO",
    "dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": "447400100001",
    "registered_delivery": 0, "data_coding": 0, "short_message": b"Hello",
}


def sms(destination: str = "447400100001", text: bytes = b"Hello", **extra) -> dict:
    return {**SMS_PARAMS, "destination_addr": destination, "short_message": text, **extra}


class TestEsme(Protocol):
    """Records every session event; answers deliver_sm with `deliver_status(event)` (None: no answer)."""

    __test__ = False  # not a pytest class

    def __init__(self, window: int = 64, response_timeout: float = 5.0) -> None:
        self.session = Session(Role.ESME, SessionConfig(window=window, response_timeout=response_timeout,
                                                        enquire_link_interval=30.0))
        self.events: list = []
        self.deliveries: list[MessageReceived] = []
        self.deliver_status: Callable[[MessageReceived], int | None] = lambda event: 0
        self.lost: defer.Deferred = defer.Deferred()
        self._waiters: list[tuple[Callable[[], bool], defer.Deferred]] = []
        self._ticker = LoopingCall(self._tick)

    # --- Twisted

    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)
        self._ticker.start(0.05, now=False)

    def dataReceived(self, data: bytes) -> None:
        self._handle(self.session.receive_data(data, reactor.seconds()))

    def connectionLost(self, reason=None) -> None:
        if self._ticker.running:
            self._ticker.stop()
        self._handle(self.session.connection_lost("closed", reactor.seconds()))
        self.lost.callback(None)

    # --- operations

    def bind(self, system_id: str = "tpo", password: str = "secret",
             mode: BindMode = BindMode.TRANSCEIVER, timeout: float = 5.0) -> defer.Deferred:
        self.session.bind(system_id, password, mode, reactor.seconds())
        self._flush()
        return self.wait_for(lambda: self.first(BindSucceeded, BindFailed), timeout)

    def submit(self, ref, params: dict) -> int:
        sequence = self.session.submit(ref, params, reactor.seconds())
        self._flush()
        return sequence

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abortConnection()

    # --- inspection

    def of(self, *kinds) -> list:
        return [e for e in self.events if isinstance(e, kinds)]

    def first(self, *kinds):
        found = self.of(*kinds)
        return found[0] if found else None

    def answered(self) -> int:
        return len(self.of(SubmitAccepted, SubmitRejected, SubmitTimedOut))

    def wait_for(self, predicate: Callable[[], object], timeout: float = 5.0) -> defer.Deferred:
        """Fires with predicate()'s value once it is truthy; TimeoutError after `timeout`."""
        value = predicate()
        if value:
            return defer.succeed(value)
        deferred: defer.Deferred = defer.Deferred()
        self._waiters.append((predicate, deferred))
        deferred.addTimeout(timeout, reactor)
        return deferred

    @property
    def closed(self) -> bool:
        return self.session.state is State.CLOSED

    # --- internals

    def _handle(self, events: list) -> None:
        for event in events:
            self.events.append(event)
            if isinstance(event, MessageReceived):
                self.deliveries.append(event)
                status = self.deliver_status(event)
                if status is not None:
                    self.session.acknowledge(event.sequence, status)
        self._flush()
        if self.session.state is State.CLOSED and self.transport is not None and events:
            if any(isinstance(e, (LinkBroken, BindFailed)) for e in events):
                self.transport.loseConnection()
        for predicate, deferred in list(self._waiters):
            if deferred.called:
                self._waiters.remove((predicate, deferred))
                continue
            value = predicate()
            if value:
                self._waiters.remove((predicate, deferred))
                deferred.callback(value)


    def _tick(self) -> None:
        self._handle(self.session.tick(reactor.seconds()))

    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)


def connect(port: int, **options) -> defer.Deferred:
    """A connected (not yet bound) TestEsme."""
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    return connectProtocol(endpoint, TestEsme(**options))


@defer.inlineCallbacks
def bound_esme(port: int, system_id: str = "tpo", password: str = "secret",
               mode: BindMode = BindMode.TRANSCEIVER, **options):
    esme = yield connect(port, **options)
    outcome = yield esme.bind(system_id, password, mode)
    assert isinstance(outcome, BindSucceeded), outcome
    return esme


def pause(seconds: float) -> defer.Deferred:
    deferred: defer.Deferred = defer.Deferred()
    reactor.callLater(seconds, deferred.callback, None)
    return deferred
