"""A deterministic generator of host-network usage files, for benchmarks, tests and the demo.

The same arguments always give byte-identical output (a private `random.Random(seed)`, no clock).
The mix is UK-like: more data sessions than calls, most calls to UK mobiles, busy evenings, a few
percent roaming, and the spellings a host network really uses (msisdn without "+", called numbers
in national "07..." or "00..." form, emergency and short codes as bare digits).
"""

from __future__ import annotations

import bisect
import gzip
import itertools
import random
from datetime import datetime
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

from engine.rating.bands import period_bounds
from engine.rating.records import FIELDS

PLAN_MIX = (("basic", 60), ("plus", 25), ("payg", 15))
SERVICE_MIX = (("data", 45), ("voice", 30), ("sms", 25))
ROAMING_MIX = (("", 94), ("eu", 5), ("world", 1))
# (weight, template): "#" becomes a random digit.
DESTINATION_MIX = (
    (52, "07#########"),
    (18, "01#########"),
    (6, "02#########"),
    (5, "03#########"),
    (2, "0800#######"),
    (1, "09#########"),
    (1, "118###"),
    (1, "999"),
    (1, "767"),
    (5, "00331########"),
    (3, "001##########"),
    (2, "004930#######"),
    (2, "0091##########"),
    (1, "00234#########"),
)
# Relative activity per local hour: quiet nights, busy evenings.
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 2, 4, 7, 9, 9, 9, 9, 10, 10, 9, 9, 10, 11, 12, 13, 13, 12, 8, 4)


def generate_subscribers(count: int, seed: int = 1) -> dict[str, str]:
    """`count` distinct E.164 mobile numbers -> plan code, in the PLAN_MIX proportions."""
    rng = random.Random(seed)
    plans, weights = zip(*PLAN_MIX)
    numbers = rng.sample(range(1_000_000), count)
    return {f"+447400{n:06d}": plan for n, plan in zip(numbers, rng.choices(plans, weights, k=count))}


def _picker(rng: random.Random, mix) -> Callable[[], object]:
    values, weights = zip(*mix)
    cumulative = list(itertools.accumulate(weights))
    total = cumulative[-1]
    return lambda: values[bisect.bisect_right(cumulative, rng.random() * total)]


def generate_usage(msisdns: list[str], period: str, count: int, seed: int = 1, time_zone: str = "Europe/London") -> Iterator[list[str]]:
    """Rows of strings in the default column order (records.FIELDS), sorted by start time."""
    rng = random.Random(seed)
    start, end = period_bounds(period, time_zone)
    zone = ZoneInfo(time_zone)
    hour_of = _picker(rng, list(zip(range(24), HOUR_WEIGHTS)))
    service_of = _picker(rng, SERVICE_MIX)
    roaming_of = _picker(rng, ROAMING_MIX)
    destination_of = _picker(rng, [(template, weight) for weight, template in DESTINATION_MIX])
    days = (end - start) // 86400
    starts = []
    for _ in range(count):
        # A local day, then an hour by weight; DST days are 23 or 25 hours, close enough here.
        moment = start + rng.randrange(days) * 86400 + hour_of() * 3600 + rng.randrange(3600)
        starts.append(min(moment, end - 1))
    starts.sort()
    subscribers = [number.lstrip("+") for number in msisdns]
    minute_text: dict[int, str] = {}
    digits = "0123456789"
    for index, moment in enumerate(starts):
        minute = moment - moment % 60
        prefix = minute_text.get(minute)
        if prefix is None:
            text = datetime.fromtimestamp(minute, zone).isoformat()
            prefix = minute_text[minute] = text[:17] + "{:02d}" + text[19:]
        service = service_of()
        duration = volume = called = ""
        if service == "voice":
            duration = str(int(rng.expovariate(1 / 110)) if rng.random() > 0.03 else 0)
        elif service == "data":
            volume = str(int(rng.lognormvariate(13.5, 1.6)))
        if service != "data":
            called = "".join(rng.choice(digits) if c == "#" else c for c in destination_of())
        yield [
            f"R{seed}-{period}-{index:08d}",
            subscribers[rng.randrange(len(subscribers))],
            service,
            prefix.format(moment % 60),
            duration,
            volume,
            called,
            roaming_of(),
        ]


def write_usage_csv(path, rows, compress: bool | None = None) -> int:
    """Write a header and `rows` as CSV (gzip when the path ends .gz, or when told); returns rows."""
    compress = str(path).endswith(".gz") if compress is None else compress
    written = 0
    # Level 5 is most of level 9's size at a fraction of its time.
    handle = gzip.open(path, "wt", compresslevel=5, encoding="utf-8", newline="") if compress else open(
        path, "w", encoding="utf-8", newline=""
    )
    with handle:
        handle.write(",".join(FIELDS) + "\n")
        batch = []
        for row in rows:
            batch.append(",".join(row))
            written += 1
            if len(batch) == 10_000:
                handle.write("\n".join(batch) + "\n")
                batch.clear()
        if batch:
            handle.write("\n".join(batch) + "\n")
    return written
