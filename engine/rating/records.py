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
import re
from datetime import datetime, timezone
from itertools import chain, compress, islice, repeat
from operator import add, is_, is_not, itemgetter
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


# Lines per chunk when the parser is given lines, and characters per read when it is given a file.
CHUNK_LINES = 10_000
CHUNK_CHARS = 1 << 16
# A text line as io.TextIOWrapper(newline="") cuts it: ended by "\n", "\r\n" or a lone "\r".
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
# ISO 8601 start times: the minute-cache key is the text without its seconds, the seconds a probe.
_MINUTE_HEAD = itemgetter(slice(None, 17))  # "YYYY-MM-DDTHH:MM:"
_SECONDS_TEXT = itemgetter(slice(17, 19))
_OFFSET_TAIL = itemgetter(slice(19, None))  # "+HH:MM" or "Z"
_SECONDS = {f"{second:02d}": second for second in range(60)}
_MINUTE_DIGITS = tuple(_SECONDS)
# A column of ISO times that all end with one offset: the minute-cache key is the first 16
# characters ("YYYY-MM-DDTHH:MM"), the seconds are read digit by digit from the joined column.
_MINUTE_TEXT = itemgetter(slice(None, 16))
_TENS_OF_SECONDS = {str(digit): 10 * digit for digit in range(6)}
_UNITS = {str(digit): digit for digit in range(10)}
_LAST_CHARACTER = itemgetter(-1)
_MSISDN_CACHE_LIMIT = 200_000
_MINUTE_CACHE_LIMIT = 500_000


