"""Benchmark, not a test: one POST to 100,000 followers, on SQLite, through the real code path.

    .venv/bin/python benchmarks/fanout.py [followers] [runs] [--append]

Timed: the `post` rule with the SQL repository and the real smpp Outbox behind the `Outbox` port,
from the rule's call to the commit of every MT row (the followers stream from one query, grouped by
language and quiet-hours release, and go in by bulk insert). Not timed: building the database and
the followers, and removing the MTs and the post between runs so each run does the same work.
Target: at most 3 s (median). `--append` adds the figures to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, func, select  # noqa: E402

from benchmarks.harness import Figures, machine, repeat  # noqa: E402
from engine.smpp.outbox import Outbox  # noqa: E402
from engine.social_sms import actions  # noqa: E402
from engine.social_sms.memory_repository import FixedBilling  # noqa: E402
from engine.social_sms.testing import make_context  # noqa: E402
from engine.social_sms.wiring import social_ports, sync_causes  # noqa: E402
from engine.hostnet.provisioning import ProvisioningService  # noqa: E402
from engine.store.database import make_engine  # noqa: E402
from engine.store.migrate import upgrade  # noqa: E402
from engine.store.schema import follows, mt_messages, posts, subscribers  # noqa: E402

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)  # midday: nobody is in quiet hours
AUTHOR = "+447400000000"
TARGET_SECONDS = 3.0


def build(database, followers: int) -> None:
    """The author and `followers` followers: a third French on Paris time, 2% with notifications off."""
    with database.begin() as connection:
        sync_causes(connection, make_context().causes, NOW)
        connection.execute(subscribers.insert(), [dict(
            msisdn=AUTHOR, kind="line", status="active", language="en", time_zone="Europe/London", handle="author",
            created_at=NOW, updated_at=NOW)])
        rows = [dict(msisdn=f"+44741{i:07d}", kind="line", status="active",
                     language="fr" if i % 3 == 0 else "en", time_zone="Europe/Paris" if i % 3 == 0 else "Europe/London",
                     notifications_on=i % 50 != 0, created_at=NOW, updated_at=NOW) for i in range(followers)]
        connection.execute(subscribers.insert(), rows)
        author_id = connection.execute(select(subscribers.c.id).where(subscribers.c.msisdn == AUTHOR)).scalar_one()
        ids = connection.execute(select(subscribers.c.id).where(subscribers.c.id != author_id)).scalars().all()
        connection.execute(follows.insert(), [dict(follower_id=i, followee_id=author_id, notify=True, created_at=NOW)
                                              for i in ids])


def main(followers: int = 100_000, runs: int = 5, append: bool = False) -> Figures:
    context = make_context()
    billing, provisioning = FixedBilling(), ProvisioningService()
    with tempfile.TemporaryDirectory() as folder:
        database = make_engine(f"sqlite:///{folder}/fanout.db")
        upgrade(database)
        started = time.perf_counter()
        build(database, followers)
        print(f"built {followers:,} followers in {time.perf_counter() - started:.1f}s")
        expected = sum(1 for i in range(followers) if i % 50 != 0)
        attempt = iter(range(runs))

        def once() -> float:
            outbox = Outbox(context.operator.short_code)
            text = f"Rally at the town hall, take {next(attempt)}"
            started = time.perf_counter()
            with database.begin() as connection:
                ports = social_ports(connection, context, lambda _connection: billing, outbox, provisioning, NOW)
                outcome = actions.post(context, ports, AUTHOR, text, NOW)
            elapsed = time.perf_counter() - started
            with database.begin() as connection:
                stored = connection.execute(select(func.count()).select_from(mt_messages)).scalar_one()
                connection.execute(delete(mt_messages))
                connection.execute(delete(posts))
            assert outcome.fanned_out == expected == stored, (outcome, expected, stored)
            print(f"  {stored:,} MTs enqueued in {elapsed:.2f}s")
            return elapsed

        figures = repeat(f"POST to {followers:,} followers, MTs enqueued and committed (SQLite)", "s", once, runs)
        database.dispose()
    verdict = "met" if figures.median <= TARGET_SECONDS else (
        f"MISSED by {figures.median - TARGET_SECONDS:.2f} s")
    print(figures.line())
    print(f"target <= {TARGET_SECONDS:.0f} s: {verdict}")
    if append:
        with (ROOT / "benchmarks" / "RESULTS.md").open("a") as results:
            results.write(
                f"\n## Social fan-out (benchmarks/fanout.py)\n\n"
                f"{machine()}. {figures.line()}. Target <= {TARGET_SECONDS:.0f} s: {verdict}. "
                f"{expected:,} of {followers:,} followers notified (2% have notifications off), a third French on "
                "Paris time; through the `post` rule, the SQL repository's streaming follower query and the "
                "smpp Outbox (each text encoded once), one transaction.\n"
            )
    return figures


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(*(int(a) for a in arguments), append="--append" in sys.argv)
