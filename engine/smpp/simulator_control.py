"""The SMSC simulator's control port: newline-delimited JSON over TCP on 127.0.0.1.

Other processes (the demo, `tpo phone`, end-to-end tests) drive the virtual handsets and the
fault injection through it. One request per line, one reply per line:

    > {"cmd": "mo", "from": "+447400100001", "text": "JOIN"}
    < {"ok": true, "queued": true}

A reply always has `"ok"`; a failure is `{"ok": false, "error": "..."}` and changes nothing. A
request may carry an `"id"`, echoed in its reply. Requests on one connection are answered in
order, one after another (a request that waits, such as `"wait": true`, holds the ones behind it).
After `subscribe`, MT messages and USSD screens for that handset arrive as *event* lines, which
have `"event"` instead of `"ok"` and may come between replies. docs/simulator.md lists every
command.

`SimulatorControlClient` is the blocking client (plain sockets, no Twisted), for tests (from a
thread), the demo and other processes; it sets events aside while it waits for a reply.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
from collections import deque
from typing import Any, Callable

from twisted.internet import defer, task
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineOnlyReceiver

from engine.smpp.simulator import MALFORMED_KINDS, DeliveryOutcome, SmscSimulator

__all__ = ["ControlProtocol", "ControlFactory", "listen_control", "SimulatorControlClient",
           "SimulatorControlError", "COMMANDS"]

log = logging.getLogger(__name__)


_LOAD_RUNS = itertools.count(1)  # tags of `load` runs, unique for the simulator's life


class CommandError(Exception):
    """A request that cannot be carried out; its message goes back as the reply's error."""


def _required(request: dict, *names: str) -> list:
    missing = [name for name in names if request.get(name) in (None, "")]
    if missing:
        raise CommandError(f"{request.get('cmd')}: missing {', '.join(missing)}")
    return [request[name] for name in names]


def _int(request: dict, name: str, default: int | None = None) -> int | None:
    value = request.get(name, default)
    if value is None:
        return None
    if isinstance(value, str):
        value = int(value, 0)  # "0x58" as well as "88"
    if not isinstance(value, int) or isinstance(value, bool):
        raise CommandError(f"{request.get('cmd')}: {name} must be an integer")
    return value


