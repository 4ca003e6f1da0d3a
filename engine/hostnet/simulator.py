"""A stand-in for the host network's side of the file exchange, for tests, the demo and newcomers.

It does what the host does with our folders, nothing more: it picks up our provisioning files
(moving them out of provisioning_out, as the host would) and answers each request in an
acknowledgement file, accepting by default, rejecting or staying silent for chosen MSISDNs or a
ratio; it writes lifecycle events (activations nobody asked for, SIM swaps, number changes,
port-outs, terminations) and a wholesale statement for a period from given totals. Every file is
written atomically, in the configured format, into the folders the engine polls.

A request ratio is decided by a digest of the request id and the seed, not by a running random
generator, so a resent request gets the same answer as its first attempt, whatever the order.

Usage (CDR) files are the rating subsystem's: `engine/rating/generator.py` writes them into
`usage_in`; `usage_generator()` is the hook that finds it when it exists.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Collection

from engine.hostnet.acknowledgements import ACKNOWLEDGEMENT_COLUMNS
from engine.hostnet.inbound import write_atomically
from engine.hostnet.lifecycle import EVENT_COLUMNS
from engine.hostnet.provisioning import FILE_PREFIX, PROVISIONING_COLUMNS
from engine.hostnet.settings import (
    EXTENSIONS,
    FileFormat,
    FileRefused,
    check_period,
    format_time,
    hostnet_settings,
    read_records,
    render_records,
)
from engine.hostnet.statements import STATEMENT_COLUMNS
from engine.store.schema import WHOLESALE_SERVICES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnswerPlan:
    """How the simulated host answers requests: accept, unless the MSISDN is named (or drawn)."""

    reject: dict[str, str] = field(default_factory=dict)  # msisdn -> reason
    silent: frozenset[str] = frozenset()
    reject_ratio: float = 0.0
    silent_ratio: float = 0.0
    seed: str = "host-sim"
    default_reason: str = "refused by the host network (simulated)"

    def answer(self, request_id: str, msisdn: str) -> tuple[str, str] | None:
        """(status, reason) for a request, or None for silence."""
        if msisdn in self.silent:
            return None
        if msisdn in self.reject:
            return "rejected", self.reject[msisdn] or self.default_reason
        draw = self._draw(request_id)
        if draw < self.silent_ratio:
            return None
        if draw < self.silent_ratio + self.reject_ratio:
            return "rejected", self.default_reason
        return "accepted", ""

    def _draw(self, request_id: str) -> float:
        digest = hashlib.sha256(f"{self.seed}:{request_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class AnswerResult:
    request_files: tuple[Path, ...]
    acknowledgement_files: tuple[Path, ...]
    accepted: tuple[str, ...]  # request ids
    rejected: tuple[str, ...]
    silent: tuple[str, ...]
    events_file: Path | None = None


class HostSimulator:
    def __init__(
        self,
        provisioning_out: Path,
        acknowledgements_in: Path,
        events_in: Path,
        statements_in: Path,
        usage_in: Path | None = None,
        file_format: FileFormat = "csv",
        taken: Path | None = None,
        clock: Callable[[], datetime] | None = None,
    ):
        self.provisioning_out = Path(provisioning_out)
        self.acknowledgements_in = Path(acknowledgements_in)
        self.events_in = Path(events_in)
        self.statements_in = Path(statements_in)
        self.usage_in = Path(usage_in) if usage_in else None
        self.file_format = file_format
        # Where picked-up request files go, so that they are answered once (the host's own archive).
        self.taken = Path(taken) if taken else self.provisioning_out.parent / "host-sim-taken"
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._names = itertools.count(1)

    @classmethod
    def from_config(cls, config, clock: Callable[[], datetime] | None = None) -> "HostSimulator":
        folders = config.engine.folders
        return cls(
            Path(folders.provisioning_out), Path(folders.acknowledgements_in), Path(folders.events_in),
            Path(folders.statements_in), Path(folders.usage_in), hostnet_settings(config).file_format, clock=clock,
        )

    def _file_name(self, kind: str) -> str:
        # Unique across simulator runs (CLI invocations) as well as within one.
        stamp = self.clock().strftime("%Y%m%dT%H%M%S")
        return f"host-{kind}-{stamp}-{os.getpid()}-{next(self._names):04d}-{uuid.uuid4().hex[:6]}{EXTENSIONS[self.file_format]}"

    # -- provisioning requests in, acknowledgements out --------------------------------------

    def request_files(self) -> list[Path]:
        if not self.provisioning_out.is_dir():
            return []
        return sorted(
            path for path in self.provisioning_out.iterdir()
            if path.is_file() and path.name.startswith(FILE_PREFIX) and not path.name.startswith(".")
        )

    def answer_requests(self, plan: AnswerPlan | None = None, announce_activations: bool = False) -> AnswerResult:
        """Answer every waiting provisioning file with one acknowledgement file each. With
        `announce_activations`, each accepted activation is also followed by a sim_activation event,
        as a real host sends once the SIM is live."""
        plan = plan or AnswerPlan()
        taken, ack_files, accepted, rejected, silent, activations = [], [], [], [], [], []
        for path in self.request_files():
            answers = []
            try:
                lines = list(read_records(path, PROVISIONING_COLUMNS))
            except FileRefused as refused:
                log.error("host simulator cannot read %s: %s", path.name, refused)
                lines = []
            for line in lines:
                if line.fields is None:
                    log.error("host simulator skips %s line %d: %s", path.name, line.number, line.error)
                    continue
                request_id, msisdn = line.fields["request_id"], line.fields["msisdn"]
                answer = plan.answer(request_id, msisdn)
                if answer is None:
                    silent.append(request_id)
                    continue
                status, reason = answer
                (accepted if status == "accepted" else rejected).append(request_id)
                answers.append(
                    {"request_id": request_id, "status": status, "reason": reason, "acknowledged_at": format_time(self.clock())}
                )
                if status == "accepted" and line.fields["action"] == "activate":
                    activations.append((msisdn, line.fields["plan_code"]))
            if answers:
                name = f"host-ack-{path.stem}-{uuid.uuid4().hex[:6]}{EXTENSIONS[self.file_format]}"
                ack_files.append(
                    write_atomically(self.acknowledgements_in / name, render_records(self.file_format, ACKNOWLEDGEMENT_COLUMNS, answers))
                )
            self.taken.mkdir(parents=True, exist_ok=True)
            os.replace(path, self.taken / path.name)
            taken.append(self.taken / path.name)
        events_file = None
        if announce_activations and activations:
            events_file = self.write_events([self.activation(msisdn, plan_code) for msisdn, plan_code in activations])
        return AnswerResult(tuple(taken), tuple(ack_files), tuple(accepted), tuple(rejected), tuple(silent), events_file)

    # -- lifecycle events -------------------------------------------------------------------

    def _event(self, event_type: str, msisdn: str, occurred_at: datetime | None, event_id: str | None, **values) -> dict:
        return {
            "event_id": event_id or f"ev-{uuid.uuid4().hex[:16]}",
            "event_type": event_type,
            "occurred_at": format_time(occurred_at or self.clock()),
            "msisdn": msisdn,
            **{key: value for key, value in values.items() if value},
        }

    def activation(self, msisdn: str, plan_code: str, iccid: str | None = None, imsi: str | None = None,
                   occurred_at: datetime | None = None, event_id: str | None = None) -> dict:
        return self._event(
            "sim_activation", msisdn, occurred_at, event_id,
            iccid=iccid or make_iccid(msisdn), imsi=imsi or make_imsi(msisdn), plan_code=plan_code,
        )

    def sim_swap(self, msisdn: str, iccid: str | None = None, imsi: str | None = None,
                 occurred_at: datetime | None = None, event_id: str | None = None) -> dict:
        return self._event("sim_swap", msisdn, occurred_at, event_id, iccid=iccid or make_iccid(msisdn + uuid.uuid4().hex), imsi=imsi)

    def msisdn_change(self, msisdn: str, new_msisdn: str, occurred_at: datetime | None = None, event_id: str | None = None) -> dict:
        return self._event("msisdn_change", msisdn, occurred_at, event_id, new_msisdn=new_msisdn)

    def port_out(self, msisdn: str, occurred_at: datetime | None = None, event_id: str | None = None) -> dict:
        return self._event("port_out", msisdn, occurred_at, event_id)

    def termination(self, msisdn: str, occurred_at: datetime | None = None, event_id: str | None = None) -> dict:
        return self._event("termination", msisdn, occurred_at, event_id)

    def write_events(self, events: list[dict], name: str | None = None) -> Path:
        return write_atomically(
            self.events_in / (name or self._file_name("events")), render_records(self.file_format, EVENT_COLUMNS, events)
        )

    # -- wholesale statement ----------------------------------------------------------------

    def write_statement(self, period: str, totals: dict[str, tuple[int, int, int]], currency: str = "GBP",
                        name: str | None = None) -> Path:
        """A statement of `period` with service -> (records, volume, amount in minor units)."""
        check_period(period)
        records = []
        for service, (record_count, volume, amount_minor) in totals.items():
            if service not in WHOLESALE_SERVICES:
                raise ValueError(f"unknown service {service!r} (expected one of {', '.join(WHOLESALE_SERVICES)})")
            for value in (record_count, volume, amount_minor):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TypeError(f"{value!r} is not an integer (expected integers; amounts in minor units)")
            records.append({"period": period, "service": service, "records": record_count, "volume": volume,
                            "amount_minor": amount_minor, "currency": currency})
        file_name = name or f"host-statement-{period}-{uuid.uuid4().hex[:6]}{EXTENSIONS[self.file_format]}"
        return write_atomically(self.statements_in / file_name, render_records(self.file_format, STATEMENT_COLUMNS, records))


# -- usage files: the rating subsystem's generator -----------------------------------------


def usage_generator():
    """The hook for usage (CDR) files: `engine.rating.generator` when the rating subsystem has it,
    else None. The simulator does not write CDRs itself; their format belongs to rating."""
    try:
        from engine.rating import generator  # type: ignore[attr-defined]
    except ImportError:
        return None
    return generator


# -- identities for simulated SIMs ---------------------------------------------------------


def _digits(seed: str, count: int) -> str:
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    return str(number)[-count:].rjust(count, "0")


def luhn_check_digit(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def make_iccid(seed: str) -> str:
    """A 20-digit ICCID (89 = telecom, 44 = UK, an issuer, a serial, the Luhn check digit)."""
    body = "894410" + _digits(seed, 13)
    return body + luhn_check_digit(body)


def make_imsi(seed: str) -> str:
    """A 15-digit IMSI in a test network code (MCC 001, MNC 01)."""
    return "00101" + _digits("imsi:" + seed, 10)


def distinct_numbers(count: int, start: int = 1) -> Collection[str]:
    """Valid UK mobile numbers for simulated activations nobody asked for."""
    return [f"+4474001{n:05d}" for n in range(start, start + count)]
