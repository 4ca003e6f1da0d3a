"""`tpo hostnet ...` and `tpo hostnet-sim ...` through the real executable, folders relative to cwd."""

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from engine.store.database import make_engine
from engine.store.schema import subscribers
from tests.support.cli import run_tpo
from tests.support.configs import copy_project_config

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def tpo(tmp_path, database_url):
    copy_project_config(tmp_path)

    def run(*args):
        return run_tpo(*args, cwd=tmp_path, env={"TPO_DATABASE_URL": database_url})

    return run


def subscriber(database_url, msisdn):
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(subscribers).where(subscribers.c.msisdn == msisdn)).first()
    finally:
        engine.dispose()


def test_provisioning_round_trip_and_events_from_the_command_line(tpo, database_url, tmp_path):
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(subscribers.insert().values(msisdn="+447400100001", kind="line", status="activating",
                                                       created_at=NOW, updated_at=NOW))
    engine.dispose()

    queued = tpo("hostnet", "request", "activate", "07400 100001", "--plan", "basic")
    assert queued.returncode == 0, queued.stderr
    assert "activate +447400100001 queued" in queued.stdout
    refused = tpo("hostnet", "request", "activate", "+447400100002", "--plan", "basic")
    assert (refused.returncode, refused.stderr.strip()) == (
        1, "no subscriber +447400100002; the signup creates it with status 'activating' first")

    poll = tpo("hostnet", "poll")
    assert poll.returncode == 0, poll.stderr
    assert "wrote 1 request(s) to tpo-provisioning-000001.csv" in poll.stdout
    assert (tmp_path / "var/hostnet/provisioning-out/tpo-provisioning-000001.csv").exists()
    pending = tpo("hostnet", "pending")
    assert pending.returncode == 0
    assert "1 unanswered, 0 overdue (timeout 60 min)" in pending.stdout

    answered = tpo("hostnet-sim", "answer")
    assert "accepted 1, rejected 0, silent 0" in answered.stdout
    poll = tpo("hostnet", "poll")
    assert "acknowledgements: host-ack-tpo-provisioning-000001-" in poll.stdout and ": processed (accepted 1" in poll.stdout
    assert subscriber(database_url, "+447400100001").status == "active"
    assert tpo("hostnet", "pending").stdout.strip() == "no unanswered provisioning requests"

    event = tpo("hostnet-sim", "event", "activation", "--msisdn", "+447400100002", "--plan", "plus", "--event-id", "ev-42")
    assert event.returncode == 0, event.stderr
    poll = tpo("hostnet", "poll")
    assert ": processed (applied 1, replayed 0, rejected 0)" in poll.stdout
    walk_in = subscriber(database_url, "+447400100002")
    assert (walk_in.kind, walk_in.status, walk_in.plan_code) == ("line", "active", "plus")
    assert tpo("hostnet", "poll").stdout.strip() == "nothing to do"


def test_reconcile_and_adjust_from_the_command_line(tpo, tmp_path):
    written = tpo("hostnet-sim", "statement", "--period", "2026-11", "--voice", "1200,72000,15000", "--sms", "10,10,5")
    assert written.returncode == 0, written.stderr
    assert "statements: host-statement-2026-11-" in tpo("hostnet", "poll").stdout

    # Without --our-totals our side is the rated usage: none was imported here, so nothing agrees.
    rated = tpo("hostnet", "reconcile", "--period", "2026-11")
    assert rated.returncode == 1
    assert "BEYOND TOLERANCE" in rated.stdout

    ours = tmp_path / "ours.csv"
    ours.write_text("period,service,records,volume,amount_minor,currency\n2026-11,voice,1200,72000,14990,GBP\n2026-11,sms,10,10,5,GBP\n")
    within = tpo("hostnet", "reconcile", "--period", "2026-11", "--our-totals", str(ours))
    assert within.returncode == 0, within.stderr
    assert within.stdout.splitlines()[-1] == "result: every service within tolerance"

    ours.write_text("period,service,records,volume,amount_minor,currency\n2026-11,voice,1100,66000,13000,GBP\n")
    beyond = tpo("hostnet", "reconcile", "--period", "2026-11", "--our-totals", str(ours))
    assert beyond.returncode == 1
    assert "BEYOND TOLERANCE" in beyond.stdout

    adjusted = tpo("hostnet", "adjust", "--period", "2026-11", "--amount", "-12.50", "--note", "agreed with host ops, ticket 881")
    assert adjusted.returncode == 0, adjusted.stderr
    assert "-12.50 GBP stored; the period's agreed adjustment is now -12.50 GBP" in adjusted.stdout
    again = tpo("hostnet", "reconcile", "--period", "2026-11", "--our-totals", str(ours))
    assert "agreed adjustments: -12.50 GBP" in again.stdout
    assert "agreed wholesale cost: 137.55 GBP" in again.stdout

    bad = tpo("hostnet", "adjust", "--period", "2026-13", "--amount", "1", "--note", "x")
    assert (bad.returncode, bad.stderr.strip()) == (1, "'2026-13' is not a period (expected YYYY-MM, like 2026-11)")
    bad = tpo("hostnet", "adjust", "--period", "2026-11", "--amount", "1.234", "--note", "x")
    assert (bad.returncode, bad.stderr.strip()) == (1, "'1.234' has more than 2 decimal places (expected at most 2)")
