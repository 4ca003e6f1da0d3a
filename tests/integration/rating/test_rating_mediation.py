"""Mediation and rating on a real database (SQLite and PostgreSQL): import, duplicates, rejects,
suspense, late records, allowance continuity, re-rating, bill preview, wholesale totals.

Hand-checked numbers come from docs/formats/usage-csv.md's example file with config/tariffs.toml.
"""

from __future__ import annotations

import csv
import gzip
import shutil
import tomllib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select

from engine.config.loader import load_config
from engine.hostnet.inbound import InboundFolder, take_in_file, write_atomically
from engine.rating.generator import generate_subscribers, generate_usage, write_usage_csv
from engine.rating.mediation import UsageFileHandler, poll_usage_folder, rerun_suspense
from engine.rating.preview import NotBilled, RatedBilling, bill_preview
from engine.rating.rater import Rater, RatingError, rating_order
from engine.rating.records import UsageParser, usage_lines_reader
from engine.rating.rerate import RerateRefused, rerate_period
from engine.rating.store import RatedWholesaleTotals, close_period
from engine.rating.tariffs import TariffsFile, compile_tariff
from engine.social_sms.ports import BillPreview
from engine.store.schema import inbound_files, subscribers, usage_records, usage_suspense, usage_totals
from tests.support.configs import copy_project_config

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "formats" / "examples" / "usage.csv"
BASIC, PAYG = "+447400123456", "+447400654321"
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=timezone.utc)
HEADER = "record_id,msisdn,service,start_time,duration_s,volume_bytes,called_number,roaming_zone\n"


def tariff_with(edit=None):
    with open(ROOT / "config" / "tariffs.toml", "rb") as handle:
        raw = tomllib.load(handle)
    if edit:
        edit(raw)
    return compile_tariff(TariffsFile.model_validate(raw), "Europe/London", "GB")


TARIFF = tariff_with()


def add_subscribers(database, plans: dict[str, str]) -> None:
    with database.begin() as connection:
        connection.execute(insert(subscribers), [
            {"msisdn": msisdn, "kind": "line", "status": "active", "plan_code": plan, "created_at": NOW, "updated_at": NOW}
            for msisdn, plan in plans.items()
        ])


def folder_in(tmp_path: Path) -> InboundFolder:
    return InboundFolder("usage", tmp_path / "usage-in", tmp_path / "processed", tmp_path / "rejected")


def take_in(database, tmp_path, name: str, lines: list[str] | None = None, source: Path | None = None, tariff=TARIFF,
            batch_size: int = 10_000):
    folder = folder_in(tmp_path)
    path = folder.inbox / name
    if source is not None:
        folder.inbox.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
    else:
        write_atomically(path, lines)
    return take_in_file(database, folder, path, UsageFileHandler(tariff, batch_size=batch_size))


def stored(database, *columns):
    chosen = [usage_records.c[name] for name in columns] or [usage_records]
    with database.connect() as connection:
        return {row[0]: tuple(row[1:]) for row in connection.execute(select(*chosen).order_by(usage_records.c.record_id))}


def count(database, table) -> int:
    with database.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_the_documented_example_is_stored_as_documented(database, tmp_path):
    add_subscribers(database, {BASIC: "basic", PAYG: "payg"})

    result = take_in(database, tmp_path, "usage.csv", source=EXAMPLE)

    assert result.status == "processed"
    assert result.summary == {"read": 10, "rated": 10, "duplicates": 0, "rejected": 0, "suspense": 0, "late": 0}
    rows = stored(database, "record_id", "zone", "included", "billed", "retail_micros", "wholesale_micros", "bill_period")
    assert [rows[f"HN-20260311-{n:06d}"] for n in range(1, 11)] == [
        ("uk_mobile", 61, 0, 0, 8_133, "2026-03"),
        ("uk_fixed", 90, 0, 0, 6_000, "2026-03"),
        ("uk_mobile", 1, 0, 0, 2_000, "2026-03"),
        ("", 150_001, 0, 0, 225, "2026-03"),
        ("zero_rated", 0, 0, 0, 400, "2026-03"),
        ("international_1", 0, 36, 200_000, 12_917, "2026-03"),
        ("zero_rated", 0, 0, 0, 0, "2026-03"),
        ("", 0, 2_048_000, 61_440, 4_096, "2026-03"),
        ("uk_mobile", 0, 45, 60_000, 16_500, "2026-03"),
        ("uk_mobile", 0, 1, 500_000, 100_000, "2026-03"),
    ]
    assert (folder_in(tmp_path).processed / "usage.csv").exists()


