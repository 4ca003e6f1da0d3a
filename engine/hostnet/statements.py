"""The host's wholesale statement, its reconciliation with our own wholesale rating, and the
adjustment agreed per period.

A statement gives, for one period (YYYY-MM), per service (voice, sms, data): records, volume
(seconds, messages, bytes) and amount in minor units, which is what the host charges us. It is
taken whole or not at all: a statement with a bad line would understate a service and make the
reconciliation lie, so any bad line refuses the file (the refusal note lists the lines and reasons).
A service absent from the statement is zero. A corrected statement for the same period is stored
as a new statement; the newest one is the period's statement.

Our side comes through the `WholesaleTotals` port, implemented over the rated usage by
`engine.rating.store.RatedWholesaleTotals`; `tpo hostnet reconcile --our-totals FILE` (a file in the
statement format) replaces it, e.g. to check a figure finance computed elsewhere.

Reconciliation is pure (`reconcile`): differences are host minus ours, and a service's amounts agree
when the difference is within the configured tolerance (`ReconciliationSection`). Records and volume
differences are shown, not judged: a handful of records across a month boundary is normal, and
money is what the parties settle.

The agreed adjustment is money added to the host's statement total to give the wholesale cost that
finance uses (negative: the host credits us). Rows are never edited: a correction is another row,
so the period's adjustment is the sum of its rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Callable, Protocol

from sqlalchemy import Connection, func, select

from engine.hostnet.inbound import FileOutcome, RejectsWriter
from engine.hostnet.settings import (
    FileRefused,
    HostnetFile,
    RecordError,
    ReconciliationSection,
    check_period,
    count,
    read_records,
    required,
    signed_integer,
)
from engine.store.schema import WHOLESALE_SERVICES, wholesale_adjustments, wholesale_statement_lines, wholesale_statements

log = logging.getLogger(__name__)

STATEMENT_COLUMNS = ("period", "service", "records", "volume", "amount_minor", "currency")
VOLUME_UNITS = {"voice": "seconds", "sms": "messages", "data": "bytes"}


@dataclass(frozen=True)
class ServiceTotals:
    records: int = 0
    volume: int = 0
    amount_minor: int = 0


class WholesaleTotals(Protocol):
    """Our own wholesale rating of a period: service -> (records, volume, amount in minor units).

    Services absent from the answer count as zero. The rating subsystem provides the real one.
    """

    def totals(self, connection: Connection, period: str) -> dict[str, tuple[int, int, int]]: ...


class FixedWholesaleTotals:
    """Our side given as values (tests, or `--our-totals FILE`)."""

    def __init__(self, totals: dict[str, tuple[int, int, int]]):
        self._totals = dict(totals)

    def totals(self, connection: Connection, period: str) -> dict[str, tuple[int, int, int]]:
        return dict(self._totals)


# ---------------------------------------------------------------------------------------------
# Reading a statement


@dataclass(frozen=True)
class StatementLine:
    period: str
    service: str
    currency: str
    totals: ServiceTotals


def parse_statement_line(fields: dict) -> StatementLine:
    try:
        period = check_period(required(fields, "period"))
    except ValueError as error:
        raise RecordError(f"period: {error}") from None
    service = required(fields, "service").lower()
    if service not in WHOLESALE_SERVICES:
        raise RecordError(f"service: {service!r} is unknown (expected one of {', '.join(WHOLESALE_SERVICES)})")
    currency = required(fields, "currency").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise RecordError(f"currency: {fields['currency']!r} is not a currency (expected an ISO 4217 code like GBP)")
    totals = ServiceTotals(count(fields, "records"), count(fields, "volume"), signed_integer(fields, "amount_minor"))
    return StatementLine(period, service, currency, totals)


def read_statement(path: Path) -> tuple[str, str, dict[str, ServiceTotals]]:
    """(period, currency, service -> totals) of a statement file; FileRefused listing every bad line."""
    problems: list[str] = []
    lines: list[StatementLine] = []
    for line in read_records(path, STATEMENT_COLUMNS):
        if line.fields is None:
            problems.append(f"line {line.number}: {line.error}")
            continue
        try:
            parsed = parse_statement_line(line.fields)
        except RecordError as error:
            problems.append(f"line {line.number}: {error}")
            continue
        if lines and (parsed.period, parsed.currency) != (lines[0].period, lines[0].currency):
            problems.append(
                f"line {line.number}: {parsed.period} {parsed.currency} differs from {lines[0].period} "
                f"{lines[0].currency} (expected one period and one currency per statement)"
            )
            continue
        if any(earlier.service == parsed.service for earlier in lines):
            problems.append(f"line {line.number}: {parsed.service} appears twice (expected each service once)")
            continue
        lines.append(parsed)
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise FileRefused(f"{len(problems)} bad line(s), and a statement is taken whole or not at all: {shown}")
    if not lines:
        raise FileRefused("no statement lines (expected one line per service for a period)")
    return lines[0].period, lines[0].currency, {line.service: line.totals for line in lines}


class StatementHandler:
    """The inbound handler for the statements_in folder. With `ours` given, each statement is also
    reconciled on arrival and the verdict logged (a difference beyond tolerance as a warning)."""

    def __init__(
        self,
        currency: str,
        settings: HostnetFile | None = None,
        ours: WholesaleTotals | None = None,
        clock: Callable[[], datetime] | None = None,
    ):
        self.currency = currency
        self.settings = settings or HostnetFile()
        self.ours = ours
        self.clock = clock

    def __call__(self, connection: Connection, path: Path, rejects: RejectsWriter) -> FileOutcome:
        try:
            period, currency, totals = read_statement(path)
        except FileRefused as refused:
            return FileOutcome(refused=str(refused))
        if currency != self.currency:
            return FileOutcome(refused=f"currency {currency} is not ours (expected {self.currency})")
        now = self.clock() if self.clock else datetime.now(timezone.utc)
        statement_id = store_statement(connection, period, currency, totals, path.name, now)
        summary = {"period": period, "services": len(totals), "statement_id": statement_id}
        if self.ours is not None:
            report = reconcile_period(connection, period, self.ours, self.settings.reconciliation)
            summary["reconciliation"] = "within tolerance" if report.within else "beyond tolerance"
            level = logging.INFO if report.within else logging.WARNING
            log.log(level, "wholesale statement %s for %s is %s", path.name, period, summary["reconciliation"])
        return FileOutcome(summary=summary)


def store_statement(connection: Connection, period: str, currency: str, totals: dict[str, ServiceTotals], file_name: str, now: datetime) -> int:
    statement_id = connection.execute(
        wholesale_statements.insert().values(period=period, currency=currency, file_name=file_name, received_at=now)
    ).inserted_primary_key[0]
    for service, value in totals.items():
        connection.execute(
            wholesale_statement_lines.insert().values(
                statement_id=statement_id, service=service, records=value.records, volume=value.volume,
                amount_minor=value.amount_minor,
            )
        )
    return statement_id


@dataclass(frozen=True)
class StoredStatement:
    statement_id: int
    period: str
    currency: str
    file_name: str
    received_at: datetime
    totals: dict[str, ServiceTotals]


def latest_statement(connection: Connection, period: str) -> StoredStatement | None:
    head = connection.execute(
        select(wholesale_statements)
        .where(wholesale_statements.c.period == period)
        .order_by(wholesale_statements.c.id.desc())
        .limit(1)
    ).first()
    if head is None:
        return None
    rows = connection.execute(
        select(wholesale_statement_lines).where(wholesale_statement_lines.c.statement_id == head.id)
    ).all()
    totals = {row.service: ServiceTotals(row.records, row.volume, row.amount_minor) for row in rows}
    return StoredStatement(head.id, head.period, head.currency, head.file_name, head.received_at, totals)


# ---------------------------------------------------------------------------------------------
# Reconciliation (pure)


def within_tolerance(difference: int, host_amount: int, tolerance: ReconciliationSection) -> bool:
    """Whether `difference` (minor units) is acceptable; the percentage is of the host's amount,
    compared exactly (no rounding: |d| * 100 <= p * |host|)."""
    checks = []
    if tolerance.tolerance_minor is not None:
        checks.append(abs(difference) <= tolerance.tolerance_minor)
    if tolerance.tolerance_percent is not None:
        checks.append(Decimal(abs(difference)) * 100 <= tolerance.tolerance_percent * abs(host_amount))
    if not checks:
        return difference == 0
    return any(checks) if tolerance.rule == "either" else all(checks)


@dataclass(frozen=True)
class ServiceComparison:
    service: str  # voice, sms, data, or "total"
    host: ServiceTotals
    ours: ServiceTotals
    within: bool

    @property
    def difference(self) -> ServiceTotals:
        return ServiceTotals(
            self.host.records - self.ours.records,
            self.host.volume - self.ours.volume,
            self.host.amount_minor - self.ours.amount_minor,
        )


@dataclass(frozen=True)
class ReconciliationReport:
    period: str
    statement: StoredStatement | None
    rows: tuple[ServiceComparison, ...]  # one per service, then the total
    adjustments_minor: int

    @property
    def within(self) -> bool:
        return self.statement is not None and all(row.within for row in self.rows)

    @property
    def total(self) -> ServiceComparison:
        return self.rows[-1]

    @property
    def agreed_cost_minor(self) -> int | None:
        """The host's total plus the agreed adjustments: the wholesale cost finance uses."""
        if self.statement is None:
            return None
        return self.total.host.amount_minor + self.adjustments_minor


