"""`config/hostnet.toml`, and the two record formats of every file exchanged with the host network.

The config model follows the engine's rules (`FrozenModel`: unknown keys are errors; amounts and
percentages are strings because TOML floats are binary). An absent hostnet.toml takes the defaults.

The record formats live here because the file says which one we write. Every host file is a list of
flat records with named fields, written either as
- `csv`: UTF-8, a header line naming the columns (any order), then one record per line; no field
  holds a line break, so a physical line is a record and its line number is exact; or
- `jsonl`: UTF-8, one JSON object per line, values strings or integers.
We write the configured format; we read either, chosen by the file's extension (`.csv`, `.jsonl`),
so a host that answers in the other format is still understood. Reading is streamed line by line:
a statement or event file of any size never sits in memory whole.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Iterator, Literal

from pydantic import BeforeValidator, Field
from typing import Annotated

from engine.config.loader import register_file
from engine.config.model import FrozenModel, _decimal_amount, _non_negative

FILE_NAME = "hostnet.toml"
FileFormat = Literal["csv", "jsonl"]
EXTENSIONS = {"csv": ".csv", "jsonl": ".jsonl"}


def _percent(value: object) -> Decimal:
    amount = _non_negative(_decimal_amount(value))
    if amount > 100:
        raise ValueError(f"{value!r} is more than 100 (expected a percentage from \"0\" to \"100\", like \"0.5\")")
    return amount


Percent = Annotated[Decimal, BeforeValidator(_percent)]


class AcknowledgementSection(FrozenModel):
    # How long the host has to answer a request before it is raised (and resent once, if on).
    timeout_minutes: int = Field(default=60, ge=1)
    resend_once: bool = True


class ReconciliationSection(FrozenModel):
    """A service's amounts agree when their difference is within tolerance.

    `tolerance_minor` is absolute, in the currency's minor units; `tolerance_percent` is a share of
    the host's amount. With `rule = "either"` a difference within any configured bound is accepted;
    with `"both"` it must be within every configured bound. Unset bounds are ignored; with none set,
    only an exact match agrees.
    """

    tolerance_minor: int | None = Field(default=None, ge=0)
    tolerance_percent: Percent | None = None
    rule: Literal["either", "both"] = "either"


class HostnetFile(FrozenModel):
    file_format: FileFormat = "csv"
    acknowledgements: AcknowledgementSection = AcknowledgementSection()
    reconciliation: ReconciliationSection = ReconciliationSection()


register_file(FILE_NAME, HostnetFile)


def hostnet_settings(config) -> HostnetFile:
    """The hostnet.toml model of a loaded `Config` (its defaults when the file is absent)."""
    return config.files.get(FILE_NAME) or HostnetFile()


# ---------------------------------------------------------------------------------------------
# Record formats


class FileRefused(Exception):
    """The whole file is unusable (wrong header, unknown extension); nothing of it is stored."""


class RecordError(ValueError):
    """One record is unusable; the message is the reason written next to its line number."""


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    fields: dict | None  # None when the line could not be read as a record
    error: str = ""


def format_of(path: Path) -> FileFormat:
    for name, extension in EXTENSIONS.items():
        if path.name.endswith(extension):
            return name  # type: ignore[return-value]
    raise FileRefused(f"unknown file type {path.suffix or '(none)'!r} (expected a .csv or .jsonl file)")


def read_records(path: Path, columns: tuple[str, ...]) -> Iterator[Line]:
    """Each non-blank line of `path` as a `Line` whose fields are exactly `columns` (strings; absent
    or empty values are ""). Raises FileRefused for a file that cannot be read at all."""
    file_format = format_of(path)
    with path.open("rb") as handle:
        if file_format == "csv":
            yield from _read_csv(handle, columns)
        else:
            yield from _read_jsonl(handle, columns)


def _decoded(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return None


def _read_csv(handle, columns: tuple[str, ...]) -> Iterator[Line]:
    header: list[str] | None = None
    expected = ", ".join(columns)
    for number, raw in enumerate(handle, start=1):
        text = _decoded(raw)
        if header is None:
            if text is None:
                raise FileRefused("header line is not UTF-8 (expected a header line: " + expected + ")")
            text = text.lstrip("\ufeff")
            if not text.strip():
                continue
            header = [name.strip() for name in next(csv.reader([text]))]
            missing = [name for name in columns if name not in header]
            unknown = [name for name in header if name not in columns]
            if missing or unknown or len(set(header)) != len(header):
                problems = []
                if missing:
                    problems.append("missing " + ", ".join(missing))
                if unknown:
                    problems.append("unknown " + ", ".join(unknown))
                repeated = sorted({name for name in header if header.count(name) > 1})
                if repeated:
                    problems.append("repeated " + ", ".join(repeated))
                raise FileRefused(f"header {text!r}: {'; '.join(problems)} (expected the columns {expected})")
            continue
        if text is None:
            yield Line(number, raw.decode("utf-8", "replace").rstrip("\r\n"), None, "not UTF-8 text")
            continue
        if not text.strip():
            continue
        values = next(csv.reader([text]))
        if len(values) != len(header):
            yield Line(number, text, None, f"{len(values)} fields (expected {len(header)}: {', '.join(header)})")
            continue
        yield Line(number, text, {name: value.strip() for name, value in zip(header, values)})
    if header is None:
        raise FileRefused(f"empty file (expected a header line: {expected})")


def _read_jsonl(handle, columns: tuple[str, ...]) -> Iterator[Line]:
    for number, raw in enumerate(handle, start=1):
        text = _decoded(raw)
        if text is None:
            yield Line(number, raw.decode("utf-8", "replace").rstrip("\r\n"), None, "not UTF-8 text")
            continue
        if number == 1:
            text = text.lstrip("\ufeff")
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            yield Line(number, text, None, f"not JSON ({error.msg} at column {error.colno})")
            continue
        if not isinstance(value, dict):
            yield Line(number, text, None, "not a JSON object (expected {\"name\": value, ...})")
            continue
        unknown = sorted(set(value) - set(columns))
        if unknown:
            yield Line(number, text, None, f"unknown fields {', '.join(unknown)} (expected only {', '.join(columns)})")
            continue
        fields = {}
        for name in columns:
            item = value.get(name)
            if item is None:
                fields[name] = ""
            elif isinstance(item, bool) or not isinstance(item, (str, int)):
                fields = None
                yield Line(number, text, None, f"{name}: {item!r} is not a string or integer")
                break
            else:
                fields[name] = str(item).strip()
        if fields is not None:
            yield Line(number, text, fields)


def render_records(file_format: FileFormat, columns: tuple[str, ...], records: list[dict]) -> list[str]:
    """The lines of a file of `records` (dicts of str or int) in `file_format`, newline-terminated."""
    if file_format == "jsonl":
        return [json.dumps({name: record.get(name, "") for name in columns}, ensure_ascii=False) + "\n" for record in records]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        row = [record.get(name, "") for name in columns]
        for value in row:
            if isinstance(value, str) and ("\n" in value or "\r" in value):
                raise ValueError(f"{value!r} holds a line break (the formats keep one record per line)")
        writer.writerow(row)
    return buffer.getvalue().splitlines(keepends=True)


# ---------------------------------------------------------------------------------------------
# Field readers shared by the file types: each raises RecordError naming the field.


def required(fields: dict, name: str) -> str:
    value = fields.get(name, "")
    if not value:
        raise RecordError(f"{name}: missing (expected a value)")
    return value


def timestamp(fields: dict, name: str) -> datetime:
    text = required(fields, name)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(f"{name}: {text!r} is not a time (expected ISO 8601 like 2026-11-27T10:15:00Z)") from None
    if value.tzinfo is None:
        raise RecordError(f"{name}: {text!r} has no UTC offset (expected e.g. 2026-11-27T10:15:00Z)")
    return value.astimezone(timezone.utc)


def count(fields: dict, name: str) -> int:
    text = required(fields, name)
    if not re.fullmatch(r"[0-9]{1,18}", text):
        raise RecordError(f"{name}: {text!r} is not a whole number (expected digits, 0 or more)")
    return int(text)


def signed_integer(fields: dict, name: str) -> int:
    text = required(fields, name)
    if not re.fullmatch(r"-?[0-9]{1,18}", text):
        raise RecordError(f"{name}: {text!r} is not an integer (expected digits in minor units, like 12345)")
    return int(text)


def format_time(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


_PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


def check_period(text: str) -> str:
    if not _PERIOD.match(text or ""):
        raise ValueError(f"{text!r} is not a period (expected YYYY-MM, like 2026-11)")
    return text
