"""Mediation: a usage file from the host network in, rated records stored; the adapter around the
pure rating core.

A file is taken in through `engine.hostnet.inbound` (the one way host files come in: refused as a
duplicate by its SHA-256, its records committed in one transaction with the row that records the
file, then moved to processed/). `UsageFileHandler` is the handler it calls; per file it

1. parses lines (`records.UsageParser`); a bad line goes to `rejected/NAME.rejects.csv` with its
   line number and reason and the file goes on;
2. works in batches of `batch_size` records (10,000), so memory stays flat whatever the file size;
3. drops records whose id is already stored (rated or in suspense, from any earlier file or an
   earlier batch of this one, one indexed lookup per id) or repeated within the batch, and counts
   them as duplicates: a duplicate must never consume a bundle;
4. sorts the batch in `rater.rating_order` and rates it. Allowance counters are kept for the whole
   file and seeded, the first time a subscriber and period appear, from the stored sums of
   `included` (`usage_totals`), so a second file continues where the first left off. A host file
   is in time order in practice, so per-batch sorting is time order for the file; a record that
   arrives out of order takes what is left of the bundle, and re-rating the period restores strict
   order (docs/rating.md);
5. stores rated rows (`store.UsageWriter`, the driver's bulk paths) and adds their sums to
   `usage_totals`; a record that cannot be rated (`RatingError`: unknown subscriber, number in no
   zone, unknown roaming zone) goes to `usage_suspense` with the reason;
6. bills a record whose period is already closed (`closed_periods`, written by the bill run) in the
   next open period, with a note.

`rerun_suspense` rates what suspense holds once the subscriber or the tariff is fixed (the CLI's
`tpo cdr suspense --rerun`, and the scheduler); `poll_usage_folder` is what `tpo run` calls for the
watched `folders.usage_in`; `import_files` is `tpo cdr import FILE...`.
"""

from __future__ import annotations

import gc
import gzip
import io
import logging
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import chain, islice
from operator import itemgetter
from pathlib import Path
from typing import Callable, Iterable, Iterator

from sqlalchemy import Connection, Engine, delete, insert, update

from engine.hostnet.inbound import FileOutcome, FileResult, InboundFolder, RejectsWriter, poll_folder, take_in_file
from engine.rating.allowances import seed_counters
from engine.rating.rater import ROW_PERIOD, Rater
from engine.rating.records import UsageFileError, UsageParser
from engine.rating.store import (
    UsageWriter,
    add_totals,
    closed_period_set,
    included_totals,
    plans_of,
    suspense_page,
)
from engine.rating.tariffs import Tariff, tariff_from_config
from engine.store.chunks import chunks
from engine.store.schema import usage_suspense

log = logging.getLogger(__name__)

FOLDER_KIND = "usage"
BATCH_SIZE = 10_000
# usage_totals deltas are written when this many keys have built up (and at the end of each file),
# so a file touching millions of subscribers still runs in bounded memory.
TOTALS_FLUSH_KEYS = 100_000

RATING_ORDER = itemgetter(4, 2, 1)  # rater.rating_order as a C-level key: start, msisdn, record id
_RECORD_ID, _MSISDN = itemgetter(1), itemgetter(2)

ProgressCallback = Callable[[Path, int, int], None]  # (file, bytes read so far, file size)


def next_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def periods_between(first: str, last: str) -> list[str]:
    periods = [first]
    while periods[-1] < last:
        periods.append(next_period(periods[-1]))
    return periods


def late_note(period: str, bill_period: str) -> str:
    return f"usage of {period} received after that bill was closed; billed in {bill_period}"


@dataclass
class RatingCounts:
    rated: int = 0
    suspense: int = 0
    late: int = 0


