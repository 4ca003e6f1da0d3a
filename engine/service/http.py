"""The local HTTP endpoint: `/health` for liveness checks and `/metrics` for Prometheus."""

from __future__ import annotations

import json
from typing import Callable

from prometheus_client import CONTENT_TYPE_LATEST
from twisted.web.resource import Resource
from twisted.web.server import Site

from engine.service.metrics import EngineMetrics


class _Metrics(Resource):
    isLeaf = True

    def __init__(self, metrics: EngineMetrics):
        super().__init__()
        self.metrics = metrics

    def render_GET(self, request):
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode())
        return self.metrics.exposition()


class _Health(Resource):
    isLeaf = True

    def __init__(self, health: Callable[[], dict]):
        super().__init__()
        self.health = health

    def render_GET(self, request):
        report = self.health()
        request.setResponseCode(200 if report.get("status") == "ok" else 503)
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(report).encode()


def status_site(metrics: EngineMetrics, health: Callable[[], dict]) -> Site:
    root = Resource()
    root.putChild(b"metrics", _Metrics(metrics))
    root.putChild(b"health", _Health(health))
    return Site(root)