def test_a_file_seen_before_is_refused_as_a_duplicate(database, tmp_path):
    add_subscribers(database, {BASIC: "basic", PAYG: "payg"})
    take_in(database, tmp_path, "usage.csv", source=EXAMPLE)

    again = take_in(database, tmp_path, "usage-again.csv", source=EXAMPLE)

    assert again.status == "duplicate"
    assert "same content" in again.reason and "usage.csv" in again.reason
    assert count(database, usage_records) == 10
    assert (folder_in(tmp_path).rejected / "usage-again.csv.reason").exists()


def test_record_ids_seen_before_are_skipped_and_counted_within_and_across_files(database, tmp_path):
    add_subscribers(database, {BASIC: "basic"})
    sms = "447400123456,sms,2026-03-11T19:15:{:02d}+00:00,,,07700900123,\n"
    first = take_in(database, tmp_path, "a.csv", [HEADER, "A1," + sms.format(1), "A2," + sms.format(2),
                                                  "A1," + sms.format(3)])
    # Across files, and across batches of one file (batch_size 2), and in suspense.
    second = take_in(database, tmp_path, "b.csv", [HEADER, "A2," + sms.format(4), "B1," + sms.format(5),
                                                   "S1," + sms.format(6).replace("447400123456", "447400999999"),
                                                   "B1," + sms.format(7), "S1," + sms.format(8)], batch_size=2)

    assert (first.summary["rated"], first.summary["duplicates"]) == (2, 1)
    assert (second.summary["rated"], second.summary["suspense"], second.summary["duplicates"]) == (1, 1, 3)
    assert set(stored(database, "record_id")) == {"A1", "A2", "B1"}
    # The first occurrence counts: A1 is the message of second 1, not the repeat at second 3.
    assert stored(database, "record_id", "start_epoch")["A1"] == (int(datetime(2026, 3, 11, 19, 15, 1, tzinfo=timezone.utc).timestamp()),)
    assert count(database, usage_suspense) == 1
    # A duplicate never consumes a bundle.
    with database.connect() as connection:
        assert connection.execute(select(func.sum(usage_totals.c.included))).scalar_one() == 3


def test_bad_lines_go_to_the_rejects_file_with_their_line_numbers_and_the_file_goes_on(database, tmp_path):
    add_subscribers(database, {BASIC: "basic"})
    result = take_in(database, tmp_path, "bad.csv", [
        HEADER,
        "R1,447400123456,sms,2026-03-11T19:15:42+00:00,,,07700900123,\n",
        "R2,447400123456,fax,2026-03-11T19:15:42+00:00,,,07700900123,\n",
        "\n",
        "R3,447400123456,voice,2026-03-11T19:15:42,10,,07700900123,\n",
        "R4,447400123456,voice\n",
        "R5,447400123456,data,2026-03-11T19:20:00+00:00,,1000,,\n",
    ])

    assert result.summary == {"read": 5, "rated": 2, "duplicates": 0, "rejected": 3, "suspense": 0, "late": 0}
    with open(folder_in(tmp_path).rejected / "bad.csv.rejects.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [
        ["line_number", "reason", "line"],
        ["3", "service 'fax' is unknown (expected one of data, sms, voice)",
         "R2,447400123456,fax,2026-03-11T19:15:42+00:00,,,07700900123,"],
        ["5", "start_time '2026-03-11T19:15:42' has no UTC offset (expected e.g. 2026-03-15T10:23:45+00:00)",
         "R3,447400123456,voice,2026-03-11T19:15:42,10,,07700900123,"],
        ["6", "has 3 fields (expected at least 8)", "R4,447400123456,voice"],
    ]


