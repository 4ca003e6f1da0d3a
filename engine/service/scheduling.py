"""Scheduled jobs inside `tpo run`: APScheduler 3.11's TwistedScheduler, one node only.

APScheduler 3 must not share a job store between processes, so jobs live in memory and only the
node whose config says `scheduler.enabled = true` runs them; every job is idempotent anyway (it
works on whatever is due), so a second scheduler by mistake repeats nothing. Each job has an
explicit id, `replace_existing`, `coalesce` (a backlog of missed runs runs once) and a generous
`misfire_grace_time` (APScheduler's default of 1 s would silently skip a run after a pause).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from apscheduler.schedulers.twisted import TwistedScheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntervalJob:
    job_id: str
    seconds: float
    run: Callable[[], object]
    description: str


def build_scheduler(reactor, jobs: list[IntervalJob], misfire_grace_seconds: int) -> TwistedScheduler:
    scheduler = TwistedScheduler(reactor=reactor, timezone="UTC")
    for job in jobs:
        scheduler.add_job(
            _logged(job), "interval", seconds=job.seconds, id=job.job_id, name=job.description,
            replace_existing=True, coalesce=True, max_instances=1, misfire_grace_time=misfire_grace_seconds,
        )
    return scheduler


def _logged(job: IntervalJob) -> Callable[[], None]:
    def run() -> None:
        try:
            job.run()
        except Exception:
            log.exception("scheduled job %s failed; it will run again at its next time", job.job_id)

    run.__name__ = job.job_id
    return run
