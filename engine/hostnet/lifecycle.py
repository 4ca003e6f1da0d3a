"""SIM lifecycle events from the host network: activation, SIM swap, MSISDN change, port-out,
termination.

Each event carries the host's event id. An applied event is stored (`lifecycle_events`) with a
digest of its normalised content, so a replay of the same event (the same file again under another
name, or the event repeated in a later file) is a no-op; the same id with different content is a
rejected line, because two different facts cannot share one id. A rejected event is not stored,
so the host may send it again, corrected, under the same id. Events apply in file order.

What each event does to the subscriber (`docs/formats/lifecycle-events.md` has the full table):
- sim_activation: a number nobody asked for becomes a subscriber (kind 'line', status 'active')
  and gets the `welcome` SMS; so does a social member or a terminated line. For a line we asked to
  activate ('activating') only the SIM is recorded: the acknowledgement of our request decides its
  status, so there is one authority per fact. For an active or suspended line the SIM and plan are
  recorded.
- sim_swap: the line's ICCID (and IMSI, when given) change.
- msisdn_change: the subscriber's number changes; the new number must not be anyone else's.
- port_out: the line leaves for another network; the person stays in the community as a social
  member on the same number (kind 'social', plan and SIM cleared).
- termination: status 'terminated', SIM cleared (so a reused ICCID/IMSI is not blocked).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Collection

from sqlalchemy import Connection, select, update

from engine.hostnet.inbound import FileOutcome, RejectsWriter
from engine.hostnet.provisioning import Notifier
from engine.hostnet.settings import FileRefused, RecordError, format_time, read_records, required, timestamp
from engine.numbers import InvalidNumber, normalise_msisdn
from engine.store.schema import LIFECYCLE_EVENT_TYPES, lifecycle_events, subscribers

log = logging.getLogger(__name__)

EVENT_COLUMNS = ("event_id", "event_type", "occurred_at", "msisdn", "iccid", "imsi", "plan_code", "new_msisdn")

# Fields each event type needs, and those it may carry; any other non-empty field is an error.
_REQUIRED = {
    "sim_activation": ("iccid", "imsi", "plan_code"),
    "sim_swap": ("iccid",),
    "msisdn_change": ("new_msisdn",),
    "port_out": (),
    "termination": (),
}
_OPTIONAL = {"sim_swap": ("imsi",)}

_EVENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_ICCID = re.compile(r"^[0-9]{18,22}$")  # ITU-T E.118: 18 to 22 digits (the check digit included)
_IMSI = re.compile(r"^[0-9]{6,15}$")  # MCC + MNC + MSIN, at most 15 digits
_PLAN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class LifecycleEvent:
    event_id: str
    event_type: str
    occurred_at: datetime
    msisdn: str
    iccid: str | None = None
    imsi: str | None = None
    plan_code: str | None = None
    new_msisdn: str | None = None

    def content_digest(self) -> str:
        content = asdict(self)
        del content["event_id"]
        content["occurred_at"] = format_time(self.occurred_at)
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _number(fields: dict, name: str, region: str) -> str:
    try:
        return normalise_msisdn(required(fields, name), region)
    except InvalidNumber as error:
        raise RecordError(f"{name}: {error}") from None


def parse_event(fields: dict, region: str, known_plans: Collection[str] | None = None) -> LifecycleEvent:
    """One record as a LifecycleEvent, or RecordError naming the field that is wrong."""
    event_id = required(fields, "event_id")
    if not _EVENT_ID.match(event_id):
        raise RecordError(f"event_id: {event_id!r} is not an id (expected 1-64 letters, digits, . _ : -)")
    event_type = required(fields, "event_type").lower()
    if event_type not in LIFECYCLE_EVENT_TYPES:
        raise RecordError(f"event_type: {event_type!r} is unknown (expected one of {', '.join(LIFECYCLE_EVENT_TYPES)})")
    occurred_at = timestamp(fields, "occurred_at")
    msisdn = _number(fields, "msisdn", region)
    wanted = _REQUIRED[event_type] + _OPTIONAL.get(event_type, ())
    for name in ("iccid", "imsi", "plan_code", "new_msisdn"):
        if fields.get(name) and name not in wanted:
            raise RecordError(f"{name}: not used by {event_type} (expected it empty)")
    for name in _REQUIRED[event_type]:
        required(fields, name)
    values: dict = {}
    if fields.get("iccid"):
        if not _ICCID.match(fields["iccid"]):
            raise RecordError(f"iccid: {fields['iccid']!r} is not an ICCID (expected 18 to 22 digits)")
        values["iccid"] = fields["iccid"]
    if fields.get("imsi"):
        if not _IMSI.match(fields["imsi"]):
            raise RecordError(f"imsi: {fields['imsi']!r} is not an IMSI (expected 6 to 15 digits)")
        values["imsi"] = fields["imsi"]
    if fields.get("plan_code"):
        plan = fields["plan_code"]
        if not _PLAN.match(plan):
            raise RecordError(f"plan_code: {plan!r} is not a plan code (expected a-z, 0-9, _ or -)")
        if known_plans is not None and plan not in known_plans:
            raise RecordError(f"plan_code: {plan!r} is not one of our plans (expected one of {', '.join(sorted(known_plans))})")
        values["plan_code"] = plan
    if fields.get("new_msisdn"):
        values["new_msisdn"] = _number(fields, "new_msisdn", region)
        if values["new_msisdn"] == msisdn:
            raise RecordError("new_msisdn: the same as msisdn (expected a different number)")
    return LifecycleEvent(event_id, event_type, occurred_at, msisdn, **values)


class LifecycleEventHandler:
    """The inbound handler for the events_in folder."""

    def __init__(
        self,
        notifier: Notifier,
        default_region: str,
        known_plans: Collection[str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ):
        self.notifier = notifier
        self.default_region = default_region
        self.known_plans = set(known_plans) if known_plans is not None else None
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    def __call__(self, connection: Connection, path: Path, rejects: RejectsWriter) -> FileOutcome:
        counts = {"applied": 0, "replayed": 0}
        now = self.clock()
        try:
            for line in read_records(path, EVENT_COLUMNS):
                if line.fields is None:
                    rejects.reject(line.number, line.error, line.text)
                    continue
                try:
                    event = parse_event(line.fields, self.default_region, self.known_plans)
                    # A savepoint, so that an event refused halfway leaves nothing behind.
                    with connection.begin_nested():
                        outcome = apply_event(connection, event, self.notifier, path.name, now)
                except RecordError as error:
                    rejects.reject(line.number, str(error), line.text)
                    continue
                counts["replayed" if outcome is None else "applied"] += 1
        except FileRefused as refused:
            return FileOutcome(refused=str(refused))
        return FileOutcome(summary=counts)


def apply_event(connection: Connection, event: LifecycleEvent, notifier: Notifier, file_name: str, now: datetime) -> str | None:
    """Apply one event once. Returns what it did, or None for a replay of an applied event."""
    digest = event.content_digest()
    seen = connection.execute(
        select(lifecycle_events.c.content_sha256, lifecycle_events.c.file_name).where(
            lifecycle_events.c.event_id == event.event_id
        )
    ).first()
    if seen is not None:
        if seen.content_sha256 == digest:
            return None
        raise RecordError(
            f"event_id: {event.event_id!r} was applied before from {seen.file_name} with different content "
            "(expected a new id for a new event)"
        )
    outcome = _APPLY[event.event_type](connection, event, notifier, now)
    connection.execute(
        lifecycle_events.insert().values(
            event_id=event.event_id,
            event_type=event.event_type,
            msisdn=event.msisdn,
            occurred_at=event.occurred_at,
            content_sha256=digest,
            outcome=outcome,
            file_name=file_name,
            applied_at=now,
        )
    )
    log.info("lifecycle event %s (%s %s): %s", event.event_id, event.event_type, event.msisdn, outcome)
    return outcome


def _subscriber(connection, msisdn: str):
    return connection.execute(select(subscribers).where(subscribers.c.msisdn == msisdn)).first()


def _our_line(connection, event: LifecycleEvent):
    row = _subscriber(connection, event.msisdn)
    if row is None:
        raise RecordError(f"msisdn: {event.msisdn} is not a subscriber of ours (expected one of our lines)")
    if row.kind != "line":
        raise RecordError(f"msisdn: {event.msisdn} is a social member, not one of our lines (expected a line)")
    return row


def _check_sim_free(connection, event: LifecycleEvent, subscriber_id: int | None) -> None:
    for name in ("iccid", "imsi"):
        value = getattr(event, name)
        if not value:
            continue
        holder = connection.execute(
            select(subscribers.c.id, subscribers.c.msisdn).where(subscribers.c[name] == value)
        ).first()
        if holder is not None and holder.id != subscriber_id:
            raise RecordError(f"{name}: {value} is the SIM of {holder.msisdn} (expected a SIM not in use)")


def _set(connection, subscriber_id: int, now: datetime, **values) -> None:
    connection.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(updated_at=now, **values))


def _activation(connection, event: LifecycleEvent, notifier: Notifier, now: datetime) -> str:
    row = _subscriber(connection, event.msisdn)
    _check_sim_free(connection, event, row.id if row else None)
    sim = {"iccid": event.iccid, "imsi": event.imsi}
    welcome = {"msisdn": event.msisdn, "plan_code": event.plan_code}
    if row is None:
        connection.execute(
            subscribers.insert().values(
                msisdn=event.msisdn, kind="line", status="active", plan_code=event.plan_code,
                created_at=now, updated_at=now, **sim,
            )
        )
        notifier.notify(connection, event.msisdn, "welcome", welcome, now)
        return "new subscriber, line active"
    if row.kind == "line" and row.status == "activating":
        _set(connection, row.id, now, **sim)
        return "SIM recorded; the line's status waits for the acknowledgement of our request"
    if row.kind == "social" or row.status == "terminated":
        _set(connection, row.id, now, kind="line", status="active", plan_code=event.plan_code, **sim)
        notifier.notify(connection, event.msisdn, "welcome", welcome, now)
        return f"line started for an existing {'social member' if row.kind == 'social' else 'terminated line'}"
    _set(connection, row.id, now, plan_code=event.plan_code, **sim)
    return f"SIM and plan recorded for a {row.status} line"


def _swap(connection, event: LifecycleEvent, notifier: Notifier, now: datetime) -> str:
    row = _our_line(connection, event)
    if row.status == "terminated":
        raise RecordError(f"msisdn: {event.msisdn} is terminated (expected a live line for a SIM swap)")
    if row.iccid == event.iccid and (event.imsi is None or row.imsi == event.imsi):
        return "SIM unchanged"
    _check_sim_free(connection, event, row.id)
    values = {"iccid": event.iccid}
    if event.imsi:
        values["imsi"] = event.imsi
    _set(connection, row.id, now, **values)
    return f"SIM swapped from {row.iccid or 'none'} to {event.iccid}"


def _number_change(connection, event: LifecycleEvent, notifier: Notifier, now: datetime) -> str:
    row = _subscriber(connection, event.msisdn)
    if row is None:
        raise RecordError(f"msisdn: {event.msisdn} is not a subscriber of ours (expected one of our lines)")
    taken = _subscriber(connection, event.new_msisdn)
    if taken is not None:
        raise RecordError(f"new_msisdn: {event.new_msisdn} is already a subscriber's number (expected a free number)")
    _set(connection, row.id, now, msisdn=event.new_msisdn)
    return f"number changed to {event.new_msisdn}"


def _port_out(connection, event: LifecycleEvent, notifier: Notifier, now: datetime) -> str:
    row = _our_line(connection, event)
    _set(connection, row.id, now, kind="social", status="active", plan_code=None, iccid=None, imsi=None)
    return "ported out; stays as a social member"


def _termination(connection, event: LifecycleEvent, notifier: Notifier, now: datetime) -> str:
    row = _our_line(connection, event)
    if row.status == "terminated":
        return "already terminated"
    _set(connection, row.id, now, status="terminated", iccid=None, imsi=None)
    return "line terminated"


_APPLY = {
    "sim_activation": _activation,
    "sim_swap": _swap,
    "msisdn_change": _number_change,
    "port_out": _port_out,
    "termination": _termination,
}
