"""Shared by every benchmark: repeat a measurement, report the median and the machine's noise."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass(frozen=True)
class Figures:
    name: str
    unit: str
    runs: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def spread_percent(self) -> float:
        """(max - min) / median: how much the machine's noise moved the figure across runs."""
        return 100.0 * (max(self.runs) - min(self.runs)) / self.median if self.median else 0.0

    def line(self) -> str:
        shown = ", ".join(f"{run:,.0f}" if run >= 100 else f"{run:.2f}" for run in self.runs)
        median = f"{self.median:,.0f}" if self.median >= 100 else f"{self.median:.2f}"
        return f"{self.name}: median {median} {self.unit} (runs: {shown}; spread {self.spread_percent:.0f}%)"


def repeat(name: str, unit: str, measure_once: Callable[[], float], runs: int = 5) -> Figures:
    return Figures(name, unit, tuple(measure_once() for _ in range(runs)))


def machine() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}"


def run_reactor(reactor, profile: str | None = None) -> None:
    """Run the reactor until the benchmark stops it, under cProfile when `profile` names a file."""
    if not profile:
        reactor.run(installSignalHandlers=False)
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    reactor.run(installSignalHandlers=False)
    profiler.disable()
    profiler.dump_stats(profile)
    print(f"profile of the engine process written to {profile} (python -m pstats {profile})")


def run_in_reactor(reactor, work: Callable[[], object], stop_simulators: Callable[[], None], folder: Path,
                   profile: str | None = None) -> None:
    """Run `work()` (a Deferred-returning function) once the reactor runs; then stop the simulators
    and the reactor, and remove `folder`. A failure is printed and ends the benchmark (SystemExit)."""
    from twisted.internet import defer

    errors: list[Exception] = []

    @defer.inlineCallbacks
    def everything():
        try:
            yield work()
        except Exception as error:  # report, stop the reactor, end the benchmark outside it
            errors.append(error)
            traceback.print_exc()
        finally:
            stop_simulators()
            reactor.stop()

    reactor.callWhenRunning(everything)
    run_reactor(reactor, profile)
    shutil.rmtree(folder, ignore_errors=True)
    if errors:
        raise SystemExit(f"benchmark failed: {errors[0]!r}")


def append_run(title: str, module: str, lines: list[str]) -> None:
    """Add a run's figures to benchmarks/RESULTS.md under a dated heading, with the command line
    that produced them (without `--append`)."""
    command = " ".join([f"python -m benchmarks.{module}", *sys.argv[1:]]).replace(" --append", "")
    with RESULTS.open("a") as results_file:
        results_file.write(f"\n### {title} ({time.strftime('%Y-%m-%d %H:%M')})\n\n{machine()}. "
                           f"`.venv/bin/{command}`\n\n" + "".join(f"- {line}\n" for line in lines))