def test_a_file_without_the_configured_header_is_refused_whole(database, tmp_path):
    result = take_in(database, tmp_path, "odd.csv", ["id,number\n", "R1,447400123456\n"])

    assert result.status == "refused"
    assert "header has no column 'record_id'" in result.reason
    assert count(database, usage_records) == 0


def test_suspense_holds_unknown_subscribers_until_they_appear_then_a_rerun_rates_them(database, tmp_path):
    add_subscribers(database, {BASIC: "basic"})
    result = take_in(database, tmp_path, "usage.csv", source=EXAMPLE)
    assert (result.summary["rated"], result.summary["suspense"]) == (4, 6)
    with database.connect() as connection:
        reasons = set(connection.execute(select(usage_suspense.c.reason)).scalars())
    assert reasons == {"subscriber +447400654321 is unknown (expected a subscriber with a plan)"}

    nothing_yet = rerun_suspense(database, TARIFF, now=NOW)
    assert (nothing_yet.rated, nothing_yet.still_in_suspense) == (0, 6)
    add_subscribers(database, {PAYG: "payg"})
    rerun = rerun_suspense(database, TARIFF, now=NOW)

    assert (rerun.rated, rerun.still_in_suspense) == (6, 0)
    assert count(database, usage_suspense) == 0
    assert stored(database, "record_id", "retail_micros")["HN-20260311-000006"] == (200_000,)
    assert rerun_suspense(database, TARIFF, now=NOW).rated == 0


def test_a_record_for_a_closed_period_is_billed_in_the_next_open_period_with_a_note(database, tmp_path):
    add_subscribers(database, {BASIC: "basic", PAYG: "payg"})
    with database.begin() as connection:
        close_period(connection, "2026-03", NOW)
        close_period(connection, "2026-04", NOW)

    result = take_in(database, tmp_path, "late.csv", [
        HEADER, "L1,447400654321,voice,2026-03-31T23:30:00+00:00,60,,07700900123,\n",  # 00:30 BST: April
        "L2,447400654321,voice,2026-05-01T10:00:00+00:00,60,,07700900123,\n",
    ])

    assert result.summary["late"] == 1
    rows = stored(database, "record_id", "period", "bill_period", "note", "retail_micros")
    assert rows["L1"] == ("2026-04", "2026-05", "usage of 2026-04 received after that bill was closed; billed in 2026-05",
                          80_000)
    assert rows["L2"] == ("2026-05", "2026-05", None, 80_000)
    with database.connect() as connection:
        may = bill_preview(connection, TARIFF, PAYG, datetime(2026, 5, 2, tzinfo=timezone.utc), 2)
    assert [(line.label, line.amount_minor, line.note) for line in may.lines] == [
        ("plan payg, monthly fee", 0, ""),
        ("voice usage", 8, ""),
        ("voice usage of 2026-04", 8, "received after the 2026-04 bill was closed"),
    ]
    assert may.usage["voice"].quantity == 60  # May's own usage only


def _generated(tmp_path, count=4_000):
    plans = dict(list(generate_subscribers(5, seed=3).items()))
    plans = {msisdn: "basic" for msisdn in plans}  # 300 minutes each: the busier ones run out
    rows = list(generate_usage(list(plans), "2026-03", count, seed=3))
    return plans, rows


def _comparable(database):
    return stored(database, "record_id", "period", "plan_code", "zone", "band", "included", "chargeable", "billed",
                  "retail_micros", "wholesale_micros")


