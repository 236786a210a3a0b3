"""The log formats (:func:`moderation.logs.configure`).

``json`` (production): one JSON object per line on stderr, with ``ts``, ``level``,
``logger``, ``message``, any ``extra`` fields (``request_id`` on every request, which
docs/deploy.md promises) and ``exception``; ``text`` is a plain line for a terminal with
the same fields as ``key=value`` pairs. The real process's logs, in both formats:
tests/system/test_cli.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from moderation import logs
from tests.conftest import Service


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def json_lines(err: str) -> list[dict[str, Any]]:
    lines = [line for line in err.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one whole object
    assert all(isinstance(item, dict) for item in parsed)
    return parsed


def test_json_is_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", fmt="json")
    log = logging.getLogger("moderation.test")
    log.info("first\nsecond line", extra={"request_id": "r-1", "status": 201, "odd": object()})
    log.debug("below the level")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed", extra={"request_id": "r-2"})
    records = json_lines(capsys.readouterr().err)
    assert len(records) == 2  # debug is below INFO; the newline stayed inside one object
    first, second = records
    assert first["message"] == "first\nsecond line"
    assert first["level"] == "info" and first["logger"] == "moderation.test"
    assert first["request_id"] == "r-1" and first["status"] == 201
    assert isinstance(first["odd"], str)  # not JSON: written as its str()
    assert datetime.fromisoformat(first["ts"]).utcoffset() is not None  # ISO 8601, UTC
    assert "exception" not in first
    assert second["level"] == "error" and second["request_id"] == "r-2"
    assert "RuntimeError: boom" in second["exception"]
    # Only the promised fields and the extras: no LogRecord internals.
    assert set(first) == {"ts", "level", "logger", "message", "request_id", "status", "odd"}


def test_the_level_is_honoured(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("warning", fmt="json")
    logging.getLogger("moderation.test").info("quiet")
    logging.getLogger("moderation.test").warning("loud")
    assert [r["message"] for r in json_lines(capsys.readouterr().err)] == ["loud"]


def test_text_is_a_plain_line_with_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", fmt="text")
    logging.getLogger("moderation.test").info(
        "hello", extra={"request_id": "r-1", "status": 201, "ms": 1.5, "scope": None}
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "INFO moderation.test: hello request_id=r-1 status=201 ms=1.5 scope=null\n" in err
    assert datetime.fromisoformat(err.split(" ", 1)[0]).utcoffset() is not None
    with pytest.raises(json.JSONDecodeError):
        json.loads(err)


def test_text_never_lets_a_value_break_or_forge_a_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Values with anything but plain characters are JSON string literals; line breaks in
    the message are escaped; a traceback's lines are marked as its own."""
    logs.configure("INFO", fmt="text")
    log = logging.getLogger("moderation.test")
    hostile = 'a b"\n2026-01-01T00:00:00 ERROR forged: x status=500\u2028é'
    log.warning("first\nsecond\u2028third", extra={"error": hostile, "route": "/v1/x/{id}"})
    try:
        raise RuntimeError("boom\nERROR forged")
    except RuntimeError:
        log.exception("failed")
    lines = capsys.readouterr().err.splitlines()
    first = lines[0]
    assert first.endswith(
        f"first\\nsecond\\u2028third error={json.dumps(hostile)} route=/v1/x/{{id}}"
    )
    assert json.loads(first.split("error=", 1)[1].rsplit(" route=", 1)[0]) == hostile
    assert "ERROR moderation.test: failed" in lines[1]
    assert lines[2:] and all(line.startswith("  | ") for line in lines[2:])
    assert any("RuntimeError: boom" in line for line in lines[2:])


def test_text_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert logs.text_value("c-1") == "c-1"
    assert logs.text_value("/v1/comments/{id}") == "/v1/comments/{id}"
    assert logs.text_value("two words") == '"two words"'
    assert logs.text_value("") == '""'
    assert logs.text_value(True) == "true" and logs.text_value(None) == "null"
    assert logs.text_value(["a", 1]) == json.dumps("['a', 1]")


async def test_each_request_is_logged_with_its_id(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("INFO", fmt="json")
    secret_text = "a comment text that must never reach the log"
    status, _ = await service.post_comment(text=secret_text)
    assert status == 201
    async with service.client.get(
        "/v1/comments/missing", headers=service.auth() | {"X-Request-Id": "trace-42"}
    ) as response:
        assert response.status == 404
        assert response.headers["X-Request-Id"] == "trace-42"
    err = capsys.readouterr().err
    assert secret_text not in err
    requests = [r for r in json_lines(err) if r["message"] == "request"]
    assert len(requests) == 2
    assert all(r["request_id"] for r in requests)
    last = requests[-1]
    assert last["request_id"] == "trace-42" and last["status"] == 404
    assert last["method"] == "GET" and last["route"] == "/v1/comments/{id}"


async def test_each_request_is_logged_with_its_fields_as_text(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("INFO", fmt="text")
    async with service.client.get(
        "/v1/comments/missing", headers=service.auth() | {"X-Request-Id": "trace-43"}
    ) as response:
        assert response.status == 404
    (line,) = [line for line in capsys.readouterr().err.splitlines() if ": request " in line]
    assert "request_id=trace-43 method=GET route=/v1/comments/{id} status=404 ms=" in line
    assert float(line.rsplit("ms=", 1)[1]) >= 0


def test_alembic_is_quiet_below_warning() -> None:
    logs.configure("INFO", fmt="json")
    assert not logging.getLogger("alembic.runtime.migration").isEnabledFor(logging.INFO)
    assert logging.getLogger("moderation.storage.database").isEnabledFor(logging.INFO)
