"""SQL adapters of rating: writing rated usage fast, reading what rating needs, and the totals that
the bill preview and the wholesale reconciliation read.

Two kinds of statement live here:
- The hot path, a few statements per 10,000 records, runs on the **driver's own connection**
  (`connection.connection.driver_connection`), inside the transaction SQLAlchemy opened: on SQLite
  one `INSERT ... SELECT ... FROM (VALUES ...)` per 500 rows, its parameters a slice of the list
  of the rows' values the rater built as it went (`Rater.rate_rows(..., one_list=True)`); psycopg's
  `COPY ... FROM STDIN` on PostgreSQL.
  Building SQLAlchemy parameter dicts would cost more than rating the records. The duplicate check
  asks SQLite for the stored ids in the batch's id range (usually none: hosts number records in
  sequence), and otherwise sends the batch's ids as one parameter (a JSON array through `json_each`
  on SQLite, an array with `= ANY` on PostgreSQL): one indexed lookup per id, no parameter limit.
- Everything else (seeds, totals, suspense, previews) is SQLAlchemy Core: rows per subscriber, not
  per record.

`usage_totals` is kept by `add_totals` in the same transaction as the records it sums, and rebuilt
from the records by `rebuild_totals` after a re-rating, so it always equals
`SELECT ... GROUP BY msisdn, period, bill_period, service` over usage_records.
"""

from __future__ import annotations

import json
import sqlite3
from itertools import chain
from typing import Iterable, Sequence

from sqlalchemy import Connection, bindparam, delete, func, insert, literal, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from engine.rating.money import minor_units_from_micros
from engine.rating.rater import ROW_PERIOD, ROW_WIDTH
from engine.store.chunks import chunks
from engine.store.prepared import Prepared
from engine.store.schema import closed_periods, subscribers, usage_records, usage_suspense, usage_totals

# Column order of a stored rated record: the UsageRecord fields without the line number, then the
# RatedRecord fields (a row of `Rater.rate_rows`), then the bill period and note.
RECORD_COLUMNS = (
    "record_id", "msisdn", "service", "start_epoch", "duration_s", "volume_bytes", "called_number", "roaming_zone",
)
RATED_COLUMNS = (
    "period", "plan_code", "zone", "band", "included", "chargeable", "billed", "retail_micros", "wholesale_micros",
)
USAGE_ROW_COLUMNS = RECORD_COLUMNS + RATED_COLUMNS + ("bill_period", "note")

ROWS_PER_STATEMENT = 500  # rated rows per INSERT on SQLite (fewer if the driver allows fewer parameters)
_IN_CHUNK = 5_000  # ids or msisdns per IN list: well under every backend's parameter limit
_RANGE_PROBE = 1_000  # stored ids fetched by range before UsageWriter.known_ids looks up each id


