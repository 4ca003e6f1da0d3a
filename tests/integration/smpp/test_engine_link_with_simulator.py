"""The engine's SMPP path against the SMSC simulator over real TCP: nothing lost, nothing doubled."""

from collections import Counter

import pytest
import pytest_twisted
from sqlalchemy import func, select, text

from engine.smpp.outbox import OutgoingMessage
from engine.store.schema import mo_messages, mt_messages
from tests.support.engine_rig import Rig, eventually


def mt_states(database):
    with database.connect() as connection:
        return Counter(dict(connection.execute(
            select(mt_messages.c.state, func.count()).group_by(mt_messages.c.state)).all()))


def accepted_per_destination(simulator):
    return Counter(record.params["destination_addr"] for record in simulator.received if record.status == 0)


@pytest_twisted.inlineCallbacks
def test_an_sms_is_stored_answered_and_the_answer_delivered(tmp_path, database):
    rig = Rig(tmp_path, database, receipt_delay=0.01)
    yield rig.start()
    try:
        phone = rig.simulator.handset("+447400100001")
        outcome = yield phone.send_mo("hello engine")
        assert outcome.accepted
        messages = yield phone.wait_for_messages(1, timeout=5)
        assert messages[-1] == "echo: hello engine" or phone.inbox[-1] == "echo: hello engine"

        def delivered():
            return mt_states(database)["delivered"] == 1
        yield eventually(delivered)
        with database.connect() as connection:
            state, text = connection.execute(select(mo_messages.c.state, mo_messages.c.text)).one()
        assert (state, text) == ("handled", "hello engine")
    finally:
        yield rig.stop()


@pytest_twisted.inlineCallbacks
def test_long_unicode_reply_arrives_whole_on_the_handset(tmp_path, database):
    rig = Rig(tmp_path, database, receipts=False)
    yield rig.start()
    try:
        text = "Merci 🙏 " * 20  # UCS-2 with surrogate pairs, three parts
        rig.enqueue([OutgoingMessage("+447400100002", text)])
        phone = rig.simulator.handset("+447400100002")
        yield phone.wait_for_messages(1, timeout=5)
        assert phone.inbox[-1] == text
        assert len(rig.simulator.submits_for("+447400100002")) == 3
    finally:
        yield rig.stop()


@pytest_twisted.inlineCallbacks
def test_throttling_storm_ends_with_every_message_accepted_once(tmp_path, database):
    rig = Rig(tmp_path, database, receipts=False)
    yield rig.start()
    try:
        rig.simulator.faults.throttle(ratio=0.5, status=0x58)
        destinations = [f"+4474001{n:05d}" for n in range(300)]
        rig.enqueue([OutgoingMessage(d, "storm") for d in destinations])

        def all_submitted():
            return mt_states(database)["submitted"] == 300
        yield eventually(all_submitted, timeout=20)
        rig.simulator.faults.clear()
        accepted = accepted_per_destination(rig.simulator)
        assert set(accepted) == {d.lstrip("+") for d in destinations}
        assert set(accepted.values()) == {1}
        throttled = [r for r in rig.simulator.received if r.status == 0x58]
        assert len(throttled) >= 100
    finally:
        yield rig.stop()


@pytest_twisted.inlineCallbacks
def test_connection_dropped_mid_window_loses_nothing(tmp_path, database):
    rig = Rig(tmp_path, database, receipts=False)
    yield rig.start()
    try:
        rig.simulator.faults.disconnect_after(120)
        destinations = [f"+4474002{n:05d}" for n in range(400)]
        rig.enqueue([OutgoingMessage(d, "drop") for d in destinations])

        def all_submitted():
            return mt_states(database)["submitted"] == 400
        yield eventually(all_submitted, timeout=20)
        accepted = accepted_per_destination(rig.simulator)
        assert set(accepted) == {d.lstrip("+") for d in destinations}
        # Only what was in flight when the link dropped may have gone twice (the SMSC's doing).
        assert sum(accepted.values()) - 400 <= rig.config.engine.smpp.binds[0].window
    finally:
        yield rig.stop()


