"""The foundation's commands driven through the real `tpo` executable."""

import json

import pytest

from engine.cli.main import build_parser
from tests.support.cli import run_tpo
from tests.support.configs import copy_project_config, replace_in


def test_help_lists_every_command_with_a_description(tmp_path):
    result = run_tpo("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("config", "db", "demo"):
        line = next(line for line in result.stdout.splitlines() if line.strip().startswith(command + " "))
        assert len(line.split()) > 2, f"{command} has no description"


def _all_command_paths(parser, prefix=()):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from _all_command_paths(sub, prefix + (name,))


@pytest.mark.parametrize("path", list(_all_command_paths(build_parser())), ids=" ".join)
def test_every_subcommand_has_help_and_takes_config(path, tmp_path):
    result = run_tpo(*path, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--config DIR" in result.stdout


def test_config_check_reports_three_mistakes_and_exits_2(tmp_path):
    directory = copy_project_config(tmp_path)
    engine_toml = directory / "engine.toml"
    replace_in(engine_toml, 'currency = "GBP"', 'currency = "pounds"')
    replace_in(engine_toml, "window = 64", "window = 0")
    replace_in(engine_toml, 'short_code = "767"', 'short_code = "7x7"')

    result = run_tpo("config", "check", "--config", "config", cwd=tmp_path)

    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert any(line.startswith("config/engine.toml: operator.currency: 'pounds' is not valid") for line in lines)
    assert any(line.startswith("config/engine.toml: operator.short_code: '7x7' is not valid") for line in lines)
    assert any(line.startswith("config/engine.toml: smpp.binds[0].window: 0 is not valid (expected") for line in lines)
    assert lines[-1] == "3 problem(s) found; nothing was started."
    assert result.stdout == ""


def test_config_check_finds_a_reply_that_one_causes_accented_text_makes_two_sms(tmp_path):
    """Not the longest description: a shorter one with a letter outside the GSM alphabet makes the
    whole MACAUSE reply UCS-2, 70 characters an SMS."""
    directory = copy_project_config(tmp_path)
    replace_in(directory / "causes.toml", 'fr = "Puits et pompes pour les villages."',
               'fr = "Goûters et repas gratuits pour tous les élèves."')
    result = run_tpo("config", "check", "--config", "config", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "config/messages.toml: languages.fr.replies.mycause: 80 characters at the longest (expected at most 70, one SMS)",
        "1 problem(s) found; nothing was started."]


def test_config_check_uses_tpo_config_variable(tmp_path):
    copy_project_config(tmp_path)
    (tmp_path / "config").rename(tmp_path / "ops-config")
    result = run_tpo("config", "check", cwd=tmp_path, env={"TPO_CONFIG": "ops-config"})
    assert result.returncode == 0, result.stderr
    assert "configuration is valid" in result.stdout


def test_config_show_masks_every_secret(tmp_path):
    directory = copy_project_config(tmp_path)
    replace_in(directory / "engine.toml", 'password = "secret"', 'password_env = "SMPP_PW"')
    env = {"SMPP_PW": "pw4smpp", "TPO_DATABASE_URL": "postgresql://tpo:dbpassword9@db.example/tpo"}
    result = run_tpo("config", "show", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "pw4smpp" not in result.stdout + result.stderr
    assert "dbpassword9" not in result.stdout + result.stderr
    shown = json.loads(result.stdout)
    assert shown["engine.toml"]["database"]["url"] == "postgresql://tpo:***@db.example/tpo"
    assert shown["engine.toml"]["smpp"]["binds"][0]["password"] == "**********"


def test_db_upgrade_creates_the_schema_then_changes_nothing(tmp_path, empty_database_url):
    copy_project_config(tmp_path)
    env = {"TPO_DATABASE_URL": empty_database_url}
    first = run_tpo("db", "upgrade", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "upgraded schema from empty to" in first.stdout
    second = run_tpo("db", "upgrade", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert "nothing changed" in second.stdout
    current = run_tpo("db", "current", cwd=tmp_path, env=env)
    assert current.returncode == 0 and "up to date" in current.stdout


def test_db_upgrade_with_json_logs_keeps_stdout_for_the_result(tmp_path):
    copy_project_config(tmp_path)
    result = run_tpo("db", "upgrade", "--log-format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    assert any(entry["logger"] == "engine.store.migrate" and "upgraded" in entry["message"] for entry in entries)
    assert "upgraded schema from empty" in result.stdout


def test_db_upgrade_refuses_clearly_to_leave_rows_pointing_at_nothing(tmp_path):
    """An upgrade that would keep a reply pointing at a missing MO is rolled back: exit 2, the
    table and row named, and the database still at its revision."""
    from datetime import datetime, timezone

    from engine.store.database import make_engine
    from engine.store.migrate import current_revision, upgrade
    from engine.store.schema import mt_messages

    copy_project_config(tmp_path)
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade(engine, "0007")
    now = datetime.now(timezone.utc)
    with engine.connect() as connection:
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        connection.execute(mt_messages.insert().values(
            destination_addr="+447400123451", source_addr="767", text="hi", message_class="reply",
            short_message=b"hi", data_coding=0, not_before=now, created_at=now, state="queued", reply_to_mo_id=42))
        connection.commit()
    engine.dispose()
    result = run_tpo("db", "upgrade", cwd=tmp_path, env={"TPO_DATABASE_URL": url})
    assert result.returncode == 2
    assert "upgrade refused, nothing changed" in result.stderr
    assert "the first mt_messages row 1 at a missing mo_messages row" in result.stderr
    assert "Traceback" not in result.stderr
    assert current_revision(make_engine(url)) == "0007"