def is_postgresql(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


class UsageWriter:
    """The hot path: which of a batch's record ids are known, and bulk inserts of rated rows."""

    def __init__(self, connection: Connection):
        self.connection = connection
        self.driver = connection.connection.driver_connection
        self.postgresql = is_postgresql(connection)
        columns = ", ".join(USAGE_ROW_COLUMNS)
        if self.postgresql:
            self._copy_sql = f"COPY usage_records ({columns}) FROM STDIN"
            self._known_sql = (
                "SELECT record_id FROM usage_records WHERE record_id = ANY(%(ids)s) "
                "UNION ALL SELECT record_id FROM usage_suspense WHERE record_id = ANY(%(ids)s)"
            )
        else:
            # A row on time is a rate_rows row, billed in its period (that parameter again as bill_period).
            period = ROW_PERIOD + 1  # SQLite numbers parameters and VALUES columns from 1
            marks = ", ".join(f"?{n}" for n in range(1, ROW_WIDTH + 1))
            self._insert_sql = f"INSERT INTO usage_records ({columns}) VALUES ({marks}, ?{period}, NULL)"
            # Full chunks go as one statement of many rows, the rows' values in turn, the same
            # columns picked from the VALUES rows. sqlite3's executemany runs the statement once per
            # row (reset, step, and the cursors on the table and both indexes opened again): about
            # 0.8 µs a record more than this.
            width = ROW_WIDTH
            limit = self.driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            self._rows_per_statement = max(1, min(ROWS_PER_STATEMENT, limit // width))
            picked = ", ".join(f"column{n}" for n in range(1, width + 1))
            values = ", ".join(["(" + ", ".join("?" * width) + ")"] * self._rows_per_statement)
            self._insert_many_sql = (
                f"INSERT INTO usage_records ({columns}) SELECT {picked}, column{period}, NULL FROM (VALUES {values})"
            )
            self._insert_late_sql = (f"INSERT INTO usage_records ({columns}) "
                                     f"VALUES ({marks}, ?{ROW_WIDTH + 1}, ?{ROW_WIDTH + 2})")
            self._known_sql = (
                "SELECT record_id FROM usage_records WHERE record_id IN (SELECT value FROM json_each(?1)) "
                "UNION ALL SELECT record_id FROM usage_suspense WHERE record_id IN (SELECT value FROM json_each(?1))"
            )
            self._range_sql = (
                "SELECT record_id FROM usage_records WHERE record_id BETWEEN ?1 AND ?2 "
                "UNION ALL SELECT record_id FROM usage_suspense WHERE record_id BETWEEN ?1 AND ?2 LIMIT ?3"
            )

    def known_ids(self, record_ids: list[str]) -> set[str]:
        """The ids already stored, rated or in suspense (earlier files, or earlier batches of this one).

        On SQLite the stored ids between the batch's smallest and largest id are asked for first,
        up to `_RANGE_PROBE` of them: a host numbers its records in sequence, so a new file's range
        usually holds none, and one index seek answers for the whole batch. (SQLite compares text
        as UTF-8 bytes, in the engine's UTF-8 databases, which orders like Python's str.) A range
        holding more falls back to one lookup per id."""
        if not record_ids:
            return set()
        cursor = self.driver.cursor()
        try:
            if self.postgresql:
                cursor.execute(self._known_sql, {"ids": record_ids})
            else:
                cursor.execute(self._range_sql, (min(record_ids), max(record_ids), _RANGE_PROBE + 1))
                stored = cursor.fetchall()
                if len(stored) <= _RANGE_PROBE:
                    return {row[0] for row in stored}.intersection(record_ids) if stored else set()
                cursor.execute(self._known_sql, (json.dumps(record_ids),))
            return {row[0] for row in cursor.fetchall()}
        finally:
            cursor.close()

    def insert_rated(self, rows: Sequence[tuple], late: Sequence[tuple] = ()) -> None:
        """Store rated records: `rows` from `Rater.rate_rows`, billed in their own period; `late`
        rows are such a row + (bill_period, note). The caller has removed known ids, so no conflict
        is expected; a concurrent importer storing the same id fails this file's transaction (the
        primary key), and the file is taken in again at the next poll."""
        if not self.postgresql:
            self.insert_flat(list(chain.from_iterable(rows)))
            if late:
                cursor = self.driver.cursor()
                try:
                    cursor.executemany(self._insert_late_sql, late)
                finally:
                    cursor.close()
            return
        if rows or late:
            cursor = self.driver.cursor()
            try:
                with cursor.copy(self._copy_sql) as copy:
                    write_row = copy.write_row
                    for row in rows:
                        write_row(row + (row[ROW_PERIOD], None))
                    for row in late:
                        write_row(row)
            finally:
                cursor.close()

    def insert_flat(self, values: list) -> None:
        """SQLite: store rows billed in their own period, given as one list of their values in turn
        (`Rater.rate_rows(..., one_list=True)`): full chunks of rows as slices of the list, one
        statement each."""
        width = ROW_WIDTH
        cursor = self.driver.cursor()
        try:
            size = self._rows_per_statement * width
            whole = len(values) - len(values) % size
            for start in range(0, whole, size):
                cursor.execute(self._insert_many_sql, values[start : start + size])
            if whole < len(values):
                rest = [values[start : start + width] for start in range(whole, len(values), width)]
                cursor.executemany(self._insert_sql, rest)
        finally:
            cursor.close()


def plans_of(connection: Connection, msisdns: Iterable[str]) -> dict[str, str]:
    """msisdn -> plan code for the given numbers that are subscribers with a plan."""
    found: dict[str, str] = {}
    numbers = list(msisdns)
    for chunk in chunks(numbers, _IN_CHUNK):
        rows = connection.execute(
            select(subscribers.c.msisdn, subscribers.c.plan_code).where(
                subscribers.c.msisdn.in_(chunk), subscribers.c.plan_code.is_not(None)
            )
        )
        found.update((msisdn, plan) for msisdn, plan in rows)
    return found


def included_totals(connection: Connection, msisdns: Iterable[str], period: str) -> list[tuple[str, str, str, int]]:
    """(msisdn, period, service, bundle units used) of stored records: the allowance counters' seed."""
    rows: list[tuple[str, str, str, int]] = []
    numbers = list(msisdns)
    for chunk in chunks(numbers, _IN_CHUNK):
        result = connection.execute(
            select(usage_totals.c.msisdn, usage_totals.c.period, usage_totals.c.service, func.sum(usage_totals.c.included))
            .where(usage_totals.c.msisdn.in_(chunk), usage_totals.c.period == period)
            .group_by(usage_totals.c.msisdn, usage_totals.c.period, usage_totals.c.service)
        )
        rows.extend((msisdn, p, service, int(used)) for msisdn, p, service, used in result)
    return rows


TOTAL_FIELDS = ("records", "quantity", "included", "billed", "retail_micros", "wholesale_micros")


_TOTALS_UPSERT_SQLITE = (
    "INSERT INTO usage_totals (msisdn, period, bill_period, service, " + ", ".join(TOTAL_FIELDS) + ") "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (msisdn, period, bill_period, service) DO UPDATE SET "
    + ", ".join(f"{name} = usage_totals.{name} + excluded.{name}" for name in TOTAL_FIELDS)
)


def add_totals(connection: Connection, deltas: dict[tuple[str, str, str, str], list[int]]) -> None:
    """Add {(msisdn, period, bill_period, service): [records, quantity, included, billed, retail,
    wholesale]} to usage_totals (insert, or add to the existing row). On SQLite the rows go as
    plain tuples on the driver's connection (a file of 10,000 subscribers has 30,000 keys; as
    SQLAlchemy parameter dicts they cost a quarter of a microsecond per record imported)."""
    if not deltas:
        return
    if not is_postgresql(connection):
        cursor = connection.connection.driver_connection.cursor()
        try:
            cursor.executemany(_TOTALS_UPSERT_SQLITE, [key + tuple(values) for key, values in deltas.items()])
        finally:
            cursor.close()
        return
    dialect = postgresql if is_postgresql(connection) else sqlite
    statement = dialect.insert(usage_totals)
    statement = statement.on_conflict_do_update(
        index_elements=[usage_totals.c.msisdn, usage_totals.c.period, usage_totals.c.bill_period, usage_totals.c.service],
        set_={name: usage_totals.c[name] + statement.excluded[name] for name in TOTAL_FIELDS},
    )
    rows = [
        dict(zip(("msisdn", "period", "bill_period", "service") + TOTAL_FIELDS, key + tuple(values)))
        for key, values in deltas.items()
    ]
    for chunk in chunks(rows, 2_000):
        connection.execute(statement, chunk)


def rebuild_totals(connection: Connection, period: str, start: int, end: int) -> None:
    """usage_totals of a usage period recomputed from its records (after a re-rating)."""
    connection.execute(delete(usage_totals).where(usage_totals.c.period == period))
    r = usage_records.c
    source = (
        select(
            r.msisdn, r.period, r.bill_period, r.service, func.count(),
            func.sum(r.included + r.chargeable), func.sum(r.included), func.sum(r.billed),
            func.sum(r.retail_micros), func.sum(r.wholesale_micros),
        )
        .where(r.start_epoch >= start, r.start_epoch < end, r.period == period)
        .group_by(r.msisdn, r.period, r.bill_period, r.service)
    )
    connection.execute(
        insert(usage_totals).from_select(["msisdn", "period", "bill_period", "service", *TOTAL_FIELDS], source)
    )


def closed_period_set(connection: Connection) -> set[str]:
    return set(connection.execute(select(closed_periods.c.period)).scalars())


def close_period(connection: Connection, period: str, closed_at) -> None:
    """What the bill run does when a period's bills are final (and tests, to make records late)."""
    connection.execute(insert(closed_periods).values(period=period, closed_at=closed_at))


# Every BILL text reads these (engine/social_sms), so the statement is built once and runs on the
# driver's cursor (engine/store/prepared.py): built per call, SQLAlchemy's work cost several times SQLite's.
# The plan and the totals in one statement, since BILL always needs both (on PostgreSQL each
# statement is a round trip): the subscriber's row joined to each of its totals, or alone without any.
_t = usage_totals.c
_PLAN_AND_TOTALS = Prepared(
    select(subscribers.c.plan_code, _t.period, _t.bill_period, _t.service, *[_t[name] for name in TOTAL_FIELDS])
    .select_from(subscribers.outerjoin(usage_totals, (_t.msisdn == subscribers.c.msisdn) & (
        (_t.bill_period == bindparam("period")) | (_t.period == bindparam("period")))))
    .where(subscribers.c.msisdn == bindparam("msisdn"), subscribers.c.plan_code.is_not(None))
    .order_by(_t.bill_period, _t.period, _t.service)
)


def plan_and_totals(connection: Connection, msisdn: str, period: str) -> tuple[str | None, list[tuple]]:
    """The subscriber's plan (None: not a subscriber with a plan, and no rows), and its
    usage_totals rows that concern bill period `period`, or usage period `period`."""
    rows = _PLAN_AND_TOTALS.rows(connection, {"msisdn": msisdn, "period": period})
    if not rows:
        return None, []
    return rows[0][0], [row[1:] for row in rows if row[3] is not None]


def suspense_count(connection: Connection) -> int:
    return connection.execute(select(func.count()).select_from(usage_suspense)).scalar_one()


def suspense_page(connection: Connection, after: tuple | None, limit: int) -> list:
    """Suspense rows in rating order (start, msisdn, record id), `limit` after the key `after`."""
    s = usage_suspense.c
    query = select(usage_suspense).order_by(s.start_epoch, s.msisdn, s.record_id).limit(limit)
    if after is not None:
        query = query.where(tuple_(s.start_epoch, s.msisdn, s.record_id) > tuple_(*map(literal, after)))
    return list(connection.execute(query))


class RatedWholesaleTotals:
    """The `WholesaleTotals` port of engine/hostnet/statements.py, from our own rating.

    service -> (records, volume, amount in minor units) of the records whose **usage period** is
    `period` (the host's statement is by usage month, whenever the records reached us; records in
    suspense are not counted, since they have no price yet). Volume is seconds of call time,
    messages, or bytes. The amount is the sum of the records' wholesale micro-units rounded **once
    per service total** with the tariff's invoice rule, as the host rounds its statement lines;
    rounding each record would drift by up to half a penny per record.
    """

    def __init__(self, minor_unit: int, rounding: str = "half_up"):
        self.minor_unit = minor_unit
        self.rounding = rounding

    def totals(self, connection: Connection, period: str) -> dict[str, tuple[int, int, int]]:
        t = usage_totals.c
        rows = connection.execute(
            select(t.service, func.sum(t.records), func.sum(t.quantity), func.sum(t.wholesale_micros))
            .where(t.period == period)
            .group_by(t.service)
        )
        return {
            service: (int(records), int(volume), minor_units_from_micros(int(micros), self.minor_unit, self.rounding))
            for service, records, volume, micros in rows
        }


def wholesale_totals_provider(config):
    """A factory of the hostnet `WholesaleTotals` port over the rated usage, from a loaded config."""
    from engine.rating.tariffs import FILE_NAME

    operator = config.engine.operator
    rounding = config[FILE_NAME].invoice_rounding
    return lambda: RatedWholesaleTotals(operator.currency_minor_unit, rounding)


__all__ = [
    "RatedWholesaleTotals", "UsageWriter", "add_totals", "close_period", "closed_period_set", "included_totals",
    "plan_and_totals", "plans_of", "rebuild_totals", "suspense_page", "wholesale_totals_provider",
]
