"""`tpo cdr import|suspense`, `tpo rate --rerate`, `tpo bill preview` through the real executable."""

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import insert

from engine.store.database import make_engine
from engine.store.schema import subscribers
from tests.support.cli import run_tpo
from tests.support.configs import copy_project_config, replace_in

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "formats" / "examples" / "usage.csv"
NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)


def add_subscriber(database_url, msisdn, plan):
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(insert(subscribers).values(msisdn=msisdn, kind="line", status="active", plan_code=plan,
                                                      created_at=NOW, updated_at=NOW))
    engine.dispose()


def test_import_suspense_rerate_and_preview_from_the_command_line(database_url, tmp_path):
    config = copy_project_config(tmp_path)
    env = {"TPO_DATABASE_URL": database_url}

    def tpo(*args):
        return run_tpo(*args, cwd=tmp_path, env=env)

    add_subscriber(database_url, "+447400123456", "basic")
    source = tmp_path / "host-usage.csv"
    source.write_bytes(EXAMPLE.read_bytes() + b"BAD-1,447400123456,fax,2026-03-11T10:00:05+00:00,,,,\n")

    imported = tpo("cdr", "import", str(source))
    assert imported.returncode == 0, imported.stderr
    assert "host-usage.csv: processed: read 11, rated 4, duplicates 0, rejected 1, suspense 6, late 0" in imported.stdout
    assert "host-usage.csv" in imported.stderr  # the progress bar
    assert source.exists(), "the operator's file stays where it was"
    rejects = tmp_path / "var/hostnet/rejected/usage/host-usage.csv.rejects.csv"
    assert "12,\"service 'fax' is unknown" in rejects.read_text()

    again = tpo("cdr", "import", "--no-progress", str(source))
    assert again.returncode == 1
    assert "host-usage.csv: duplicate: duplicate: same content" in again.stdout
    assert "%" not in again.stderr  # no progress bar

    listed = tpo("cdr", "suspense")
    assert listed.returncode == 0, listed.stderr
    assert "6 record(s) in suspense" in listed.stdout
    assert "subscriber +447400654321 is unknown" in listed.stdout

    add_subscriber(database_url, "+447400654321", "payg")
    rerun = tpo("cdr", "suspense", "--rerun")
    assert rerun.returncode == 0, rerun.stderr
    assert "re-run: 6 rated (0 late), 0 still in suspense" in rerun.stdout
    assert "suspense is empty" in rerun.stdout

    # A tariff correction: payg calls to UK mobiles 0.08 -> 0.10 a minute (1/1): line 10's 45 s in
    # the EU goes from 60,000 to 75,000 micro-units.
    replace_in(config / "tariffs.toml", 'uk_mobile = { per_minute = "0.08", increments = "1/1" }',
               'uk_mobile = { per_minute = "0.10", increments = "1/1" }')
    rerated = tpo("rate", "--rerate", "--period", "2026-03")
    assert rerated.returncode == 0, rerated.stderr
    assert "re-rated 10 record(s) of 2026-03: 1 changed, 1 with a different charge" in rerated.stdout
    assert "HN-20260311-000009 +447400654321 voice: retail 60,000 -> 75,000" in rerated.stdout
    assert "voice              0.26           0.28" in rerated.stdout
    idempotent = tpo("rate", "--rerate", "--period", "2026-03")
    assert "0 changed, 0 with a different charge" in idempotent.stdout

    refused = tpo("rate", "--rerate", "--period", "March")
    assert refused.returncode == 2 and "not a period" in refused.stderr

    preview = tpo("bill", "preview", "07400 123456")
    assert preview.returncode == 0, preview.stderr
    assert "plan basic" in preview.stdout and "5.00" in preview.stdout
    unknown = tpo("bill", "preview", "+447400000000")
    assert unknown.returncode == 1 and "not a subscriber with a plan" in unknown.stderr


def test_missing_file_is_a_clear_error(database_url, tmp_path):
    copy_project_config(tmp_path)
    result = run_tpo("cdr", "import", "nowhere.csv", cwd=tmp_path, env={"TPO_DATABASE_URL": database_url})
    assert (result.returncode, result.stderr.strip()) == (2, "no such file: nowhere.csv")
