"""Usage records from the host network's CSV files: the record layout and the line parser.

A parsed record is a plain tuple in `UsageRecord`'s field order (building a NamedTuple per line
costs more than the rest of the parse). `UsageRecord` names the fields for readers and tests; the
rater unpacks positionally, so both kinds work everywhere.

The parser reads text lines (from `open`, `gzip.open(..., "rt")`, or a list in a test) and yields
good records; each bad line goes to the caller's `on_reject` with its line number and a specific
reason, and parsing goes on. A file whose header lacks a mapped column is refused as a whole
(`UsageFileError`), since every line of it would be wrong in the same way.
"""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator, Literal, NamedTuple
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from engine.config.model import FrozenModel, TimeZoneName
from engine.rating.zones import CachedCanonicaliser, NumberCanonicaliser

VOICE, SMS, DATA = "voice", "sms", "data"
SERVICES = (VOICE, SMS, DATA)
FIELDS = ("record_id", "msisdn", "service", "start_time", "duration_s", "volume_bytes", "called_number", "roaming_zone")
# A home-network record has no roaming zone.
HOME = ""


class UsageRecord(NamedTuple):
    line_number: int
    record_id: str
    msisdn: str  # E.164
    service: str  # VOICE, SMS or DATA
    start: int  # epoch seconds (UTC)
    duration_s: int
    volume_bytes: int
    called_number: str  # canonical (see zones.NumberCanonicaliser); "" for data
    roaming_zone: str  # HOME or a roaming zone code as the host wrote it, lower-cased


class LineReject(NamedTuple):
    line_number: int
    reason: str
    fields: tuple[str, ...]


class UsageFileError(ValueError):
    """The whole file is unreadable (bad header); nothing from it should be stored."""


class UsageColumns(FrozenModel):
    """Where each field is: a header name, or a 1-based position when the file has no header.
    `roaming_zone = ""` means the host sends no such column (every record is home usage)."""

    record_id: str | int = "record_id"
    msisdn: str | int = "msisdn"
    service: str | int = "service"
    start_time: str | int = "start_time"
    duration_s: str | int = "duration_s"
    volume_bytes: str | int = "volume_bytes"
    called_number: str | int = "called_number"
    roaming_zone: str | int = "roaming_zone"


class UsageFormat(FrozenModel):
    """`[usage_format]` in tariffs.toml: how one host network writes its usage files."""

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    header: bool = True
    time_format: str = "iso8601"
    time_zone: TimeZoneName = "UTC"
    columns: UsageColumns = UsageColumns()
    services: dict[str, Literal["voice", "sms", "data"]] = {"voice": VOICE, "sms": SMS, "data": DATA}

    @field_validator("time_format")
    @classmethod
    def _time_format(cls, value: str) -> str:
        if value not in ("iso8601", "epoch") and "%" not in value:
            raise ValueError(
                f"{value!r} is not a time format "
                '(expected "iso8601", "epoch" or a strptime pattern like "%Y%m%d%H%M%S")'
            )
        return value

    @model_validator(mode="after")
    def _columns_fit_header(self):
        for name in FIELDS:
            where = getattr(self.columns, name)
            if isinstance(where, int) and where < 1:
                raise ValueError(f"columns.{name}: {where} is not a column (expected a position from 1)")
            if isinstance(where, str) and where and not self.header:
                raise ValueError(
                    f"columns.{name}: {where!r} is a header name but header = false (expected a position from 1)"
                )
        return self