def test_allowances_continue_across_two_files_exactly_as_in_one(database, tmp_path):
    plans, rows = _generated(tmp_path)
    whole = tmp_path / "whole.csv"
    write_usage_csv(whole, rows)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv.gz"
    write_usage_csv(first, rows[:2_500])
    write_usage_csv(second, rows[2_500:])  # gzip: read by content
    add_subscribers(database, plans)

    take_in(database, tmp_path / "one", "whole.csv", source=whole, batch_size=700)
    one_file = _comparable(database)
    with database.begin() as connection:
        for table in (usage_records, usage_totals, inbound_files):
            connection.execute(delete(table))
    take_in(database, tmp_path / "two", "first.csv", source=first, batch_size=700)
    take_in(database, tmp_path / "two", "second.csv.gz", source=second, batch_size=700)
    two_files = _comparable(database)

    assert len(one_file) == 4_000
    assert two_files == one_file
    crossing = [row for row in one_file.values() if row[4] and row[5] and row[7]]  # included and charged
    assert crossing, "the test data should exhaust some bundles"


def _rate_from_scratch(tariff, plans, path):
    """What a first rating of the file with `tariff` gives, by the pure core alone."""
    parser = UsageParser(tariff.usage_format, tariff.default_region)
    rater = Rater(tariff, plans)
    results = {}
    for record in sorted(parser.parse(usage_lines_reader(path), lambda reject: None), key=rating_order):
        try:
            results[record[1]] = rater.rate(record)
        except RatingError:
            pass
    return results


def test_rerating_after_a_tariff_correction_equals_a_first_rating_and_says_what_changed(database, tmp_path):
    plans, rows = _generated(tmp_path, 3_000)
    plans[next(iter(plans))] = "payg"
    path = tmp_path / "march.csv"
    write_usage_csv(path, rows)
    add_subscribers(database, plans)
    # Rated in small batches with a wrong price, and in two files with the later one first: the
    # stored bundles are consumed out of order; a re-rating must restore strict time order.
    write_usage_csv(tmp_path / "late-half.csv", rows[1_500:])
    write_usage_csv(tmp_path / "early-half.csv", rows[:1_500])

    def wrong(raw):
        raw["rate_cards"]["payg"]["voice"]["uk_mobile"]["per_minute"] = "0.80"
        raw["plans"]["basic"]["allowances"]["voice"]["amount"] = 9_000

    take_in(database, tmp_path, "late-half.csv", source=tmp_path / "late-half.csv", tariff=tariff_with(wrong), batch_size=400)
    take_in(database, tmp_path, "early-half.csv", source=tmp_path / "early-half.csv", tariff=tariff_with(wrong), batch_size=400)
    before = _comparable(database)

    report = rerate_period(database, TARIFF, "2026-03")

    expected = _rate_from_scratch(TARIFF, plans, path)
    after = _comparable(database)
    assert after == {record_id: tuple(result) for record_id, result in expected.items()}
    assert report.records == 3_000
    assert report.changed == sum(1 for key in after if after[key] != before[key]) > 0
    assert report.charge_changed == sum(1 for key in after if after[key][7:] != before[key][7:]) > 0
    services = stored(database, "record_id", "service")
    for service, (retail_before, retail_after, wholesale_before, wholesale_after) in report.totals.items():
        keys = [key for key in after if services[key] == (service,)]
        assert retail_before == sum(before[key][7] for key in keys)
        assert retail_after == sum(after[key][7] for key in keys)
        assert (wholesale_before, wholesale_after) == (sum(before[k][8] for k in keys), sum(after[k][8] for k in keys))
    with database.connect() as connection:
        totals = {tuple(row[:4]): tuple(row[4:]) for row in connection.execute(select(usage_totals))}
        grouped = connection.execute(
            select(usage_records.c.msisdn, usage_records.c.period, usage_records.c.bill_period, usage_records.c.service,
                   func.count(), func.sum(usage_records.c.included + usage_records.c.chargeable),
                   func.sum(usage_records.c.included), func.sum(usage_records.c.billed),
                   func.sum(usage_records.c.retail_micros), func.sum(usage_records.c.wholesale_micros))
            .group_by(usage_records.c.msisdn, usage_records.c.period, usage_records.c.bill_period, usage_records.c.service)
        ).all()
    assert totals == {tuple(row[:4]): tuple(int(v) for v in row[4:]) for row in grouped}

    again = rerate_period(database, TARIFF, "2026-03")
    assert (again.changed, again.charge_changed) == (0, 0)
    assert _comparable(database) == after


