"""A deliver_sm is answered on the wire in the reactor pass that read it, over real TCP.

The SMSC here is a plain blocking socket in a thread, so it sees the answer arrive while the engine's
reactor is still busy with what is due after the read (the MO worker's batch, played by a sleep).
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest_twisted
from twisted.internet import defer, reactor, task

from engine.config.engine_file import SmppBind
from engine.smpp.codec import CommandStatus, Pdu, decode, encode, response_to
from engine.smpp.link import BindLink

BUSY_SECONDS = 0.5  # what the reactor does after the read; far above an answer's way over loopback


def _read_pdu(connection: socket.socket) -> Pdu:
    header = _read_exactly(connection, 4)
    (length,) = struct.unpack(">I", header)
    return decode(header + _read_exactly(connection, length - 4))


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the engine closed the connection")
        data += chunk
    return data


class _SocketSmsc:
    """Binds the engine, delivers one MO, and times its deliver_sm_resp."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.port = self.server.getsockname()[1]
        self.answer: Pdu | None = None
        self.answered_after: float | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.server.settimeout(10)
            connection, _address = self.server.accept()
            with connection:
                connection.settimeout(10)
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                bind = _read_pdu(connection)
                connection.sendall(encode(response_to(bind, system_id="SOCKSMSC")))
                deliver = Pdu("deliver_sm", 7, params={
                    "source_addr": "447400100001", "destination_addr": "767", "short_message": b"BILL"})
                sent = time.monotonic()
                connection.sendall(encode(deliver))
                self.answer = _read_pdu(connection)
                self.answered_after = time.monotonic() - sent
        except BaseException as error:  # reported by the test, not lost in the thread
            self.error = error
        finally:
            self.server.close()


class _Listener:
    """Answers at the end of each read, as the MO receiver does, then keeps the reactor busy."""

    def __init__(self):
        self.pending = []
        self.bound = defer.Deferred()
        self.busy_done = defer.Deferred()

    def link_bound(self, link):
        self.bound.callback(None)

    def link_lost(self, link, outstanding_refs, reason):
        pass

    def submit_accepted(self, link, ref, message_id):
        pass

    def submit_rejected(self, link, ref, status):
        pass

    def submit_timed_out(self, link, ref):
        pass

    def message_received(self, link, event):
        self.pending.append(event.sequence)

    def end_of_read(self, link):
        if not self.pending:
            return
        for sequence in self.pending:
            link.acknowledge(sequence, CommandStatus.ESME_ROK)
        self.pending = []
        reactor.callLater(0, self._busy)

    def _busy(self):
        time.sleep(BUSY_SECONDS)
        self.busy_done.callback(None)


@pytest_twisted.inlineCallbacks
def test_a_deliver_sm_is_answered_before_the_work_due_after_its_read():
    smsc = _SocketSmsc()
    smsc.thread.start()
    listener = _Listener()
    settings = SmppBind(name="host-a", port=smsc.port, system_id="tpo", password="secret", window=10)
    link = BindLink(reactor, settings, listener)
    link.start()
    try:
        yield listener.bound
        yield listener.busy_done
        for _ in range(500):  # the reactor keeps running meanwhile: a held answer still leaves
            if not smsc.thread.is_alive():
                break
            yield task.deferLater(reactor, 0.01, lambda: None)
        assert smsc.error is None, smsc.error
        assert smsc.answer is not None and smsc.answer.command == "deliver_sm_resp"
        assert (smsc.answer.sequence, smsc.answer.status) == (7, 0)
        # Held for the reactor's next poll, the answer would have waited for the busy call.
        assert smsc.answered_after < BUSY_SECONDS / 2, smsc.answered_after
    finally:
        link._stopping = True
        yield link.service.stopService()
