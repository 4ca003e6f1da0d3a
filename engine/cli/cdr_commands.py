"""`tpo cdr import|suspense`, `tpo rate --rerate`, `tpo bill preview`: usage records and rating.

Amounts are shown in the currency with the tariff's invoice rounding (micro-units summed, then
rounded once per line), the way the bill shows them.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

from engine.cli import context

SUSPENSE_SHOWN = 50


def register(commands, common) -> None:
    cdr = commands.add_parser("cdr", help="usage records (CDRs): import files, suspense", parents=[common])
    actions = cdr.add_subparsers(dest="action", metavar="ACTION", title="actions")
    actions.required = True

    take_in = actions.add_parser(
        "import", help="import, rate and store usage files (as if the host had dropped them in usage_in)", parents=[common]
    )
    take_in.add_argument("files", metavar="FILE", nargs="+", type=Path, help="usage CSV files, plain or gzip")
    take_in.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    take_in.set_defaults(handler=import_usage)

    suspense = actions.add_parser("suspense", help="list records that could not be rated, with reasons", parents=[common])
    suspense.add_argument("--rerun", action="store_true", help="rate again what can be rated now, then list the rest")
    suspense.add_argument("--limit", type=int, default=SUSPENSE_SHOWN, help=f"records listed (default {SUSPENSE_SHOWN})")
    suspense.set_defaults(handler=show_suspense)

    rate = commands.add_parser("rate", help="re-rate a period's usage after a tariff correction", parents=[common])
    rate.add_argument("--rerate", action="store_true", required=True, help="re-rate the stored records of --period")
    rate.add_argument("--period", required=True, help="the usage month, YYYY-MM")
    rate.set_defaults(handler=rerate)

    bill = commands.add_parser("bill", help="bills: preview the open period", parents=[common])
    bill_actions = bill.add_subparsers(dest="action", metavar="ACTION", title="actions")
    bill_actions.required = True
    preview = bill_actions.add_parser("preview", help="usage and charges so far this period", parents=[common])
    preview.add_argument("msisdn", metavar="MSISDN")
    preview.set_defaults(handler=preview_bill)


def _fail(message: str, status: int = 1) -> int:
    print(message, file=sys.stderr)
    return status


def _money(micros: int, config, rounding: str) -> str:
    from engine.rating.money import minor_units_from_micros

    unit = config.engine.operator.currency_minor_unit
    minor = minor_units_from_micros(micros, unit, rounding)
    return _minor(minor, unit)


def _minor(minor: int, unit: int) -> str:
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(minor), 10**unit)
    return f"{sign}{whole:,}.{part:0{unit}d}" if unit else f"{sign}{whole:,}"


def import_usage(args) -> int:
    from engine.rating.mediation import import_files
    from engine.rating.tariffs import tariff_from_config

    config = context.load(args)
    missing = [str(path) for path in args.files if not path.is_file()]
    if missing:
        return _fail(f"no such file: {', '.join(missing)}", 2)
    tariff = tariff_from_config(config)
    bars: dict = {}

    def on_progress(path: Path, done: int, total: int) -> None:
        bar = bars.get(path.name)
        if bar is None:
            from tqdm import tqdm

            bar = bars[path.name] = tqdm(total=total, unit="B", unit_scale=True, desc=path.name, file=sys.stderr, leave=True)
        bar.update(done - bar.n)

    try:
        results = import_files(
            context.database(config), config, args.files, tariff, on_progress=None if args.no_progress else on_progress
        )
    finally:
        for bar in bars.values():
            bar.close()
    problems = 0
    for result in results:
        if result.status in ("processed", "recovered"):
            summary = ", ".join(f"{key} {value:,}" for key, value in result.summary.items())
            print(f"{result.path.name}: {result.status}: {summary}")
            if result.rejected_lines:
                print(f"  rejected lines with reasons: {usage_rejects_path(config, result.path.name)}")
        else:
            problems += 1
            print(f"{result.path.name}: {result.status}: {result.reason}")
    return 1 if problems else 0


def usage_rejects_path(config, name: str) -> Path:
    from engine.rating.mediation import usage_folder

    return usage_folder(config).rejected / f"{name}.rejects.csv"


def show_suspense(args) -> int:
    from sqlalchemy import func, select

    from engine.rating.mediation import rerun_suspense
    from engine.rating.tariffs import tariff_from_config
    from engine.store.schema import usage_suspense

    config = context.load(args)
    database = context.database(config)
    if args.rerun:
        result = rerun_suspense(database, tariff_from_config(config))
        print(f"re-run: {result.rated:,} rated ({result.late:,} late), {result.still_in_suspense:,} still in suspense")
    s = usage_suspense.c
    with database.connect() as connection:
        by_reason = connection.execute(
            select(s.reason, func.count()).group_by(s.reason).order_by(func.count().desc(), s.reason)
        ).all()
        rows = connection.execute(
            select(s.record_id, s.msisdn, s.service, s.start_epoch, s.file_name, s.attempts, s.reason)
            .order_by(s.start_epoch, s.msisdn, s.record_id)
            .limit(max(0, args.limit))
        ).all()
    total = sum(count for _, count in by_reason)
    if not total:
        print("suspense is empty")
        return 0
    print(f"{total:,} record(s) in suspense")
    for reason, count in by_reason:
        print(f"  {count:>8,}  {reason}")
    print(f"{'record id':<28} {'msisdn':<16} {'service':<7} {'start (UTC)':<20} {'tries':>5}  file / reason")
    for record_id, msisdn, service, start, file_name, attempts, reason in rows:
        when = datetime.fromtimestamp(start, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{record_id:<28} {msisdn:<16} {service:<7} {when:<20} {attempts:>5}  {file_name}: {reason}")
    if total > len(rows):
        print(f"... and {total - len(rows):,} more (--limit)")
    return 0


def rerate(args) -> int:
    from engine.rating.rerate import RerateRefused, rerate_period
    from engine.rating.tariffs import tariff_from_config

    config = context.load(args)
    tariff = tariff_from_config(config)
    try:
        report = rerate_period(context.database(config), tariff, args.period)
    except RerateRefused as error:
        return _fail(f"--period: {error}", 2)
    rounding = tariff.invoice_rounding
    currency = config.engine.operator.currency
    print(f"re-rated {report.records:,} record(s) of {report.period}: {report.changed:,} changed, "
          f"{report.charge_changed:,} with a different charge, {report.moved_to_suspense:,} moved to suspense")
    if report.totals:
        print(f"{'service':<8} {'retail before':>14} {'retail after':>14} {'wholesale before':>17} {'wholesale after':>16}  ({currency})")
        for service in sorted(report.totals):
            retail_before, retail_after, wholesale_before, wholesale_after = report.totals[service]
            print(f"{service:<8} {_money(retail_before, config, rounding):>14} {_money(retail_after, config, rounding):>14} "
                  f"{_money(wholesale_before, config, rounding):>17} {_money(wholesale_after, config, rounding):>16}")
    for change in report.examples:
        print(f"  {change.record_id} {change.msisdn} {change.service}: retail {change.retail_before:,} -> {change.retail_after:,}, "
              f"wholesale {change.wholesale_before:,} -> {change.wholesale_after:,} (micro-units)")
    if report.charge_changed > len(report.examples):
        print(f"  ... and {report.charge_changed - len(report.examples):,} more")
    return 0


def preview_bill(args) -> int:
    from engine.numbers import InvalidNumber, normalise_msisdn
    from engine.rating.preview import NotBilled, bill_preview
    from engine.rating.tariffs import tariff_from_config

    config = context.load(args)
    operator = config.engine.operator
    try:
        msisdn = normalise_msisdn(args.msisdn, operator.default_region)
    except InvalidNumber as error:
        return _fail(str(error), 2)
    tariff = tariff_from_config(config)
    unit = operator.currency_minor_unit
    with context.database(config).connect() as connection:
        try:
            preview = bill_preview(connection, tariff, msisdn, datetime.now(timezone.utc), unit)
        except NotBilled as error:
            return _fail(str(error))
    print(f"bill preview for {preview.msisdn}, {preview.period} so far (plan {preview.plan_code}; {operator.currency})")
    for line in preview.lines:
        note = f"  ({line.note})" if line.note else ""
        print(f"  {line.label:<36} {_minor(line.amount_minor, unit):>10}{note}")
    print(f"  {'total':<36} {_minor(preview.charges_minor, unit):>10}")
    units = {"voice": "s", "sms": "messages", "data": "bytes"}
    for service, usage in preview.usage.items():
        bundle = f", {usage.included:,} from the bundle, {usage.remaining:,} left" if usage.allowance else ""
        print(f"  {service:<6} {usage.records:,} record(s), {usage.quantity:,} {units[service]}{bundle}")
    return 0