class RatingSession:
    """Rating inside one transaction: subscribers' plans, allowance counters seeded from the store,
    closed periods, and the usage_totals deltas of what was stored.

    Plans and seeds are looked up per batch for the subscribers not seen yet in this session, so a
    file of any length costs one small query per batch, and memory grows with subscribers, not
    records. The counters are the `Rater`'s, so bundles continue from batch to batch; so are the
    usage_totals deltas (`Rater(totals=...)`, summed per (msisdn, period, service) as each record is
    rated): the closed periods are fixed for the session, so a usage period has one bill period,
    added to the key when the deltas are written.
    """

    def __init__(self, connection: Connection, tariff: Tariff, seed_from_store: bool = True):
        self.connection = connection
        self.tariff = tariff
        self.writer = UsageWriter(connection)
        self.plan_of: dict[str, str] = {}
        self._totals: dict[tuple[str, str, str], list[int]] = {}
        self.rater = Rater(tariff, self.plan_of, totals=self._totals)
        self.counts = RatingCounts()
        self.closed = closed_period_set(connection)
        self._seed_from_store = seed_from_store
        self._without_plan: set[str] = set()
        self._seeded: dict[str, set[str]] = {}  # period -> msisdns whose counters are seeded
        self._bill_period: dict[str, str] = {}  # closed period -> the open period it is billed in

    def _period_of(self, epoch: int) -> str:
        return self.tariff.timeline.at(epoch)[2]

    def _prepare(self, batch: list[tuple]) -> None:
        """Plans and allowance seeds for the batch's subscribers; the batch is in rating order."""
        msisdns = set(map(_MSISDN, batch))
        # set.difference(dict) walks the batch's numbers, not every subscriber seen so far.
        unknown = msisdns.difference(self.plan_of).difference(self._without_plan)
        if unknown:
            found = plans_of(self.connection, unknown)
            self.plan_of.update(found)
            self._without_plan.update(unknown - found.keys())
        if not self._seed_from_store:
            return
        for period in periods_between(self._period_of(batch[0][4]), self._period_of(batch[-1][4])):
            seeded = self._seeded.setdefault(period, set())
            fresh = msisdns - seeded
            if fresh:
                seed_counters(included_totals(self.connection, fresh, period), self.rater.counters)
                seeded |= fresh

    def _billing_period(self, period: str) -> str:
        bill_period = self._bill_period.get(period)
        if bill_period is None:
            bill_period = period
            while bill_period in self.closed:
                bill_period = next_period(bill_period)
            self._bill_period[period] = bill_period
        return bill_period

    def rate_batch(self, batch: list[tuple]) -> list[tuple[tuple, str]]:
        """Rate and store a batch in rating order; returns the (record, reason) pairs not rated."""
        if not batch:
            return []
        self._prepare(batch)
        # SQLite's bulk INSERT takes the rows' values in one list: the rater builds it as it goes.
        one_list = not self.closed and not self.writer.postgresql
        rows, failed = self.rater.rate_rows(batch, one_list)
        suspended = [(batch[position], reason) for position, reason in failed]
        late: list[tuple] = []
        if one_list:
            self.writer.insert_flat(rows)
        elif not self.closed:
            self.writer.insert_rated(rows)
        else:
            on_time = []
            closed = self.closed
            for row in rows:
                period = row[ROW_PERIOD]
                if period in closed:
                    bill_period = self._billing_period(period)
                    late.append(row + (bill_period, late_note(period, bill_period)))
                else:
                    on_time.append(row)
            self.writer.insert_rated(on_time, late)
        self.counts.rated += len(batch) - len(failed)
        self.counts.late += len(late)
        self.counts.suspense += len(suspended)
        if self.rater.totals_keys() >= TOTALS_FLUSH_KEYS:
            self.flush()
        return suspended

    def flush(self) -> None:
        """Write the usage_totals deltas summed so far (and forget them)."""
        self.rater.collect_totals()
        billing_period = self._billing_period
        add_totals(self.connection, {
            (msisdn, period, billing_period(period), service): sums
            for (msisdn, period, service), sums in self._totals.items()
        })
        self._totals.clear()


def _suspense_rows(suspended: list[tuple[tuple, str]], file_name: str, now: datetime) -> list[dict]:
    return [
        {
            "record_id": record[1], "msisdn": record[2], "service": record[3], "start_epoch": record[4],
            "duration_s": record[5], "volume_bytes": record[6], "called_number": record[7], "roaming_zone": record[8],
            "reason": reason, "file_name": file_name, "received_at": now, "last_tried_at": now, "attempts": 1,
        }
        for record, reason in suspended
    ]


