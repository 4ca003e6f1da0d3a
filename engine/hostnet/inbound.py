"""The one way every file from the host network is taken in: usage, acknowledgements, lifecycle
events, wholesale statements.

A file is recognised by its SHA-256. Its records are processed inside one database transaction
together with the row that records the file, and only after that commit is the file moved
(atomically, `os.replace` within one filesystem) to processed/. A crash before the commit leaves the
file in the inbox with nothing stored, so it is processed again; a crash after the commit but before
the move is recognised at the next poll by its digest and name, and the move is finished. A file
whose digest was processed before under another name is a duplicate: refused, moved to rejected/
with a `.reason` note. Lines that cannot be used go to `rejected/NAME.rejects.csv` with their line
number and reason, and never stop the file.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Protocol

from sqlalchemy import Connection, Engine, select

from engine.store.schema import inbound_files

log = logging.getLogger(__name__)

_IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial")


def file_digest(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


class RejectsWriter:
    """Collects a file's unusable lines into rejected/NAME.rejects.csv, opened on first use."""

    def __init__(self, path: Path):
        self.path = path
        self.count = 0
        self._handle = None
        self._writer = None

    def reject(self, line_number: int, reason: str, line: str = "") -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path.with_name(self.path.name + ".tmp"), "w", newline="", encoding="utf-8")
            self._writer = csv.writer(self._handle)
            self._writer.writerow(["line_number", "reason", "line"])
        self._writer.writerow([line_number, reason, line])
        self.count += 1

    def close(self, keep: bool) -> None:
        if self._handle is None:
            return
        self._handle.close()
        temporary = self.path.with_name(self.path.name + ".tmp")
        if keep:
            os.replace(temporary, self.path)
        else:
            temporary.unlink(missing_ok=True)


@dataclass
class FileOutcome:
    """What a handler reports about one file; `summary` counts go to logs, the CLI and metrics."""

    summary: dict = field(default_factory=dict)
    refused: str | None = None  # set when the whole file is unusable (wrong header, wrong kind)


class FileHandler(Protocol):
    def __call__(self, connection: Connection, path: Path, rejects: RejectsWriter) -> FileOutcome: ...


@dataclass(frozen=True)
class FileResult:
    path: Path
    status: str  # processed | duplicate | refused | recovered
    summary: dict
    rejected_lines: int = 0
    reason: str = ""


@dataclass(frozen=True)
class InboundFolder:
    kind: str
    inbox: Path
    processed: Path
    rejected: Path

    def pending_files(self) -> list[Path]:
        if not self.inbox.is_dir():
            return []
        return sorted(
            path
            for path in self.inbox.iterdir()
            if path.is_file() and not path.name.startswith(".") and not path.name.endswith(_IN_PROGRESS_SUFFIXES)
        )


def take_in_file(
    database: Engine, folder: InboundFolder, path: Path, handler: FileHandler, now: Callable[[], datetime] | None = None
) -> FileResult:
    """Process one file of `folder.inbox` exactly once; see the module docstring for the guarantees."""
    clock = now or (lambda: datetime.now(timezone.utc))
    digest = file_digest(path)
    with database.connect() as connection:
        seen = connection.execute(
            select(inbound_files.c.name, inbound_files.c.kind, inbound_files.c.summary).where(
                inbound_files.c.sha256 == digest
            )
        ).first()
    if seen is not None:
        if seen.name == path.name and seen.kind == folder.kind:
            _move(path, folder.processed)
            log.warning("%s %s was already committed; finished moving it to processed/", folder.kind, path.name)
            return FileResult(path, "recovered", dict(seen.summary or {}))
        reason = f"duplicate: same content (SHA-256 {digest[:12]}…) as {seen.kind} file {seen.name} taken in before"
        _refuse(path, folder.rejected, reason)
        log.warning("%s %s refused: %s", folder.kind, path.name, reason)
        return FileResult(path, "duplicate", {}, reason=reason)

    rejects = RejectsWriter(folder.rejected / f"{path.name}.rejects.csv")
    try:
        outcome = _process_and_record(database, folder, path, digest, handler, rejects, clock)
    except BaseException:
        rejects.close(keep=False)
        raise
    if outcome.refused:
        rejects.close(keep=False)
        _refuse(path, folder.rejected, outcome.refused)
        log.warning("%s %s refused: %s", folder.kind, path.name, outcome.refused)
        return FileResult(path, "refused", {}, reason=outcome.refused)
    rejects.close(keep=True)
    _move(path, folder.processed)
    log.info("%s %s processed: %s", folder.kind, path.name, _describe(outcome.summary))
    return FileResult(path, "processed", outcome.summary, rejected_lines=rejects.count)


class _Refused(Exception):
    def __init__(self, outcome: FileOutcome):
        self.outcome = outcome


def _process_and_record(database, folder, path, digest, handler, rejects, clock) -> FileOutcome:
    try:
        with database.begin() as connection:
            outcome = handler(connection, path, rejects)
            if outcome.refused:
                raise _Refused(outcome)  # rolls back whatever the handler stored
            outcome.summary.setdefault("rejected", rejects.count)
            connection.execute(
                inbound_files.insert().values(
                    kind=folder.kind,
                    name=path.name,
                    sha256=digest,
                    size_bytes=path.stat().st_size,
                    summary=outcome.summary,
                    taken_in_at=clock(),
                )
            )
    except _Refused as refused:
        return refused.outcome
    return outcome


def poll_folder(database: Engine, folder: InboundFolder, handler: FileHandler) -> list[FileResult]:
    return [take_in_file(database, folder, path, handler) for path in folder.pending_files()]


def _move(path: Path, destination: Path) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    target = destination / path.name
    os.replace(path, target)
    return target


def _refuse(path: Path, rejected: Path, reason: str) -> None:
    rejected.mkdir(parents=True, exist_ok=True)
    target = rejected / path.name
    if target.exists():
        target = rejected / f"{path.name}.{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}"
    note = target.with_name(target.name + ".reason")
    note.write_text(reason + "\n", encoding="utf-8")
    os.replace(path, target)


def _describe(summary: dict) -> str:
    return ", ".join(f"{key} {value}" for key, value in summary.items())


def write_atomically(path: Path, lines: list[str] | None = None, content: bytes | None = None) -> Path:
    """Write a file for the host network under a temporary name, then rename it into place, so the
    host never picks up half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        if content is not None:
            handle.write(content)
        for line in lines or []:
            handle.write(line.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return path