def test_rerating_a_closed_period_is_refused(database):
    with database.begin() as connection:
        close_period(connection, "2026-03", NOW)
    with pytest.raises(RerateRefused, match="period 2026-03 is closed"):
        rerate_period(database, TARIFF, "2026-03")
    with pytest.raises(RerateRefused, match="not a period"):
        rerate_period(database, TARIFF, "2026-13")


def test_bill_preview_shows_the_period_so_far_with_invoice_rounding(database, tmp_path):
    add_subscribers(database, {BASIC: "basic", PAYG: "payg"})
    take_in(database, tmp_path, "usage.csv", source=EXAMPLE)

    with database.connect() as connection:
        payg = bill_preview(connection, TARIFF, PAYG, NOW, 2)
        basic = bill_preview(connection, TARIFF, BASIC, NOW, 2)
        with pytest.raises(NotBilled, match="not a subscriber with a plan"):
            bill_preview(connection, TARIFF, "+447400000000", NOW, 2)

    # voice 200,000 + 60,000 (+ 0 for 999); sms 500,000 (+ 0 for 767); data 61,440 = 6.144p -> 6p.
    assert [(line.label, line.micros, line.amount_minor) for line in payg.lines] == [
        ("plan payg, monthly fee", 0, 0),
        ("voice usage", 260_000, 26),
        ("sms usage", 500_000, 50),
        ("data usage", 61_440, 6),
    ]
    assert payg.charges_minor == 82
    assert payg.for_sms() == BillPreview("2026-03", 82, 12 + 31 + 45, 2, 2_048_000)
    assert basic.charges_minor == 500  # the fee; all usage from the bundles
    assert (basic.usage["voice"].included, basic.usage["voice"].remaining) == (151, 18_000 - 151)
    assert basic.usage["data"].quantity == 150_001
    # The SMS port: a number without a plan sees nothing owed; April has nothing yet.
    with database.connect() as connection:
        billing = RatedBilling(connection, TARIFF, 2)
        assert billing.preview(PAYG, NOW) == BillPreview("2026-03", 82, 88, 2, 2_048_000)
        assert billing.preview("+447400000000", NOW) == BillPreview("2026-03", 0, 0, 0, 0)
        assert billing.preview(PAYG, datetime(2026, 4, 2, tzinfo=timezone.utc)) == BillPreview("2026-04", 0, 0, 0, 0)


def test_wholesale_totals_port_sums_per_service_and_rounds_once_per_total(database, tmp_path):
    add_subscribers(database, {BASIC: "basic", PAYG: "payg"})
    take_in(database, tmp_path, "usage.csv", source=EXAMPLE)

    with database.connect() as connection:
        totals = RatedWholesaleTotals(2, "half_up").totals(connection, "2026-03")
        empty = RatedWholesaleTotals(2).totals(connection, "2026-04")

    # voice 8,133 + 6,000 + 400 + 12,917 + 16,500 = 43,950 micro-units = 4.395p -> 4p (per record: 5p)
    assert totals == {
        "voice": (5, 61 + 90 + 12 + 31 + 45, 4),
        "sms": (3, 3, 10),  # 2,000 + 0 + 100,000 = 10.2p
        "data": (2, 150_001 + 2_048_000, 0),  # 225 + 4,096 = 0.4321p
    }
    assert empty == {}


def test_the_watched_usage_folder_is_polled(database, tmp_path, monkeypatch):
    config_dir = copy_project_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    config = load_config(config_dir, environ={})
    add_subscribers(database, {BASIC: "basic", PAYG: "payg"})
    inbox = tmp_path / config.engine.folders.usage_in
    inbox.mkdir(parents=True)
    with gzip.open(inbox / "host-20260311.csv.gz", "wb") as handle:
        handle.write(EXAMPLE.read_bytes())
    (inbox / "arriving.csv.part").write_text(HEADER)

    [result] = poll_usage_folder(database, config)

    assert (result.status, result.summary["rated"]) == ("processed", 10)
    assert (tmp_path / config.engine.folders.processed / "usage" / "host-20260311.csv.gz").exists()
    assert poll_usage_folder(database, config) == []
    assert count(database, usage_records) == 10


