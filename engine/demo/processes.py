"""Starting and stopping the real processes the demo (and the end-to-end tests) play with: the
SMSC simulator and `tpo run`, each a `tpo` subprocess of the same installation."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

TPO = [sys.executable, "-m", "engine"]
_LISTENING = re.compile(r"smsc-sim listening smpp=([\d.]+):(\d+) control=([\d.]+):(\d+)")


@dataclass
class RunningProcess:
    name: str
    process: subprocess.Popen
    log_path: Path

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait for the graceful exit; SIGKILL only if it hangs. Returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Simulator(RunningProcess):
    smpp_port: int = 0
    control_port: int = 0


def _environment(extra: dict | None) -> dict:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TPO_")}
    environment.update(extra or {})
    return environment


def start_simulator(workdir: Path, *options: str, env: dict | None = None, timeout: float = 20.0) -> Simulator:
    """`tpo smsc-sim` on free ports, its log in `workdir`."""
    command = [*TPO, "smsc-sim", "--port", "0", "--control-port", "0", *options]
    return launch_simulator(command, workdir, workdir / "smsc-sim.log", env, timeout)


def launch_simulator(command: list[str], cwd: Path, log_path: Path, env: dict | None = None,
                     timeout: float = 20.0) -> Simulator:
    """Start any command that runs the simulator and prints its `smsc-sim listening` line (a
    benchmark may run its own entry point); returns once both ports are known."""
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=cwd, env=_environment(env), stdout=subprocess.PIPE, stderr=log, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = _LISTENING.search(line)
        if match:
            return Simulator("smsc-sim", process, log_path, int(match.group(2)), int(match.group(4)))
    process.kill()
    raise RuntimeError(f"the SMSC simulator did not start:\n{log_path.read_text(errors='replace')[-2000:]}")


def start_engine(workdir: Path, config_dir: Path, name: str = "engine", env: dict | None = None) -> RunningProcess:
    log_path = workdir / f"{name}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [*TPO, "run", "--config", str(config_dir)], cwd=workdir, env=_environment(env),
            stdout=log, stderr=subprocess.STDOUT, text=True,
        )
    return RunningProcess(name, process, log_path)


def run_tpo(workdir: Path, *args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*TPO, *args], cwd=workdir, env=_environment(env), capture_output=True, text=True,
                          timeout=timeout)
