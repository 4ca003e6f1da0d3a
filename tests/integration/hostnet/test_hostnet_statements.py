"""Wholesale statements in, reconciled with our own rating, adjustments agreed per period."""

from datetime import datetime, timezone

import pytest

from engine.hostnet.inbound import InboundFolder, poll_folder, write_atomically
from engine.hostnet.settings import HostnetFile, ReconciliationSection
from engine.hostnet.simulator import HostSimulator
from engine.hostnet.statements import (
    FixedWholesaleTotals,
    StatementHandler,
    adjustments,
    agreed_wholesale_cost,
    format_report,
    latest_statement,
    reconcile_period,
    record_adjustment,
)

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=timezone.utc)
HOST = {"voice": (1200, 72000, 15000), "sms": (5000, 5000, 2500), "data": (300, 9_000_000_000, 45000)}
TOLERANCE = ReconciliationSection(tolerance_minor=100, tolerance_percent=None)


@pytest.fixture
def setup(tmp_path, database):
    folder = InboundFolder("statements", tmp_path / "statements-in", tmp_path / "processed", tmp_path / "rejected")
    host = HostSimulator(tmp_path / "prov-out", tmp_path / "acks-in", tmp_path / "events-in", folder.inbox, clock=lambda: NOW)
    handler = StatementHandler("GBP", HostnetFile(reconciliation=TOLERANCE), clock=lambda: NOW)
    return database, folder, host, handler


def test_a_statement_within_tolerance(setup):
    database, folder, host, handler = setup
    host.write_statement("2026-11", HOST, "GBP")
    [result] = poll_folder(database, folder, handler)
    assert result.status == "processed"
    ours = FixedWholesaleTotals({"voice": (1199, 71940, 14950), "sms": (5000, 5000, 2500), "data": (300, 9_000_000_000, 45000)})

    with database.connect() as connection:
        report = reconcile_period(connection, "2026-11", ours, TOLERANCE)

    assert report.within
    voice = report.rows[0]
    assert (voice.service, voice.difference.records, voice.difference.volume, voice.difference.amount_minor) == ("voice", 1, 60, 50)
    assert report.total.host.amount_minor == 62500
    lines = format_report(report, "GBP", 2)
    assert lines[0].startswith("Wholesale reconciliation 2026-11: statement host-statement-2026-11-")
    assert any(line.split()[:2] == ["voice", "host"] and line.split()[-1] == "150.00" for line in lines)
    assert "0.50  within tolerance" in "\n".join(lines)
    assert lines[-1] == "result: every service within tolerance"


def test_a_statement_beyond_tolerance_and_the_adjustment_agreed(setup):
    database, folder, host, handler = setup
    host.write_statement("2026-11", HOST, "GBP")
    poll_folder(database, folder, handler)
    ours = FixedWholesaleTotals({"voice": (1200, 72000, 15000), "sms": (5000, 5000, 2500), "data": (290, 8_700_000_000, 43500)})

    with database.begin() as connection:
        report = reconcile_period(connection, "2026-11", ours, TOLERANCE)
        assert not report.within
        assert [row.within for row in report.rows] == [True, True, False, False]
        assert "BEYOND TOLERANCE" in "\n".join(format_report(report, "GBP", 2))
        record_adjustment(connection, "2026-11", -1500, "host agreed: data double-counted on 2026-11-14", NOW)
        record_adjustment(connection, "2026-11", 200, "correction: 2.00 of it was ours", NOW)

    with database.connect() as connection:
        cost = agreed_wholesale_cost(connection, "2026-11")
        assert [a.amount_minor for a in adjustments(connection, "2026-11")] == [-1500, 200]
        report = reconcile_period(connection, "2026-11", ours, TOLERANCE)
    assert (cost.statement_minor, cost.adjustments_minor, cost.total_minor) == (62500, -1300, 61200)
    assert report.agreed_cost_minor == 61200


def test_a_corrected_statement_replaces_the_earlier_one(setup):
    database, folder, host, handler = setup
    host.write_statement("2026-11", HOST, "GBP")
    poll_folder(database, folder, handler)
    host.write_statement("2026-11", {"voice": (1200, 72000, 14000)}, "GBP")
    poll_folder(database, folder, handler)

    with database.connect() as connection:
        statement = latest_statement(connection, "2026-11")
        assert latest_statement(connection, "2026-10") is None
        cost = agreed_wholesale_cost(connection, "2026-11")
    assert set(statement.totals) == {"voice"}
    assert cost.statement_minor == 14000


def test_a_statement_with_a_bad_line_is_refused_whole(setup):
    database, folder, host, handler = setup
    write_atomically(folder.inbox / "statement.csv", [
        "period,service,records,volume,amount_minor,currency\n",
        "2026-11,voice,1200,72000,15000,GBP\n",
        "2026-11,sms,5000,5000,25.00,GBP\n",
        "2026-11,fax,1,1,1,GBP\n",
        "2026-12,data,1,1,1,GBP\n",
        "2026-11,voice,1,1,1,GBP\n",
    ])

    [result] = poll_folder(database, folder, handler)

    assert result.status == "refused"
    assert result.reason == (
        "4 bad line(s), and a statement is taken whole or not at all: "
        "line 3: amount_minor: '25.00' is not an integer (expected digits in minor units, like 12345); "
        "line 4: service: 'fax' is unknown (expected one of voice, sms, data); "
        "line 5: 2026-12 GBP differs from 2026-11 GBP (expected one period and one currency per statement); "
        "line 6: voice appears twice (expected each service once)"
    )
    with database.connect() as connection:
        assert latest_statement(connection, "2026-11") is None


def test_a_statement_in_another_currency_is_refused(setup):
    database, folder, host, handler = setup
    host.write_statement("2026-11", HOST, "EUR")
    [result] = poll_folder(database, folder, handler)
    assert (result.status, result.reason) == ("refused", "currency EUR is not ours (expected GBP)")


def test_a_statement_is_reconciled_on_arrival_when_our_side_is_known(setup, caplog):
    database, folder, host, _handler = setup
    ours = FixedWholesaleTotals({"voice": (1, 1, 1)})
    handler = StatementHandler("GBP", HostnetFile(reconciliation=TOLERANCE), ours, clock=lambda: NOW)
    host.write_statement("2026-11", HOST, "GBP")

    [result] = poll_folder(database, folder, handler)

    assert result.summary["reconciliation"] == "beyond tolerance"
    assert any("beyond tolerance" in record.getMessage() for record in caplog.records if record.levelname == "WARNING")