class _TimeParser:
    """Start-time text -> epoch seconds. The ISO fast path caches the epoch of each distinct
    "date, hour, minute, offset" (the text without its two seconds digits), so most lines cost two
    slices, two dict probes and one addition."""

    def __init__(self, fmt: UsageFormat):
        self.pattern = fmt.time_format
        self.zone = ZoneInfo(fmt.time_zone)
        self._minutes: dict[str, int] = {}
        # offset text -> {"YYYY-MM-DDTHH:MM": epoch}: `_minutes` by offset, for whole columns.
        self._minutes_by_offset: dict[str, dict[str, int]] = {}
        if self.pattern == "iso8601":
            self.parse = self._iso
        elif self.pattern == "epoch":
            self.parse = self._epoch
        else:
            self.parse = self._strptime

    def _iso(self, text: str) -> int:
        base = self._minutes.get(text[:17] + text[19:])
        seconds = _SECONDS.get(text[17:19])
        if base is not None and seconds is not None:
            return base + seconds
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
        if len(text) in (20, 25) and text[16] == ":" and text[17:19] in _SECONDS:
            # Only the exact "YYYY-MM-DDTHH:MM:SS(Z|+HH:MM)" shapes are cached, and a hit needs two
            # ASCII digits 00-59 where the seconds were, so the key can never mix up two spellings
            # of different instants.
            minutes = self._minutes
            if len(minutes) > _MINUTE_CACHE_LIMIT:
                minutes.clear()
            base = epoch - _SECONDS[text[17:19]]
            minute = _SECONDS.get(text[14:16])
            if minute is not None and text[13] == ":" and text[4] == "-" and text[7] == "-":
                # The offset is in the text, so the hour's other minutes are whole minutes away:
                # the hour is cached at once (a month has 744 hours, 44,640 minutes to parse).
                head, tail, hour_start = text[:14], ":" + text[19:], base - 60 * minute
                for other, digits in enumerate(_MINUTE_DIGITS):
                    minutes[head + digits + tail] = hour_start + 60 * other
            else:
                minutes[text[:17] + text[19:]] = base
        return epoch

    def iso_column(self, times: list[str]) -> list[int]:
        """Epoch seconds of a column of ISO times, as `_iso` gives them one by one (ValueError for
        a bad one)."""
        starts = self._iso_one_offset(times)
        if starts is not None:
            return starts
        # The minute-cache keys of the times (`_iso`'s fast path), one column at a time.
        minutes = self._minutes
        keys = list(map(add, map(_MINUTE_HEAD, times), map(_OFFSET_TAIL, times)))
        bases = list(map(minutes.get, keys))
        if None in bases:
            # A file in time order brings new minutes in every chunk: each new one is converted
            # once (which caches it), then the chunk is looked up again.
            missing = list(map(is_, bases, repeat(None)))
            for key, text in dict(zip(compress(keys, missing), compress(times, missing))).items():
                if key not in minutes:
                    self._iso(text)
            bases = list(map(minutes.get, keys))
        seconds = list(map(_SECONDS.get, map(_SECONDS_TEXT, times)))
        if None in bases or None in seconds:
            for index, (base, second) in enumerate(zip(bases, seconds)):
                if base is None or second is None:
                    bases[index], seconds[index] = self._iso(times[index]), 0
        return list(map(add, bases, seconds))

    def _iso_one_offset(self, times: list[str]) -> list[int] | None:
        """`iso_column` when every time is "YYYY-MM-DDTHH:MM:SS" and one offset ("+HH:MM" or
        "Z"), the usual file; None for any other column (a chunk across a clock change, say). Per
        time one slice and one probe for the minute, and two probes of one-character strings for
        the seconds, instead of three slices and a concatenation: ~0.15 µs a record less."""
        offset = times[0][19:]
        width = 19 + len(offset)
        if len(offset) not in (1, 6) or set(map(len, times)) != {width}:
            return None
        count = len(times)
        joined = "".join(times)
        if joined[16::width] != ":" * count:
            return None
        for position, character in enumerate(offset, 19):
            if joined[position::width] != character * count:
                return None
        minutes = self._minutes_by_offset.get(offset)
        if minutes is None or len(minutes) > _MINUTE_CACHE_LIMIT:
            minutes = self._minutes_by_offset[offset] = {}
        heads = list(map(_MINUTE_TEXT, times))
        bases = list(map(minutes.get, heads))
        if None in bases:
            # Each new minute's hour is copied from `_iso`'s cache (filled an hour at a time).
            tail = ":" + offset
            missing = list(map(is_, bases, repeat(None)))
            for head, text in dict(zip(compress(heads, missing), compress(times, missing))).items():
                if head in minutes:
                    continue
                if head + tail not in self._minutes:
                    self._iso(text)  # caches its hour, or raises ValueError
                hour = head[:14]
                for digits in _MINUTE_DIGITS:
                    base = self._minutes.get(hour + digits + tail)
                    if base is not None:
                        minutes[hour + digits] = base
                if head not in minutes:
                    return None
            bases = list(map(minutes.get, heads))
        tens = list(map(_TENS_OF_SECONDS.get, joined[17::width]))
        units = list(map(_UNITS.get, joined[18::width]))
        if None in tens or None in units:
            return None
        return list(map(add, map(add, bases, tens), units))

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
        # The column parser's caches: service spellings seen (-> constant), and subscriber numbers
        # seen that are good E.164 (-> canonical).
        self._service_names = dict(self.services)
        self._msisdns: dict[str, str] = {}

    def _msisdn_or_none(self, number: str) -> str | None:
        """The canonical MSISDN of a column's number, or None when it is not one (the line parser says why)."""
        msisdn = self.canonical_msisdn(number)
        return msisdn if msisdn[:1] == "+" else None

    def _service_or_none(self, name: str) -> str | None:
        return self.services.get(name.strip().lower())

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

        `lines` is an iterable of text lines, or a text file (anything with `read`), which is then
        read in large pieces (faster than line by line). See `parse_chunks`."""
        return chain.from_iterable(self.parse_chunks(lines, on_reject))

    def parse_chunks(
        self, lines: Iterable[str], on_reject: Callable[[LineReject], None], size: int = CHUNK_LINES
    ) -> Iterator[list[tuple]]:
        """Lists of records, in line order, a chunk of lines at a time (`size` lines, or about
        CHUNK_CHARS characters from a file); bad lines go to on_reject as each chunk is parsed.

        A chunk is parsed column by column, the loops in C (`_parse_columns`): the whole chunk
        split at once, each field picked with a stepped slice and converted with map(). Anything
        that path does not handle exactly - a quote, a blank or short line, an unknown service, a
        bad number or time - sends the chunk through the line-by-line parser (`_parse_lines`), which
        gives each line its reason, so the results never depend on the path. A record cannot span
        lines (no CDR field holds a newline), so line numbers are the file's own.
        """
        read = getattr(lines, "read", None)
        pieces = _pieces_read(read) if read is not None else _pieces_of_lines(iter(lines), size)
        line_number = 0
        header = None
        first = None
        if self.format.header:
            for text, piece_lines in pieces:
                if piece_lines is None:
                    piece_lines = _LINE.findall(text)
                if not piece_lines:
                    continue
                header = [name.strip() for name in _split_quoted(piece_lines[0], self.format.delimiter)]
                line_number = 1
                rest = piece_lines[1:]
                first = ("".join(rest), rest)
                break
            if header is None:
                return
        positions = self._positions(header)
        if first is not None:
            pieces = chain((first,), pieces)
        for text, piece_lines in pieces:
            records = self._parse_columns(text, piece_lines, line_number + 1, positions)
            if records is None:
                if piece_lines is None:
                    piece_lines = _LINE.findall(text)
                records = []
                self._parse_lines(piece_lines, line_number + 1, positions, records.append, on_reject)
                count = len(piece_lines)
            else:
                count = len(records)
            line_number += count
            if records:
                yield records

    def _parse_columns(self, text: str, lines: list[str] | None, first: int, positions) -> list[tuple] | None:
        """The records of a chunk of good lines (`text`, the chunk's lines joined, from line number
        `first`), parsed a column at a time; None if any line needs the line-by-line parser."""
        if not text or '"' in text:
            return None
        if lines is not None:
            # Lines from a caller: each must end with the one newline (the last may have none).
            try:
                ends = "".join(map(_LAST_CHARACTER, lines))
            except IndexError:
                return None
            if ends.count("\n", 0, len(lines) - 1) != len(lines) - 1 or text.count("\n") != ends.count("\n"):
                return None
        if "\r" in text:
            text = text.replace("\r\n", "\n")
            if "\r" in text:
                return None
        if text[-1] == "\n":
            text = text[:-1]
        count = text.count("\n") + 1
        delimiter = self.format.delimiter
        end_of_first = text.find("\n")
        width = text.count(delimiter, 0, end_of_first if end_of_first >= 0 else len(text)) + 1
        p_id, p_msisdn, p_service, p_start, p_duration, p_volume, p_called, p_roaming = positions
        if width <= max(p for p in positions if p is not None):
            return None
        # Each newline is followed by a delimiter, so it ends a field: the lines all have `width`
        # fields exactly when the split has count * width fields and every newline ends a field of
        # the last column (then the n - 1 line ends fall on the n - 1 last-column fields before the
        # last line's).
        fields = text.replace("\n", "\n" + delimiter).split(delimiter)
        if len(fields) != count * width:
            return None
        last = width - 1
        if "".join(fields[last::width]).count("\n") != count - 1:
            return None

        def column(position: int) -> list[str]:
            values = fields[position::width]
            return list(map(str.rstrip, values, repeat("\n"))) if position == last else values

        record_ids = column(p_id)
        if "" in record_ids:
            return None

        numbers = column(p_msisdn)
        msisdn_cache = self._msisdns
        msisdns = list(map(msisdn_cache.get, numbers))
        if None in msisdns:
            if len(msisdn_cache) >= _MSISDN_CACHE_LIMIT:
                msisdn_cache.clear()
            if not _fill_misses(numbers, msisdns, msisdn_cache, self._msisdn_or_none):
                return None

        names = column(p_service)
        services = list(map(self._service_names.get, names))
        if None in services and not _fill_misses(names, services, self._service_names, self._service_or_none):
            return None

        times = column(p_start)
        try:
            if self.format.time_format == "iso8601":
                starts = self._time_parser.iso_column(times)
            else:
                starts = list(map(self.parse_time, times))
        except ValueError:
            return None

        # Counts: what the line parser reads (int() of the text, empty is 0), none negative, and
        # present where the service needs them; anything else, the line parser words the reason.
        durations_text, volumes_text = column(p_duration), column(p_volume)
        if (VOICE, "") in zip(services, durations_text) or (DATA, "") in zip(services, volumes_text):
            return None
        try:
            durations = [int(text) if text else 0 for text in durations_text]
            volumes = [int(text) if text else 0 for text in volumes_text]
        except ValueError:
            return None
        if min(durations) < 0 or min(volumes) < 0:
            return None

        canonical_called = self.canonical_called
        numbers = column(p_called)
        if canonical_called.national_prefix == "0":
            # NumberCanonicaliser.__call__'s commonest shapes inlined ("07...", "00..."); the others call it.
            plus_country = canonical_called._plus_country
            called = [
                (("+" + number[2:] if number[1:2] == "0" else plus_country + number[1:] if len(number) >= 7 else number)
                 if number[:1] == "0" and number.isdigit() else canonical_called(number) if number else "")
                for number in numbers
            ]
        else:
            called = [canonical_called(number) if number else "" for number in numbers]
        if "" in compress(called, map(is_not, services, repeat(DATA))):
            return None  # a call or SMS without a called number: the line parser says so
        if any(compress(called, map(is_, services, repeat(DATA)))):
            called = ["" if service is DATA else number for service, number in zip(services, called)]

        if p_roaming is None:
            roaming = repeat(HOME)
        else:
            # Spellings mapped once per distinct value (the last column's newline dropped there too).
            zones = fields[p_roaming::width]
            spelled = {}
            for text in set(zones):
                zone = text.rstrip("\n") if p_roaming == last else text
                spelled[text] = zone if not zone or (zone.islower() and zone.isalnum()) else zone.strip().lower()
            roaming = map(spelled.__getitem__, zones)
        line_numbers = range(first, first + count)
        return list(zip(line_numbers, record_ids, msisdns, services, starts, durations, volumes, called, roaming))

    def _parse_lines(self, lines: list[str], first: int, positions, emit, on_reject) -> None:
        """Line by line: each good line's record to `emit`, each bad line to `on_reject`.

        Fields are split with str.split unless a line holds a quote, which then goes through the
        csv module."""
        delimiter = self.format.delimiter
        line_number = first - 1
        width = max(p for p in positions if p is not None) + 1
        p_id, p_msisdn, p_service, p_start, p_duration, p_volume, p_called, p_roaming = positions
        services = self.services
        parse_time = self.parse_time
        iso_minutes = self._time_parser._minutes if self.format.time_format == "iso8601" else None
        canonical_called = self.canonical_called
        canonical_msisdn = self.canonical_msisdn
        msisdn_cache = canonical_msisdn.cache
        for line in lines:
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
                    # _TimeParser._iso's fast path, inlined.
                    start = iso_minutes.get(text[:17] + text[19:])
                    seconds = _SECONDS.get(text[17:19])
                    if start is not None and seconds is not None:
                        start += seconds
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
            emit((line_number, record_id, msisdn, service, start, duration, volume, called, roaming))


def _fill_misses(keys: list[str], values: list, cache: dict, convert: Callable[[str], object]) -> bool:
    """Where `values[i]` is None (`keys[i]` missed `cache`), convert the key and remember it; False
    as soon as one does not convert, and the column path gives way to the line parser."""
    index = values.index(None)
    while True:
        value = convert(keys[index])
        if value is None:
            return False
        cache[keys[index]] = values[index] = value
        try:
            index = values.index(None, index + 1)
        except ValueError:
            return True


def _pieces_of_lines(lines: Iterator[str], size: int) -> Iterator[tuple[str, list[str]]]:
    """(the lines joined, the lines), `size` lines at a time."""
    while True:
        chunk = list(islice(lines, size))
        if not chunk:
            return
        yield "".join(chunk), chunk


def _pieces_read(read: Callable[[int], str]) -> Iterator[tuple[str, None]]:
    """(text, None): about CHUNK_CHARS characters at a time, each piece cut after a line's end."""
    carry = ""
    while True:
        data = read(CHUNK_CHARS)
        if not data:
            if carry:
                yield carry, None
            return
        if carry:
            data = carry + data
        # A "\r" at the very end may be the first half of a "\r\n": kept for the next piece.
        cut = max(data.rfind("\n"), data.rfind("\r", 0, len(data) - 1)) + 1
        if not cut:
            carry = data
            continue
        carry = data[cut:]
        yield data[:cut], None


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
