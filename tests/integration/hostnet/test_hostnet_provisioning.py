"""Provisioning requests out, acknowledgements in: real files through the folders, real databases."""

import csv
import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.config.loader import load_config
from engine.hostnet.inbound import write_atomically
from engine.hostnet.provisioning import (
    ProvisioningError,
    ProvisioningService,
    find_request,
    open_requests,
    poll_host_folders,
)
from engine.hostnet.simulator import AnswerPlan, HostSimulator
from engine.store.schema import provisioning_requests, subscribers
from tests.support.configs import copy_project_config, replace_in

START = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
ALICE, BOB, CAROL = "+447400100001", "+447400100002", "+447400100003"


class RecordingNotifier:
    def __init__(self):
        self.sent = []

    def notify(self, connection, msisdn, message_key, values, now):
        self.sent.append((msisdn, message_key, values))


class Clock:
    def __init__(self, now=START):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def world(tmp_path, monkeypatch, database):
    """A config folder copied from the project's (folders relative to tmp_path), a fake clock, a
    recording notifier and a simulated host on the same folders."""
    monkeypatch.chdir(tmp_path)
    copy_project_config(tmp_path)
    return World(tmp_path, database)


class World:
    def __init__(self, root: Path, database):
        self.root = root
        self.database = database
        self.clock = Clock()
        self.notifier = RecordingNotifier()
        self.service = ProvisioningService({"basic", "plus", "payg"})

    @property
    def config(self):
        return load_config(self.root / "config")

    @property
    def host(self):
        return HostSimulator.from_config(self.config, clock=self.clock)

    def poll(self):
        return poll_host_folders(self.database, self.config, self.notifier, clock=self.clock)

    def signup(self, msisdn, status="activating", plan=None):
        with self.database.begin() as connection:
            connection.execute(
                subscribers.insert().values(
                    msisdn=msisdn, kind="line", status=status, plan_code=plan, created_at=START, updated_at=START
                )
            )

    def subscriber(self, msisdn):
        with self.database.connect() as connection:
            return connection.execute(select(subscribers).where(subscribers.c.msisdn == msisdn)).first()

    def ask(self, method, *args):
        with self.database.begin() as connection:
            return getattr(self.service, method)(connection, *args, self.clock())

    def request_files(self):
        return sorted((self.root / "var/hostnet/provisioning-out").glob("tpo-provisioning-*"))


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_signup_completes_only_when_the_host_accepts(world):
    world.signup(ALICE)
    request = world.ask("request_activation", ALICE, "basic")

    first = world.poll()

    assert first.flushed.path.name == "tpo-provisioning-000001.csv"
    [row] = read_csv(first.flushed.path)
    assert row == {"request_id": request.request_id, "action": "activate", "msisdn": ALICE, "plan_code": "basic",
                   "requested_at": "2026-11-27T09:00:00Z", "attempt": "1"}
    assert world.subscriber(ALICE).status == "activating"
    assert world.notifier.sent == []

    answered = world.host.answer_requests()
    assert answered.accepted == (request.request_id,)
    world.clock.advance(minutes=5)
    second = world.poll()

    assert [r.status for r in second.taken_in["acknowledgements"]] == ["processed"]
    alice = world.subscriber(ALICE)
    assert (alice.status, alice.plan_code, alice.kind) == ("active", "basic", "line")
    assert world.notifier.sent == [(ALICE, "line_active", {"msisdn": ALICE, "plan_code": "basic"})]
    with world.database.connect() as connection:
        assert find_request(connection, request.request_id).state == "accepted"
        assert open_requests(connection) == []
    assert (world.root / "var/hostnet/processed/acknowledgements" / answered.acknowledgement_files[0].name).exists()


def test_pending_requests_are_batched_into_one_numbered_file_per_flush(world):
    for number in (ALICE, BOB):
        world.signup(number)
        world.ask("request_activation", number, "basic")
    assert world.poll().flushed.path.name == "tpo-provisioning-000001.csv"
    world.signup(CAROL)
    world.ask("request_activation", CAROL, "plus")

    report = world.poll()

    assert report.flushed.path.name == "tpo-provisioning-000002.csv"
    assert [row["msisdn"] for row in read_csv(world.request_files()[0])] == [ALICE, BOB]
    assert [row["msisdn"] for row in read_csv(world.request_files()[1])] == [CAROL]
    assert world.poll().flushed is None  # nothing queued: no empty file


