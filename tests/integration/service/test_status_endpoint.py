"""/health and /metrics over real HTTP on loopback."""

import json

import pytest_twisted
from twisted.internet import reactor
from twisted.web.client import Agent, readBody

from engine.service.http import status_site
from engine.service.metrics import EngineMetrics


@pytest_twisted.inlineCallbacks
def test_metrics_and_health_are_served():
    metrics = EngineMetrics()
    metrics.mo_messages.labels(kind="sms").inc(3)
    metrics.binds_up.labels(bind="host-a").set(1)
    state = {"status": "ok", "binds_up": 1}
    port = reactor.listenTCP(0, status_site(metrics, lambda: dict(state)), interface="127.0.0.1")
    base = f"http://127.0.0.1:{port.getHost().port}"
    try:
        agent = Agent(reactor)
        response = yield agent.request(b"GET", f"{base}/metrics".encode())
        body = (yield readBody(response)).decode()
        assert response.code == 200
        assert 'tpo_mo_messages_total{kind="sms"} 3.0' in body
        assert 'tpo_smpp_binds_up{bind="host-a"} 1.0' in body

        response = yield agent.request(b"GET", f"{base}/health".encode())
        assert response.code == 200 and json.loads((yield readBody(response))) == state

        state["status"] = "degraded"
        response = yield agent.request(b"GET", f"{base}/health".encode())
        yield readBody(response)
        assert response.code == 503
    finally:
        yield port.stopListening()


@pytest_twisted.inlineCallbacks
def test_the_running_engine_counts_its_outbox_for_metrics_off_the_reactor_thread(tmp_path, database):
    """Counting every part submitted in 48 hours took 65-75 ms at 130,000 parts: in a thread, not
    on the reactor thread, where it stalled every MO and answer each 5 s."""
    import threading
    from datetime import datetime, timedelta, timezone

    from engine.smpp.outbox import OutgoingMessage
    from tests.support.engine_rig import Rig, eventually

    rig = Rig(tmp_path, database)
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    rig.enqueue([OutgoingMessage(f"+44740000000{i}", f"held {i}", "fanout", not_before=later) for i in range(3)])
    threads_used = []
    rig.engine.gauges.append(lambda: threads_used.append(threading.current_thread()))
    yield rig.start()
    try:
        def queued():
            return rig.engine.metrics.registry.get_sample_value("tpo_outbox_depth", {"state": "queued"}) == 3.0

        yield eventually(queued)
        assert threads_used and threading.main_thread() not in threads_used
    finally:
        yield rig.stop()
