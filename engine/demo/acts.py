"""The demo's acts, in the order they are played."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from engine.demo.stage import DemoStage
from engine.numbers import InvalidNumber, normalise_msisdn
from engine.store import migrate
from engine.store.database import redacted
from engine.store.schema import subscribers


def prepare_database(stage: DemoStage) -> list[str]:
    before, after = migrate.upgrade(stage.database)
    state = "already current" if before == after else f"upgraded from {before or 'empty'}"
    return [f"Database {redacted(stage.database.url)}: schema {after} ({state})."]


def check_config(stage: DemoStage) -> list[str]:
    files = ", ".join(sorted(stage.config.files))
    operator = stage.config.engine.operator
    return [
        f"Config {stage.config.directory}/ is valid: {files}.",
        f"Operator {operator.name!r}, short code {operator.short_code}, time zone {operator.time_zone}, "
        f"currency {operator.currency}.",
    ]


SAMPLE_NUMBERS = ["07400 100001", "+44 7400 100002", "447400100003", "0033 6 12 34 56 78", "12345"]


def register_sample_subscribers(stage: DemoStage) -> list[str]:
    """Numbers typed every which way become E.164; a bad one is refused with a reason."""
    operator = stage.config.engine.operator
    lines = []
    with stage.database.begin() as connection:
        for typed in SAMPLE_NUMBERS:
            try:
                msisdn = normalise_msisdn(typed, operator.default_region)
            except InvalidNumber as error:
                lines.append(f"  refused {typed!r}: {error}")
                continue
            exists = connection.execute(select(subscribers.c.id).where(subscribers.c.msisdn == msisdn)).first()
            if not exists:
                connection.execute(
                    subscribers.insert().values(
                        msisdn=msisdn,
                        kind="line" if msisdn.startswith("+44") else "social",
                        status="active",
                        created_at=stage.started_at,
                        updated_at=stage.started_at + timedelta(seconds=1),
                    )
                )
            lines.append(f"  {typed!r} -> {msisdn}")
        total = connection.execute(select(func.count()).select_from(subscribers)).scalar_one()
    return ["Sample numbers normalised to E.164:", *lines, f"Subscribers stored: {total}."]


ACTS = [check_config, prepare_database, register_sample_subscribers]
