"""The engine's Prometheus metrics, one registry per running service (tests get their own).

Counters count events as they happen; gauges that need the database (outbox depth) are refreshed
by a periodic job, never computed while Prometheus waits on a scrape.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class EngineMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.mo_messages = Counter("tpo_mo_messages", "Messages from phones taken in, by kind (sms, ussd)", ["kind"], registry=r)
        self.mt_messages = Counter(
            "tpo_mt_messages", "Messages to phones reaching a state (submitted, delivered, failed...)", ["state"], registry=r
        )
        self.outbox_depth = Gauge("tpo_outbox_depth", "Messages to phones waiting, by state (queued, submitted)", ["state"], registry=r)
        self.binds_up = Gauge("tpo_smpp_binds_up", "1 when the SMPP bind is bound, else 0", ["bind"], registry=r)
        self.ussd_sessions_open = Gauge("tpo_ussd_sessions_open", "USSD dialogues in progress", registry=r)
        self.records_rated = Counter("tpo_usage_records_rated", "Usage records rated", registry=r)
        self.host_files = Counter(
            "tpo_host_files", "Files from the host network, by kind and outcome (processed, duplicate, refused)",
            ["kind", "status"], registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
