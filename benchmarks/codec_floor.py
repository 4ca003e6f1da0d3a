"""Benchmark, not a test: the codec-only floor of the SMPP throughput benchmark.

    .venv/bin/python -m benchmarks.codec_floor [--seconds 2] [--runs 5]

One "pair" is what the engine's codec work costs per message on the wire: encode a submit_sm, decode
it, encode its submit_sm_resp, decode that (the ESME encodes the submit and decodes the answer; the
SMSC does the other two). Two loops:

* **smpplib** (`smpplib.smpp.make_pdu` / `parse_pdu`, 2.2.4 as installed) with a sequence generator
  as the client and `pdu.sequence` set explicitly (smpplib ignores `sequence=`). It runs in a child
  process that imports smpplib alone, because importing `engine.smpp.codec` patches smpplib's
  command tables (`repair_smpplib`) and would measure the repaired, larger tables instead.
* **ours** (`engine.smpp.codec.encode` / `decode`), the codec the engine's session really uses.

`benchmarks/smpp_throughput.py` calls `measure_floors()` in the same run and reports the ratio of the
engine's end-to-end throughput to the smpplib pairs per second, as the issue asks.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The same message as the throughput benchmark's outbox rows: a 40-character GSM-7 text to an
# international number from the short code, receipt requested.
SOURCE, DESTINATION = "767", "447400000123"
TEXT = b"Rally at the town hall, Saturday 10:00!!"
MESSAGE_ID = "1000abcd"


class _Sequence:
    """The minimum smpplib wants from a client: a sequence counter."""

    def __init__(self) -> None:
        self.sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


def _smpplib_pairs(seconds: float) -> float:
    """Pairs per second with bare smpplib (call in a process that never imported engine.smpp)."""
    from smpplib import smpp

    client = _Sequence()
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(200):
            sequence = client.next_sequence()
            submit = smpp.make_pdu(
                "submit_sm", client=client, source_addr_ton=0, source_addr_npi=1, source_addr=SOURCE,
                dest_addr_ton=1, dest_addr_npi=1, destination_addr=DESTINATION, esm_class=0,
                registered_delivery=1, data_coding=0, short_message=TEXT)
            submit.sequence = sequence
            received = smpp.parse_pdu(submit.generate(), client=client)
            response = smpp.make_pdu("submit_sm_resp", client=client, message_id=MESSAGE_ID)
            response.sequence = received.sequence
            answered = smpp.parse_pdu(response.generate(), client=client)
            assert answered.sequence == sequence
        count += 200
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def _our_pairs(seconds: float) -> float:
    from engine.smpp.codec import Pdu, decode, encode, response_to

    params = {
        "source_addr_ton": 0, "source_addr_npi": 1, "source_addr": SOURCE, "dest_addr_ton": 1,
        "dest_addr_npi": 1, "destination_addr": DESTINATION, "esm_class": 0, "registered_delivery": 1,
        "data_coding": 0, "short_message": TEXT,
    }
    sequence = count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(200):
            sequence += 1
            received = decode(encode(Pdu("submit_sm", sequence, 0, params)))
            answered = decode(encode(response_to(received, message_id=MESSAGE_ID)))
            assert answered.sequence == sequence
        count += 200
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def smpplib_pairs_per_second(seconds: float = 2.0) -> float:
    """Bare smpplib's pairs per second, measured in a fresh child process (see module docstring)."""
    output = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--smpplib-child", str(seconds)],
        check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return float(json.loads(output.strip().splitlines()[-1])["pairs_per_second"])


def our_pairs_per_second(seconds: float = 2.0) -> float:
    return _our_pairs(seconds)


def measure_floors(runs: int = 5, seconds: float = 2.0):
    """(smpplib Figures, ours Figures), each the median of `runs` loops of `seconds`."""
    from benchmarks.harness import repeat

    smpplib = repeat("smpplib 2.2.4 codec loop (submit_sm + submit_sm_resp, encode + decode)", "pairs/s",
                     lambda: smpplib_pairs_per_second(seconds), runs)
    ours = repeat("engine codec loop (engine/smpp/codec.py, same pair)", "pairs/s",
                  lambda: our_pairs_per_second(seconds), runs)
    return smpplib, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one loop (default 2)")
    parser.add_argument("--runs", type=int, default=5, help="loops per codec (default 5)")
    parser.add_argument("--smpplib-child", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smpplib_child is not None:
        print(json.dumps({"pairs_per_second": _smpplib_pairs(args.smpplib_child)}))
        return
    from benchmarks.harness import machine

    print(machine())
    smpplib, ours = measure_floors(args.runs, args.seconds)
    print(smpplib.line())
    print(ours.line())
    print(f"ours / smpplib: {ours.median / smpplib.median:.2f}x")


if __name__ == "__main__":
    main()
