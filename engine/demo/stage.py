"""What the demo's acts share: the config it generated, the processes it started, the phones, and
the facts each act leaves for the account at the end."""

from __future__ import annotations

import shutil
import time
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import tomli_w
from sqlalchemy import Engine

from engine.config.loader import Config, load_config
from engine.demo.processes import RunningProcess, Simulator
from engine.smpp.simulator_control import SimulatorControlClient


class DemoFailed(RuntimeError):
    """Something the demo waited for did not happen; the message says what, for the newcomer."""


def wait_until(condition, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise DemoFailed(f"{what} did not happen within {timeout:.0f} s")


def demo_config(project_config: Path, folder: Path, smpp_port: int) -> Path:
    """The project's config with the demo's own database, folders and simulator port.

    Quiet hours are off: the demo plays a month in under a minute, whatever the time of day.
    """
    target = folder / "config"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(project_config, target)
    engine = tomllib.loads((target / "engine.toml").read_text())
    engine["database"]["url"] = f"sqlite:///{folder / 'tpo.db'}"
    for bind in engine["smpp"]["binds"]:
        bind.update(port=smpp_port, host="127.0.0.1", reconnect_min_seconds=0.1, reconnect_max_seconds=1)
    engine["http"]["port"] = 0
    engine["folders"] = {key: str(folder / "hostnet" / key.replace("_", "-")) for key in (
        "provisioning_out", "acknowledgements_in", "events_in", "statements_in", "usage_in", "processed", "rejected")}
    engine["folders"]["poll_seconds"] = 0.2
    (target / "engine.toml").write_text(tomli_w.dumps(engine))
    social = tomllib.loads((target / "social.toml").read_text())
    social.setdefault("quiet_hours", {})["enabled"] = False
    (target / "social.toml").write_text(tomli_w.dumps(social))
    return target


class Phone:
    """One virtual handset, used like a person would: text, then read the answer."""

    def __init__(self, control: SimulatorControlClient, msisdn: str, name: str | None = None):
        self.control = control
        self.msisdn = msisdn
        self.name = name
        self.read = 0
        self.screens_seen = 0

    def send(self, text: str) -> None:
        self.control.mo(self.msisdn, text)

    def new_messages(self, count: int = 1, timeout: float = 15.0) -> list[str]:
        """The next `count` messages this phone receives, in order."""
        messages = self.control.wait_for_messages(self.msisdn, self.read + count, timeout=timeout)
        fresh = messages[self.read:]
        self.read = len(messages)
        return fresh

    def text(self, body: str) -> str:
        self.send(body)
        return self.new_messages(1)[0]

    def dial(self, code: str) -> str:
        self.control.dial(self.msisdn, code)
        return self._next_screen()

    def answer(self, text: str) -> str:
        self.control.answer(self.msisdn, text)
        return self._next_screen()

    def _next_screen(self, timeout: float = 15.0) -> str:
        screens = self.control.request("wait", msisdn=self.msisdn, screens=self.screens_seen + 1,
                                       timeout=timeout)["screens"]
        self.screens_seen = len(screens)
        return screens[-1]


@dataclass
class DemoStage:
    project_config: Path
    folder: Path
    started_at: datetime
    config: Config | None = None
    database: Engine | None = None
    simulator: Simulator | None = None
    engine: RunningProcess | None = None
    control: SimulatorControlClient | None = None
    phones: list[Phone] = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    def load_config(self, directory: Path) -> Config:
        self.config = load_config(directory, environ={})
        return self.config

    def close(self) -> list[str]:
        """Stop every process the demo started; returns lines saying how each ended."""
        lines = []
        if self.control is not None:
            self.control.close()
        for process in (self.engine, self.simulator):
            if process is not None:
                status = process.stop()
                lines.append(f"{process.name} stopped (exit status {status}).")
        if self.database is not None:
            self.database.dispose()
        return lines
