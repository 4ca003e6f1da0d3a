"""One logging setup for the whole engine: stdlib logging, with Twisted's logger bridged into it.

Readable text by default; `--log-format json` writes one JSON object per line for collectors.
Secret values registered with `hide_secret` are replaced by *** in every record, as a last line of
defence: code never logs secrets on purpose.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

_SECRETS: set[str] = set()


def hide_secret(value: str | None) -> None:
    if value and len(value) >= 3:
        _SECRETS.add(value)


def _redact(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            record.msg = _redact(record.getMessage())
            record.args = None
        return True


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        return _redact(json.dumps(entry, default=str, ensure_ascii=False))


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: str = "INFO", log_format: str = "text", stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(_RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # Alembic narrates every migration context at INFO; the CLI reports the outcome itself.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    # Twisted narrates every factory start and stop at INFO; the engine logs its own lifecycle.
    logging.getLogger("twisted").setLevel(max(logging.WARNING, root.level))
    _bridge_twisted()


_twisted_bridged = False


def _bridge_twisted() -> None:
    global _twisted_bridged
    if _twisted_bridged:
        return
    from twisted.logger import STDLibLogObserver, globalLogBeginner

    globalLogBeginner.beginLoggingTo([STDLibLogObserver(name="twisted")], redirectStandardIO=False)
    _twisted_bridged = True