def test_the_same_request_twice_is_one_request(world):
    world.signup(ALICE)
    first = world.ask("request_activation", ALICE, "basic")
    again = world.ask("request_activation", ALICE, "basic")
    world.poll()
    after_sending = world.ask("request_activation", ALICE, "basic")

    assert first.request_id == again.request_id == after_sending.request_id
    assert len(read_csv(world.request_files()[0])) == 1
    with world.database.connect() as connection:
        assert connection.execute(select(func.count()).select_from(provisioning_requests)).scalar_one() == 1


def test_a_rejected_activation_ends_the_line_and_tells_the_subscriber(world):
    world.signup(ALICE)
    world.ask("request_activation", ALICE, "basic")
    world.poll()
    world.host.answer_requests(AnswerPlan(reject={ALICE: "ICCID not provisioned"}))

    world.poll()

    assert world.subscriber(ALICE).status == "terminated"
    assert world.notifier.sent == [
        (ALICE, "line_activation_failed", {"msisdn": ALICE, "plan_code": "basic", "reason": "ICCID not provisioned"})
    ]


def test_unanswered_request_is_resent_once_then_raised(world, caplog):
    world.signup(ALICE)
    request = world.ask("request_activation", ALICE, "basic")
    world.poll()
    silent = AnswerPlan(silent=frozenset({ALICE}))
    world.host.answer_requests(silent)

    world.clock.advance(minutes=59)
    assert world.poll().overdue.resent == ()
    world.clock.advance(minutes=1)
    with caplog.at_level(logging.WARNING):
        report = world.poll()

    assert report.overdue.resent == (request.request_id,)
    [resent] = read_csv(report.flushed.path)
    assert (resent["request_id"], resent["attempt"]) == (request.request_id, "2")
    world.host.answer_requests(silent)

    world.clock.advance(minutes=60)
    with caplog.at_level(logging.WARNING):
        report = world.poll()
        again = world.poll()

    assert report.overdue == type(report.overdue)((), (request.request_id,))
    assert report.flushed is None
    assert again.overdue.newly_overdue == ()  # raised once, not on every poll
    raised = [r for r in caplog.records if request.request_id in r.getMessage() and r.levelno == logging.ERROR]
    assert len(raised) == 1 and "unanswered after 2 attempt(s)" in raised[0].getMessage()
    with world.database.connect() as connection:
        [still_open] = open_requests(connection)
    assert (still_open.state, still_open.attempts, still_open.overdue_since) == ("sent", 2, world.clock())

    # A late answer is still applied.
    write_atomically(
        world.root / "var/hostnet/acks-in/late.csv",
        ["request_id,status,reason,acknowledged_at\n", f"{request.request_id},accepted,,2026-11-27T12:30:00Z\n"],
    )
    world.poll()
    assert world.subscriber(ALICE).status == "active"


def test_without_resend_an_unanswered_request_is_raised_after_the_first_timeout(world):
    replace_in(world.root / "config/hostnet.toml", "resend_once = true", "resend_once = false")
    world.signup(ALICE)
    request = world.ask("request_activation", ALICE, "basic")
    world.poll()
    world.clock.advance(minutes=61)

    report = world.poll()

    assert report.overdue.resent == ()
    assert report.overdue.newly_overdue == (request.request_id,)


