"""Bill preview: a subscriber's usage and charges so far in the open period (`tpo bill preview
MSISDN`, and the BILL SMS command through the social `Billing` port).

The period is the current month in the operator's time zone. The preview is built from invoice
lines the way the bill run will build them, each rounded once from micro-units to minor units with
the tariff's `invoice_rounding` rule (`money.minor_units_from_micros`), and the total is the sum of
the rounded lines, as on the bill:

- the plan's monthly fee (the current plan, whole: proration on plan changes is the bill run's);
- one usage line per service for the usage of this period;
- one line per service and earlier period for usage that arrived after that period was closed
  (billed now, with a note).

Usage counts (call seconds, messages, bytes) are those of the period's own usage, whatever bill
they land on, since that is what the bundles count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from sqlalchemy import Connection

from engine.rating.money import minor_units_from_micros
from engine.rating.records import SERVICES
from engine.rating.store import plan_and_totals
from engine.rating.tariffs import Tariff
from engine.social_sms.ports import BillPreview


class NotBilled(LookupError):
    """The number is not a subscriber with a plan, so there is no bill to preview."""


@dataclass(frozen=True)
class InvoiceLine:
    label: str
    micros: int
    amount_minor: int  # micros rounded by the tariff's invoice rule
    note: str = ""


@dataclass(frozen=True)
class ServiceUsage:
    records: int
    quantity: int  # seconds, messages or bytes
    included: int  # of quantity, from the bundle
    allowance: int  # the plan's bundle for the service (0: none)

    @property
    def remaining(self) -> int:
        return max(0, self.allowance - self.included)


@dataclass(frozen=True)
class BillPreviewDetail:
    msisdn: str
    period: str
    plan_code: str
    lines: tuple[InvoiceLine, ...]
    usage: dict[str, ServiceUsage] = field(default_factory=dict)

    @property
    def charges_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)

    def for_sms(self) -> BillPreview:
        """The social `Billing` port's value."""
        return BillPreview(
            period=self.period,
            charges_minor=self.charges_minor,
            voice_seconds=self.usage["voice"].quantity,
            sms_count=self.usage["sms"].quantity,
            data_bytes=self.usage["data"].quantity,
        )


def current_period(tariff: Tariff, now: datetime) -> str:
    return tariff.timeline.at(int(now.timestamp()))[2]


def bill_preview(connection: Connection, tariff: Tariff, msisdn: str, now: datetime, minor_unit: int) -> BillPreviewDetail:
    period = current_period(tariff, now)
    plan_code, totals = plan_and_totals(connection, msisdn, period)
    if plan_code is None:
        raise NotBilled(f"{msisdn} is not a subscriber with a plan (expected a line's number, like +447700900123)")
    plan = tariff.plans.get(plan_code)
    if plan is None:
        raise NotBilled(f"{msisdn} has plan {plan_code!r}, which tariffs.toml does not define")
    rounding = tariff.invoice_rounding

    def line(label: str, micros: int, note: str = "") -> InvoiceLine:
        return InvoiceLine(label, micros, minor_units_from_micros(micros, minor_unit, rounding), note)

    lines = [line(f"plan {plan_code}, monthly fee", plan.monthly_fee)]
    sums = {service: [0, 0, 0] for service in SERVICES}  # records, quantity, included of this period's usage
    this_period: dict[str, int] = {}
    late: list[tuple[str, str, int]] = []
    for usage_period, bill_period, service, records, quantity, included, _billed, retail, _wholesale in totals:
        if usage_period == period:
            counted = sums.setdefault(service, [0, 0, 0])
            counted[0] += records
            counted[1] += quantity
            counted[2] += included
        if bill_period != period:
            continue  # usage of this period that lands on a later bill (the period was closed early)
        if usage_period == period:
            this_period[service] = this_period.get(service, 0) + retail
        else:
            late.append((usage_period, service, retail))
    for service in SERVICES:
        if service in this_period:
            lines.append(line(f"{service} usage", this_period[service]))
    for usage_period, service, retail in late:
        lines.append(line(f"{service} usage of {usage_period}", retail, f"received after the {usage_period} bill was closed"))
    allowances = {"voice": plan.voice_seconds, "sms": plan.sms_messages, "data": plan.data_bytes}
    usage = {service: ServiceUsage(*sums[service], allowances[service]) for service in SERVICES}
    return BillPreviewDetail(msisdn, period, plan_code, tuple(lines), usage)


class RatedBilling:
    """The social `Billing` port over the rated usage (the BILL SMS command), on the connection of
    the unit of work that asks: a second connection would wait on the MO transaction's write lock
    on SQLite.

    A number without a plan (a social-only member) gets an empty preview of the period rather than
    an error: the SMS reply then shows nothing owed.
    """

    def __init__(self, connection: Connection, tariff: Tariff, minor_unit: int):
        self.connection = connection
        self.tariff = tariff
        self.minor_unit = minor_unit

    def preview(self, msisdn: str, now: datetime) -> BillPreview:
        try:
            return bill_preview(self.connection, self.tariff, msisdn, now, self.minor_unit).for_sms()
        except NotBilled:
            return BillPreview(current_period(self.tariff, now), 0, 0, 0, 0)

    @classmethod
    def factory(cls, tariff: Tariff, minor_unit: int) -> Callable[[Connection], "RatedBilling"]:
        """`billing_for(connection)`, as the social wiring takes it, with the already compiled tariff."""
        return lambda connection: cls(connection, tariff, minor_unit)
