"""Benchmark, not a test: import + rate + persist a usage file on SQLite and PostgreSQL, against a
floor measured in the same run.

    .venv/bin/python -m benchmarks.rating_import [--rows 1000000] [--runs 5] [--backends sqlite,postgresql]
    .venv/bin/python -m benchmarks.rating_import --memory 10000000      # peak memory, separate process

Timed: `inbound.take_in_file` with the real `UsageFileHandler` (SHA-256 of the file, parse, duplicate
check, rating, bulk insert, usage_totals, commit, move to processed/): what `tpo cdr import` does.
The floor: a bare loop that reads the same file with `csv.reader` and inserts the same 19 columns
(CSV fields, placeholders for the rated ones) into the same table with the driver's `executemany`
in batches of 10,000, one commit; no parsing, rating or duplicate check. Each run gets a new
database with 10,000 subscribers. PostgreSQL is $TPO_BENCH_POSTGRESQL_URL
(default postgresql://127.0.0.1:5432/test), each run in a schema of its own.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.harness import Figures, machine  # noqa: E402

PERIOD = "2026-03"
SUBSCRIBERS = 10_000
POSTGRESQL_URL = os.environ.get("TPO_BENCH_POSTGRESQL_URL", "postgresql://127.0.0.1:5432/test")


def tariff():
    from engine.rating.tariffs import load_tariff_file

    return load_tariff_file(ROOT / "config" / "tariffs.toml", "Europe/London", "GB")


def write_file(path: Path, rows: int) -> dict[str, str]:
    from engine.rating.generator import generate_subscribers, generate_usage, write_usage_csv

    subscribers = generate_subscribers(SUBSCRIBERS, seed=7)
    write_usage_csv(path, generate_usage(list(subscribers), PERIOD, rows, seed=7))
    return subscribers


class Backend:
    def __init__(self, name: str, workdir: Path):
        self.name = name
        self.workdir = workdir
        self.schemas: list[str] = []

    def new_url(self) -> str:
        if self.name == "sqlite":
            path = self.workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
            return f"sqlite:///{path}"
        from sqlalchemy import create_engine, text

        schema = f"tpo_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(POSTGRESQL_URL.replace("postgresql://", "postgresql+psycopg://"))
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        self.schemas.append(schema)
        return POSTGRESQL_URL + f"?options={quote(f'-csearch_path={schema}')}"

    def cleanup(self) -> None:
        if not self.schemas:
            return
        from sqlalchemy import create_engine, text

        admin = create_engine(POSTGRESQL_URL.replace("postgresql://", "postgresql+psycopg://"))
        with admin.begin() as connection:
            for schema in self.schemas:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def prepared_database(url: str, subscribers: dict[str, str]):
    from sqlalchemy import insert

    from engine.store.database import make_engine
    from engine.store.migrate import upgrade
    from engine.store.schema import subscribers as subscribers_table

    database = make_engine(url)
    upgrade(database)
    now = datetime.now(timezone.utc)
    with database.begin() as connection:
        connection.execute(insert(subscribers_table), [
            {"msisdn": msisdn, "kind": "line", "status": "active", "plan_code": plan, "created_at": now, "updated_at": now}
            for msisdn, plan in subscribers.items()
        ])
    return database


def count_rows(database) -> int:
    from sqlalchemy import func, select

    from engine.store.schema import usage_records

    with database.connect() as connection:
        return connection.execute(select(func.count()).select_from(usage_records)).scalar_one()


def measure_import(backend: Backend, source: Path, subscribers: dict, compiled, rows: int) -> float:
    from engine.hostnet.inbound import InboundFolder, take_in_file
    from engine.rating.mediation import UsageFileHandler

    database = prepared_database(backend.new_url(), subscribers)
    folder_root = Path(tempfile.mkdtemp(dir=backend.workdir))
    folder = InboundFolder("usage", folder_root / "in", folder_root / "processed", folder_root / "rejected")
    folder.inbox.mkdir(parents=True)
    path = folder.inbox / source.name
    os.link(source, path)
    started = time.perf_counter()
    result = take_in_file(database, folder, path, UsageFileHandler(compiled))
    elapsed = time.perf_counter() - started
    stored = count_rows(database)
    database.dispose()
    shutil.rmtree(folder_root)
    assert result.status == "processed", result
    assert result.summary["read"] == rows, result.summary
    print(f"  {backend.name} import: {rows / elapsed:,.0f} records/s ({elapsed:.2f}s; {result.summary}; {stored:,} rows)",
          flush=True)
    return rows / elapsed


def measure_floor(backend: Backend, source: Path, subscribers: dict, rows: int) -> float:
    from engine.rating.store import USAGE_ROW_COLUMNS

    database = prepared_database(backend.new_url(), subscribers)
    columns = ", ".join(USAGE_ROW_COLUMNS)
    postgresql = backend.name == "postgresql"
    mark = "%s" if postgresql else "?"
    sql = f"INSERT INTO usage_records ({columns}) VALUES ({', '.join([mark] * len(USAGE_ROW_COLUMNS))})"
    started = time.perf_counter()
    with database.begin() as connection:
        driver = connection.connection.driver_connection
        cursor = driver.cursor()
        with open(source, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            batch = []
            for f in reader:
                batch.append((f[0], f[1], f[2], 0, f[4] or 0, f[5] or 0, f[6], f[7],
                              PERIOD, "basic", "", "", 0, 0, 0, 0, 0, PERIOD, None))
                if len(batch) == 10_000:
                    cursor.executemany(sql, batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
        cursor.close()
    elapsed = time.perf_counter() - started
    stored = count_rows(database)
    database.dispose()
    assert stored == rows, stored
    print(f"  {backend.name} floor:  {rows / elapsed:,.0f} records/s ({elapsed:.2f}s)", flush=True)
    return rows / elapsed


def throughput(arguments) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="tpo-bench-"))
    try:
        source = workdir / "usage-bench.csv"
        started = time.perf_counter()
        subscribers = write_file(source, arguments.rows)
        print(f"{machine()}; generated {arguments.rows:,} records ({source.stat().st_size / 1e6:,.0f} MB) "
              f"in {time.perf_counter() - started:.1f}s", flush=True)
        compiled = tariff()
        for name in arguments.backends.split(","):
            backend = Backend(name, workdir)
            try:
                imports, floors = [], []
                for _ in range(arguments.runs):
                    # Interleaved, so drift of the machine's speed touches both sides alike.
                    imports.append(measure_import(backend, source, subscribers, compiled, arguments.rows))
                    floors.append(measure_floor(backend, source, subscribers, arguments.rows))
            finally:
                backend.cleanup()
            ours = Figures(f"{name} import+rate+persist", "records/s", tuple(imports))
            floor = Figures(f"{name} floor (csv.reader + executemany)", "records/s", tuple(floors))
            ratios = Figures(f"{name} ratio import/floor", "", tuple(i / f for i, f in zip(imports, floors)))
            print(ours.line())
            print(floor.line())
            print(f"{name} ratio of medians: {ours.median / floor.median:.2f} (per-run ratios: "
                  f"{', '.join(f'{r:.2f}' for r in ratios.runs)})", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def memory(arguments) -> None:
    """Generate the file here, then import it in a child process whose peak RSS is the figure."""
    workdir = Path(tempfile.mkdtemp(prefix="tpo-bench-mem-", dir=arguments.tmp))
    try:
        source = workdir / "usage-big.csv"
        started = time.perf_counter()
        subscribers = write_file(source, arguments.memory)
        print(f"generated {arguments.memory:,} records ({source.stat().st_size / 1e9:.2f} GB) in "
              f"{time.perf_counter() - started:.0f}s", flush=True)
        with open(workdir / "subscribers.csv", "w") as handle:
            handle.writelines(f"{msisdn},{plan}\n" for msisdn, plan in subscribers.items())
        del subscribers
        for name in arguments.backends.split(","):
            subprocess.run([sys.executable, "-m", "benchmarks.rating_import", "--memory-child", str(source),
                            "--backends", name, "--rows", str(arguments.memory)], cwd=ROOT, check=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: Linux carries
    ru_maxrss across fork + exec, so a child would report the generating parent's peak."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(arguments) -> None:
    source = Path(arguments.memory_child)
    with open(source.parent / "subscribers.csv") as handle:
        subscribers = dict(line.strip().split(",") for line in handle)
    backend = Backend(arguments.backends, source.parent)
    try:
        baseline = peak_rss_mb()
        rate = measure_import(backend, source, subscribers, tariff(), arguments.rows)
        peak = peak_rss_mb()
    finally:
        backend.cleanup()
    print(f"{backend.name} {arguments.rows:,} records: peak RSS {peak:,.0f} MB "
          f"(before the import {baseline:,.0f} MB); {rate:,.0f} records/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--memory", type=int, default=0, help="peak-memory run with a file of this many records")
    parser.add_argument("--memory-child", default="", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", default="/tmp", help="where the big file is generated")
    arguments = parser.parse_args()
    if arguments.memory_child:
        memory_child(arguments)
    elif arguments.memory:
        memory(arguments)
    else:
        throughput(arguments)


if __name__ == "__main__":
    main()
