"""`tpo phone`: a handset of the SMSC simulator in the terminal, without the terminal.

`Phone` reads lines from an input stream and plays them on one virtual handset through the
simulator's control port (`engine.smpp.simulator_control.SimulatorControlClient`):

- a line that looks like a USSD code (`*767#`, `*767*2#`) dials it;
- while a USSD dialogue is open (a screen asked for an answer, `ussd_service_op` 2, or the code was
  just dialled) a line answers the screen; once a screen ends the dialogue (op 17 or the end
  flag) the next line is an SMS again;
- any other line is texted (MO) to the short code.

MT messages and USSD screens for the handset are printed as they arrive, by a reader thread on a
second control connection subscribed to the handset's events (the blocking client is one
connection per thread). On a terminal the prompt and the half-typed line are redrawn under each
arrival, so the screen stays tidy. End of input (Ctrl-D) or Ctrl-C hangs up.

The class knows nothing of argparse or TTYs beyond `interactive`; `engine/cli/phone_command.py`
builds it, and the tests drive it with in-memory streams and a fake client.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Protocol, TextIO

__all__ = ["Phone", "looks_like_ussd_code", "format_sms", "format_screen", "PROMPT"]

PROMPT = "> "
_USSD_CODE = re.compile(r"[*#]+[0-9][0-9*#]*#")
_CLEAR_LINE = "\r\x1b[K"


def looks_like_ussd_code(line: str) -> bool:
    """`*767#`, `*767*2*1#`, `#123#`: starts with * or #, ends with #, digits (and * #) between."""
    return bool(_USSD_CODE.fullmatch(line.strip()))


def format_sms(text: str, complete: bool = True) -> str:
    """`< text`, continuation lines indented under it."""
    lines = (text or "").splitlines() or [""]
    body = "< " + "\n  ".join(lines)
    if not complete:
        body += "  [incomplete: some parts never arrived]"
    return body + "\n"


def format_screen(text: str, ends: bool) -> str:
    """A USSD screen as an indented box; its last line says whether an answer is awaited."""
    lines = (text or "").splitlines() or [""]
    width = max(30, min(60, max(len(line) for line in lines) + 2))
    footer = " end of dialogue " if ends else " type your answer "
    out = ["  +-- USSD " + "-" * (width - 8)]
    out += [f"  | {line}" for line in lines]
    out.append("  +--" + footer + "-" * max(2, width - len(footer) - 2))
    return "\n".join(out) + "\n"


class ControlClient(Protocol):
    """What `Phone` uses of `SimulatorControlClient`."""

    def mo(self, sender: str, text: str, *, wait: bool = False, **options: Any) -> dict: ...
    def dial(self, sender: str, code: str, *, wait: bool = False) -> dict: ...
    def answer(self, sender: str, text: str, *, wait: bool = False) -> dict: ...


class EventSource(Protocol):
    def subscribe(self, msisdn: str) -> dict: ...
    def next_event(self, timeout: float | None = None) -> dict | None: ...