def reconcile(
    period: str,
    host: dict[str, ServiceTotals],
    ours: dict[str, tuple[int, int, int]] | dict[str, ServiceTotals],
    tolerance: ReconciliationSection,
    statement: StoredStatement | None = None,
    adjustments_minor: int = 0,
) -> ReconciliationReport:
    ours_totals = {service: _as_totals(value) for service, value in ours.items()}
    unknown = sorted(set(ours_totals) - set(WHOLESALE_SERVICES))
    if unknown:
        raise ValueError(f"our totals name unknown services {', '.join(unknown)} (expected {', '.join(WHOLESALE_SERVICES)})")
    rows = []
    for service in WHOLESALE_SERVICES:
        theirs, mine = host.get(service, ServiceTotals()), ours_totals.get(service, ServiceTotals())
        rows.append(ServiceComparison(service, theirs, mine, within_tolerance(theirs.amount_minor - mine.amount_minor, theirs.amount_minor, tolerance)))
    host_total = _sum(row.host for row in rows)
    our_total = _sum(row.ours for row in rows)
    rows.append(ServiceComparison("total", host_total, our_total, within_tolerance(host_total.amount_minor - our_total.amount_minor, host_total.amount_minor, tolerance)))
    return ReconciliationReport(period, statement, tuple(rows), adjustments_minor)