def _totals_and_grouped(database):
    r = usage_records.c
    with database.connect() as connection:
        totals = {tuple(row[:4]): tuple(row[4:]) for row in connection.execute(select(usage_totals))}
        grouped = connection.execute(
            select(r.msisdn, r.period, r.bill_period, r.service, func.count(), func.sum(r.included + r.chargeable),
                   func.sum(r.included), func.sum(r.billed), func.sum(r.retail_micros), func.sum(r.wholesale_micros))
            .group_by(r.msisdn, r.period, r.bill_period, r.service)
        ).all()
    return totals, {tuple(row[:4]): tuple(int(v) for v in row[4:]) for row in grouped}


@pytest.mark.parametrize("closed", [False, True])
def test_usage_totals_equal_the_records_grouped_after_an_import_with_suspense_and_late_records(database, tmp_path, closed):
    plans, rows = _generated(tmp_path, count=3_000)
    missing = sorted(plans)[0]  # its records go to suspense
    add_subscribers(database, {msisdn: plan for msisdn, plan in plans.items() if msisdn != missing})
    if closed:
        with database.begin() as connection:
            close_period(connection, "2026-03", NOW)
    path = tmp_path / "usage.csv"
    write_usage_csv(path, rows)

    result = take_in(database, tmp_path, "usage.csv", source=path, batch_size=700)

    assert result.summary["suspense"] == count(database, usage_suspense) > 0
    assert result.summary["rated"] == count(database, usage_records) == 3_000 - result.summary["suspense"]
    assert result.summary["late"] == (result.summary["rated"] if closed else 0)
    totals, grouped = _totals_and_grouped(database)
    assert totals == grouped
    assert {key[2] for key in totals} == ({"2026-04"} if closed else {"2026-03"})
    # Every stored row is the record as parsed and its rating by the pure core alone.
    known = {msisdn: plan for msisdn, plan in plans.items() if msisdn != missing}
    parser = UsageParser(TARIFF.usage_format, TARIFF.default_region)
    records = {record[1]: record for record in parser.parse(usage_lines_reader(path), lambda reject: None)}
    expected = _rate_from_scratch(TARIFF, known, path)
    columns = ("record_id", "msisdn", "service", "start_epoch", "duration_s", "volume_bytes", "called_number",
               "roaming_zone", "period", "plan_code", "zone", "band", "included", "chargeable", "billed",
               "retail_micros", "wholesale_micros", "bill_period")
    assert stored(database, *columns) == {
        record_id: records[record_id][2:] + tuple(result) + ("2026-04" if closed else "2026-03",)
        for record_id, result in expected.items()
    }


@pytest.mark.parametrize("probe", [1_000, 3])
def test_known_ids_are_found_by_range_or_one_by_one(database, tmp_path, monkeypatch, probe):
    # The duplicate check asks for the stored ids in the batch's id range first and falls back to
    # one lookup per id when the range holds more than the probe: both find the same duplicates.
    monkeypatch.setattr("engine.rating.store._RANGE_PROBE", probe)
    plans, rows = _generated(tmp_path, count=1_000)
    add_subscribers(database, plans)
    first, again = tmp_path / "first.csv", tmp_path / "again.csv"
    write_usage_csv(first, rows[::2])
    write_usage_csv(again, rows[:500])  # half of it already stored, interleaved with new ids

    take_in(database, tmp_path / "1", "first.csv", source=first, batch_size=100)
    result = take_in(database, tmp_path / "2", "again.csv", source=again, batch_size=100)

    assert (result.summary["rated"], result.summary["duplicates"]) == (250, 250)
    assert count(database, usage_records) == 750
    totals, grouped = _totals_and_grouped(database)
    assert totals == grouped
