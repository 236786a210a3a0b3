"""Structured logs: JSON (one object per line) or text for a terminal, with the same fields.

Both formats carry every structured field (a record's ``extra``): JSON as members of
the object, text as ``key=value`` pairs after the message. Neither lets a value break
a line: JSON escapes it, and text quotes (and escapes) any value or message that holds
anything but plain characters, so a hostile value can never forge a log line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
#: Values written bare in text logs; anything else (spaces, quotes, controls, non-ASCII)
#: is written as a JSON string literal.
_BARE = re.compile(r"[A-Za-z0-9_.,:/@+\-{}\[\]%]+")
#: Line breaks and other control characters (C0, DEL, C1, the Unicode line and
#: paragraph separators), escaped in a text line's message.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Libraries that say too much at INFO. Alembic logs about a dozen lines on every start
#: and command (plugins, "Context impl SQLiteImpl", one per migration); the database
#: says in one line of its own what it migrated (moderation/storage/database.py).
NOISY = ("aiohttp.access", "transformers", "urllib3", "httpx", "huggingface_hub", "alembic")


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """A record's structured fields: what the code passed as ``extra``."""
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD and not key.startswith("_")
    }


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(fields(record))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def text_value(value: object) -> str:
    """One ``key=value`` value: bare when plain, else a quoted, escaped JSON string."""
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    text = value if isinstance(value, str) else str(value)
    return text if _BARE.fullmatch(text) else json.dumps(text)


class TextFormatter(logging.Formatter):
    """``<ts> <LEVEL> <logger>: <message> key=value …`` on one line; a traceback follows
    on lines that each start with ``  | `` so that it cannot pass for a record."""

    def format(self, record: logging.LogRecord) -> str:
        message = _CONTROL.sub(lambda m: json.dumps(m.group())[1:-1], record.getMessage())
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {message}"
        pairs = " ".join(f"{key}={text_value(value)}" for key, value in fields(record).items())
        if pairs:
            line = f"{line} {pairs}"
        if record.exc_info:
            trace = self.formatException(record.exc_info)
            line += "".join(f"\n  | {part}" for part in trace.splitlines())
        return line


class _Stamp(logging.Filter):
    """Adds fixed fields to every record (which of the supervisor's processes wrote it)."""

    def __init__(self, stamp: Mapping[str, object]) -> None:
        super().__init__()
        self.stamp = dict(stamp)

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in self.stamp.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def configure(
    level: str = "INFO", fmt: str = "json", stamp: Mapping[str, object] | None = None
) -> None:
    """Log to stderr in ``fmt`` (json or text); ``stamp``: fields every record carries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    if stamp:
        handler.addFilter(_Stamp(stamp))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
