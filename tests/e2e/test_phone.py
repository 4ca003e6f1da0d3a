"""`tpo phone`: the dispatch logic with a fake control client, then the real thing in a
pseudo-terminal beside `tpo smsc-sim` and `tpo run`."""

from __future__ import annotations

import codecs
import fcntl
import io
import os
import queue
import select
import signal
import subprocess
import termios
import time

import pytest

from engine.demo.processes import TPO, _environment, run_tpo, start_engine, start_simulator
from engine.phone import Phone, format_screen, format_sms, looks_like_ussd_code
from engine.smpp.simulator_control import SimulatorControlClient, SimulatorControlError
from tests.support.configs import copy_project_config, replace_in

ANN = "+447400100001"
TIMEOUT = 15.0


# --------------------------------------------------------------------------- Phone, in memory


class FakeSimulator:
    """Records what the phone sends; `events` plays the subscribed connection."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []
        self.subscribed: list[str] = []
        self.events: queue.Queue = queue.Queue()
        self.ussd_session = False  # as the simulator's handset: open from dial until an ending screen

    def mo(self, sender, text, *, wait=False, **options):
        self.sent.append(("mo", sender, text))
        return {"ok": True, "queued": True}

    def dial(self, sender, code, *, wait=False):
        self.sent.append(("dial", sender, code))
        self.ussd_session = True
        return {"ok": True, "queued": True}

    def answer(self, sender, text, *, wait=False):
        if not self.ussd_session:
            raise SimulatorControlError(f"{sender}: no USSD dialogue is open; dial first")
        self.sent.append(("answer", sender, text))
        return {"ok": True, "queued": True}

    def subscribe(self, msisdn):
        self.subscribed.append(msisdn)
        return {"ok": True, "msisdn": msisdn}

    def next_event(self, timeout=None):
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def screen(self, phone: Phone, text: str, ends: bool) -> None:
        if ends:
            self.ussd_session = False
        phone.show_event({"event": "ussd", "msisdn": ANN, "text": text, "ends": ends, "session": 1})


def test_lines_are_texts_ussd_codes_are_dialled_and_answers_follow_the_open_dialogue():
    fake, out = FakeSimulator(), io.StringIO()
    phone = Phone(fake, ANN, io.StringIO(), out)

    assert phone.handle_line("JOIN\n") == "sms"
    assert phone.handle_line("   \n") is None                  # nothing to send
    assert phone.handle_line("*767#\n") == "dial"
    assert phone.ussd_open                                     # answers typed before the screen belong to it
    fake.screen(phone, "People's Mobile\n1. Join\n6. Settings", ends=False)
    assert phone.handle_line("6") == "answer"
    fake.screen(phone, "Settings\n0. Back", ends=False)
    assert phone.handle_line("0") == "answer"
    fake.screen(phone, "Thank you for using People's Mobile.", ends=True)
    assert not phone.ussd_open
    assert phone.handle_line("1") == "sms"                     # the dialogue ended: texts again
    assert phone.handle_line("*767*2#") == "dial"              # a shortcut is a dial too
    assert phone.handle_line("*767#") == "dial"                # a code while a dialogue is open starts anew

    assert fake.sent == [("mo", ANN, "JOIN"), ("dial", ANN, "*767#"), ("answer", ANN, "6"),
                         ("answer", ANN, "0"), ("mo", ANN, "1"), ("dial", ANN, "*767*2#"),
                         ("dial", ANN, "*767#")]
    text = out.getvalue()
    assert "> JOIN\n" in text and "> *767#\n" in text
    assert "  | People's Mobile\n  | 1. Join\n" in text
    assert "type your answer" in text and "end of dialogue" in text


def test_an_answer_after_the_simulator_closed_the_dialogue_is_not_texted_by_surprise():
    fake, out = FakeSimulator(), io.StringIO()
    phone = Phone(fake, ANN, io.StringIO(), out)
    phone.handle_line("*767#")
    fake.ussd_session = False  # e.g. the screen that ended it was lost
    assert phone.handle_line("2") is None
    assert not phone.ussd_open
    assert "already ended, nothing was sent" in out.getvalue()
    assert phone.handle_line("2") == "sms"
    assert fake.sent == [("dial", ANN, "*767#"), ("mo", ANN, "2")]


def test_run_prints_arrivals_from_the_reader_thread_and_hangs_up_at_end_of_input():
    fake, out = FakeSimulator(), io.StringIO()
    fake.events.put({"event": "sms", "msisdn": ANN, "from": "767", "text": "Welcome to People's Mobile!\nText HELP",
                     "complete": True})
    fake.events.put({"event": "ussd", "msisdn": ANN, "text": "Session ended.", "ends": True, "session": 3})
    phone = Phone(fake, ANN, io.StringIO("JOIN\n"), out, events=fake, linger=1.0, poll_seconds=0.05)
    assert phone.run() == 0
    assert fake.subscribed == [ANN]
    assert fake.sent == [("mo", ANN, "JOIN")]
    text = out.getvalue()
    assert "< Welcome to People's Mobile!\n  Text HELP\n" in text
    assert "  | Session ended.\n" in text
    assert text.endswith("Hung up.\n")
    assert not phone.ussd_open


def test_a_refused_request_is_reported_and_the_phone_goes_on_but_a_lost_connection_ends_it():
    class Refusing(FakeSimulator):
        def mo(self, sender, text, **options):
            if text == "BAD":
                raise SimulatorControlError("mo: missing text")
            if text == "GONE":
                raise ConnectionError("the simulator closed the control connection")
            return super().mo(sender, text)

    fake, out = Refusing(), io.StringIO()
    phone = Phone(fake, ANN, io.StringIO("BAD\nOK\nGONE\nNEVER\n"), out)
    assert phone.run() == 1
    assert fake.sent == [("mo", ANN, "OK")]
    assert "! the simulator refused: mo: missing text" in out.getvalue()
    assert "! lost the simulator's control connection" in out.getvalue()


def test_formats_and_ussd_code_recognition():
    assert format_sms("hi") == "< hi\n"
    assert "incomplete" in format_sms("hal", complete=False)
    assert format_screen("Menu\n1. A", ends=True).splitlines()[1:3] == ["  | Menu", "  | 1. A"]
    for code in ("*767#", "*767*2#", "*767*2*1#", "#123#", " *767# "):
        assert looks_like_ussd_code(code), code
    for text in ("JOIN", "*767", "767#", "*#", "1", "POST *hello#", "*7 67#"):
        assert not looks_like_ussd_code(text), text


# --------------------------------------------------------------------------- the real thing

pty_tests = pytest.mark.slow


class Terminal:
    """`tpo phone` in a pseudo-terminal (its controlling terminal, so ^C is SIGINT and ^D is EOF)."""

    def __init__(self, *args: str, cwd, env: dict | None = None) -> None:
        master, slave = os.openpty()

        def take_terminal() -> None:  # runs in the child after setsid, with fd 0 on the slave
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            # As in a terminal's own session, ^C interrupts: a suite started in the background by a
            # shell without job control (`make test &`) ignores SIGINT, the phone would inherit
            # that, and Python then installs no KeyboardInterrupt for it.
            signal.signal(signal.SIGINT, signal.SIG_DFL)

        self.process = subprocess.Popen(
            [*TPO, "phone", *args], stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
            env=_environment({"TERM": "dumb", **(env or {})}), start_new_session=True,
            preexec_fn=take_terminal, close_fds=True)
        os.close(slave)
        self.master = master
        self.screen = ""
        self._mark = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def type(self, text: str) -> None:
        os.write(self.master, text.encode("utf-8"))

    def type_at_prompt(self, text: str) -> None:
        """Type once the phone's prompt is up: input typed while the line editor is being set up
        can be discarded by the terminal."""
        self.read_until("> ")
        self.type(text)

    def read_until(self, text: str, timeout: float = TIMEOUT) -> str:
        """Wait until `text` appears after what the last call matched; returns the screen up to it."""
        deadline = time.monotonic() + timeout
        while text not in self.screen[self._mark:]:
            remaining = deadline - time.monotonic()
            ready = select.select([self.master], [], [], max(0.0, remaining))[0] if remaining > 0 else []
            if not ready:
                raise AssertionError(f"{text!r} did not appear within {timeout} s; the screen:\n{self.screen[-3000:]}")
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the phone exited and closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"the phone exited before {text!r} appeared; the screen:\n{self.screen[-3000:]}")
            self.screen += self._decoder.decode(chunk)
        end = self.screen.index(text, self._mark) + len(text)
        seen, self._mark = self.screen[self._mark:end], end
        return seen

    def wait(self, timeout: float = TIMEOUT) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.1)[0]:  # drain, so the phone never blocks on output
                try:
                    self.screen += self._decoder.decode(os.read(self.master, 65536))
                except OSError:
                    time.sleep(0.05)
        return self.process.wait(timeout=1)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)


def wait_until(condition, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout} s")


def engine_config(tmp_path, smpp_port: int):
    directory = copy_project_config(tmp_path)
    engine_toml = directory / "engine.toml"
    replace_in(engine_toml, "port = 2775", f"port = {smpp_port}\nreconnect_min_seconds = 0.1\nreconnect_max_seconds = 0.5")
    replace_in(engine_toml, "port = 9467", "port = 0")
    return directory


def sqlite_database(tmp_path) -> str:
    from engine.store.database import make_engine
    from engine.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'tpo.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pty_tests
def test_texting_joining_and_walking_the_ussd_menu_in_a_terminal_then_ctrl_d(tmp_path):
    simulator = start_simulator(tmp_path)
    engine = terminal = None
    try:
        config = engine_config(tmp_path, simulator.smpp_port)
        engine = start_engine(tmp_path, config, env={"TPO_DATABASE_URL": sqlite_database(tmp_path)})
        control = SimulatorControlClient("127.0.0.1", simulator.control_port)
        wait_until(lambda: control.request("binds")["binds"] or engine.process.poll() is not None,
                   what="the engine's bind")
        assert engine.process.poll() is None, engine.log_tail()

        terminal = Terminal("07400 100001", "--control", f"127.0.0.1:{simulator.control_port}",
                            "--config", str(config), cwd=tmp_path)
        banner = terminal.read_until("hangs up.")
        assert f"Phone {ANN}" in banner and "text it to 767" in banner and "*767#" in banner

        terminal.type_at_prompt("JOIN\r")
        terminal.read_until("< Welcome to People's Mobile! Your line is being activated.")

        terminal.type_at_prompt("*767#\r")
        menu = terminal.read_until("type your answer")
        assert "| People's Mobile" in menu and "| 6. Settings" in menu
        terminal.type_at_prompt("6\r")
        settings = terminal.read_until("type your answer")
        assert "| Settings" in settings and "| 1. Language" in settings
        terminal.type_at_prompt("0\r")                                            # back
        assert "| 2. Choose my cause" in terminal.read_until("type your answer")
        terminal.type_at_prompt("0\r")                                            # exit: the dialogue ends
        assert "Thank you for using People's Mobile." in terminal.read_until("end of dialogue")

        terminal.type_at_prompt("HELP\r")                                         # a text again, not an answer
        terminal.read_until("< People's Mobile: CAUSES, BILL")

        terminal.type_at_prompt("\x04")                                           # Ctrl-D
        terminal.read_until("Hung up.")
        assert terminal.wait() == 0

        submitted = [submit["text"] for submit in control.received(ANN)]
        assert any("Thank you for using" in text for text in submitted)  # the screens really went through SMPP
        assert engine.process.poll() is None, engine.log_tail()
    finally:
        if terminal is not None:
            terminal.close()
        if engine is not None:
            engine.stop()
        simulator.stop()


@pty_tests
def test_ctrl_c_hangs_up_cleanly_and_a_text_waits_in_the_simulator_without_an_engine(tmp_path):
    simulator = start_simulator(tmp_path)
    terminal = None
    try:
        terminal = Terminal(ANN, "--control", f"127.0.0.1:{simulator.control_port}", cwd=tmp_path)
        assert "No engine is bound" in terminal.read_until("waits in its queue.")
        control = SimulatorControlClient("127.0.0.1", simulator.control_port)
        terminal.type_at_prompt("HELLO\r")
        wait_until(lambda: control.stats()["deliveries_queued"] == 1, what="the queued MO")
        # Ctrl-C only once the line editor holds the half-typed text (see type_at_prompt).
        terminal.read_until("HELLO")
        terminal.type_at_prompt("partly typ")
        terminal.read_until("partly typ")
        terminal.type("\x03")                                           # Ctrl-C
        terminal.read_until("Hung up.")
        assert terminal.wait() == 0
    finally:
        if terminal is not None:
            terminal.close()
        simulator.stop()


@pty_tests
def test_a_bad_number_exits_2_and_an_absent_simulator_exits_1_naming_the_address(tmp_path):
    result = run_tpo(tmp_path, "phone", "+4412", "--control", "127.0.0.1:9")
    assert result.returncode == 2
    assert "'+4412' is not" in result.stderr

    result = run_tpo(tmp_path, "phone", ANN, "--control", "127.0.0.1:9")
    assert result.returncode == 1
    assert "cannot reach the SMSC simulator's control port at 127.0.0.1:9" in result.stderr
