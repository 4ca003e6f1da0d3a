"""Benchmark, not a test: MT throughput, outbox rows -> SMSC -> recorded `submitted`, over loopback.

    .venv/bin/python -m benchmarks.smpp_throughput [--backends sqlite,postgresql] [--windows 1,10,64]
        [--latencies 0,10] [--runs 5] [--scale 1.0] [--append] [--profile FILE]

The SMSC is `tpo smsc-sim --benchmark --latency-ms L` in a process of its own (so engine and
simulator each get one of the machine's 2 cores); the engine is built in this process from a copy of
the project's config/ (bind port, window W, throughput_per_second 1,000,000, scheduler and HTTP off)
with `EngineService(reactor, config, database, EngineParts(...))`, exactly as `tpo run` builds it.

Per run, not timed: empty `mt_messages`, enqueue N one-part messages (40-character GSM-7 text, one
destination each) with the real `Outbox.enqueue`, build a fresh EngineService and bring its bind up.
Timed: from `dispatcher.start()` (which claims the first batch) until the write-behind flush that
records the N-th part as `submitted` has committed: claim -> submit_sm -> submit_sm_resp ->
UPDATE ... state='submitted'. Afterwards the database is checked: all N rows must be `submitted`.

The codec floors (`benchmarks/codec_floor.py`) are measured in the same run, and the ratio
engine throughput / bare-smpplib codec pairs per second is reported.

Databases: SQLite (WAL, the embedded default) in a temporary folder under /tmp; PostgreSQL at
$TPO_BENCH_POSTGRESQL_URL (default postgresql://127.0.0.1:5432/test) in a schema of its own, dropped
afterwards. Target (the issue): >= 10,000 submit_sm/s sustained at window 64 and 0 ms latency.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import Figures, append_run, machine, run_in_reactor  # noqa: E402
from engine.demo.processes import Simulator, start_simulator  # noqa: E402

POSTGRESQL_URL = os.environ.get("TPO_BENCH_POSTGRESQL_URL", "postgresql://127.0.0.1:5432/test")
TARGET_PER_SECOND = 10_000
TEXT = "Rally at the town hall, Saturday 10:00!!"

# Messages per run at scale 1.0: each run lasts several seconds ("sustained"), more at window 64.
MESSAGES = {(1, 0): 10_000, (10, 0): 40_000, (64, 0): 100_000,
            (1, 10): 500, (10, 10): 5_000, (64, 10): 40_000}


# --------------------------------------------------------------------------- the simulator process


def simulator_process(folder: Path, *options: str) -> Simulator:
    """`tpo smsc-sim` in a child process on free ports, quiet (the engine under test is what is timed)."""
    return start_simulator(folder, "--log-level", "WARNING", *options)


# --------------------------------------------------------------------------- engine and databases


def engine_config(folder: Path, smpp_port: int, window: int, extra_smpp: str = ""):
    """A copy of the project's config/ pointed at the simulator: window, no throughput cap, no scheduler/HTTP."""
    from engine.config.loader import load_config

    directory = folder / f"config-{smpp_port}-w{window}"
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(ROOT / "config", directory)
    path = directory / "engine.toml"
    text = path.read_text()
    edits = [
        ("port = 2775", f"port = {smpp_port}"),
        ("window = 64", f"window = {window}"),
        ("throughput_per_second = 200", "throughput_per_second = 1000000"),
        ('long_messages = "udh"', 'long_messages = "udh"' + ("\n" + extra_smpp if extra_smpp else "")),
        ("[scheduler]\nenabled = true", "[scheduler]\nenabled = false"),
        ("[http]\nenabled = true", "[http]\nenabled = false"),
    ]
    for old, new in edits:
        if old not in text:
            raise RuntimeError(f"config/engine.toml no longer contains {old!r}; update the benchmark")
        text = text.replace(old, new, 1)
    path.write_text(text)
    return load_config(directory, environ={})


@dataclass
class Database:
    name: str
    engine: object
    schema: str | None = None


def open_database(name: str, folder: Path) -> Database:
    from sqlalchemy import create_engine, text

    from engine.store.database import make_engine
    from engine.store.migrate import upgrade

    if name == "sqlite":
        database = Database(name, make_engine(f"sqlite:///{folder}/bench.db"))
    elif name == "postgresql":
        schema = f"tpo_bench_{uuid.uuid4().hex[:10]}"
        admin = make_engine(POSTGRESQL_URL)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = make_engine(POSTGRESQL_URL).url.render_as_string(hide_password=False)
        database = Database(name, create_engine(f"{url}?options={quote(f'-csearch_path={schema}')}", future=True), schema)
    else:
        raise ValueError(f"unknown backend {name!r}")
    upgrade(database.engine)
    return database


