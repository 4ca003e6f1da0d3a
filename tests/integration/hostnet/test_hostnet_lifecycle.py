"""Lifecycle events in: applied once by event id, bad lines rejected with their line numbers."""

import csv
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.hostnet.inbound import InboundFolder, poll_folder, write_atomically
from engine.hostnet.lifecycle import EVENT_COLUMNS, LifecycleEventHandler
from engine.hostnet.settings import render_records
from engine.hostnet.simulator import HostSimulator, make_iccid, make_imsi
from engine.store.schema import lifecycle_events, subscribers

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
ALICE, BOB, CAROL = "+447400100001", "+447400100002", "+447400100003"


class RecordingNotifier:
    def __init__(self):
        self.sent = []

    def notify(self, connection, msisdn, message_key, values, now):
        self.sent.append((msisdn, message_key, values))


@pytest.fixture
def setup(tmp_path, database):
    folder = InboundFolder("events", tmp_path / "events-in", tmp_path / "processed", tmp_path / "rejected")
    notifier = RecordingNotifier()
    handler = LifecycleEventHandler(notifier, "GB", {"basic", "plus"}, clock=lambda: NOW)
    host = HostSimulator(tmp_path / "prov-out", tmp_path / "acks-in", folder.inbox, tmp_path / "statements-in", clock=lambda: NOW)
    return database, folder, notifier, handler, host


def subscriber(database, msisdn):
    with database.connect() as connection:
        return connection.execute(select(subscribers).where(subscribers.c.msisdn == msisdn)).first()


def add_subscriber(database, msisdn, kind="line", status="active", plan="basic", iccid=None):
    with database.begin() as connection:
        connection.execute(
            subscribers.insert().values(msisdn=msisdn, kind=kind, status=status, plan_code=plan, iccid=iccid,
                                        created_at=NOW, updated_at=NOW)
        )


def rejects_of(folder, name):
    with open(folder.rejected / f"{name}.rejects.csv", newline="") as handle:
        return [(row["line_number"], row["reason"]) for row in csv.DictReader(handle)]


def test_an_activation_nobody_asked_for_creates_an_active_line_and_welcomes_it(setup):
    database, folder, notifier, handler, host = setup
    host.write_events([host.activation(ALICE, "basic", iccid="89441000000000000018", imsi="001010000000001", event_id="ev-1")])

    [result] = poll_folder(database, folder, handler)

    assert result.summary == {"applied": 1, "replayed": 0, "rejected": 0}
    alice = subscriber(database, ALICE)
    assert (alice.kind, alice.status, alice.plan_code, alice.iccid, alice.imsi) == (
        "line", "active", "basic", "89441000000000000018", "001010000000001")
    assert notifier.sent == [(ALICE, "welcome", {"msisdn": ALICE, "plan_code": "basic"})]


def test_replayed_events_change_nothing(setup):
    database, folder, notifier, handler, host = setup
    activation = host.activation(ALICE, "basic", event_id="ev-1")
    host.write_events([activation], name="events-1.csv")
    poll_folder(database, folder, handler)
    # The same event again, in a file with new content, and the same file again under a new name.
    host.write_events([activation, host.sim_swap(ALICE, event_id="ev-2")], name="events-2.csv")
    [second] = poll_folder(database, folder, handler)
    host.write_events([activation], name="events-1-again.csv")
    [third] = poll_folder(database, folder, handler)

    assert second.summary == {"applied": 1, "replayed": 1, "rejected": 0}
    assert third.status == "duplicate"
    assert len(notifier.sent) == 1
    with database.connect() as connection:
        assert connection.execute(select(lifecycle_events.c.event_id).order_by(lifecycle_events.c.event_id)).scalars().all() == ["ev-1", "ev-2"]


def test_the_same_event_id_with_other_content_is_rejected(setup):
    database, folder, notifier, handler, host = setup
    host.write_events([host.activation(ALICE, "basic", event_id="ev-1")], name="a.csv")
    host.write_events([host.activation(BOB, "basic", event_id="ev-1")], name="b.csv")

    poll_folder(database, folder, handler)

    assert rejects_of(folder, "b.csv") == [
        ("2", "event_id: 'ev-1' was applied before from a.csv with different content (expected a new id for a new event)")
    ]
    assert subscriber(database, BOB) is None


def test_sim_swap_number_change_port_out_and_termination(setup):
    database, folder, notifier, handler, host = setup
    add_subscriber(database, ALICE, iccid=make_iccid("old"))
    add_subscriber(database, BOB)
    new_iccid = make_iccid("new")
    host.write_events([
        host.sim_swap(ALICE, iccid=new_iccid, event_id="ev-1"),
        host.msisdn_change(ALICE, CAROL, event_id="ev-2"),
        host.port_out(BOB, event_id="ev-3"),
    ])

    [result] = poll_folder(database, folder, handler)

    assert result.summary == {"applied": 3, "replayed": 0, "rejected": 0}
    assert subscriber(database, ALICE) is None
    carol = subscriber(database, CAROL)
    assert (carol.iccid, carol.status) == (new_iccid, "active")
    bob = subscriber(database, BOB)
    assert (bob.kind, bob.status, bob.plan_code) == ("social", "active", None)

    host.write_events([host.termination(CAROL, event_id="ev-4")])
    poll_folder(database, folder, handler)
    carol = subscriber(database, CAROL)
    assert (carol.status, carol.iccid) == ("terminated", None)
    assert notifier.sent == []


