"""The host's acknowledgements of our provisioning requests, and what each answer changes.

An acknowledgement names a request id and says `accepted` or `rejected` (with a reason). It is the
only thing that changes a subscriber's status for a request we made:

| request      | accepted                                  | rejected                                   |
|--------------|-------------------------------------------|--------------------------------------------|
| activate     | activating -> active, plan set, `line_active` SMS | activating -> terminated, `line_activation_failed` SMS |
| change_plan  | plan set                                  | nothing (logged)                           |
| suspend      | active -> suspended                       | nothing (logged)                           |
| restore      | suspended -> active                       | nothing (logged)                           |
| terminate    | -> terminated                             | nothing (logged)                           |

A rejected activation ends in 'terminated' rather than staying 'activating': no line exists, and
'activating' would claim a request in flight forever. A new signup may ask again. A transition
whose starting status no longer holds (the subscriber changed meanwhile, e.g. by a lifecycle event)
is recorded on the request but leaves the subscriber alone, with a warning.

The same answer twice is a no-op; a contradicting answer (accepted, then rejected) is a rejected
line, because the first answer was already acted upon. An answer to an unknown request id is a
rejected line too. A late answer (after a resend, or after the request was raised as overdue) is
applied like any other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, select, update

from engine.hostnet.inbound import FileOutcome, RejectsWriter
from engine.hostnet.provisioning import Notifier
from engine.hostnet.settings import FileRefused, RecordError, format_time, read_records, required, timestamp
from engine.store.schema import provisioning_requests, subscribers

log = logging.getLogger(__name__)

ACKNOWLEDGEMENT_COLUMNS = ("request_id", "status", "reason", "acknowledged_at")
ANSWERS = ("accepted", "rejected")

# action -> (statuses it may start from, status it ends in) when the host accepts it.
_ACCEPTED = {
    "activate": (("activating",), "active"),
    "change_plan": (("active", "suspended"), None),
    "suspend": (("active",), "suspended"),
    "restore": (("suspended",), "active"),
    "terminate": (("activating", "active", "suspended"), "terminated"),
}


@dataclass(frozen=True)
class Acknowledgement:
    request_id: str
    status: str
    reason: str
    acknowledged_at: datetime


def parse_acknowledgement(fields: dict) -> Acknowledgement:
    """One record as an Acknowledgement, or RecordError saying which field is wrong."""
    request_id = required(fields, "request_id")
    status = required(fields, "status").lower()
    if status not in ANSWERS:
        raise RecordError(f"status: {fields['status']!r} is not an answer (expected accepted or rejected)")
    reason = fields.get("reason", "")
    if status == "rejected" and not reason:
        raise RecordError("reason: missing for a rejection (expected why the host refused the request)")
    return Acknowledgement(request_id, status, reason, timestamp(fields, "acknowledged_at"))


class AcknowledgementHandler:
    """The inbound handler for the acknowledgements_in folder."""

    def __init__(self, notifier: Notifier):
        self.notifier = notifier

    def __call__(self, connection: Connection, path: Path, rejects: RejectsWriter) -> FileOutcome:
        counts = {"accepted": 0, "rejected_by_host": 0, "repeated": 0}
        try:
            for line in read_records(path, ACKNOWLEDGEMENT_COLUMNS):
                if line.fields is None:
                    rejects.reject(line.number, line.error, line.text)
                    continue
                try:
                    outcome = apply_acknowledgement(connection, parse_acknowledgement(line.fields), self.notifier)
                except RecordError as error:
                    rejects.reject(line.number, str(error), line.text)
                    continue
                counts[outcome] += 1
        except FileRefused as refused:
            return FileOutcome(refused=str(refused))
        return FileOutcome(summary=counts)


def apply_acknowledgement(connection: Connection, answer: Acknowledgement, notifier: Notifier) -> str:
    """Record the host's answer and apply it; returns accepted, rejected_by_host or repeated."""
    request = connection.execute(
        select(provisioning_requests).where(provisioning_requests.c.request_id == answer.request_id)
    ).first()
    if request is None:
        raise RecordError(f"request_id: {answer.request_id!r} is not a request we sent (expected one of ours)")
    if request.state in ANSWERS:
        if request.state == answer.status:
            return "repeated"
        raise RecordError(
            f"status: request {answer.request_id} was already {request.state} at "
            f"{format_time(request.acknowledged_at)}; a contradicting answer is not applied"
        )
    if request.state == "queued" and request.attempts == 0:
        raise RecordError(f"request_id: {answer.request_id!r} has not been sent yet (expected an answer after sending)")
    connection.execute(
        update(provisioning_requests)
        .where(provisioning_requests.c.id == request.id)
        .values(state=answer.status, acknowledged_at=answer.acknowledged_at, answer_reason=answer.reason or None)
    )
    if answer.status == "accepted":
        _apply_accepted(connection, request, answer, notifier)
        return "accepted"
    _apply_rejected(connection, request, answer, notifier)
    return "rejected_by_host"


def _subscriber(connection, request):
    return connection.execute(
        select(subscribers.c.id, subscribers.c.msisdn, subscribers.c.status).where(subscribers.c.id == request.subscriber_id)
    ).first()


def _apply_accepted(connection, request, answer: Acknowledgement, notifier: Notifier) -> None:
    subscriber = _subscriber(connection, request)
    starts, ends = _ACCEPTED[request.action]
    if subscriber is None or subscriber.status not in starts:
        log.warning(
            "host accepted %s %s for %s, but the subscriber is now %s; left as it is",
            request.action, request.request_id, request.msisdn, subscriber.status if subscriber else "gone",
        )
        return
    values: dict = {"updated_at": answer.acknowledged_at}
    if ends:
        values["status"] = ends
    if request.action in ("activate", "change_plan"):
        values["plan_code"] = request.plan_code
    if request.action == "activate":
        values["kind"] = "line"
    connection.execute(update(subscribers).where(subscribers.c.id == subscriber.id).values(**values))
    log.info("host accepted %s %s for %s", request.action, request.request_id, subscriber.msisdn)
    if request.action == "activate":
        notifier.notify(
            connection, subscriber.msisdn, "line_active", {"msisdn": subscriber.msisdn, "plan_code": request.plan_code},
            answer.acknowledged_at,
        )


def _apply_rejected(connection, request, answer: Acknowledgement, notifier: Notifier) -> None:
    log.warning("host rejected %s %s for %s: %s", request.action, request.request_id, request.msisdn, answer.reason)
    if request.action != "activate":
        return
    subscriber = _subscriber(connection, request)
    if subscriber is None or subscriber.status != "activating":
        return
    connection.execute(
        update(subscribers)
        .where(subscribers.c.id == subscriber.id)
        .values(status="terminated", updated_at=answer.acknowledged_at)
    )
    notifier.notify(
        connection, subscriber.msisdn, "line_activation_failed",
        {"msisdn": subscriber.msisdn, "plan_code": request.plan_code, "reason": answer.reason},
        answer.acknowledged_at,
    )