def settle_statistics(database: Database) -> None:
    """PostgreSQL: ANALYZE, as autovacuum does on a running system within a minute of a table's
    growth. A schema made seconds ago has no statistics: the generic plans psycopg's prepared
    statements get then scan whole tables, and the MO dedupe lookup took 1.5 ms at 10,000 rows and
    4.4 ms at 20,000 where it takes 0.03 ms with statistics. Nothing to do on SQLite."""
    if database.name == "postgresql":
        with database.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")


def close_database(database: Database) -> None:
    from sqlalchemy import text

    from engine.store.database import make_engine

    database.engine.dispose()
    if database.schema:
        admin = make_engine(POSTGRESQL_URL)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{database.schema}" CASCADE'))
        admin.dispose()


def echo_handler(connection, message, now):
    """A stand-in for the command rules (link-level benchmarks): one reply that repeats the text."""
    from engine.smpp.outbox import OutgoingMessage

    return [OutgoingMessage(message.source, f"echo: {message.text}", "reply", reply_to_mo_id=message.id)]


def build_engine(reactor, config, database):
    from engine.service.engine_service import EngineParts, EngineService

    return EngineService(reactor, config, database, EngineParts(handlers={"sms": echo_handler, "ussd": echo_handler}))


def wait_until(reactor, condition, timeout: float, what: str, interval: float = 0.01):
    from twisted.internet import defer, task

    @defer.inlineCallbacks
    def waiting():
        waited = 0.0
        while not condition():
            if waited >= timeout:
                raise TimeoutError(f"{what} not within {timeout:g} s")
            yield task.deferLater(reactor, interval, lambda: None)
            waited += interval

    return waiting()


# --------------------------------------------------------------------------- one run


def one_run(reactor, config, database: Database, messages: int):
    """Deferred firing with (seconds, submit_sm per second) for `messages` parts through the full path."""
    from datetime import datetime, timezone

    from sqlalchemy import delete, text
    from twisted.internet import defer

    from engine.smpp.outbox import OutgoingMessage
    from engine.store.schema import mt_messages

    @defer.inlineCallbacks
    def run():
        service = build_engine(reactor, config, database.engine)
        with database.engine.begin() as connection:
            if database.name == "postgresql":
                # TRUNCATE, not DELETE: dead tuples of earlier runs would slow every later run's claims.
                connection.execute(text("TRUNCATE mt_messages"))
            else:
                connection.execute(delete(mt_messages))
            batch = [OutgoingMessage(f"+4474{i:08d}", TEXT) for i in range(messages)]
            service.outbox.enqueue(connection, batch, datetime.now(timezone.utc))
        if database.name == "postgresql":
            with database.engine.begin() as connection:
                connection.execute(text("ANALYZE mt_messages"))  # a live outbox table has statistics
        seconds = yield submission_seconds(reactor, service, database, messages)
        return seconds, messages / seconds

    return run()


def submission_seconds(reactor, service, database: Database, parts: int):
    """Deferred firing with the seconds from the dispatcher's start until the answers of all `parts`
    queued parts are recorded (the write-behind observed); binds the links first, stops the service
    after, and checks that the table holds them all as submitted."""
    from sqlalchemy import func, select
    from twisted.internet import defer

    from engine.store.schema import mt_messages

    @defer.inlineCallbacks
    def run():
        for link in service.links:
            link.start()
        yield wait_until(reactor, lambda: all(link.is_bound for link in service.links), 10, "bind")

        dispatcher = service.dispatcher
        done = defer.Deferred()
        recorded = [0]
        flush = dispatcher._flusher.f  # the write-behind flush, run every flush_interval

        def observed_flush():
            pending = len(dispatcher._accepted)
            flush()
            recorded[0] += pending - len(dispatcher._accepted)  # a failed flush keeps its rows
            if recorded[0] >= parts and not done.called:
                done.callback(time.perf_counter())

        dispatcher._flusher.f = observed_flush
        started = time.perf_counter()
        dispatcher.start()
        finished = yield done
        yield service.stop()
        with database.engine.connect() as connection:
            submitted = connection.execute(
                select(func.count()).select_from(mt_messages).where(mt_messages.c.state == "submitted")).scalar_one()
        if submitted != parts:
            raise AssertionError(f"{submitted} of {parts} parts recorded as submitted")
        return finished - started

    return run()