def test_an_activation_for_a_line_we_asked_for_records_the_sim_and_waits_for_the_ack(setup):
    database, folder, notifier, handler, host = setup
    add_subscriber(database, ALICE, status="activating", plan=None)
    host.write_events([host.activation(ALICE, "basic", event_id="ev-1")])

    poll_folder(database, folder, handler)

    alice = subscriber(database, ALICE)
    assert (alice.status, alice.iccid) == ("activating", make_iccid(ALICE))
    assert notifier.sent == []


def test_bad_event_lines_go_to_rejects_with_line_number_and_reason(setup):
    database, folder, notifier, handler, host = setup
    add_subscriber(database, BOB, iccid="89441000000000000026")
    records = [
        {"event_id": "ev-1", "event_type": "sim_activation", "occurred_at": "2026-11-27T08:00:00Z", "msisdn": ALICE,
         "iccid": "89441000000000000018", "imsi": "001010000000001", "plan_code": "basic"},
        {"event_id": "ev-2", "event_type": "sim_teleport", "occurred_at": "2026-11-27T08:00:00Z", "msisdn": ALICE},
        {"event_id": "ev-3", "event_type": "sim_swap", "occurred_at": "2026-11-27 08:00", "msisdn": ALICE, "iccid": "89441000000000000034"},
        {"event_id": "ev-4", "event_type": "sim_swap", "occurred_at": "2026-11-27T08:00:00Z", "msisdn": "12", "iccid": "89441000000000000034"},
        {"event_id": "ev-5", "event_type": "sim_swap", "occurred_at": "2026-11-27T08:00:00Z", "msisdn": CAROL, "iccid": "89441000000000000034"},
        {"event_id": "ev-6", "event_type": "sim_swap", "occurred_at": "2026-11-27T08:00:00Z", "msisdn": ALICE, "iccid": "89441000000000000026"},
        {"event_id": "ev-7", "event_type": "sim_activation", "occurred_at": "2026-11-27T08:00:00Z", "msisdn": CAROL,
         "iccid": "89441000000000000042", "imsi": "001010000000003", "plan_code": "gold"},
        {"event_id": "ev-8", "event_type": "port_out", "occurred_at": "2026-11-27T08:00:00Z", "msisdn": ALICE, "iccid": "894410"},
        {"event_id": "ev-9", "event_type": "sim_activation", "occurred_at": "2026-11-27T08:00:00Z", "msisdn": CAROL, "plan_code": "basic"},
        {"event_id": "ev-10", "event_type": "msisdn_change", "occurred_at": "2026-11-27T08:00:00Z", "msisdn": ALICE, "new_msisdn": BOB},
    ]
    path = write_atomically(folder.inbox / "events.csv", render_records("csv", EVENT_COLUMNS, records))

    [result] = poll_folder(database, folder, handler)

    assert result.summary == {"applied": 1, "replayed": 0, "rejected": 9}
    reasons = dict(rejects_of(folder, path.name))
    assert reasons["3"].startswith("event_type: 'sim_teleport' is unknown (expected one of sim_activation")
    assert reasons["4"] == "occurred_at: '2026-11-27 08:00' has no UTC offset (expected e.g. 2026-11-27T10:15:00Z)"
    assert reasons["5"].startswith("msisdn: '12' is not")
    assert reasons["6"] == f"msisdn: {CAROL} is not a subscriber of ours (expected one of our lines)"
    assert reasons["7"] == f"iccid: 89441000000000000026 is the SIM of {BOB} (expected a SIM not in use)"
    assert reasons["8"] == "plan_code: 'gold' is not one of our plans (expected one of basic, plus)"
    assert reasons["9"] == "iccid: not used by port_out (expected it empty)"
    assert reasons["10"] == "iccid: missing (expected a value)"
    assert reasons["11"] == f"new_msisdn: {BOB} is already a subscriber's number (expected a free number)"
    assert subscriber(database, ALICE).iccid == "89441000000000000018"


def test_json_lines_events_are_read_too(setup):
    database, folder, notifier, handler, host = setup
    jsonl = HostSimulator(folder.inbox, folder.inbox, folder.inbox, folder.inbox, file_format="jsonl", clock=lambda: NOW)
    path = jsonl.write_events([jsonl.activation(ALICE, "plus", event_id="ev-1"), {"event_id": "ev-2"}])
    with path.open("a") as handle:
        handle.write("not json\n[1]\n")

    [result] = poll_folder(database, folder, handler)

    assert result.summary == {"applied": 1, "replayed": 0, "rejected": 3}
    reasons = dict(rejects_of(folder, path.name))
    assert reasons["2"] == "event_type: missing (expected a value)"
    assert reasons["3"].startswith("not JSON")
    assert reasons["4"].startswith("not a JSON object")
    assert subscriber(database, ALICE).plan_code == "plus"