class ControlProtocol(LineOnlyReceiver):
    delimiter = b"\n"
    MAX_LENGTH = 1 << 20

    def __init__(self, simulator: SmscSimulator) -> None:
        self.simulator = simulator
        self._queue: defer.Deferred = defer.succeed(None)
        self._unsubscribes: dict[str, Callable[[], None]] = {}

    def connectionLost(self, reason=None) -> None:
        for unsubscribe in self._unsubscribes.values():
            unsubscribe()
        self._unsubscribes.clear()

    def lineReceived(self, line: bytes) -> None:
        line = line.strip()
        if not line:
            return
        self._queue.addCallback(lambda _: self._handle(line))

    def lineLengthExceeded(self, line: bytes) -> None:
        self._send({"ok": False, "error": f"request longer than {self.MAX_LENGTH} bytes"})
        self.transport.loseConnection()

    def _handle(self, line: bytes) -> defer.Deferred:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
        except ValueError as error:
            self._send({"ok": False, "error": f"not a JSON object: {error}"})
            return defer.succeed(None)
        request_id = request.get("id")

        def reply(result: dict | None) -> None:
            answer = {"ok": True, **(result or {})}
            if request_id is not None:
                answer["id"] = request_id
            self._send(answer)

        def fail(failure) -> None:
            error = failure.value
            known = isinstance(error, (CommandError, ValueError, KeyError, RuntimeError, TypeError,
                                       defer.TimeoutError))
            if not known:
                log.error("control command %r failed", request.get("cmd"), exc_info=failure.getTracebackObject())
            message = str(error) if known else f"internal error: {error!r}"
            if isinstance(error, KeyError):
                message = f"unknown value {error}"
            answer = {"ok": False, "error": message}
            if request_id is not None:
                answer["id"] = request_id
            self._send(answer)

        return defer.maybeDeferred(self._dispatch, request).addCallbacks(reply, fail)

    def _dispatch(self, request: dict):
        command = request.get("cmd")
        handler = COMMANDS.get(command)  # type: ignore[arg-type]
        if handler is None:
            raise CommandError(f"unknown cmd {command!r}; known: {', '.join(sorted(COMMANDS))}")
        return handler(self, request)

    def _send(self, message: dict) -> None:
        if self.transport is not None and self.connected:
            self.sendLine(json.dumps(message, ensure_ascii=False).encode("utf-8"))

    # ----------------------------------------------------------------- commands

    def cmd_ping(self, request: dict) -> dict:
        return {"pong": True}

    def _outcome(self, request: dict, deferred: defer.Deferred):
        if not request.get("wait"):
            return {"queued": True}
        # Wait on a copy: timing out the wait must not cancel the delivery (it keeps being retried).
        waited: defer.Deferred = defer.Deferred()

        def relay(result):
            if not waited.called:
                waited.callback(result)
            return result

        deferred.addBoth(relay)
        waited.addTimeout(float(request.get("timeout", 10.0)), self.simulator.reactor)
        return waited.addCallback(lambda outcome: {"outcome": DeliveryOutcome.as_json(outcome)})

    def cmd_mo(self, request: dict):
        sender, text = _required(request, "from", "text")
        handset = self.simulator.handset(sender)
        deferred = handset.send_mo(text, request.get("to"), mode=request.get("mode", "udh"),
                                   reference_bits=_int(request, "reference_bits", 8))
        return self._outcome(request, deferred)

    def cmd_dial(self, request: dict):
        sender, code = _required(request, "from", "code")
        return self._outcome(request, self.simulator.handset(sender).dial(code))

    def cmd_answer(self, request: dict):
        sender, text = _required(request, "from", "text")
        return self._outcome(request, self.simulator.handset(sender).answer(str(text)))

    def cmd_inbox(self, request: dict) -> dict:
        (msisdn,) = _required(request, "msisdn")
        handset = self.simulator.handset(msisdn)
        return {"msisdn": handset.msisdn,
                "messages": [{"text": m.text, "from": m.sender, "at": m.received_at, "complete": m.complete}
                             for m in handset.messages],
                "screens": [{"text": s.text, "ends": s.ends, "session": s.session_number, "at": s.received_at}
                            for s in handset.screens],
                "ussd_open": handset.ussd_session is not None}

    def cmd_wait(self, request: dict):
        """Wait until the handset's inbox holds `count` messages (or `screens` USSD screens)."""
        (msisdn,) = _required(request, "msisdn")
        handset = self.simulator.handset(msisdn)
        timeout = float(request.get("timeout", 10.0))
        if request.get("screens") is not None:
            waited = handset.wait_for_screens(_int(request, "screens"), timeout)
            return waited.addCallback(lambda screens: {"screens": [s.text for s in screens]})
        waited = handset.wait_for_messages(_int(request, "count", 1), timeout)
        return waited.addCallback(lambda texts: {"messages": texts})

    def cmd_subscribe(self, request: dict) -> dict:
        (msisdn,) = _required(request, "msisdn")
        handset = self.simulator.handset(msisdn)
        if handset.msisdn not in self._unsubscribes:
            self._unsubscribes[handset.msisdn] = handset.subscribe(self._send)
        return {"msisdn": handset.msisdn}

    def cmd_unsubscribe(self, request: dict) -> dict:
        (msisdn,) = _required(request, "msisdn")
        handset = self.simulator.handset(msisdn)
        unsubscribe = self._unsubscribes.pop(handset.msisdn, None)
        if unsubscribe is not None:
            unsubscribe()
        return {"msisdn": handset.msisdn}

    def cmd_stats(self, request: dict) -> dict:
        return {"stats": self.simulator.stats()}

    def cmd_binds(self, request: dict) -> dict:
        return {"binds": self.simulator.binds()}

    def cmd_received(self, request: dict) -> dict:
        msisdn = request.get("msisdn")
        records = self.simulator.submits_for(msisdn, include_refused=True) if msisdn else self.simulator.received
        limit = _int(request, "limit", 100)
        return {"count": len(records), "submits": [r.as_json() for r in records[-limit:]] if limit else []}

    def cmd_outcome(self, request: dict) -> dict:
        msisdn, state = _required(request, "msisdn", "state")
        self.simulator.set_outcome(msisdn, state, _int(request, "error_code"))
        return {}

    def cmd_load(self, request: dict) -> defer.Deferred:
        """Steady MO load for the latency benchmark, timed in the simulator's own clock.

        `handsets` phones numbered from `first` send `rate` MO per second for `seconds`, round robin,
        each text unique (`PING L<run>-<n>`). An MO's clock starts when the handset sends it (queued
        behind the deliver window counts as latency) and stops when an MT quoting its tag (the
        engine's reply) reaches the handset. Replies are awaited up to `grace` s after the last MO.
        Replies with the count sent, accepted, answered and latency percentiles in ms.
        """
        rate, seconds = float(request.get("rate", 500)), float(request.get("seconds", 10))
        count, grace = _int(request, "handsets", 100), float(request.get("grace", 5))
        if rate <= 0 or seconds <= 0 or count < 1:
            raise CommandError("load: rate, seconds and handsets must be positive")
        simulator, reactor = self.simulator, self.simulator.reactor
        first = int(str(request.get("first", "+447400900000")).lstrip("+"))
        phones = [simulator.handset(f"+{first + i}") for i in range(count)]
        already = {phone.msisdn: len(phone._mt) for phone in phones}
        run = f"L{next(_LOAD_RUNS)}-"
        total = int(rate * seconds)
        sent_at: dict[str, float] = {}
        outcomes = {"accepted": 0, "refused": 0}
        finished: defer.Deferred = defer.Deferred()
        started = reactor.seconds()

        def counted(outcome):
            outcomes["accepted" if outcome.accepted else "refused"] += 1

        def send_due() -> None:
            due = min(total, int((reactor.seconds() - started) * rate) + 1)
            while len(sent_at) < due:
                tag = f"{run}{len(sent_at)}"
                sent_at[tag] = reactor.seconds()
                phones[len(sent_at) % count].send_mo(f"PING {tag}").addCallbacks(counted, lambda _: None)
            if len(sent_at) >= total:
                sender.stop()
                waited_since[0] = reactor.seconds()
                waiter.start(0.05)

        def replies() -> int:
            return sum(len(phone._mt) - already[phone.msisdn] for phone in phones)

        def wait_for_replies() -> None:
            if replies() >= total or reactor.seconds() - waited_since[0] >= grace:
                waiter.stop()
                finished.callback(None)

        waited_since = [0.0]
        sender, waiter = task.LoopingCall(send_due), task.LoopingCall(wait_for_replies)
        sender.clock = waiter.clock = reactor
        sender.start(0.002)

        def summary(_) -> dict:
            latencies = []
            for phone in phones:
                for message in phone.messages[already[phone.msisdn]:]:
                    tag = next((word for word in message.text.split() if word.startswith(run)), None)
                    if tag in sent_at:
                        latencies.append(message.received_at - sent_at.pop(tag))
            latencies.sort()

            def percentile(p: float) -> float | None:
                return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 3) \
                    if latencies else None

            return {"sent": total, "seconds": seconds, "rate": rate, "answered": len(latencies),
                    "unanswered": len(sent_at), **outcomes,
                    "latency_ms": {"p50": percentile(0.50), "p90": percentile(0.90), "p99": percentile(0.99),
                                   "max": percentile(1.0),
                                   "mean": round(1000 * sum(latencies) / len(latencies), 3) if latencies else None}}

        return finished.addCallback(summary)

    def cmd_restart(self, request: dict):
        keep_state = bool(request.get("keep_state", True))
        return self.simulator.restart(keep_state=keep_state, downtime=float(request.get("downtime", 0.0))) \
            .addCallback(lambda _: {"port": self.simulator.port})

    def cmd_fault(self, request: dict):
        (kind,) = _required(request, "kind")
        faults = self.simulator.faults
        if kind == "throttle":
            ratio = request.get("ratio")
            faults.throttle(next_n=_int(request, "next_n"), ratio=None if ratio is None else float(ratio),
                            status=_int(request, "status", 0x58))
        elif kind == "reject_destination":
            (msisdn,) = _required(request, "msisdn")
            faults.reject_destination(msisdn, _int(request, "status", 0x0B))
        elif kind == "accept_destination":
            (msisdn,) = _required(request, "msisdn")
            faults.accept_destination(msisdn)
        elif kind == "latency":
            faults.set_latency(float(request.get("ms", 0)))
        elif kind == "drop_responses":
            faults.drop_responses(_int(request, "next_n", 1))
        elif kind == "wrong_sequence":
            faults.wrong_sequence(_int(request, "next_n", 1))
        elif kind == "disconnect_after":
            faults.disconnect_after(_int(request, "submits", 1))
        elif kind == "drop_connections":
            return {"dropped": faults.drop_connections(request.get("system_id"))}
        elif kind == "malformed":
            raw = request.get("hex")
            count = faults.send_malformed(request.get("pdu", "unknown_command"), request.get("system_id"),
                                          raw=bytes.fromhex(raw) if raw else None)
            return {"sent_to": count}
        elif kind == "outcome":
            msisdn, state = _required(request, "msisdn", "state")
            self.simulator.set_outcome(msisdn, state, _int(request, "error_code"))
        elif kind == "clear":
            faults.clear()
            faults.set_latency(float(request.get("ms", 0)))
        else:
            raise CommandError(
                f"unknown fault kind {kind!r}; known: throttle, reject_destination, accept_destination, "
                f"latency, drop_responses, wrong_sequence, disconnect_after, drop_connections, "
                f"malformed ({'/'.join(MALFORMED_KINDS)}), outcome, clear")
        return {"faults": faults.snapshot()}


