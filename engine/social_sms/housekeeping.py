"""Deleting the rows the social rules can no longer see, so that what every SMS reads stays the
size of the present rather than of the network's whole history.

- A counted action (`social_actions`: a follow, a DM) older than `ACTION_LIMIT_WINDOW` is outside
  every limit's window, now and later (the windows only move forward).
- A flood bucket (`sms_throttles`) untouched for longer than it takes to fill from empty is full,
  and a full bucket is what a number without a row gets (`timing.take_token`): deleting it changes
  no answer. A bucket that a message touches meanwhile is newer than the cut-off and stays (on
  PostgreSQL the DELETE re-checks a row another transaction changed; SQLite has one writer).

Idempotent; any node may run it. Posts, follows, gifts and messages are records, not counters:
they are never deleted here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete

from engine.social_sms.ports import ACTION_LIMIT_WINDOW
from engine.social_sms.settings import FloodSection
from engine.social_sms.timing import bucket_refill_time, require_utc
from engine.store.schema import sms_throttles, social_actions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrunedRows:
    counted_actions: int
    full_buckets: int


def prune_social_history(database: Engine, now: datetime, flood: FloodSection) -> PrunedRows:
    now = require_utc(now)
    with database.begin() as connection:
        actions = connection.execute(
            delete(social_actions).where(social_actions.c.at <= now - ACTION_LIMIT_WINDOW)).rowcount
        buckets = connection.execute(
            delete(sms_throttles).where(
                sms_throttles.c.updated_at < now - bucket_refill_time(flood.burst, flood.per_minute))).rowcount
    pruned = PrunedRows(actions, buckets)
    if actions or buckets:
        log.info("social housekeeping: %d counted action(s) past every limit's window, %d full flood bucket(s) deleted",
                 actions, buckets)
    return pruned
