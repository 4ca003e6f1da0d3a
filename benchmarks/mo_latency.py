"""Benchmark, not a test: MO -> reply latency at a steady MO rate, measured at the handsets.

    .venv/bin/python -m benchmarks.mo_latency [--rate 500] [--seconds 20] [--runs 3]
        [--backends sqlite,postgresql] [--append] [--profile FILE]

The SMSC is `tpo smsc-sim --benchmark` in a process of its own; its control port's `load` command
(engine/smpp/simulator_control.py) makes 100 virtual handsets send `rate` MO per second, round
robin, for `seconds`, each text unique. The engine runs in this process, built from a copy of the
project's config/ exactly as `tpo run` builds it (`EngineService`, window 64, scheduler and HTTP
off), with a trivial echo handler as the command rules: this is a link-level benchmark of the MO
path (deliver_sm -> store -> deliver_sm_resp -> claim -> handler -> outbox -> submit_sm), not of
the social rules. Latency is measured in the simulator's clock, from the handset sending the MO to
the reply's submit_sm reaching the handset; percentiles over every MO of a run. A 3-second warm-up
load is run first and not counted.

Target (the issue): p99 <= 50 ms at 500 MO/s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import Figures, append_run, machine, run_in_reactor  # noqa: E402
from benchmarks.smpp_throughput import (  # noqa: E402
    build_engine, close_database, engine_config, open_database, settle_statistics, simulator_process, wait_until)

TARGET_P99_MS = 50.0
HANDSETS = 100


def run_all(backends, rate: float, seconds: float, runs: int, profile: str | None):
    from twisted.internet import defer, reactor, threads

    from engine.smpp.simulator_control import SimulatorControlClient

    results: dict[str, list[dict]] = {}
    folder = Path(tempfile.mkdtemp(prefix="tpo-bench-mo-"))
    simulator = simulator_process(folder, "--benchmark")

    def load(run_seconds: float) -> dict:
        with SimulatorControlClient("127.0.0.1", simulator.control_port) as client:
            return client.request("load", rate=rate, seconds=run_seconds, handsets=HANDSETS, grace=5,
                                  timeout=run_seconds + 10)

    @defer.inlineCallbacks
    def work():
        config = engine_config(folder, simulator.smpp_port, 64)
        for backend in backends:
            database = open_database(backend, folder)
            service = build_engine(reactor, config, database.engine)
            try:
                service.start(listen_http=False)
                yield wait_until(reactor, lambda: all(link.is_bound for link in service.links), 10, "bind")
                yield threads.deferToThread(load, 3.0)  # warm-up, not counted
                for attempt in range(runs):
                    settle_statistics(database)
                    reply = yield threads.deferToThread(load, seconds)
                    results.setdefault(backend, []).append(reply)
                    latency = reply["latency_ms"]
                    print(f"  {backend} run {attempt + 1}: {reply['sent']:,} MO at {rate:g}/s, "
                          f"{reply['answered']:,} answered, {reply['unanswered']} unanswered; "
                          f"p50 {latency['p50']} ms, p90 {latency['p90']} ms, p99 {latency['p99']} ms, "
                          f"max {latency['max']} ms", flush=True)
            finally:
                yield service.stop()
                close_database(database)

    run_in_reactor(reactor, work, simulator.stop, folder, profile)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="MO -> reply latency at a steady MO rate.")
    parser.add_argument("--rate", type=float, default=500.0, help="MO per second (default 500)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of one run (default 20)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite", help="sqlite,postgresql (default sqlite)")
    parser.add_argument("--profile", default=None, help="write a cProfile of the engine process here")
    parser.add_argument("--append", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    args = parser.parse_args()
    print(machine(), flush=True)
    results = run_all([b for b in args.backends.split(",") if b], args.rate, args.seconds, args.runs, args.profile)
    lines = []
    for backend, replies in results.items():
        for name in ("p50", "p99"):
            figures = Figures(f"{backend}, {args.rate:g} MO/s for {args.seconds:g} s, MO -> reply {name}", "ms",
                              tuple(reply["latency_ms"][name] for reply in replies))
            verdict = ""
            if name == "p99":
                verdict = "; target p99 <= 50 ms: " + (
                    "met" if figures.median <= TARGET_P99_MS else
                    f"MISSED by {figures.median - TARGET_P99_MS:.1f} ms")
            lines.append(figures.line() + verdict)
        lost = sum(reply["unanswered"] for reply in replies)
        lines.append(f"{backend}: {sum(reply['answered'] for reply in replies):,} MO answered, {lost} unanswered "
                     f"within 5 s after the last MO; max {max(reply['latency_ms']['max'] for reply in replies)} ms")
    print("\n".join(lines))
    if args.append:
        append_run("MO -> reply latency run", "mo_latency", lines)


if __name__ == "__main__":
    main()
