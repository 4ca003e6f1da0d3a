"""Micro-benchmark, not a test: parse + rate generated usage rows, report records per second.

    .venv/bin/python -m benchmarks.rating_core [rows] [repeats]

The rows are generated in memory first (not timed); the timed part is the importer's pure work:
splitting lines, parsing fields and times, and rating retail and wholesale with bundles.
"""

from __future__ import annotations

import sys
import time
from operator import itemgetter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.rating.generator import generate_subscribers, generate_usage  # noqa: E402
from engine.rating.rater import ROW_RECORD_FIELDS, RatedRecord, Rater  # noqa: E402
from engine.rating.records import FIELDS, UsageParser  # noqa: E402
from engine.rating.tariffs import load_tariff_file  # noqa: E402


RETAIL = itemgetter(len(ROW_RECORD_FIELDS) + RatedRecord._fields.index("retail"))
WHOLESALE = itemgetter(len(ROW_RECORD_FIELDS) + RatedRecord._fields.index("wholesale"))


def main(rows: int = 1_000_000, repeats: int = 3) -> None:
    root = Path(__file__).resolve().parents[1]
    tariff = load_tariff_file(root / "config" / "tariffs.toml", "Europe/London", "GB")
    subscribers = generate_subscribers(10_000, seed=7)
    started = time.perf_counter()
    lines = [",".join(FIELDS) + "\n"] + [",".join(row) + "\n" for row in generate_usage(list(subscribers), "2026-03", rows, seed=7)]
    print(f"generated {rows:,} rows in {time.perf_counter() - started:.2f}s")
    for attempt in range(repeats):
        rejects: list = []
        parser = UsageParser(tariff.usage_format, tariff.default_region)
        rater = Rater(tariff, subscribers)
        failed = retail = wholesale = 0
        started = time.perf_counter()
        for chunk in parser.parse_chunks(lines, rejects.append):  # a chunk at a time, as the importer
            rated, not_rated = rater.rate_rows(chunk)
            failed += len(not_rated)
            retail += sum(map(RETAIL, rated))
            wholesale += sum(map(WHOLESALE, rated))
        elapsed = time.perf_counter() - started
        print(
            f"run {attempt + 1}: {rows / elapsed:,.0f} records/s parse+rate ({elapsed:.2f}s; "
            f"{len(rejects)} rejects, {failed} unrated; retail {retail / 1e6:,.2f}, wholesale {wholesale / 1e6:,.2f})"
        )


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:]))