COMMANDS: dict[str, Callable[[ControlProtocol, dict], Any]] = {
    name[4:]: function for name, function in vars(ControlProtocol).items() if name.startswith("cmd_")
}


class ControlFactory(Factory):
    def __init__(self, simulator: SmscSimulator) -> None:
        self.simulator = simulator

    def buildProtocol(self, addr) -> ControlProtocol:
        protocol = ControlProtocol(self.simulator)
        protocol.factory = self
        return protocol


def listen_control(simulator: SmscSimulator, port: int = 0, interface: str = "127.0.0.1"):
    """Serve the control port for `simulator`; loopback only, since it has no authentication."""
    return simulator.reactor.listenTCP(port, ControlFactory(simulator), interface=interface)


# --------------------------------------------------------------------------- blocking client


class SimulatorControlError(Exception):
    """The simulator answered `ok: false`."""


class SimulatorControlClient:
    """A blocking client of the control port (plain sockets), one request at a time.

    Event lines (after `subscribe`) that arrive while waiting for a reply are kept and handed out
    by `next_event`. Not thread-safe: use one client per thread.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 2776, timeout: float = 15.0) -> None:
        self.timeout = timeout
        self._socket = socket.create_connection((host, port), timeout=timeout)
        self._buffer = b""
        self._events: deque[dict] = deque()
        self._next_id = 0

    def __enter__(self) -> "SimulatorControlClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._socket.close()

    # --- generic

    def request(self, cmd: str, **fields: Any) -> dict:
        """Send one command and return its reply; raises SimulatorControlError on `ok: false`."""
        self._next_id += 1
        request_id = self._next_id
        line = json.dumps({"cmd": cmd, "id": request_id, **fields}, ensure_ascii=False) + "\n"
        self._socket.sendall(line.encode("utf-8"))
        while True:
            message = self._read_line(self.timeout + float(fields.get("timeout", 0)))
            if message is None:
                raise TimeoutError(f"no reply to {cmd!r} from the simulator")
            if "event" in message:
                self._events.append(message)
                continue
            if message.get("id") not in (None, request_id):
                continue
            if not message.get("ok"):
                raise SimulatorControlError(message.get("error", "unknown error"))
            return message

    def next_event(self, timeout: float | None = None) -> dict | None:
        """The next subscribed event (MT or USSD screen), or None after `timeout` seconds."""
        if self._events:
            return self._events.popleft()
        while True:
            message = self._read_line(self.timeout if timeout is None else timeout)
            if message is None:
                return None
            if "event" in message:
                return message

    # --- conveniences

    def ping(self) -> bool:
        return bool(self.request("ping").get("pong"))

    def mo(self, sender: str, text: str, *, wait: bool = False, **options: Any) -> dict:
        return self.request("mo", **{"from": sender, "text": text, "wait": wait, **options})

    def dial(self, sender: str, code: str, *, wait: bool = False) -> dict:
        return self.request("dial", **{"from": sender, "code": code, "wait": wait})

    def answer(self, sender: str, text: str, *, wait: bool = False) -> dict:
        return self.request("answer", **{"from": sender, "text": text, "wait": wait})

    def inbox(self, msisdn: str) -> list[str]:
        return [m["text"] for m in self.request("inbox", msisdn=msisdn)["messages"]]

    def screens(self, msisdn: str) -> list[dict]:
        return self.request("inbox", msisdn=msisdn)["screens"]

    def wait_for_messages(self, msisdn: str, count: int = 1, timeout: float = 10.0) -> list[str]:
        return self.request("wait", msisdn=msisdn, count=count, timeout=timeout)["messages"]

    def subscribe(self, msisdn: str) -> dict:
        return self.request("subscribe", msisdn=msisdn)

    def stats(self) -> dict:
        return self.request("stats")["stats"]

    def received(self, msisdn: str | None = None, limit: int = 100) -> list[dict]:
        fields: dict[str, Any] = {"limit": limit}
        if msisdn:
            fields["msisdn"] = msisdn
        return self.request("received", **fields)["submits"]

    def fault(self, kind: str, **fields: Any) -> dict:
        return self.request("fault", kind=kind, **fields)

    def restart(self, keep_state: bool = True) -> dict:
        return self.request("restart", keep_state=keep_state)

    # --- internals

    def _read_line(self, timeout: float) -> dict | None:
        self._socket.settimeout(timeout)
        while b"\n" not in self._buffer:
            try:
                chunk = self._socket.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                raise ConnectionError("the simulator closed the control connection")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)
