"""`tpo cause post` and `tpo cause list` through the real executable, on both backends."""

from __future__ import annotations

import tomllib
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from engine.social_sms.ports import Follow, Subscriber, cause_key
from engine.social_sms.settings import CausesFile
from engine.social_sms.sql_repository import SqlSocialRepository
from engine.social_sms.wiring import sync_causes
from engine.store.database import make_engine
from engine.store.schema import causes, mt_messages, posts
from tests.support.cli import run_tpo
from tests.support.configs import PROJECT_CONFIG, copy_project_config

JOINED = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
ANN, BOB, CAT, DAN = "+447400000001", "+447400000002", "+33612345678", "+447400000004"


@pytest.fixture
def tpo(tmp_path, database_url):
    copy_project_config(tmp_path)

    def run(*args):
        return run_tpo(*args, cwd=tmp_path, env={"TPO_DATABASE_URL": database_url})

    return run


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    with (PROJECT_CONFIG / "causes.toml").open("rb") as handle:
        configured = CausesFile.model_validate(tomllib.load(handle))
    with engine.begin() as connection:
        sync_causes(connection, configured, JOINED)
        repo = SqlSocialRepository(connection, JOINED, "Europe/London")
        for number, language, zone, opted_out in ((ANN, "en", "Europe/London", False), (BOB, "en", "Europe/London", True),
                                                   (CAT, "fr", "Europe/Paris", False), (DAN, "en", "Europe/London", False)):
            repo.save_subscriber(Subscriber(number, "line", "active", language, zone, JOINED, opted_out=opted_out,
                                            cause="water" if number != DAN else "climate"))
        for number in (ANN, BOB, CAT):
            repo.save_follow(Follow(number, cause_key("water"), True, JOINED))
    yield engine
    engine.dispose()


def fanout(engine):
    with engine.connect() as connection:
        return connection.execute(
            select(mt_messages.c.destination_addr, mt_messages.c.text, mt_messages.c.message_class, mt_messages.c.source_addr)
            .order_by(mt_messages.c.destination_addr)).all()


def test_cause_post_reaches_followers_who_want_it(tpo, engine):
    posted = tpo("cause", "post", "water", "Twelve", "wells", "dug", "this", "month")
    assert posted.returncode == 0, posted.stderr
    assert posted.stdout.strip() == "Clean Water Fund: posted. Followers reached: 2. (2 message(s) queued)"
    assert fanout(engine) == [  # not BOB: he sent STOP
        (CAT, "[Fonds Eau Potable] Twelve wells dug this month", "fanout", "767"),
        (ANN, "[Clean Water Fund] Twelve wells dug this month", "fanout", "767"),
    ]
    with engine.connect() as connection:
        assert connection.execute(select(posts.c.author_cause, posts.c.text)).all() == [
            ("water", "Twelve wells dug this month")]

    again = tpo("cause", "post", "water", "Twelve wells dug this month")  # the same rule's duplicate check
    assert again.returncode == 1 and again.stderr.startswith("not posted: ")
    assert len(fanout(engine)) == 2


def test_cause_post_refuses_unknown_cause_and_changes_nothing(tpo, engine):
    refused = tpo("cause", "post", "nope", "Hello")
    assert refused.returncode == 1
    assert refused.stderr.strip().startswith("not posted: ") and "nope" in refused.stderr
    assert fanout(engine) == []
    missing = tpo("cause", "post", "water")
    assert missing.returncode == 2 and "TEXT" in missing.stderr  # argparse: the text is required


def test_cause_list_counts_followers_and_choosers(tpo, engine):
    with engine.begin() as connection:
        connection.execute(causes.insert().values(code="retired", name="Old Cause", active=False, created_at=JOINED))
    listed = tpo("cause", "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert rows["water"].split()[-2:] == ["3", "3"]
    assert rows["climate"].split()[-2:] == ["0", "1"]
    assert rows["schools"].split()[-2:] == ["0", "0"]
    assert rows["retired"].endswith("0         0  not in causes.toml (inactive)")
