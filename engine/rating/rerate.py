"""Re-rating a usage period after a tariff correction: `tpo rate --rerate --period YYYY-MM`.

The period's stored records are rated again with the current tariff **from zero allowance
counters, in strict rating order** (start time, msisdn, record id) across every file they came in,
which is exactly what a first rating of all of them with the corrected tariff gives (and restores
strict time order for records that arrived out of order). Only rows whose result changed are
written; `usage_totals` of the period is then rebuilt from the records, so running it again
changes nothing and reports nothing changed (idempotent).

The period's records are read in hour-long windows of start time (the `start_epoch` index), each
window sorted by the database, so memory stays flat for a period of any size and the walk is in
global rating order. Everything happens in one transaction: a failure changes nothing.

Plans are the subscribers' current ones (as a first rating today would use); a record whose
subscriber has gone keeps the plan it was rated with. A record that no longer rates (its plan or
zone was removed from the tariff) moves to suspense with the reason. Records keep their
`bill_period` and note: re-rating changes prices, not when the record reached us. A closed period
is refused: its bills are final, and a correction after that is a credit or a charge on a later
bill, which is the bill run's business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update

from engine.rating.bands import period_bounds
from engine.rating.rater import Rater, RatingError
from engine.rating.store import closed_period_set, plans_of, rebuild_totals
from engine.rating.tariffs import Tariff
from engine.store.schema import usage_records, usage_suspense

PERIOD = re.compile(r"^[0-9]{4}-[0-9]{2}$")
WINDOW_SECONDS = 3600
EXAMPLES = 20  # changed records listed in the report


class RerateRefused(ValueError):
    """The period cannot be re-rated (closed, or not a period); nothing was changed."""


@dataclass
class ChangedRecord:
    record_id: str
    msisdn: str
    service: str
    retail_before: int  # micro-units
    retail_after: int
    wholesale_before: int
    wholesale_after: int


@dataclass
class RerateReport:
    period: str
    records: int = 0
    changed: int = 0  # records whose rating changed in any field
    charge_changed: int = 0  # of which the retail or wholesale amount changed
    moved_to_suspense: int = 0
    examples: list[ChangedRecord] = field(default_factory=list)
    # service -> [retail before, retail after, wholesale before, wholesale after], micro-units
    totals: dict[str, list[int]] = field(default_factory=dict)


_RATED_FIELDS = ("period", "plan_code", "zone", "band", "included", "chargeable", "billed", "retail_micros", "wholesale_micros")


def rerate_period(database: Engine, tariff: Tariff, period: str, now: datetime | None = None) -> RerateReport:
    now = now or datetime.now(timezone.utc)
    if not PERIOD.match(period) or not 1 <= int(period[5:]) <= 12:
        raise RerateRefused(f"{period!r} is not a period (expected YYYY-MM, like 2026-03)")
    start, end = period_bounds(period, tariff.timeline.zone.key)
    report = RerateReport(period)
    with database.begin() as connection:
        if period in closed_period_set(connection):
            raise RerateRefused(
                f"period {period} is closed (its bills are final); a correction now belongs on a later bill"
            )
        plan_of: dict[str, str] = {}
        rater = Rater(tariff, plan_of, counters={})
        r = usage_records.c
        columns = [r.record_id, r.msisdn, r.service, r.start_epoch, r.duration_s, r.volume_bytes, r.called_number,
                   r.roaming_zone, *[r[name] for name in _RATED_FIELDS]]
        for window in range(start, end, WINDOW_SECONDS):
            rows = connection.execute(
                select(*columns)
                .where(r.start_epoch >= window, r.start_epoch < min(window + WINDOW_SECONDS, end))
                .order_by(r.start_epoch, r.msisdn, r.record_id)
            ).all()
            if rows:
                _rerate_window(connection, rater, plan_of, rows, report, now)
        rebuild_totals(connection, period, start, end)
    return report


def _rerate_window(connection: Connection, rater: Rater, plan_of: dict, rows: list, report: RerateReport, now) -> None:
    missing = {row[1] for row in rows} - plan_of.keys()
    if missing:
        current = plans_of(connection, missing)
        for row in rows:  # a subscriber no longer with us keeps the plan the record was rated with
            if row[1] in missing and row[1] not in current:
                current[row[1]] = row[9]
        plan_of.update(current)
    updates, unratable = [], []
    for row in rows:
        record = (0, *row[:8])
        before = tuple(row[8:])
        service = record[3]
        sums = report.totals.setdefault(service, [0, 0, 0, 0])
        sums[0] += before[7]
        sums[2] += before[8]
        report.records += 1
        try:
            after = rater.rate(record)
        except RatingError as problem:
            unratable.append((record, str(problem)))
            continue
        sums[1] += after[7]
        sums[3] += after[8]
        if after != before:
            report.changed += 1
            updates.append(dict(zip(("key",) + _RATED_FIELDS[1:], (record[1],) + after[1:])))
            if after[7] != before[7] or after[8] != before[8]:
                report.charge_changed += 1
                if len(report.examples) < EXAMPLES:
                    report.examples.append(ChangedRecord(record[1], record[2], service, before[7], after[7], before[8], after[8]))
    if updates:
        connection.execute(
            update(usage_records)
            .where(usage_records.c.record_id == bindparam("key"))
            .values({name: bindparam(name) for name in _RATED_FIELDS[1:]}),
            updates,
        )
    if unratable:
        ids = [record[1] for record, _ in unratable]
        connection.execute(delete(usage_records).where(usage_records.c.record_id.in_(ids)))
        connection.execute(insert(usage_suspense), [
            {"record_id": record[1], "msisdn": record[2], "service": record[3], "start_epoch": record[4],
             "duration_s": record[5], "volume_bytes": record[6], "called_number": record[7], "roaming_zone": record[8],
             "reason": reason, "file_name": f"rerate {report.period}", "received_at": now, "last_tried_at": now,
             "attempts": 1}
            for record, reason in unratable
        ])
        report.moved_to_suspense += len(unratable)