def _as_totals(value) -> ServiceTotals:
    if isinstance(value, ServiceTotals):
        return value
    records, volume, amount = value
    for item in (records, volume, amount):
        if isinstance(item, bool) or not isinstance(item, int):
            raise TypeError(f"{item!r} is not an integer (expected records, volume and minor units as int, never float)")
    return ServiceTotals(records, volume, amount)


def _sum(values) -> ServiceTotals:
    records = volume = amount = 0
    for value in values:
        records, volume, amount = records + value.records, volume + value.volume, amount + value.amount_minor
    return ServiceTotals(records, volume, amount)


def reconcile_period(connection: Connection, period: str, ours: WholesaleTotals, tolerance: ReconciliationSection) -> ReconciliationReport:
    statement = latest_statement(connection, period)
    host = statement.totals if statement else {}
    return reconcile(period, host, ours.totals(connection, period), tolerance, statement, adjustments_total(connection, period))


def format_amount(amount_minor: int, minor_unit: int) -> str:
    if minor_unit == 0:
        return str(amount_minor)
    sign = "-" if amount_minor < 0 else ""
    whole, fraction = divmod(abs(amount_minor), 10**minor_unit)
    return f"{sign}{whole}.{fraction:0{minor_unit}d}"


def format_report(report: ReconciliationReport, currency: str, minor_unit: int) -> list[str]:
    """The report as the lines `tpo hostnet reconcile` prints."""
    if report.statement is None:
        head = f"Wholesale reconciliation {report.period}: no statement from the host network for this period yet"
    else:
        head = (
            f"Wholesale reconciliation {report.period}: statement {report.statement.file_name} "
            f"(received {report.statement.received_at:%Y-%m-%d %H:%M} UTC), amounts in {currency}"
        )
    lines = [head, f"{'service':<8} {'side':<5} {'records':>12} {'volume':>16} {'amount':>14}  verdict"]
    for row in report.rows:
        unit = VOLUME_UNITS.get(row.service, "")
        for side, value in (("host", row.host), ("ours", row.ours), ("diff", row.difference)):
            name = row.service if side == "host" else ""
            verdict = ("within tolerance" if row.within else "BEYOND TOLERANCE") if side == "diff" else ""
            volume = f"{value.volume}" + (f" {unit[:3]}" if unit else "")
            lines.append(
                f"{name:<8} {side:<5} {value.records:>12} {volume:>16} {format_amount(value.amount_minor, minor_unit):>14}  {verdict}".rstrip()
            )
    lines.append(f"agreed adjustments: {format_amount(report.adjustments_minor, minor_unit)} {currency}")
    if report.agreed_cost_minor is not None:
        lines.append(f"agreed wholesale cost: {format_amount(report.agreed_cost_minor, minor_unit)} {currency}")
    verdict = "no statement to compare" if report.statement is None else (
        "every service within tolerance" if report.within else "differences beyond tolerance: agree an adjustment with the host"
    )
    lines.append(f"result: {verdict}")
    return lines