@pytest_twisted.inlineCallbacks
def test_smsc_restart_then_traffic_resumes(tmp_path, database):
    rig = Rig(tmp_path, database, receipts=False)
    yield rig.start()
    try:
        rig.enqueue([OutgoingMessage("+447400300001", "before")])
        yield rig.simulator.handset("+447400300001").wait_for_messages(1, timeout=5)
        # The restart must come after the answer reached us, or the SMSC itself would cause a resend.
        yield eventually(lambda: mt_states(database)["submitted"] == 1)
        yield rig.simulator.restart(keep_state=True, downtime=0.1)
        yield rig.simulator.wait_for_binds(1, timeout=5)
        rig.enqueue([OutgoingMessage("+447400300001", "after")])
        yield rig.simulator.handset("+447400300001").wait_for_messages(2, timeout=5)
        assert rig.simulator.handset("+447400300001").inbox[-2:] == ["before", "after"]
    finally:
        yield rig.stop()


@pytest_twisted.inlineCallbacks
def test_permanent_error_fails_the_message_with_its_status(tmp_path, database):
    rig = Rig(tmp_path, database, receipts=False)
    yield rig.start()
    try:
        rig.simulator.faults.reject_destination("+447400400001", status=0x0B)
        rig.enqueue([OutgoingMessage("+447400400001", "nope"), OutgoingMessage("+447400400002", "yes")])

        def settled():
            states = mt_states(database)
            return states["failed"] == 1 and states["submitted"] == 1
        yield eventually(settled)
        with database.connect() as connection:
            status, error = connection.execute(
                select(mt_messages.c.last_status, mt_messages.c.error).where(mt_messages.c.state == "failed")).one()
        assert status == 0x0B and "0x0B" in error
    finally:
        yield rig.stop()


@pytest_twisted.inlineCallbacks
def test_wrong_password_never_binds_and_nothing_is_sent(tmp_path, database):
    rig = Rig(tmp_path, database, password="wrong")
    rig.engine.start(listen_http=False)
    try:
        rig.enqueue([OutgoingMessage("+447400500001", "hello")])
        from twisted.internet import reactor, task
        yield task.deferLater(reactor, 0.5, lambda: None)
        assert rig.simulator.bound_count() == 0
        assert not rig.engine.links[0].is_bound
        assert mt_states(database)["queued"] == 1
    finally:
        yield rig.stop()


@pytest_twisted.inlineCallbacks
def test_graceful_stop_with_messages_in_flight_loses_nothing(tmp_path, database):
    rig = Rig(tmp_path, database, receipts=False)
    yield rig.start()
    rig.simulator.faults.set_latency(50)
    rig.enqueue([OutgoingMessage(f"+4474006{n:05d}", "bye") for n in range(500)])
    from twisted.internet import reactor, task
    yield task.deferLater(reactor, 0.1, lambda: None)
    yield rig.engine.stop()
    states = mt_states(database)
    assert states["sending"] == 0
    assert states["submitted"] + states["queued"] == 500
    assert states["submitted"] == sum(accepted_per_destination(rig.simulator).values())
    yield rig.simulator.stop()


SECOND_BIND = """
[[smpp.binds]]
name = "host-b"
host = "127.0.0.1"
port = 2775
system_id = "tpob"
password = "secret"
window = 64
throughput_per_second = 100000
"""


def add_second_bind(directory):
    with open(directory / "engine.toml", "a") as engine_toml:
        engine_toml.write(SECOND_BIND)


@pytest_twisted.inlineCallbacks
def test_traffic_is_spread_over_several_binds_to_one_host(tmp_path, database):
    rig = Rig(tmp_path, database, receipts=False, edit_config=add_second_bind,
              accounts={"tpo": "secret", "tpob": "secret"})
    yield rig.start()
    try:
        assert sorted(link.name for link in rig.engine.links) == ["host-a", "host-b"]
        rig.enqueue([OutgoingMessage(f"+4474007{n:05d}", "spread") for n in range(600)])
        yield eventually(lambda: mt_states(database)["submitted"] == 600, timeout=20)
        per_bind = Counter(record.system_id for record in rig.simulator.received if record.status == 0)
        assert sum(per_bind.values()) == 600
        assert per_bind["tpo"] >= 100 and per_bind["tpob"] >= 100
    finally:
        yield rig.stop()


