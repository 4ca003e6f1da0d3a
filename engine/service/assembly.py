"""What `tpo run` runs: every subsystem's part, built from the validated config.

The SMPP path and its bookkeeping live in `EngineService`; this module adds the subsystems' parts:
the command rules for SMS and USSD, the host network's folders, the usage inbox, and their
scheduled jobs. A later subsystem (the bill run, the donation split) adds its job here.
"""

from __future__ import annotations

import gc
import logging
from datetime import datetime, timezone

from sqlalchemy import Engine

from engine.config.loader import Config
from engine.hostnet.provisioning import ProvisioningService, known_plans, poll_host_folders
from engine.rating.mediation import poll_usage_folder, scheduled_suspense_rerun
from engine.rating.preview import RatedBilling
from engine.rating.store import wholesale_totals_provider
from engine.rating.tariffs import tariff_from_config
from engine.service.engine_service import EngineParts, EngineService, FolderPoller
from engine.service.metrics import EngineMetrics
from engine.service.notices import CatalogueNotifier
from engine.service.scheduling import IntervalJob
from engine.social_sms.context import SocialContext
from engine.social_sms.housekeeping import prune_social_history
from engine.social_sms.ussd_menu import UssdMenu
from engine.social_sms.ussd_store import expire_ussd_sessions, open_sessions_count, ussd_handler
from engine.social_sms.wiring import prepare_sms_handler

log = logging.getLogger(__name__)


def build_engine(reactor, config: Config, database: Engine, metrics: EngineMetrics | None = None) -> EngineService:
    return EngineService(reactor, config, database, lambda service: engine_parts(service, config, database), metrics)


def keep_startup_objects_out_of_collections() -> None:
    """What the process has built by now (modules, SQLAlchemy's compiled statements, config, the
    catalogue) lives as long as the process: `gc.freeze` leaves it out of every later collection.
    Scanned with the rest, the engine's ~115,000 such objects made each full collection stop the
    reactor for up to 51 ms at 2,000 commands a second, long enough to fill the SMSC's deliver
    window; frozen, no full collection came in the runs and the longest pause was 9 ms
    (benchmarks/RESULTS.md, stop 13). Called once, by `tpo run` when the engine is built."""
    gc.collect()
    gc.freeze()


def engine_parts(service: EngineService, config: Config, database: Engine) -> EngineParts:
    now = datetime.now(timezone.utc)
    social = SocialContext.from_config(config)
    tariff = tariff_from_config(config)
    billing_for = RatedBilling.factory(tariff, config.engine.operator.currency_minor_unit)
    provisioning = ProvisioningService(known_plans(config))
    notifier = CatalogueNotifier(social, service.outbox)
    wholesale_totals = wholesale_totals_provider(config)
    metrics = service.metrics

    handlers = {
        "sms": prepare_sms_handler(database, social, billing_for, service.outbox, now, provisioning),
        "ussd": ussd_handler(social, UssdMenu.from_config(config), billing_for, service.outbox, provisioning),
    }

    def poll_host_network() -> None:
        report = poll_host_folders(database, config, notifier, wholesale_totals())
        for kind, results in report.taken_in.items():
            for result in results:
                metrics.host_files.labels(kind=kind, status=result.status).inc()
        service.dispatcher.wake()

    def poll_usage() -> None:
        for result in poll_usage_folder(database, config, tariff):
            metrics.host_files.labels(kind="usage", status=result.status).inc()
            metrics.records_rated.inc(int(result.summary.get("rated", 0)))

    def refresh_ussd_gauge() -> None:
        with database.connect() as connection:
            metrics.ussd_sessions_open.set(open_sessions_count(connection, service.utc_now()))

    jobs = [
        IntervalJob("suspense-rerun", 600, lambda: scheduled_suspense_rerun(database, tariff),
                    "rate records held in suspense whose subscriber has appeared"),
        IntervalJob("ussd-expiry", 30, lambda: expire_ussd_sessions(database, service.utc_now()),
                    "close USSD dialogues past their timeout"),
        IntervalJob("social-housekeeping", 3600,
                    lambda: prune_social_history(database, service.utc_now(), social.social.flood),
                    "delete counted actions and flood buckets that no limit can see any more"),
    ]
    return EngineParts(
        handlers=handlers,
        folder_pollers=[FolderPoller("host network folders", poll_host_network), FolderPoller("usage inbox", poll_usage)],
        extra_jobs=jobs,
        gauges=[refresh_ussd_gauge],
    )
