"""The log formats (:func:`moderation.logs.configure`).

``json`` (production): one JSON object per line on stderr, with ``ts``, ``level``,
``logger``, ``message``, any ``extra`` fields (``request_id`` on every request, which
docs/deploy.md promises) and ``exception``; ``text`` is a plain line for a terminal.
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


def test_text_is_a_plain_line(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", fmt="text")
    logging.getLogger("moderation.test").info("hello", extra={"request_id": "r-1"})
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "INFO moderation.test: hello" in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err)


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