# ---------------------------------------------------------------------------------------------
# Agreed adjustments


def parse_amount(text: str, minor_unit: int) -> int:
    """A signed decimal amount ("-12.50") as exact minor units; refuses more decimals than the
    currency has, rather than rounding money someone typed."""
    try:
        amount = Decimal((text or "").strip())
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount (expected a decimal like 12.50 or -3.00)") from None
    if not amount.is_finite():
        raise ValueError(f"{text!r} is not an amount (expected a decimal like 12.50 or -3.00)")
    scaled = amount.scaleb(minor_unit)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text!r} has more than {minor_unit} decimal places (expected at most {minor_unit})")
    return int(scaled)


@dataclass(frozen=True)
class Adjustment:
    adjustment_id: int
    period: str
    amount_minor: int
    note: str
    created_at: datetime


def record_adjustment(connection: Connection, period: str, amount_minor: int, note: str, now: datetime) -> Adjustment:
    check_period(period)
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError(f"{amount_minor!r} is not minor units (expected an int)")
    if not (note or "").strip():
        raise ValueError("no note (expected what was agreed with the host, and with whom)")
    adjustment_id = connection.execute(
        wholesale_adjustments.insert().values(period=period, amount_minor=amount_minor, note=note.strip(), created_at=now)
    ).inserted_primary_key[0]
    log.info("wholesale adjustment %s for %s: %d minor units (%s)", adjustment_id, period, amount_minor, note.strip())
    return Adjustment(adjustment_id, period, amount_minor, note.strip(), now)


def adjustments_total(connection: Connection, period: str) -> int:
    return int(
        connection.execute(
            select(func.coalesce(func.sum(wholesale_adjustments.c.amount_minor), 0)).where(wholesale_adjustments.c.period == period)
        ).scalar_one()
    )


def adjustments(connection: Connection, period: str) -> list[Adjustment]:
    rows = connection.execute(
        select(wholesale_adjustments).where(wholesale_adjustments.c.period == period).order_by(wholesale_adjustments.c.id)
    ).all()
    return [Adjustment(row.id, row.period, row.amount_minor, row.note, row.created_at) for row in rows]


@dataclass(frozen=True)
class AgreedWholesaleCost:
    period: str
    statement_minor: int | None  # None: no statement yet
    adjustments_minor: int

    @property
    def total_minor(self) -> int | None:
        return None if self.statement_minor is None else self.statement_minor + self.adjustments_minor


def agreed_wholesale_cost(connection: Connection, period: str) -> AgreedWholesaleCost:
    """What finance uses for the period's profit: the newest statement's total plus adjustments."""
    statement = latest_statement(connection, period)
    host_total = sum(value.amount_minor for value in statement.totals.values()) if statement else None
    return AgreedWholesaleCost(period, host_total, adjustments_total(connection, period))


def read_our_totals_file(path: Path, period: str, currency: str) -> FixedWholesaleTotals:
    """`--our-totals FILE`: our side of `period`, written in the statement format."""
    file_period, file_currency, totals = read_statement(path)
    if (file_period, file_currency) != (period, currency):
        raise FileRefused(f"{path.name} is for {file_period} in {file_currency} (expected {period} in {currency})")
    return FixedWholesaleTotals({s: (v.records, v.volume, v.amount_minor) for s, v in totals.items()})
