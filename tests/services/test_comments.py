"""The website's side as a service: long texts are decided off the event loop."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from moderation.services import policies
from tests.conftest import Service


async def test_long_texts_are_decided_off_the_event_loop(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of 100 texts of 20,000 characters used to be term- and link-matched on the
    event loop, inside the write transaction: /healthz stalled for 21 s."""
    threads: dict[int, bool] = {}
    real = policies.decide  # type: ignore[attr-defined]

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads[len(args[1])] = threading.current_thread() is threading.main_thread()
        return real(*args, **kwargs)

    monkeypatch.setattr(policies, "decide", recording)
    long_text = ("Long comments about the article and its sources. " * 400)[:20_000]
    batch = [
        {"id": "long", "article_id": "a", "author_id": "u", "text": long_text},
        {"id": "short", "article_id": "a", "author_id": "u", "text": "A short one."},
    ]
    status, body = await service.call("POST", "/v1/comments/batch", json={"comments": batch})
    assert status == 200, body
    assert threads[len(long_text)] is False  # a worker thread
    assert threads[len("A short one.")] is True  # not worth a thread hop
    status, body = await service.call("POST", "/v1/comments/check", json={"text": long_text})
    assert status == 200, body
    assert threads[len(long_text)] is False
