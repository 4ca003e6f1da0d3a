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