class _TimeParser:
    """Start-time text -> epoch seconds. The ISO fast path caches the epoch of each distinct
    "date, hour, minute, offset", so most lines cost one slice, one dict probe and one int()."""

    def __init__(self, fmt: UsageFormat):
        self.pattern = fmt.time_format
        self.zone = ZoneInfo(fmt.time_zone)
        self._minutes: dict[str, int] = {}
        if self.pattern == "iso8601":
            self.parse = self._iso
        elif self.pattern == "epoch":
            self.parse = self._epoch
        else:
            self.parse = self._strptime

    def _iso(self, text: str) -> int:
        base = self._minutes.get(text[:16] + text[19:])
        seconds = text[17:19]
        if base is not None and text[16] == ":" and seconds.isdigit() and seconds < "60":
            return base + int(seconds)
        return self._iso_slow(text)

    def _iso_slow(self, text: str) -> int:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"start_time {text!r} is not an ISO 8601 time (expected e.g. 2026-03-15T10:23:45+00:00)"
            ) from None
        if moment.tzinfo is None:
            raise ValueError(f"start_time {text!r} has no UTC offset (expected e.g. 2026-03-15T10:23:45+00:00)")
        epoch = int(moment.timestamp() // 1)
        if len(text) in (20, 25) and text[16] == ":" and text[17:19].isdigit():
            # Only the exact "YYYY-MM-DDTHH:MM:SS(Z|+HH:MM)" shapes are cached, so the cache key
            # can never mix up two spellings of different instants.
            if len(self._minutes) > 500_000:
                self._minutes.clear()
            self._minutes[text[:16] + text[19:]] = epoch - int(text[17:19])
        return epoch

    def _epoch(self, text: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"start_time {text!r} is not epoch seconds (expected a whole number)") from None

    def _strptime(self, text: str) -> int:
        try:
            moment = datetime.strptime(text, self.pattern)
        except ValueError:
            raise ValueError(f"start_time {text!r} does not match the time format (expected {self.pattern})") from None
        if moment.tzinfo is None:
            # Host-local times: fold=0, the first of the two 01:30s on the autumn change day.
            moment = moment.replace(tzinfo=self.zone)
        return int(moment.astimezone(timezone.utc).timestamp())


class UsageParser:
    def __init__(self, fmt: UsageFormat, default_region: str):
        self.format = fmt
        self.canonical_called = NumberCanonicaliser(default_region)
        self.canonical_msisdn = CachedCanonicaliser(default_region)
        self._time_parser = _TimeParser(fmt)
        self.parse_time = self._time_parser.parse
        # Mapped to the module's constants, so the rater may compare services by identity.
        constants = {service: service for service in SERVICES}
        self.services = {name.strip().lower(): constants[service] for name, service in fmt.services.items()}

    def _positions(self, header: list[str] | None) -> tuple[int | None, ...]:
        positions = []
        for name in FIELDS:
            where = getattr(self.format.columns, name)
            if where == "":
                positions.append(None)
            elif isinstance(where, int):
                positions.append(where - 1)
            elif header is None or where not in header:
                raise UsageFileError(
                    f"line 1: header has no column {where!r} for {name} "
                    f"(expected the columns {', '.join(str(getattr(self.format.columns, f)) for f in FIELDS)})"
                )
            else:
                positions.append(header.index(where))
        return tuple(positions)

    def parse(self, lines: Iterable[str], on_reject: Callable[[LineReject], None]) -> Iterator[tuple]:
        """Yield records (tuples in UsageRecord order) from text lines; bad lines go to on_reject.

        Fields are split with str.split unless a line holds a quote, which then goes through the
        csv module: three times faster on the usual unquoted line. A record cannot span lines
        (no CDR field holds a newline), so line numbers are the file's own.
        """
        delimiter = self.format.delimiter
        line_number = 0
        header = None
        iterator = iter(lines)
        if self.format.header:
            for line in iterator:
                line_number += 1
                header = [name.strip() for name in _split_quoted(line, delimiter)]
                break
            if header is None:
                return
        positions = self._positions(header)
        width = max(p for p in positions if p is not None) + 1
        p_id, p_msisdn, p_service, p_start, p_duration, p_volume, p_called, p_roaming = positions
        services = self.services
        parse_time = self.parse_time
        iso_minutes = self._time_parser._minutes if self.format.time_format == "iso8601" else None
        canonical_called = self.canonical_called
        canonical_msisdn = self.canonical_msisdn
        msisdn_cache = canonical_msisdn.cache
        for line in iterator:
            line_number += 1
            if '"' in line:
                row = _split_quoted(line, delimiter)
            else:
                row = line.rstrip("\r\n").split(delimiter)
            if len(row) < width:
                if not row or row == [""]:
                    continue  # blank lines (often one at the end) are not records
                on_reject(LineReject(line_number, f"has {len(row)} fields (expected at least {width})", tuple(row)))
                continue
            try:
                record_id = row[p_id]
                if not record_id:
                    raise ValueError("record_id is empty (expected the host's record id)")
                msisdn = msisdn_cache.get(row[p_msisdn]) or canonical_msisdn(row[p_msisdn])
                if msisdn[:1] != "+":
                    raise ValueError(
                        f"msisdn {row[p_msisdn]!r} is not a subscriber number (expected E.164 like +447700900123)"
                    )
                service = services.get(row[p_service])
                if service is None:
                    service = services.get(row[p_service].strip().lower())
                    if service is None:
                        raise ValueError(
                            f"service {row[p_service]!r} is unknown (expected one of {', '.join(sorted(services))})"
                        )
                text = row[p_start]
                if iso_minutes is not None:
                    # _TimeParser._iso's fast path, inlined (it runs on every line).
                    start = iso_minutes.get(text[:16] + text[19:])
                    seconds = text[17:19]
                    if start is not None and text[16] == ":" and seconds.isdigit() and seconds < "60":
                        start += int(seconds)
                    else:
                        start = parse_time(text)
                else:
                    start = parse_time(text)
                # int() on the usual digits; its vague errors are replaced by _count's below.
                text = row[p_duration]
                duration = int(text) if text else 0
                text = row[p_volume]
                volume = int(text) if text else 0
                if duration < 0 or volume < 0 or (not duration and service is VOICE) or (not volume and service is DATA):
                    duration = _count(row[p_duration], "duration_s", "seconds", service is VOICE)
                    volume = _count(row[p_volume], "volume_bytes", "bytes", service is DATA)
                if service is DATA:
                    called = ""
                else:
                    called = canonical_called(row[p_called]) if row[p_called] else ""
                    if not called:
                        raise ValueError(f"called_number is empty (expected the number dialled for {service})")
                roaming = row[p_roaming] if p_roaming is not None else HOME
                if roaming and not (roaming.islower() and roaming.isalnum()):
                    roaming = roaming.strip().lower()
            except ValueError as problem:
                on_reject(LineReject(line_number, _reason(problem, row, p_duration, p_volume), tuple(row)))
                continue
            yield (line_number, record_id, msisdn, service, start, duration, volume, called, roaming)


def _split_quoted(line: str, delimiter: str) -> list[str]:
    for row in csv.reader([line], delimiter=delimiter):
        return row
    return []


def _reason(problem: ValueError, row: list[str], p_duration: int, p_volume: int) -> str:
    if str(problem).startswith("invalid literal for int()"):
        for position, field, unit in ((p_duration, "duration_s", "seconds"), (p_volume, "volume_bytes", "bytes")):
            try:
                _count(row[position], field, unit, False)
            except ValueError as specific:
                return str(specific)
    return str(problem)


def _count(text: str, field: str, unit: str, required: bool) -> int:
    if not text:
        if required:
            raise ValueError(f"{field} is empty (expected a whole number of {unit})")
        return 0
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{field} {text!r} is not a whole number of {unit} (expected 0 or more)") from None
    if value < 0:
        raise ValueError(f"{field} {text!r} is negative (expected 0 or more {unit})")
    return value


def usage_lines_reader(path) -> Iterator[str]:
    """Text lines of a usage file, gzip or plain (by its first two bytes, not its name)."""
    import gzip

    with open(path, "rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if compressed else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        yield from handle
