"""Two `tpo run` nodes on one PostgreSQL share the work: no MT sent twice, no MO handled twice.

Real processes: one `tpo smsc-sim` (one account, both nodes bind with it; receipts on), two
`tpo run` whose config folders differ in `node_name`, the bind's name (so `bind_name` in the
database says which node sent or received what) and `[scheduler] enabled` (node-1 only), and
`tpo cause post` for the fan-out. Both engines start before any work exists, then a 20,000-follower
cause post is queued and, while the nodes are sending it, 2,000 handsets text HELP. Checked at the
end, in the simulator's records and in the database:

- every follower got exactly one accepted submit_sm, and each fan-out row is `submitted` or
  `delivered`, unclaimed, tried once, with its own SMSC message id, the very one the simulator gave;
- every MO is one `handled` row with exactly one reply MT (`reply_to_mo_id`), and every handset
  got exactly one reply;
- both nodes sent MTs, received MOs and handled MOs.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, func, insert, select

from engine.config.loader import load_config
from engine.demo.processes import run_tpo, start_engine, start_simulator
from engine.smpp.simulator_control import SimulatorControlClient
from engine.social_sms.wiring import sync_causes
from engine.store.schema import follows, mo_messages, mt_messages, subscribers
from tests.conftest import backend_registry
from tests.support.configs import copy_project_config, replace_in

pytestmark = pytest.mark.slow

FOLLOWERS = 20_000
NODES = ("node-1", "node-2")
CAUSE = "water"
FOLLOWER_BASE = 447410000000  # +447410000000 ... : the cause's followers
HANDSET_BASE = 447500000000  # +447500000000 ... : the MO burst (not subscribers; HELP answers anyone)
# The burst: 1,000 handsets text HELP once, and 125 text it eight times in a row, spelt eight ways
# (the same text twice would be one message to the dedupe), within the flood limit's burst of 10. The
# round robin of deliveries over the two binds makes both nodes handle one number's messages at once.
SINGLE_SENDERS, REPEAT_SENDERS = 1_000, 125
HELP_SPELLINGS = ("HELP", "help", "Help", "hELP", "INFO", "info", "Info", "iNFO")
BURST = [(f"+{HANDSET_BASE + i}", "HELP") for i in range(SINGLE_SENDERS)] + [
    (f"+{HANDSET_BASE + SINGLE_SENDERS + i}", text) for i in range(REPEAT_SENDERS) for text in HELP_SPELLINGS]
MO_BURST = len(BURST)  # 2,000
DEADLINE_SECONDS = 240


def node_config(tmp_path, node: str, smpp_port: int):
    directory = copy_project_config(tmp_path / node)
    engine_toml = directory / "engine.toml"
    replace_in(engine_toml, 'node_name = "node-1"', f'node_name = "{node}"')
    replace_in(engine_toml, 'name = "host-a"', f'name = "{node}-a"')
    replace_in(engine_toml, "port = 2775", f"port = {smpp_port}\nreconnect_min_seconds = 0.1\nreconnect_max_seconds = 0.5")
    replace_in(engine_toml, "throughput_per_second = 200", "throughput_per_second = 2000")
    replace_in(engine_toml, "port = 9467", "port = 0")
    if node != NODES[0]:
        replace_in(engine_toml, "[scheduler]\nenabled = true", "[scheduler]\nenabled = false")
    # Quiet hours would hold the fan-out until morning when the suite runs at night.
    replace_in(directory / "social.toml", "[quiet_hours]\nenabled = true", "[quiet_hours]\nenabled = false")
    return directory


def wait_until(condition, timeout: float, what: str, processes=(), progress=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.process.poll() is not None:
                raise AssertionError(f"{process.name} exited with {process.process.returncode} while waiting for "
                                     f"{what}:\n{process.log_tail()}")
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} not met within {timeout} s" + (f"; last seen: {progress}" if progress else ""))


def add_followers(database, config_dir) -> None:
    now = datetime.now(timezone.utc)
    with database.begin() as connection:
        sync_causes(connection, load_config(config_dir).files["causes.toml"], now)
        connection.execute(insert(subscribers), [
            dict(msisdn=f"+{FOLLOWER_BASE + i}", kind="social", status="active", language="en",
                 time_zone="Europe/London", created_at=now, updated_at=now) for i in range(FOLLOWERS)])
        ids = connection.execute(select(subscribers.c.id)).scalars().all()
        connection.execute(insert(follows), [dict(follower_id=i, followee_cause=CAUSE, notify=True, created_at=now)
                                             for i in ids])


def send_mo_burst(control_port: int) -> None:
    """The burst, as fast as four control connections take it (one number's messages on one connection)."""
    errors = []

    def sender(offset: int) -> None:
        try:
            with SimulatorControlClient("127.0.0.1", control_port) as client:
                for i in range(offset, SINGLE_SENDERS + REPEAT_SENDERS, 4):
                    for msisdn, text in BURST[i:i + 1] if i < SINGLE_SENDERS else BURST[
                            SINGLE_SENDERS + (i - SINGLE_SENDERS) * len(HELP_SPELLINGS):
                            SINGLE_SENDERS + (i - SINGLE_SENDERS + 1) * len(HELP_SPELLINGS)]:
                        client.mo(msisdn, text)
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=sender, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def test_two_nodes_share_a_fanout_and_an_mo_burst_each_message_exactly_once(tmp_path):
    if not backend_registry.available("postgresql"):
        pytest.skip(f"two nodes need PostgreSQL: {backend_registry.reason('postgresql')}")
    url = backend_registry.new_database("postgresql", tmp_path)
    env = {"TPO_DATABASE_URL": url}
    simulator = None
    engines = []
    database = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        upgraded = run_tpo(tmp_path, "db", "upgrade", "--config", str(copy_project_config(tmp_path)), env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        simulator = start_simulator(tmp_path, "--max-records", "0", "--deliver-window", "32")
        configs = {node: node_config(tmp_path, node, simulator.smpp_port) for node in NODES}
        add_followers(database, configs[NODES[0]])
        engines = [start_engine(tmp_path / node, configs[node], name=node, env=env) for node in NODES]
        control = SimulatorControlClient("127.0.0.1", simulator.control_port, timeout=60)
        wait_until(lambda: len(control.request("binds")["binds"]) == 2, 30, "both nodes' binds", engines)
        started = time.monotonic()

        posted = run_tpo(tmp_path, "cause", "post", CAUSE, "Clean water for 300 homes this week. Thank you!",
                         "--config", str(configs[NODES[0]]), env=env)
        assert posted.returncode == 0, posted.stderr
        assert f"({FOLLOWERS} message(s) queued)" in posted.stdout
        send_mo_burst(simulator.control_port)

        def all_settled() -> bool:
            """Every MO stored and out of `received`, and every MT that exists answered by the SMSC."""
            with database.connect() as connection:
                mo_states = dict(connection.execute(
                    select(mo_messages.c.state, func.count()).group_by(mo_messages.c.state)).all())
                mt_states = dict(connection.execute(
                    select(mt_messages.c.state, func.count()).group_by(mt_messages.c.state)).all())
            progress.update(mo=mo_states, mt=mt_states)
            return (sum(mo_states.values()) == MO_BURST and "received" not in mo_states
                    and sum(mt_states.values()) >= FOLLOWERS + mo_states.get("handled", 0)
                    and not {"queued", "sending"} & set(mt_states))
        progress = {}
        wait_until(all_settled, DEADLINE_SECONDS, "every MO out of `received` and every MT answered",
                   [simulator, *engines], progress)
        elapsed = time.monotonic() - started
        time.sleep(1.0)  # a late duplicate, if any, would arrive now
        stats = control.stats()

        for engine in engines:
            assert engine.stop() == 0, engine.log_tail()

        # --- the simulator's side: one accepted submit_sm per follower and per handset
        records = control.received(limit=10 * (FOLLOWERS + MO_BURST))
        control.close()
        assert all(record["status"] == 0 for record in records)
        per_destination = Counter(record["destination"] for record in records)
        followers = {str(FOLLOWER_BASE + i) for i in range(FOLLOWERS)}
        per_handset = Counter(msisdn.lstrip("+") for msisdn, _text in BURST)
        assert set(per_destination) == followers | set(per_handset)
        wrong = {d: n for d, n in per_destination.items() if n != per_handset.get(d, 1)}
        if wrong:  # say what the database knows of them, so that a failure can be understood
            with database.connect() as connection:
                known = [tuple(row) for row in connection.execute(select(
                    mo_messages.c.id, mo_messages.c.source_addr, mo_messages.c.text, mo_messages.c.state,
                    mo_messages.c.claimed_by, mo_messages.c.error).where(
                    mo_messages.c.source_addr.in_([f"+{d}" for d in list(wrong)[:5]])))]
            raise AssertionError(f"submits per destination differ from expected: {wrong}; their MO: {known}")
        assert len(records) == FOLLOWERS + MO_BURST == stats["submits_received"]
        simulator_ids = Counter((record["destination"], record["message_id"]) for record in records)

        # --- the database's side
        with database.connect() as connection:
            mt_rows = connection.execute(select(
                mt_messages.c.destination_addr, mt_messages.c.message_class, mt_messages.c.state,
                mt_messages.c.claimed_by, mt_messages.c.attempts, mt_messages.c.smsc_message_id,
                mt_messages.c.bind_name, mt_messages.c.reply_to_mo_id, mt_messages.c.parts_total)).all()
            mo_rows = connection.execute(select(
                mo_messages.c.id, mo_messages.c.source_addr, mo_messages.c.state, mo_messages.c.claimed_by,
                mo_messages.c.bind_name)).all()
        assert len(mt_rows) == FOLLOWERS + MO_BURST
        assert Counter(row.message_class for row in mt_rows) == {"fanout": FOLLOWERS, "reply": MO_BURST}
        assert {row.parts_total for row in mt_rows} == {1}
        assert {row.state for row in mt_rows} <= {"submitted", "delivered"}
        assert {row.claimed_by for row in mt_rows} == {None}
        assert {row.attempts for row in mt_rows} == {1}
        assert len({row.smsc_message_id for row in mt_rows}) == len(mt_rows)
        assert Counter((row.destination_addr.lstrip("+"), row.smsc_message_id) for row in mt_rows) == simulator_ids

        assert len(mo_rows) == MO_BURST
        assert Counter(row.state for row in mo_rows) == {"handled": MO_BURST}
        assert Counter(row.source_addr.lstrip("+") for row in mo_rows) == per_handset
        replies = Counter(row.reply_to_mo_id for row in mt_rows if row.message_class == "reply")
        assert set(replies) == {row.id for row in mo_rows} and set(replies.values()) == {1}

        # --- both nodes did their share
        binds = {f"{node}-a" for node in NODES}
        sent_by = Counter(row.bind_name for row in mt_rows)
        received_by = Counter(row.bind_name for row in mo_rows)
        handled_by = Counter(row.claimed_by for row in mo_rows)
        assert set(sent_by) == binds and set(received_by) == binds and set(handled_by) == set(NODES), (
            sent_by, received_by, handled_by)
        engines_log = "\n".join(engine.log_path.read_text(errors="replace") for engine in engines)
        assert "Traceback" not in engines_log, engines_log[-4000:]
        print(f"\ntwo nodes: {FOLLOWERS:,} fan-out MTs + {MO_BURST:,} MO and their replies in {elapsed:.1f} s; "
              f"MT sent by {dict(sent_by)}, MO received by {dict(received_by)}, handled by {dict(handled_by)}; "
              f"simulator redeliveries {stats['redeliveries']}, receipts {stats['receipts_sent']}")
    finally:
        for engine in engines:
            engine.stop()
        if simulator is not None:
            simulator.stop()
        database.dispose()
        backend_registry.drop_database("postgresql", url)
