"""Benchmark, not a test: SMS commands end to end, with the real command rules, at a steady rate.

    .venv/bin/python -m benchmarks.mo_commands [--rate 2500] [--seconds 10] [--runs 3]
        [--senders N] [--audience 2000] [--receipts] [--backends sqlite,postgresql] [--append] [--profile FILE]

The SMSC is the simulator of `tpo smsc-sim --benchmark` (no delivery receipts; with `--receipts`,
one for every SMS reply, which the engine asks for, as a host network sends them) in a process of its own (this module run
with `--simulator-child`: the same CLI entry point and settings, plus one control command,
`commands`, that plays the mix below; the stock `load` command only sends `PING <tag>`). The engine
runs in this process, built by `engine.service.assembly.build_engine` (what `tpo run` runs: the
real SMS rules, rating's bill preview, provisioning) from a copy of config/ with window 64, no MT
throughput cap, scheduler and HTTP off, and `[quiet_hours] enabled = false`. Databases, one after
the other against the same simulator (`--backends`): SQLite (WAL) in a temporary folder, PostgreSQL
at $TPO_BENCH_POSTGRESQL_URL in a schema of its own, dropped afterwards (benchmarks/smpp_throughput.py).

Before the runs (not timed): `senders` joined line subscribers (handles `sub<N>`, a cause each,
each following 3 audience members and a cause) and `audience` subscribers who never send (handles
`fan<N>`, each following 5 senders, so a sender has ~`audience*5/senders` followers, the small
audience of its POSTs). Fan-out and follow notices go to the audience
only, so every MT a sender's handset receives is a reply to that sender.

Timed, in the simulator's clock: senders' MOs sent at `rate` per second, round robin over the
senders (a sender's next MO is `senders/rate` s later, far above the reply latency of an engine that keeps up; the flood
limit of config/social.toml, burst 10 and 6/min per number, is left as it is and is not reached:
the default senders, 5 per MO/s offered and at least 10,000, send at most 12 a minute each, which
its burst covers for 100 s of runs; more, at 15 a minute, ran 5,000 numbers out of tokens in the
fifth 10 s run at 2,500/s and their MOs went unanswered, as the flood limit means them to),
each MO's command drawn from the mix: BILL 20%, MYCAUSE 15%, WHOIS <handle> 15%, HELP 10%,
FOLLOWING 10%, CAUSES 10%, POST <unique text> 8%, FOLLOW <fan> 7%, UNFOLLOW <fan> 5% (see
`CommandMix` for why a sender's repeated BILL is written `BILL`, then `bILL`, `BiLL`...). An MO's
latency runs from the handset sending it to its reply reaching the handset (every command of the
mix has one reply, reassembled if long, and a sender's MOs are answered in order, so a sender's
k-th MT of a run answers its k-th MO). Throughput: MOs answered / (last reply - first MO);
replies are awaited up to GRACE (120 s) after the last MO, so an engine that falls behind shows
the rate it sustains. A 2-second warm-up at the same rate runs first and is not counted; before
each run the engine's backlog (MOs `received`, not yet handled) is drained as well, and PostgreSQL's
statistics are gathered (`settle_statistics`: what autovacuum does on a running system).

Targets (the issue): >= 2,000 commands/s and reply p99 <= 50 ms. The default offered rate is
2,500/s, above the target, because the throughput measured cannot exceed the offered rate (and at
exactly 2,000/s offered, the last reply's latency puts it a hair under: 20,000 answers over
10.003 s); p99 is judged at the same rate, so a run that meets both targets at 2,500/s meets them
at 2,000/s. `--rate 2000` measures at the target itself.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.harness import Figures, append_run, machine, run_in_reactor  # noqa: E402
from engine.demo.processes import launch_simulator  # noqa: E402

TARGET_RATE = 2000.0
DEFAULT_RATE = 2500.0
TARGET_P99_MS = 50.0
FIRST_SENDER = 447400100000
FIRST_FAN = 447400200000
FOLLOWERS_PER_FAN = 5
# How long after the last MO replies are awaited. Long, so that an engine that falls behind still
# answers everything within the run: its throughput is then what it sustains, and nothing of one
# run's backlog is left (in the simulator's queue or the inbox) to be counted in the next.
GRACE = 120.0
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
MIX = (("BILL", 20), ("MYCAUSE", 15), ("WHOIS", 15), ("HELP", 10), ("FOLLOWING", 10), ("CAUSES", 10),
       ("POST", 8), ("FOLLOW", 7), ("UNFOLLOW", 5))


class CommandMix:
    """The MOs of the runs: (sender number, text), drawn from MIX, deterministic.

    The engine drops an MO whose sender, text (and other fields) it already stored within its dedupe
    window (600 s: it takes it for the SMSC's redelivery), so no sender sends the same text twice in
    one benchmark: a text it sends again has its keyword in another mix of upper and lower case
    (keywords are case-insensitive), as people type them."""

    def __init__(self, senders: int, audience: int):
        self.senders, self.audience = senders, audience
        self.used: dict[tuple[int, str], int] = {}

    def text(self, run: str, index: int) -> tuple[int, str]:
        sender = index % self.senders
        rng = random.Random(f"{run}-{index}")
        word = rng.choices([w for w, _ in MIX], [p for _, p in MIX])[0]
        if word == "WHOIS":
            rest = f" sub{rng.randrange(self.senders)}"
        elif word in ("FOLLOW", "UNFOLLOW"):
            rest = f" fan{rng.randrange(self.audience)}"
        elif word == "POST":
            rest = f" Rally at the town hall {run} {index}, bring a friend"
        else:
            rest = ""
        times = self.used.get((sender, word + rest), 0)
        self.used[sender, word + rest] = times + 1
        return sender, "".join(c.lower() if times >> i & 1 else c for i, c in enumerate(word)) + rest


# --------------------------------------------------------------------------- the simulator side


def simulator_child(argv: list[str]) -> int:
    """`tpo smsc-sim --benchmark ...` with one more control command, `commands` (runs in the child)."""
    from twisted.internet import defer, task

    from engine.cli.main import main as tpo_main
    from engine.smpp import simulator_control

    mixes: dict[tuple[int, int], CommandMix] = {}

    def cmd_commands(protocol, request: dict):
        simulator, reactor = protocol.simulator, protocol.simulator.reactor
        rate, seconds = float(request["rate"]), float(request["seconds"])
        senders, audience, grace, run = int(request["senders"]), int(request["audience"]), float(request["grace"]), \
            str(request["run"])
        mix = mixes.setdefault((senders, audience), CommandMix(senders, audience))
        phones = [simulator.handset(f"+{FIRST_SENDER + i}") for i in range(senders)]
        already = [len(phone._mt) for phone in phones]
        total = int(rate * seconds)
        sent: list[tuple[int, float]] = []  # (sender, sent at)
        finished: defer.Deferred = defer.Deferred()
        started = reactor.seconds()
        waited_since = [0.0]

        def send_due() -> None:
            due = min(total, int((reactor.seconds() - started) * rate) + 1)
            while len(sent) < due:
                sender, text = mix.text(run, len(sent))
                sent.append((sender, reactor.seconds()))
                phones[sender].send_mo(text).addErrback(lambda _: None)
            if len(sent) >= total:
                sender_loop.stop()
                waited_since[0] = reactor.seconds()
                waiter.start(0.05)

        def wait_for_replies() -> None:
            arrived = sum(len(phone._mt) - before for phone, before in zip(phones, already))
            if arrived >= total or reactor.seconds() - waited_since[0] >= grace:
                waiter.stop()
                finished.callback(None)

        def summary(_) -> dict:
            arrivals = []
            for phone, before in zip(phones, already):
                arrivals.append([m.received_at for m in phone.messages[before:]])
            # Every command of the mix gets exactly one reply (long ones reassembled), and a sender's
            # MOs are handled in order: its k-th MT of the run answers its k-th MO.
            latencies, last_reply, extra, taken = [], 0.0, 0, [0] * senders
            for sender, at in sent:
                times, k = arrivals[sender], taken[sender]
                if k < len(times) and times[k] >= at:
                    taken[sender] = k + 1
                    latencies.append(times[k] - at)
                    last_reply = max(last_reply, times[k])
            for times in arrivals:
                extra += len(times)
            latencies.sort()

            def percentile(p: float):
                return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 3) \
                    if latencies else None

            span = (last_reply - sent[0][1]) if latencies else 0.0
            return {"sent": total, "answered": len(latencies), "unanswered": total - len(latencies),
                    "mts_to_senders": extra, "span_s": round(span, 3),
                    "answered_per_s": round(len(latencies) / span, 1) if span else 0.0,
                    "latency_ms": {"p50": percentile(0.50), "p90": percentile(0.90), "p99": percentile(0.99),
                                   "max": percentile(1.0)}}

        sender_loop, waiter = task.LoopingCall(send_due), task.LoopingCall(wait_for_replies)
        sender_loop.clock = waiter.clock = reactor
        sender_loop.start(0.002)
        return finished.addCallback(summary)

    simulator_control.COMMANDS["commands"] = cmd_commands
    # `--benchmark` turns delivery receipts off; with `--receipts` the simulator sends one for every
    # SMS reply (the engine asks for them), as a host SMSC does.
    receipts = "--receipts" in argv
    settings = ["--no-auto-handsets", "--max-records", "100000"] if receipts else ["--benchmark"]
    return tpo_main(["smsc-sim", "--port", "0", "--control-port", "0", "--log-level", "WARNING", *settings,
                     *[a for a in argv if a != "--receipts"]])


def start_simulator_child(folder: Path, receipts: bool):
    """This module with `--simulator-child` in a process of its own (run from the project, so the
    `benchmarks` package imports): the simulator with the `commands` control command added."""
    command = [sys.executable, "-m", "benchmarks.mo_commands", "--simulator-child", *(["--receipts"] if receipts else [])]
    return launch_simulator(command, ROOT, folder / "smsc-sim.log")


# --------------------------------------------------------------------------- the engine side


def populate(database, senders: int, audience: int) -> None:
    """Senders and audience, joined, with handles, causes and follows (bulk inserts, not timed)."""
    from sqlalchemy import select

    from engine.social_sms.testing import make_context
    from engine.social_sms.wiring import sync_causes
    from engine.store.schema import follows, subscribers

    now = datetime.now(timezone.utc)
    codes = [cause.code for cause in make_context().causes.causes]
    rng = random.Random(7)
    with database.begin() as connection:
        sync_causes(connection, make_context().causes, now)
        rows = [dict(msisdn=f"+{FIRST_SENDER + i}", kind="line", status="active", language="en",
                     time_zone="Europe/London", handle=f"sub{i}", cause_code=codes[i % len(codes)], plan_code="basic",
                     created_at=now, updated_at=now) for i in range(senders)]
        rows += [dict(msisdn=f"+{FIRST_FAN + j}", kind="line", status="active", language="en",
                      time_zone="Europe/London", handle=f"fan{j}", cause_code=codes[j % len(codes)], plan_code="basic",
                      created_at=now, updated_at=now) for j in range(audience)]
        connection.execute(subscribers.insert(), rows)
        ids = dict(connection.execute(select(subscribers.c.msisdn, subscribers.c.id)).all())
        edges = set()
        for j in range(audience):
            for i in rng.sample(range(senders), FOLLOWERS_PER_FAN):
                edges.add((ids[f"+{FIRST_FAN + j}"], ids[f"+{FIRST_SENDER + i}"]))
        for i in range(senders):
            for j in rng.sample(range(audience), 3):
                edges.add((ids[f"+{FIRST_SENDER + i}"], ids[f"+{FIRST_FAN + j}"]))
        follow_rows = [dict(follower_id=a, followee_id=b, followee_cause=None, notify=True, created_at=now)
                       for a, b in sorted(edges)]
        follow_rows += [dict(follower_id=ids[f"+{FIRST_SENDER + i}"], followee_id=None, followee_cause=codes[i % len(codes)],
                             notify=True, created_at=now) for i in range(senders)]
        connection.execute(follows.insert(), follow_rows)


def commands_config(folder: Path, smpp_port: int):
    """engine_config's copy of config/ (window 64, no cap, no scheduler/HTTP), quiet hours off."""
    from benchmarks.smpp_throughput import engine_config
    from engine.config.loader import load_config

    engine_config(folder, smpp_port, 64)
    directory = folder / f"config-{smpp_port}-w64"
    path = directory / "social.toml"
    text = path.read_text()
    if "[quiet_hours]\nenabled = true" not in text:
        raise RuntimeError("config/social.toml no longer has [quiet_hours] enabled = true; update the benchmark")
    path.write_text(text.replace("[quiet_hours]\nenabled = true", "[quiet_hours]\nenabled = false", 1))
    return load_config(directory, environ={})


def run_all(args, backends: list[str]) -> dict[str, tuple[list[dict], dict]]:
    """backend -> (the runs' replies, the database's checks afterwards); one simulator for all."""
    from sqlalchemy import func, select
    from twisted.internet import defer, reactor, threads

    from benchmarks.smpp_throughput import close_database, open_database, settle_statistics, wait_until
    from engine.service.assembly import build_engine, keep_startup_objects_out_of_collections
    from engine.smpp.simulator_control import SimulatorControlClient
    from engine.store.schema import mo_messages, sms_throttles

    results: dict[str, tuple[list[dict], dict]] = {}
    folder = Path(tempfile.mkdtemp(prefix="tpo-bench-commands-"))
    simulator = start_simulator_child(folder, args.receipts)

    def play(run: str, seconds: float) -> dict:
        with SimulatorControlClient("127.0.0.1", simulator.control_port) as client:
            return client.request("commands", rate=args.rate, seconds=seconds, senders=args.senders,
                                  audience=args.audience, grace=GRACE, run=run, timeout=seconds + GRACE + 15)

    def backlog(engine) -> int:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(mo_messages)
                                      .where(mo_messages.c.state == "received")).scalar_one()

    @defer.inlineCallbacks
    def one_backend(config, backend: str):
        replies: list[dict] = []
        checks: dict = {}
        label = LABELS.get(backend, backend)
        database = open_database(backend, folder)
        try:
            started = time.perf_counter()
            populate(database.engine, args.senders, args.audience)
            print(f"  {label}: {args.senders:,} senders and {args.audience:,} audience built in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)
            service = build_engine(reactor, config, database.engine)
            keep_startup_objects_out_of_collections()  # as `tpo run` does
            try:
                service.start(listen_http=False)
                yield wait_until(reactor, lambda: all(link.is_bound for link in service.links), 10, "bind")
                # The same run names on every backend: the same commands in the same order.
                warm = yield threads.deferToThread(play, "w", 2.0)
                print(f"  {label} warm-up: {warm['answered']:,}/{warm['sent']:,} answered, "
                      f"p99 {warm['latency_ms']['p99']} ms", flush=True)
                for attempt in range(args.runs):
                    # A run that fell behind leaves a backlog: drained first, so each run starts level.
                    yield wait_until(reactor, lambda: backlog(database.engine) == 0, 300, "backlog drained", 0.2)
                    settle_statistics(database)
                    # The engine's own CPU per command answered: unlike the rate, hardly moved by
                    # what else the shared machine runs (the play thread only waits on a socket).
                    cpu_before = time.process_time()
                    reply = yield threads.deferToThread(play, f"r{attempt}", args.seconds)
                    reply["engine_cpu_us"] = (time.process_time() - cpu_before) / max(1, reply["answered"]) * 1e6
                    replies.append(reply)
                    latency = reply["latency_ms"]
                    print(f"  {label} run {attempt + 1}: {reply['sent']:,} MO at {args.rate:g}/s, "
                          f"{reply['answered']:,} answered ({reply['answered_per_s']:,.0f}/s over {reply['span_s']} s), "
                          f"{reply['unanswered']} unanswered, {reply['mts_to_senders']:,} MTs to senders; "
                          f"p50 {latency['p50']} ms, p90 {latency['p90']} ms, p99 {latency['p99']} ms, "
                          f"max {latency['max']} ms; engine CPU {reply['engine_cpu_us']:.0f} µs per command",
                          flush=True)
            finally:
                yield service.stop()
            with database.engine.connect() as connection:
                checks["states"] = dict(connection.execute(
                    select(mo_messages.c.state, func.count()).group_by(mo_messages.c.state)).all())
                checks["throttled_numbers"] = connection.execute(
                    select(func.count()).select_from(sms_throttles).where(sms_throttles.c.milli_tokens < 1000)
                ).scalar_one()
        finally:
            close_database(database)
        results[backend] = (replies, checks)

    @defer.inlineCallbacks
    def work():
        config = commands_config(folder, simulator.smpp_port)
        for backend in backends:
            yield one_backend(config, backend)

    run_in_reactor(reactor, work, simulator.stop, folder, args.profile)
    return results


def figure_lines(label: str, args, replies: list[dict]) -> list[str]:
    rate = Figures(f"{label}, {args.rate:g} MO/s offered for {args.seconds:g} s, commands answered", "/s",
                   tuple(r["answered_per_s"] for r in replies))
    if args.rate <= TARGET_RATE:
        # The rate is MOs answered over first MO to last reply, a reply's latency longer than the
        # sending: offered exactly at the target, it reads just under it even with every MO answered.
        verdict = "; offered at or under the 2,000/s target: no verdict (the default 2,500/s judges it)"
    else:
        verdict = "; target >= 2,000/s: " + (
            "met" if rate.median >= TARGET_RATE else f"MISSED by {TARGET_RATE - rate.median:,.0f}/s")
    lines = [rate.line() + verdict]
    for name in ("p50", "p99"):
        figures = Figures(f"{label}, {args.rate:g} MO/s, MO -> reply {name}", "ms",
                          tuple(r["latency_ms"][name] for r in replies))
        verdict = "" if name != "p99" else "; target p99 <= 50 ms: " + (
            "met" if figures.median <= TARGET_P99_MS else f"MISSED by {figures.median - TARGET_P99_MS:.1f} ms")
        lines.append(figures.line() + verdict)
    lines.append(Figures(f"{label}, engine process CPU per command answered", "µs",
                         tuple(round(r["engine_cpu_us"]) for r in replies)).line()
                 + f" (2,000/s needs under {1e6 / TARGET_RATE:.0f} µs on the engine's one core)")
    lines.append(f"{label}: {sum(r['answered'] for r in replies):,} of {sum(r['sent'] for r in replies):,} MO answered; "
                 f"max {max(r['latency_ms']['max'] or 0 for r in replies)} ms; {args.senders:,} senders, "
                 f"{args.audience:,} audience")
    return lines


def main() -> None:
    if "--simulator-child" in sys.argv:
        raise SystemExit(simulator_child([a for a in sys.argv[1:] if a != "--simulator-child"]))
    parser = argparse.ArgumentParser(description="SMS commands end to end with the real rules.")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="MO per second (default 2500)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one run (default 10)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--senders", type=int, default=None,
                        help="distinct numbers sending (default: 10,000, or 5 per MO/s offered if more)")
    parser.add_argument("--audience", type=int, default=2_000)
    parser.add_argument("--backends", default="sqlite", help="sqlite,postgresql (default sqlite)")
    parser.add_argument("--receipts", action="store_true",
                        help="the SMSC sends a delivery receipt for every SMS reply, as a host network does")
    parser.add_argument("--profile", default=None, help="write a cProfile of the engine process here")
    parser.add_argument("--append", action="store_true", help="append the figures to benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.senders is None:
        args.senders = max(10_000, round(5 * args.rate))
    print(machine(), flush=True)
    results = run_all(args, [b for b in args.backends.split(",") if b])
    lines = []
    for backend, (replies, checks) in results.items():
        label = LABELS.get(backend, backend)
        print(f"  {label}: mo_messages by state: {checks['states']}; numbers with under one flood token left: "
              f"{checks['throttled_numbers']}")
        lines += figure_lines(label, args, replies)
    print("\n".join(lines))
    if args.append:
        append_run("SMS commands end to end run", "mo_commands", lines)


if __name__ == "__main__":
    main()
