"""Benchmark, not a test: a POST to 100,000 followers, from the rule to the last submit_sm answered.

    .venv/bin/python -m benchmarks.fanout_submit [--followers 100000] [--runs 3] [--append] [--profile FILE]

The other half of benchmarks/fanout.py (which times the enqueue alone). The SMSC is
`tpo smsc-sim --benchmark` (no latency, no receipts) in a process of its own; the engine is an
`EngineService` built in this process as benchmarks/smpp_throughput.py builds it (copy of config/,
window 64, no MT throughput cap, scheduler and HTTP off, quiet hours off), on SQLite (WAL).

Per run: the post's MTs are removed, the author POSTs through the real `post` rule with the SQL
repository, `OutboxPort` and the service's own smpp Outbox in one transaction (timed: "enqueue"),
then a fresh EngineService binds (not timed) and its `MtDispatcher` starts. Timed ("submit"): from
`dispatcher.start()` until the write-behind flush that records the last part as `submitted` has
committed (claim -> submit_sm -> submit_sm_resp -> UPDATE). Afterwards every part must be
`submitted`. Followers: 2% with notifications off, a third French on Paris time (as fanout.py).

Target (the issue): submit at the link's throughput, >= 5,000 submit_sm/s with an uncapped SMSC.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import Figures, append_run, machine, run_in_reactor  # noqa: E402

TARGET_PER_SECOND = 5_000
AUTHOR = "+447400000000"


def run_all(followers: int, runs: int, profile: str | None) -> list[tuple[int, float, float]]:
    from sqlalchemy import delete, func, select
    from twisted.internet import defer, reactor

    from benchmarks.fanout import build
    from benchmarks.mo_commands import commands_config
    from benchmarks.smpp_throughput import (
        build_engine, close_database, open_database, simulator_process, submission_seconds)
    from engine.hostnet.provisioning import ProvisioningService
    from engine.social_sms import actions
    from engine.social_sms.context import SocialContext
    from engine.social_sms.memory_repository import FixedBilling
    from engine.social_sms.wiring import social_ports
    from engine.store.schema import mt_messages, posts

    results: list[tuple[int, float, float]] = []
    folder = Path(tempfile.mkdtemp(prefix="tpo-bench-fanout-submit-"))
    simulator = simulator_process(folder, "--benchmark")

    @defer.inlineCallbacks
    def one_run(config, database, context, attempt: int):
        now = datetime.now(timezone.utc)
        service = build_engine(reactor, config, database.engine)
        with database.engine.begin() as connection:
            connection.execute(delete(mt_messages))
            connection.execute(delete(posts))
        started = time.perf_counter()
        with database.engine.begin() as connection:
            ports = social_ports(connection, context, lambda _connection: FixedBilling(), service.outbox,
                                 ProvisioningService(), now)
            outcome = actions.post(context, ports, AUTHOR, f"Rally at the town hall, take {attempt}", now)
        enqueue_seconds = time.perf_counter() - started
        with database.engine.connect() as connection:
            parts = connection.execute(select(func.count()).select_from(mt_messages)).scalar_one()
        assert parts == outcome.fanned_out > 0, (parts, outcome)
        seconds = yield submission_seconds(reactor, service, database, parts)
        return parts, enqueue_seconds, seconds

    @defer.inlineCallbacks
    def work():
        config = commands_config(folder, simulator.smpp_port)
        context = SocialContext.from_config(config)
        database = open_database("sqlite", folder)
        started = time.perf_counter()
        build(database.engine, followers)
        print(f"  built {followers:,} followers in {time.perf_counter() - started:.1f} s", flush=True)
        try:
            for attempt in range(runs):
                parts, enqueue, submit = yield one_run(config, database, context, attempt)
                results.append((parts, enqueue, submit))
                print(f"  run {attempt + 1}: {parts:,} MTs enqueued in {enqueue:.2f} s, submitted in "
                      f"{submit:.2f} s = {parts / submit:,.0f} submit_sm/s; post to last submit "
                      f"{enqueue + submit:.2f} s", flush=True)
        finally:
            close_database(database)

    run_in_reactor(reactor, work, simulator.stop, folder, profile)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description="POST to N followers: enqueue, then submit through the dispatcher.")
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", default=None, help="write a cProfile of the engine process here")
    parser.add_argument("--append", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    args = parser.parse_args()
    print(machine(), flush=True)
    results = run_all(args.followers, args.runs, args.profile)
    parts = results[0][0]
    rate = Figures(f"SQLite, POST to {args.followers:,} followers ({parts:,} MTs), submit through the dispatcher, "
                   "window 64, uncapped simulator", "submit_sm/s", tuple(p / s for p, _e, s in results))
    submit = Figures("submit time", "s", tuple(s for _p, _e, s in results))
    total = Figures("POST to last submit_sm answered (enqueue + submit)", "s", tuple(e + s for _p, e, s in results))
    lines = [rate.line() + "; target >= 5,000/s: " + (
        "met" if rate.median >= TARGET_PER_SECOND else f"MISSED by {TARGET_PER_SECOND - rate.median:,.0f}/s"),
        submit.line(), total.line()]
    print("\n".join(lines))
    if args.append:
        append_run("Fan-out submit run", "fanout_submit", lines)


if __name__ == "__main__":
    main()