def test_bad_acknowledgement_lines_go_to_rejects_with_line_numbers(world):
    world.signup(ALICE)
    request = world.ask("request_activation", ALICE, "basic")
    world.poll()
    lines = [
        "request_id,status,reason,acknowledged_at\n",
        "req-nobody,accepted,,2026-11-27T10:00:00Z\n",
        f"{request.request_id},maybe,,2026-11-27T10:00:00Z\n",
        f"{request.request_id},rejected,,2026-11-27T10:00:00Z\n",
        f"{request.request_id},accepted,,yesterday\n",
        f"{request.request_id},accepted,,2026-11-27T10:00:00Z\n",
        f"{request.request_id},accepted,,2026-11-27T10:01:00Z\n",
        f"{request.request_id},rejected,changed its mind,2026-11-27T10:02:00Z\n",
        "too,few\n",
    ]
    write_atomically(world.root / "var/hostnet/acks-in/acks-1.csv", lines)

    [result] = world.poll().taken_in["acknowledgements"]

    assert result.summary == {"accepted": 1, "rejected_by_host": 0, "repeated": 1, "rejected": 6}
    rejects = read_csv(world.root / "var/hostnet/rejected/acknowledgements/acks-1.csv.rejects.csv")
    assert [(r["line_number"], r["reason"].split(":")[0]) for r in rejects] == [
        ("2", "request_id"), ("3", "status"), ("4", "reason"), ("5", "acknowledged_at"), ("8", "status"), ("9", "2 fields (expected 4")
    ]
    assert "was already accepted at 2026-11-27T10:00:00Z" in rejects[4]["reason"]
    assert world.subscriber(ALICE).status == "active"
    assert len(world.notifier.sent) == 1


def test_an_acknowledgement_file_seen_before_is_refused_as_duplicate(world):
    world.signup(ALICE)
    request = world.ask("request_activation", ALICE, "basic")
    world.poll()
    content = ["request_id,status,reason,acknowledged_at\n", f"{request.request_id},accepted,,2026-11-27T10:00:00Z\n"]
    write_atomically(world.root / "var/hostnet/acks-in/a.csv", content)
    world.poll()
    write_atomically(world.root / "var/hostnet/acks-in/b.csv", content)

    [result] = world.poll().taken_in["acknowledgements"]

    assert result.status == "duplicate"
    assert (world.root / "var/hostnet/rejected/acknowledgements/b.csv.reason").exists()
    assert len(world.notifier.sent) == 1


def test_a_file_with_the_wrong_header_is_refused_whole(world):
    write_atomically(world.root / "var/hostnet/acks-in/odd.csv", ["id,answer\n", "x,accepted\n"])

    [result] = world.poll().taken_in["acknowledgements"]

    assert result.status == "refused"
    assert "missing request_id, status, reason, acknowledged_at; unknown id, answer" in result.reason


def test_json_lines_format_both_ways(world):
    replace_in(world.root / "config/hostnet.toml", 'file_format = "csv"', 'file_format = "jsonl"')
    world.signup(ALICE)
    request = world.ask("request_activation", ALICE, "payg")

    flushed = world.poll().flushed

    assert flushed.path.name == "tpo-provisioning-000001.jsonl"
    [record] = [json.loads(line) for line in flushed.path.read_text().splitlines()]
    assert record["request_id"] == request.request_id and record["attempt"] == 1
    [ack_file] = world.host.answer_requests().acknowledgement_files
    assert ack_file.suffix == ".jsonl"
    world.poll()
    assert world.subscriber(ALICE).status == "active"


def test_suspend_restore_change_plan_and_terminate_follow_the_answers(world):
    world.signup(ALICE, status="active", plan="basic")
    host = world.host

    def round_trip(method, *args):
        world.ask(method, ALICE, *args)
        world.poll()
        host.answer_requests()
        world.clock.advance(minutes=1)
        world.poll()
        return world.subscriber(ALICE)

    assert round_trip("request_suspension").status == "suspended"
    assert round_trip("request_restoration").status == "active"
    assert round_trip("request_plan_change", "plus").plan_code == "plus"
    assert round_trip("request_termination").status == "terminated"
    assert world.notifier.sent == []


def test_requests_that_cannot_be_made_say_why(world):
    world.signup(ALICE, status="active", plan="basic")
    with pytest.raises(ProvisioningError, match=r"no subscriber \+447400100009; the signup creates it"):
        world.ask("request_activation", "+447400100009", "basic")
    with pytest.raises(ProvisioningError, match="its status is active \\(expected activating\\)"):
        world.ask("request_activation", ALICE, "basic")
    with pytest.raises(ProvisioningError, match="its status is active \\(expected suspended\\)"):
        world.ask("request_restoration", ALICE)
    with pytest.raises(ProvisioningError, match="unknown plan 'gold' \\(expected one of basic, payg, plus\\)"):
        world.ask("request_plan_change", ALICE, "gold")
    with pytest.raises(ProvisioningError, match="already on plan basic"):
        world.ask("request_plan_change", ALICE, "basic")
    assert world.poll().flushed is None