class _ProgressLines:
    """Text lines of a usage file (gzip or plain, by its first two bytes), telling how many bytes of
    the file have been read, for a progress bar. Not valid UTF-8 refuses the file."""

    def __init__(self, path: Path):
        self.path = path
        self.size = path.stat().st_size
        self._raw = open(path, "rb")
        compressed = self._raw.read(2) == b"\x1f\x8b"
        self._raw.seek(0)
        stream = gzip.GzipFile(fileobj=self._raw, mode="rb") if compressed else self._raw
        self._text = io.TextIOWrapper(stream, encoding="utf-8", newline="")

    def bytes_read(self) -> int:
        return self._raw.tell()

    def __iter__(self) -> Iterator[str]:
        return iter(self._text)

    def read(self, size: int = -1) -> str:
        """Text from the file (the parser reads large pieces: faster than line by line)."""
        return self._text.read(size)

    def close(self) -> None:
        self._text.close()
        self._raw.close()


@dataclass
class UsageFileHandler:
    """The `inbound.FileHandler` of usage files; see the module docstring for what it does."""

    tariff: Tariff
    batch_size: int = BATCH_SIZE
    on_progress: ProgressCallback | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))

    def __call__(self, connection: Connection, path: Path, rejects: RejectsWriter) -> FileOutcome:
        parser = UsageParser(self.tariff.usage_format, self.tariff.default_region)
        delimiter = self.tariff.usage_format.delimiter
        session = RatingSession(connection, self.tariff)
        writer = session.writer
        now = self.clock()
        records = duplicates = 0

        def on_reject(reject) -> None:
            rejects.reject(reject.line_number, reject.reason, delimiter.join(reject.fields))

        def store(batch: list[tuple]) -> None:
            nonlocal duplicates
            ids = list(map(_RECORD_ID, batch))
            known = writer.known_ids(ids)
            if known or len(set(ids)) != len(batch):
                # Keep each id's first line of the file; later ones are duplicates.
                fresh, seen = [], set(known)
                for record in batch:
                    if record[1] not in seen:
                        seen.add(record[1])
                        fresh.append(record)
                duplicates += len(batch) - len(fresh)
                batch = fresh
            batch.sort(key=RATING_ORDER)
            suspended = session.rate_batch(batch)
            if suspended:
                connection.execute(insert(usage_suspense), _suspense_rows(suspended, path.name, now))

        lines = _ProgressLines(path)
        # The cyclic garbage collector would walk the batch's tuples again and again (a third of
        # the loop's time at a million records); nothing here makes cycles, and reference
        # counting still frees every batch, so it is paused for the file.
        collecting = gc.isenabled()
        gc.disable()
        try:
            parsed = chain.from_iterable(parser.parse_chunks(lines, on_reject))
            while True:
                batch = list(islice(parsed, self.batch_size))  # the loop over lines runs in C
                if not batch:
                    break
                records += len(batch)
                store(batch)
                if len(batch) < self.batch_size:
                    break
                if self.on_progress:
                    self.on_progress(path, lines.bytes_read(), lines.size)
            session.flush()
        except UsageFileError as error:
            return FileOutcome(refused=str(error))
        except UnicodeDecodeError as error:
            return FileOutcome(refused=f"not UTF-8 text near byte {error.start} of a line (expected a UTF-8 CSV file)")
        finally:
            lines.close()
            if collecting:
                gc.enable()
        if self.on_progress:
            self.on_progress(path, lines.size, lines.size)
        counts = session.counts
        return FileOutcome(summary={
            "read": records + rejects.count,
            "rated": counts.rated,
            "duplicates": duplicates,
            "rejected": rejects.count,
            "suspense": counts.suspense,
            "late": counts.late,
        })


# ---------------------------------------------------------------------------------------------
# Folders: the watched one, and files named on the command line


def usage_folder(config) -> InboundFolder:
    """`folders.usage_in`, with processed/usage and rejected/usage beside the other kinds' folders."""
    folders = config.engine.folders
    return InboundFolder(
        FOLDER_KIND, Path(folders.usage_in), Path(folders.processed) / FOLDER_KIND, Path(folders.rejected) / FOLDER_KIND
    )


def poll_usage_folder(database: Engine, config, tariff: Tariff | None = None) -> list[FileResult]:
    """What `tpo run` calls every poll: take in every usage file waiting in `folders.usage_in`."""
    handler = UsageFileHandler(tariff or tariff_from_config(config))
    return poll_folder(database, usage_folder(config), handler)