@pytest_twisted.inlineCallbacks
def test_transmitter_and_receiver_pair_carries_both_directions(tmp_path, database):
    rig = Rig(tmp_path, database, bind_mode="transmitter_receiver", receipt_delay=0.01)
    yield rig.start()
    try:
        assert sorted(link.mode for link in rig.engine.links) == ["receiver", "transmitter"]
        modes = sorted(bind["mode"] for bind in rig.simulator.binds())
        assert modes == ["receiver", "transmitter"]
        phone = rig.simulator.handset("+447400800001")
        yield phone.send_mo("over the pair")
        yield phone.wait_for_messages(1)
        assert phone.inbox[-1] == "echo: over the pair"
        yield eventually(lambda: mt_states(database)["delivered"] == 1)  # the receipt came on the receiver
    finally:
        yield rig.stop()


@pytest_twisted.inlineCallbacks
def test_garbage_from_the_smsc_gets_generic_nack_and_the_link_stays_up(tmp_path, database):
    rig = Rig(tmp_path, database, receipts=False)
    yield rig.start()
    try:
        assert rig.simulator.faults.send_malformed("unknown_command") == 1
        assert rig.simulator.faults.send_malformed("truncated_deliver_sm") == 1
        phone = rig.simulator.handset("+447400800002")
        yield phone.send_mo("still there?")
        yield phone.wait_for_messages(1)
        assert phone.inbox[-1] == "echo: still there?"
        assert rig.engine.links[0].is_bound
        assert rig.simulator.generic_nacks_received == 2  # one for each PDU we could not read
    finally:
        yield rig.stop()


@pytest_twisted.inlineCallbacks
def test_an_mo_whose_acknowledgement_was_lost_is_redelivered_and_handled_once(tmp_path, database):
    rig = Rig(tmp_path, database, receipts=False, redelivery_delay=0.2)
    link = rig.engine.links[0]
    real_acknowledge = link.acknowledge
    lost = []

    def lose_the_first_ack(sequence, status=0):
        if not lost:
            lost.append(sequence)  # stored, but never answered: as if the process died right here
            return False
        return real_acknowledge(sequence, status)

    link.acknowledge = lose_the_first_ack
    yield rig.start()
    try:
        phone = rig.simulator.handset("+447400800003")
        outcome = yield phone.send_mo("only once please")
        assert outcome.accepted and outcome.attempts == 2
        yield phone.wait_for_messages(1)
        from twisted.internet import reactor, task
        yield task.deferLater(reactor, 0.3, lambda: None)
        with database.connect() as connection:
            assert connection.execute(select(func.count()).select_from(mo_messages)).scalar_one() == 1
        assert phone.inbox == ["echo: only once please"]
    finally:
        yield rig.stop()


@pytest_twisted.inlineCallbacks
def test_the_same_text_sent_again_after_its_answer_is_a_new_message(tmp_path, database):
    rig = Rig(tmp_path, database, receipts=False)
    yield rig.start()
    try:
        phone = rig.simulator.handset("+447400800004")
        yield phone.send_mo("BILL")
        yield phone.wait_for_messages(1)
        yield phone.send_mo("BILL")
        yield phone.wait_for_messages(2)
        assert phone.inbox == ["echo: BILL", "echo: BILL"]
        with database.connect() as connection:
            assert connection.execute(select(func.count()).select_from(mo_messages)).scalar_one() == 2
    finally:
        yield rig.stop()


@pytest_twisted.inlineCallbacks
def test_the_database_ending_the_engines_connection_loses_no_mo(tmp_path, database, backend):
    """PostgreSQL ends the connection the engine keeps between transactions (a restart, an
    administrator): the next store fails once, the SMSC is asked to deliver again (0x64, temporary),
    and the message is stored and answered on a fresh connection."""
    if backend != "postgresql":
        pytest.skip("only a server ends connections")
    rig = Rig(tmp_path, database, receipts=False, redelivery_delay=0.2)
    yield rig.start()
    try:
        phone = rig.simulator.handset("+447400900001")
        yield phone.send_mo("before")
        yield phone.wait_for_messages(1)
        kept = rig.engine.hot_transactions._connection.connection.driver_connection.info.backend_pid
        with database.connect() as admin:
            assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": kept}).scalar() is True
        yield phone.send_mo("after")
        yield phone.wait_for_messages(2, timeout=10)
        assert phone.inbox == ["echo: before", "echo: after"]
        assert rig.simulator.redeliveries >= 1  # the store that met the ended connection was refused
        with database.connect() as connection:
            assert connection.execute(select(mo_messages.c.text, mo_messages.c.state).order_by(mo_messages.c.id)).all() == [
                ("before", "handled"), ("after", "handled")]
    finally:
        yield rig.stop()
