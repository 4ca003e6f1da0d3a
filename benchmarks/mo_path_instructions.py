"""Benchmark, not a test: CPU instructions per SMS command on the engine's database path, counted
by valgrind, so two versions of the code can be compared on a box whose speed will not hold still.

    .venv/bin/python -m benchmarks.mo_path_instructions [--commands 1000] [--senders 3000]

Why: on this shared box the same code's CPU per command moved by 10-35% within an hour
(benchmarks/RESULTS.md, stops 13 and 14), more than most changes are worth, so end-to-end runs
could not tell a 5% gain from noise. Instructions counted by valgrind's callgrind (not time) are
the same to a millionth from run to run (PYTHONHASHSEED fixed): a change's effect shows alone.

What runs (in a child process under `valgrind --tool=callgrind`, twice: with no commands, then
with `--commands`; the difference divided by the count is the cost of one command, without the
set-up): the engine built as `tpo run` builds it (`build_engine`, the real rules and bill preview)
on SQLite in a temporary folder, `--senders` joined subscribers and 2,000 audience members as
benchmarks/mo_commands.py makes them, then batches of 8 MOs of that benchmark's command mix,
each batch stored by the inbox in one transaction on the receiver's connection (as the receiver
does per read), handled by the
MO worker in its own (`MoWorker._one_batch`: claim, rules, replies, marks, the dispatcher's claim),
the replies "submitted" to a link that accepts them at once, and the dispatcher's write-behind
flushed every 8 batches. Not counted: the SMPP codec, sockets and the reactor (mo_commands.py
measures the whole, in time). Needs valgrind (Debian's package); about 2 minutes a child.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BATCH = 8
WRITE_BEHIND_EVERY = 8  # batches


class AcceptingLink:
    """A bound link with a window of 64 that takes every submit_sm; the driver answers them."""

    name = "bench"
    is_bound = True
    can_transmit = True

    def __init__(self):
        self.outstanding: dict = {}

    def free_window(self) -> int:
        return 64 - len(self.outstanding)

    def submit(self, ref, params) -> None:
        self.outstanding[ref] = params

    def seconds_until_tokens(self) -> float:
        return 0.0

    def pause(self, seconds: float) -> None:
        pass


def child(commands: int, senders: int, warm: int) -> None:
    """The measured process: set up, warm up, then `commands` MOs through the path."""
    from datetime import datetime, timezone

    from twisted.internet import reactor

    from benchmarks.mo_commands import FIRST_SENDER, CommandMix, commands_config, populate
    from benchmarks.smpp_throughput import open_database
    from engine.service.assembly import build_engine
    from engine.smpp import intake

    folder = Path(tempfile.mkdtemp(prefix="tpo-instructions-"))
    database = open_database("sqlite", folder)
    populate(database.engine, senders, 2000)
    service = build_engine(reactor, commands_config(folder, 2775), database.engine)
    mix = CommandMix(senders, 2000)
    link = AcceptingLink()
    service.dispatcher.links = [link]
    service.dispatcher._running = True  # as start() leaves it, without its timers
    answered = [0]

    def one_pass(run: str, count: int) -> int:
        handled = 0
        for number, start in enumerate(range(0, count, BATCH)):
            now = datetime.now(timezone.utc)
            arrivals = []
            for index in range(start, min(start + BATCH, count)):
                sender, text = mix.text(run, index)
                digest = f"{run}-{index}".ljust(48, "x")
                arrivals.append((intake.SmsArrived(str(FIRST_SENDER + sender), "7777", text, 0, digest), "bench"))
            with service.receiver.database.begin() as connection:  # as the receiver stores a read's MOs
                service.inbox.store_all(connection, arrivals, now)
            handled += service.worker._one_batch()
            for ref in list(link.outstanding):
                del link.outstanding[ref]
                answered[0] += 1
                service.dispatcher.submit_accepted(link, ref, f"bench{answered[0]:08x}")
            if number % WRITE_BEHIND_EVERY == WRITE_BEHIND_EVERY - 1:
                service.dispatcher.flush()
        service.dispatcher.flush()
        return handled

    one_pass("warm", warm)
    if one_pass("measured", commands) != commands:
        raise SystemExit("not every MO was handled")
    shutil.rmtree(folder, ignore_errors=True)


def count(commands: int, senders: int, warm: int) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-m",
             "benchmarks.mo_path_instructions", "--child", "--commands", str(commands), "--senders", str(senders),
             "--warm", str(warm)],
            cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "0"}, check=True, capture_output=True)
        return int(re.search(r"^totals: (\d+)", out.read_text(errors="replace"), re.M).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=3000)
    parser.add_argument("--warm", type=int, default=1000, help="MOs handled before counting starts")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.commands, args.senders, args.warm)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:  # the two children are independent: one per core
        setup, total = pool.map(lambda n: count(n, args.senders, args.warm), (0, args.commands))
    per_command = (total - setup) / args.commands
    print(f"set-up and warm-up: {setup:,} instructions; with {args.commands:,} commands: {total:,}")
    print(f"instructions per command (store, rules, replies, claims, write-behind): {per_command:,.0f}")


if __name__ == "__main__":
    main()