class Phone:
    """One handset (`msisdn`, E.164) driven from `input`, its arrivals printed on `output`.

    `client` sends (mo, dial, answer); `events`, a second connection, is subscribed to the
    handset and read by a thread. Without `events` nothing arrives (the dispatch still works).
    `interactive`: read with `input()` (line editing) and redraw the prompt under arrivals;
    otherwise read `input.readline()` and echo what is sent as `> line`.
    `linger`: seconds to keep printing arrivals after the input ends (for piped input).
    """

    def __init__(self, client: ControlClient, msisdn: str, input: TextIO, output: TextIO, *,
                 events: EventSource | None = None, interactive: bool = False, linger: float = 0.0,
                 poll_seconds: float = 0.2) -> None:
        self.client = client
        self.msisdn = msisdn
        self.input = input
        self.output = output
        self.events = events
        self.interactive = interactive
        self.linger = linger
        self.poll_seconds = poll_seconds
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._ussd_open = False
        self._reading = False
        self._stopped = threading.Event()
        self._reader: threading.Thread | None = None
        self._readline: Any = None
        self.connection_lost = False

    # ----------------------------------------------------------------- state

    @property
    def ussd_open(self) -> bool:
        with self._state_lock:
            return self._ussd_open

    def _set_ussd_open(self, value: bool) -> None:
        with self._state_lock:
            self._ussd_open = value

    # ----------------------------------------------------------------- output

    def write(self, text: str) -> None:
        """Print `text` (whole lines) without mangling a prompt the user is typing at."""
        with self._write_lock:
            if self.interactive and self._reading:
                self.output.write(_CLEAR_LINE + text + PROMPT + self._line_buffer())
            else:
                self.output.write(text)
            self.output.flush()

    def _line_buffer(self) -> str:
        if self._readline is None:
            return ""
        try:
            return self._readline.get_line_buffer()
        except Exception:  # pragma: no cover - a readline without it
            return ""

    def show_event(self, event: dict) -> None:
        """Print one control-port event (`sms` or `ussd`) and follow the USSD dialogue's state."""
        kind = event.get("event")
        if kind == "ussd":
            ends = bool(event.get("ends"))
            self._set_ussd_open(not ends)
            self.write(format_screen(event.get("text", ""), ends))
        elif kind == "sms":
            self.write(format_sms(event.get("text", ""), event.get("complete", True)))

    # ----------------------------------------------------------------- input

    def handle_line(self, line: str) -> str | None:
        """Send one typed line; returns what was done ("sms", "dial", "answer") or None."""
        text = line.strip()
        if not text:
            return None
        if not self.interactive:
            self.write(f"{PROMPT}{text}\n")
        if looks_like_ussd_code(text):
            self._set_ussd_open(True)  # answers typed before the first screen belong to it
            try:
                self.client.dial(self.msisdn, text)
            except Exception:
                self._set_ussd_open(False)
                raise
            return "dial"
        if self.ussd_open:
            try:
                self.client.answer(self.msisdn, text)
            except Exception as error:
                if "no USSD dialogue" not in str(error):
                    raise
                self._set_ussd_open(False)
                self.write("! the USSD dialogue had already ended, nothing was sent; type again to text it\n")
                return None
            return "answer"
        self.client.mo(self.msisdn, text)
        return "sms"

    def _read_line(self) -> str | None:
        if self.interactive:
            self._reading = True
            try:
                return input(PROMPT)
            except EOFError:
                return None
            finally:
                self._reading = False
        line = self.input.readline()
        return line if line else None

    # ----------------------------------------------------------------- life

    def start(self) -> None:
        """Subscribe to the handset's events and start printing them."""
        if self.interactive:
            try:
                import readline  # noqa: F401  (line editing and history for input())
                self._readline = readline
            except ImportError:  # pragma: no cover - platforms without readline
                self._readline = None
        if self.events is not None:
            self.events.subscribe(self.msisdn)
            self._reader = threading.Thread(target=self._read_events, name=f"phone-{self.msisdn}", daemon=True)
            self._reader.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._reader is not None:
            self._reader.join(timeout=5 * self.poll_seconds + 1)
            self._reader = None

    def _read_events(self) -> None:
        while not self._stopped.is_set():
            try:
                event = self.events.next_event(timeout=self.poll_seconds)  # type: ignore[union-attr]
            except (OSError, ValueError) as error:
                if not self._stopped.is_set():
                    self.connection_lost = True
                    self.write(f"! lost the simulator's control connection ({error}); Ctrl-D to leave\n")
                return
            if event is not None and event.get("msisdn") in (None, self.msisdn):
                self.show_event(event)

    def run(self) -> int:
        """Read lines until end of input or Ctrl-C; 0 on a clean hang-up, 1 if the simulator went away."""
        self.start()
        status = 0
        try:
            while True:
                line = self._read_line()
                if line is None:
                    break
                try:
                    self.handle_line(line)
                except (OSError, ValueError) as error:  # the control connection broke (ConnectionError is an OSError)
                    self.write(f"! lost the simulator's control connection: {error}\n")
                    status = 1
                    break
                except Exception as error:  # the simulator refused the request (SimulatorControlError)
                    self.write(f"! the simulator refused: {error}\n")
            if status == 0 and self.linger > 0:
                deadline = time.monotonic() + self.linger
                while time.monotonic() < deadline and not self.connection_lost:
                    time.sleep(min(0.05, self.linger))
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
            with self._write_lock:
                if self.interactive:
                    self.output.write("\n")
                self.output.write("Hung up.\n")
                self.output.flush()
        return status