# --------------------------------------------------------------------------- the whole benchmark


@dataclass
class Result:
    backend: str
    window: int
    latency_ms: int
    messages: int
    figures: Figures


def run_all(backends, windows, latencies, runs, scale, profile: str | None):
    from twisted.internet import defer, reactor

    results: list[Result] = []
    simulators: dict[int, Simulator] = {}
    folder = Path(tempfile.mkdtemp(prefix="tpo-bench-smpp-"))

    @defer.inlineCallbacks
    def work():
        for latency in latencies:
            simulators[latency] = simulator_process(folder, "--benchmark", "--latency-ms", str(latency))
        for backend in backends:
            database = open_database(backend, folder)
            try:
                for latency in latencies:
                    simulator = simulators[latency]
                    for window in windows:
                        config = engine_config(folder, simulator.smpp_port, window)
                        count = max(100, int(MESSAGES.get((window, latency), 10_000) * scale))
                        # Fewer runs where a run is short and quiet; all of them for the target.
                        repeats = runs if (window, latency) == (64, 0) else max(3, runs - 2)
                        rates = []
                        for attempt in range(repeats):
                            seconds, rate = yield one_run(reactor, config, database, count)
                            rates.append(rate)
                            print(f"  {backend} window {window} latency {latency} ms run {attempt + 1}: "
                                  f"{count:,} in {seconds:.2f} s = {rate:,.0f}/s", flush=True)
                        figures = Figures(f"{backend}, window {window}, latency {latency} ms, {count:,} parts",
                                          "submit_sm/s", tuple(rates))
                        results.append(Result(backend, window, latency, count, figures))
                        print(figures.line(), flush=True)
            finally:
                close_database(database)

    def stop_simulators() -> None:
        for simulator in simulators.values():
            simulator.stop()

    run_in_reactor(reactor, work, stop_simulators, folder, profile)
    shown = {latency: f"tpo smsc-sim --port 0 --control-port 0 --benchmark --latency-ms {latency}" for latency in latencies}
    return results, shown


def main() -> None:
    parser = argparse.ArgumentParser(description="MT throughput through the full outbox -> SMSC -> DB path.")
    parser.add_argument("--backends", default="sqlite", help="sqlite,postgresql (default sqlite)")
    parser.add_argument("--windows", default="1,10,64")
    parser.add_argument("--latencies", default="0,10", help="simulated SMSC latency in ms")
    parser.add_argument("--runs", type=int, default=5, help="runs at window 64/0 ms (others: runs - 2, at least 3)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the messages per run")
    parser.add_argument("--codec-seconds", type=float, default=2.0)
    parser.add_argument("--profile", default=None, help="write a cProfile of the engine process here")
    parser.add_argument("--append", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    windows = [int(w) for w in args.windows.split(",")]
    latencies = [int(v) for v in args.latencies.split(",")]

    from benchmarks.codec_floor import measure_floors

    print(machine(), flush=True)
    smpplib_before, ours_before = measure_floors(3, args.codec_seconds)
    print(smpplib_before.line())
    print(ours_before.line(), flush=True)
    results, _shown = run_all(backends, windows, latencies, args.runs, args.scale, args.profile)
    smpplib_after, ours_after = measure_floors(2, args.codec_seconds)
    smpplib = Figures(smpplib_before.name, smpplib_before.unit, smpplib_before.runs + smpplib_after.runs)
    ours = Figures(ours_before.name, ours_before.unit, ours_before.runs + ours_after.runs)
    print(smpplib.line())
    print(ours.line())
    lines = []
    for result in results:
        ratio = result.figures.median / smpplib.median
        verdict = ""
        if (result.window, result.latency_ms) == (64, 0):
            verdict = "; target >= 10,000/s: " + (
                "met" if result.figures.median >= TARGET_PER_SECOND else
                f"MISSED by {TARGET_PER_SECOND - result.figures.median:,.0f}/s "
                f"({100 * (1 - result.figures.median / TARGET_PER_SECOND):.0f}%)")
        lines.append(f"{result.figures.line()}; {ratio:.2f}x the smpplib codec loop{verdict}")
    print("\n".join(lines))
    if args.append:
        append_run("MT throughput run", "smpp_throughput", [smpplib.line(), ours.line(), *lines])


if __name__ == "__main__":
    main()
