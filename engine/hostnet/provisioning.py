"""Provisioning requests to the host network: activate, change plan, suspend, restore, terminate.

A request is a row before it is a line in a file. `ProvisioningService` only queues rows (in the
caller's transaction, so a JOIN's subscriber row and its activation request commit together);
`flush_requests` batches every queued request into one file per flush, named by a sequence number
(`tpo-provisioning-000042.csv`). The file is written (atomically) *before* the transaction that marks
its requests sent commits: a crash in between writes the same requests again under the same sequence
number, which the host must take as the same requests (it dedupes by request id, as it must for
resends anyway). Committing first could lose a request that never reached a file.

The subscriber's state changes only when the host acknowledges (engine/hostnet/acknowledgements.py).
A request unanswered after `acknowledgements.timeout_minutes` is resent once, under the same request
id, if `resend_once` is on; unanswered after its last attempt it is raised in the logs (once) and
listed by `tpo hostnet pending`. A late answer is still applied.

Asking twice for the same thing (a JOIN redelivered, an operator typing a command twice) while the
first request is unanswered returns the first request: one request, one line in one file.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Collection, Protocol

from sqlalchemy import Connection, Engine, func, select, update

from engine.hostnet.inbound import write_atomically
from engine.hostnet.settings import EXTENSIONS, FileFormat, HostnetFile, format_time, render_records
from engine.store.schema import provisioning_files, provisioning_requests, subscribers

log = logging.getLogger(__name__)

PROVISIONING_COLUMNS = ("request_id", "action", "msisdn", "plan_code", "requested_at", "attempt")
FILE_PREFIX = "tpo-provisioning-"
OPEN_STATES = ("queued", "sent")

# What each action needs the subscriber's status to be when it is asked for.
_ALLOWED_FROM = {
    "activate": ("activating",),
    "change_plan": ("active", "suspended"),
    "suspend": ("active",),
    "restore": ("suspended",),
    "terminate": ("activating", "active", "suspended"),
}


class Notifier(Protocol):
    """Sends a catalogue message to a subscriber; the lead wires it to the outbox and catalogue.

    It is given the connection so that the message is queued in the same transaction as the state
    change it announces: both commit, or neither does.
    """

    def notify(self, connection: Connection, msisdn: str, message_key: str, values: dict, now: datetime) -> None: ...


class ProvisioningError(ValueError):
    """A request that cannot be made; the message says why, for the operator or the caller."""


@dataclass(frozen=True)
class ProvisioningRequest:
    request_id: str
    action: str
    msisdn: str
    plan_code: str | None
    state: str
    attempts: int
    created_at: datetime
    last_sent_at: datetime | None
    overdue_since: datetime | None
    acknowledged_at: datetime | None
    answer_reason: str | None
    file_sequence: int | None


def _request_from(row) -> ProvisioningRequest:
    return ProvisioningRequest(
        request_id=row.request_id,
        action=row.action,
        msisdn=row.msisdn,
        plan_code=row.plan_code,
        state=row.state,
        attempts=row.attempts,
        created_at=row.created_at,
        last_sent_at=row.last_sent_at,
        overdue_since=row.overdue_since,
        acknowledged_at=row.acknowledged_at,
        answer_reason=row.answer_reason,
        file_sequence=row.file_sequence,
    )


def new_request_id() -> str:
    return "req-" + uuid.uuid4().hex[:20]


class ProvisioningService:
    """Queues provisioning requests. `known_plans`, when given, refuses plan codes not in the tariff."""

    def __init__(self, known_plans: Collection[str] | None = None):
        self.known_plans = set(known_plans) if known_plans is not None else None

    def request_activation(self, connection: Connection, msisdn: str, plan_code: str, now: datetime) -> ProvisioningRequest:
        """Called by the SMS signup after it created the subscriber with status 'activating'."""
        return self._request(connection, "activate", msisdn, self._plan(plan_code), now)

    def request_plan_change(self, connection: Connection, msisdn: str, plan_code: str, now: datetime) -> ProvisioningRequest:
        return self._request(connection, "change_plan", msisdn, self._plan(plan_code), now)

    def request_suspension(self, connection: Connection, msisdn: str, now: datetime) -> ProvisioningRequest:
        return self._request(connection, "suspend", msisdn, None, now)

    def request_restoration(self, connection: Connection, msisdn: str, now: datetime) -> ProvisioningRequest:
        return self._request(connection, "restore", msisdn, None, now)

    def request_termination(self, connection: Connection, msisdn: str, now: datetime) -> ProvisioningRequest:
        return self._request(connection, "terminate", msisdn, None, now)

    # Short names, as the brief's callers may spell them.
    change_plan = request_plan_change
    suspend = request_suspension
    restore = request_restoration
    terminate = request_termination

    def request(self, connection: Connection, action: str, msisdn: str, plan_code: str | None, now: datetime):
        """Any action by name (for the CLI)."""
        if action not in _ALLOWED_FROM:
            raise ProvisioningError(f"unknown action {action!r} (expected one of {', '.join(_ALLOWED_FROM)})")
        if action in ("activate", "change_plan"):
            if not plan_code:
                raise ProvisioningError(f"{action} needs a plan code")
            plan_code = self._plan(plan_code)
        elif plan_code:
            raise ProvisioningError(f"{action} takes no plan code (got {plan_code!r})")
        return self._request(connection, action, msisdn, plan_code, now)

    def _plan(self, plan_code: str) -> str:
        if not plan_code:
            raise ProvisioningError("no plan code (expected one of the tariff's plans)")
        if self.known_plans is not None and plan_code not in self.known_plans:
            raise ProvisioningError(
                f"unknown plan {plan_code!r} (expected one of {', '.join(sorted(self.known_plans)) or 'none defined'})"
            )
        return plan_code

    def _request(self, connection, action, msisdn, plan_code, now) -> ProvisioningRequest:
        subscriber = connection.execute(
            select(subscribers.c.id, subscribers.c.status, subscribers.c.plan_code).where(subscribers.c.msisdn == msisdn)
        ).first()
        if subscriber is None:
            hint = "; the signup creates it with status 'activating' first" if action == "activate" else ""
            raise ProvisioningError(f"no subscriber {msisdn}{hint}")
        same = connection.execute(
            select(provisioning_requests).where(
                provisioning_requests.c.msisdn == msisdn,
                provisioning_requests.c.action == action,
                _same_plan(plan_code),
                provisioning_requests.c.state.in_(OPEN_STATES),
            )
        ).first()
        if same is not None:
            log.info("%s for %s already requested as %s; not asking again", action, msisdn, same.request_id)
            return _request_from(same)
        if subscriber.status not in _ALLOWED_FROM[action]:
            raise ProvisioningError(
                f"cannot {action.replace('_', ' ')} {msisdn}: its status is {subscriber.status} "
                f"(expected {' or '.join(_ALLOWED_FROM[action])})"
            )
        if action == "change_plan" and subscriber.plan_code == plan_code:
            raise ProvisioningError(f"{msisdn} is already on plan {plan_code}")
        values = dict(
            request_id=new_request_id(),
            action=action,
            msisdn=msisdn,
            subscriber_id=subscriber.id,
            plan_code=plan_code,
            state="queued",
            attempts=0,
            created_at=now,
        )
        connection.execute(provisioning_requests.insert().values(**values))
        log.info("queued %s request %s for %s", action, values["request_id"], msisdn)
        row = connection.execute(
            select(provisioning_requests).where(provisioning_requests.c.request_id == values["request_id"])
        ).one()
        return _request_from(row)


def _same_plan(plan_code):
    column = provisioning_requests.c.plan_code
    return column.is_(None) if plan_code is None else column == plan_code


# ---------------------------------------------------------------------------------------------
# Writing the requests out


@dataclass(frozen=True)
class FlushResult:
    sequence: int
    path: Path
    request_ids: tuple[str, ...]


def provisioning_file_name(sequence: int, file_format: FileFormat) -> str:
    return f"{FILE_PREFIX}{sequence:06d}{EXTENSIONS[file_format]}"


def flush_requests(database: Engine, out_folder: Path, file_format: FileFormat, now: datetime) -> FlushResult | None:
    """Write every queued request into one new provisioning file; None when nothing is queued."""
    with database.begin() as connection:
        query = select(provisioning_requests).where(provisioning_requests.c.state == "queued").order_by(provisioning_requests.c.id)
        if connection.dialect.name == "postgresql":
            # Two engine processes flushing at once each take their own requests.
            query = query.with_for_update(skip_locked=True)
        rows = connection.execute(query).all()
        if not rows:
            return None
        last = connection.execute(select(func.max(provisioning_files.c.sequence))).scalar_one()
        sequence = (last or 0) + 1
        name = provisioning_file_name(sequence, file_format)
        connection.execute(
            provisioning_files.insert().values(sequence=sequence, name=name, request_count=len(rows), written_at=now)
        )
        records = [
            {
                "request_id": row.request_id,
                "action": row.action,
                "msisdn": row.msisdn,
                "plan_code": row.plan_code or "",
                "requested_at": format_time(row.created_at),
                "attempt": row.attempts + 1,
            }
            for row in rows
        ]
        for row in rows:
            connection.execute(
                update(provisioning_requests)
                .where(provisioning_requests.c.id == row.id)
                .values(state="sent", attempts=row.attempts + 1, last_sent_at=now, file_sequence=sequence)
            )
        path = write_atomically(out_folder / name, render_records(file_format, PROVISIONING_COLUMNS, records))
    log.info("wrote %d provisioning request(s) to %s", len(rows), name)
    return FlushResult(sequence, path, tuple(row.request_id for row in rows))


# ---------------------------------------------------------------------------------------------
# Requests the host has not answered in time


@dataclass(frozen=True)
class OverdueCheck:
    resent: tuple[str, ...]  # queued again for the next flush
    newly_overdue: tuple[str, ...]  # out of attempts; raised now, listed by `tpo hostnet pending`


def check_overdue(connection: Connection, settings: HostnetFile, now: datetime) -> OverdueCheck:
    """Queue for resending, or raise, every sent request unanswered after the configured time."""
    answer_by = now - timedelta(minutes=settings.acknowledgements.timeout_minutes)
    late = connection.execute(
        select(provisioning_requests)
        .where(provisioning_requests.c.state == "sent", provisioning_requests.c.last_sent_at <= answer_by)
        .order_by(provisioning_requests.c.id)
    ).all()
    resent, overdue = [], []
    max_attempts = 2 if settings.acknowledgements.resend_once else 1
    for row in late:
        if row.attempts < max_attempts:
            connection.execute(
                update(provisioning_requests).where(provisioning_requests.c.id == row.id).values(state="queued")
            )
            log.warning(
                "provisioning request %s (%s %s) unanswered since %s; resending it",
                row.request_id, row.action, row.msisdn, format_time(row.last_sent_at),
            )
            resent.append(row.request_id)
        elif row.overdue_since is None:
            connection.execute(
                update(provisioning_requests).where(provisioning_requests.c.id == row.id).values(overdue_since=now)
            )
            log.error(
                "provisioning request %s (%s %s) unanswered after %d attempt(s), last sent %s; "
                "ask the host network (see tpo hostnet pending)",
                row.request_id, row.action, row.msisdn, row.attempts, format_time(row.last_sent_at),
            )
            overdue.append(row.request_id)
    return OverdueCheck(tuple(resent), tuple(overdue))


def open_requests(connection: Connection) -> list[ProvisioningRequest]:
    """Every request not yet answered by the host, oldest first."""
    rows = connection.execute(
        select(provisioning_requests)
        .where(provisioning_requests.c.state.in_(OPEN_STATES))
        .order_by(provisioning_requests.c.id)
    ).all()
    return [_request_from(row) for row in rows]


def find_request(connection: Connection, request_id: str) -> ProvisioningRequest | None:
    row = connection.execute(select(provisioning_requests).where(provisioning_requests.c.request_id == request_id)).first()
    return _request_from(row) if row else None


def is_overdue(request: ProvisioningRequest, settings: HostnetFile, now: datetime) -> bool:
    if request.state != "sent" or request.last_sent_at is None:
        return False
    return request.last_sent_at <= now - timedelta(minutes=settings.acknowledgements.timeout_minutes)


# ---------------------------------------------------------------------------------------------
# One pass over every folder shared with the host network


@dataclass(frozen=True)
class PollReport:
    taken_in: dict  # folder kind -> list of inbound.FileResult
    overdue: OverdueCheck
    flushed: FlushResult | None


def host_folders(config) -> dict:
    """The inbound folders, by kind; processed/ and rejected/ get a subfolder per kind so that files
    of different kinds never collide by name."""
    from engine.hostnet.inbound import InboundFolder

    folders = config.engine.folders
    processed, rejected = Path(folders.processed), Path(folders.rejected)
    inboxes = {
        "acknowledgements": folders.acknowledgements_in,
        "events": folders.events_in,
        "statements": folders.statements_in,
    }
    return {kind: InboundFolder(kind, Path(inbox), processed / kind, rejected / kind) for kind, inbox in inboxes.items()}


def known_plans(config) -> set[str] | None:
    tariffs = config.files.get("tariffs.toml")
    plans = getattr(tariffs, "plans", None)
    return set(plans) if plans else None


def poll_host_folders(
    database: Engine,
    config,
    notifier: Notifier,
    wholesale_totals=None,
    clock: Callable[[], datetime] | None = None,
) -> PollReport:
    """What `tpo run` calls every `folders.poll_seconds` (and `tpo hostnet poll` once): take in
    acknowledgements first (so an answer that just arrived prevents a needless resend), then
    lifecycle events and statements, then resend or raise late requests, then write one file of
    every queued request."""
    # Imported here: those modules import this one for Notifier.
    from engine.hostnet.acknowledgements import AcknowledgementHandler
    from engine.hostnet.inbound import poll_folder
    from engine.hostnet.lifecycle import LifecycleEventHandler
    from engine.hostnet.settings import hostnet_settings
    from engine.hostnet.statements import StatementHandler

    clock = clock or (lambda: datetime.now(timezone.utc))
    settings = hostnet_settings(config)
    operator = config.engine.operator
    plans = known_plans(config)
    handlers = {
        "acknowledgements": AcknowledgementHandler(notifier),
        "events": LifecycleEventHandler(notifier, operator.default_region, plans, clock),
        "statements": StatementHandler(
            operator.currency, settings, wholesale_totals, clock
        ),
    }
    folders = host_folders(config)
    taken_in = {kind: poll_folder(database, folders[kind], handlers[kind]) for kind in handlers}
    with database.begin() as connection:
        overdue = check_overdue(connection, settings, clock())
    flushed = flush_requests(database, Path(config.engine.folders.provisioning_out), settings.file_format, clock())
    return PollReport(taken_in, overdue, flushed)


__all__ = [
    "FlushResult", "Notifier", "OverdueCheck", "PROVISIONING_COLUMNS", "ProvisioningError",
    "ProvisioningRequest", "ProvisioningService", "check_overdue", "find_request", "flush_requests", "is_overdue",
    "open_requests", "poll_host_folders", "provisioning_file_name",
]