def import_files(
    database: Engine, config, paths: Iterable[Path], tariff: Tariff | None = None, on_progress: ProgressCallback | None = None
) -> list[FileResult]:
    """`tpo cdr import FILE...`: each file exactly as if the host had dropped it in usage_in.

    The operator's file is left where it is: a hard link (a copy across filesystems) is staged in
    the inbox's hidden `.import/` subfolder, which the folder poll does not look at, and taken in
    from there, so it ends in processed/ or rejected/ like any host file, with the same duplicate
    check by digest and the same commit-then-move guarantee. A file already in the inbox is taken
    in where it is.
    """
    folder = usage_folder(config)
    handler = UsageFileHandler(tariff or tariff_from_config(config), on_progress=on_progress)
    staging = folder.inbox / ".import"
    results = []
    for path in paths:
        path = Path(path)
        if path.resolve().parent == folder.inbox.resolve():
            results.append(take_in_file(database, folder, path, handler))
            continue
        staging.mkdir(parents=True, exist_ok=True)
        staged = staging / path.name
        staged.unlink(missing_ok=True)
        try:
            os.link(path, staged)
        except OSError:
            shutil.copyfile(path, staged)
        result = take_in_file(database, folder, staged, handler)
        if result.status == "recovered":
            # Same name and content as a file taken in before: for a file named on the command
            # line that is a repeat, not a crash to finish (take_in_file has tidied the link away).
            result = FileResult(
                path, "duplicate", result.summary,
                reason=f"duplicate: same content and name as usage file {path.name} taken in before",
            )
        results.append(result)
    return results


# ---------------------------------------------------------------------------------------------
# Suspense


@dataclass(frozen=True)
class SuspenseRerun:
    rated: int
    late: int
    still_in_suspense: int


def rerun_suspense(database: Engine, tariff: Tariff, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> SuspenseRerun:
    """Rate the records in suspense that can be rated now (the subscriber has appeared, the tariff
    was fixed), in rating order, continuing the stored allowance counters; the others stay with
    their new reason. One transaction, so a crash rates nothing twice."""
    now = now or datetime.now(timezone.utc)
    still = 0
    with database.begin() as connection:
        session = RatingSession(connection, tariff)
        after = None
        while True:
            page = suspense_page(connection, after, batch_size)
            if not page:
                break
            last = page[-1]
            after = (last.start_epoch, last.msisdn, last.record_id)
            batch = [
                (0, row.record_id, row.msisdn, row.service, row.start_epoch, row.duration_s, row.volume_bytes,
                 row.called_number, row.roaming_zone)
                for row in page
            ]
            suspended = session.rate_batch(batch)
            failed = {record[1]: reason for record, reason in suspended}
            rated_ids = [record[1] for record in batch if record[1] not in failed]
            for chunk in chunks(rated_ids, 5_000):
                connection.execute(delete(usage_suspense).where(usage_suspense.c.record_id.in_(chunk)))
            if failed:
                from sqlalchemy import bindparam

                connection.execute(
                    update(usage_suspense)
                    .where(usage_suspense.c.record_id == bindparam("failed_id"))
                    .values(reason=bindparam("new_reason"), last_tried_at=now, attempts=usage_suspense.c.attempts + 1),
                    [{"failed_id": record_id, "new_reason": reason} for record_id, reason in failed.items()],
                )
                still += len(failed)
        session.flush()
    counts = session.counts
    return SuspenseRerun(rated=counts.rated, late=counts.late, still_in_suspense=still)


def scheduled_suspense_rerun(database: Engine, tariff: Tariff) -> SuspenseRerun:
    """The scheduler's job (idempotent: a run with nothing ratable changes only reasons and tries)."""
    result = rerun_suspense(database, tariff)
    if result.rated:
        log.info("suspense re-run: %d rated (%d late), %d still in suspense", result.rated, result.late, result.still_in_suspense)
    return result


__all__ = [
    "BATCH_SIZE", "RatingSession", "SuspenseRerun", "UsageFileHandler", "import_files", "next_period",
    "poll_usage_folder", "rerun_suspense", "scheduled_suspense_rerun", "usage_folder",
]
