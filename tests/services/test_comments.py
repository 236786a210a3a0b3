"""The website's side as a service: long texts are decided off the event loop."""

from __future__ import annotations

import itertools
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


async def test_a_batch_gives_the_event_loop_back_between_its_comments(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deciding and storing a comment does not yield on SQLite's inline connection: a
    batch of 100 long comments held the loop for half a second in one piece."""
    import asyncio

    from moderation.services.comments import Moderation

    turns = 0
    seen: list[int] = []  # the other task's turns when each comment's write began
    real = Moderation._store_new

    async def store_new(self: Moderation, *args: Any, **kwargs: Any) -> Any:
        seen.append(turns)
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(Moderation, "_store_new", store_new)
    done = False

    async def other_request() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    batch = [
        {"id": f"b-{n}", "article_id": "a", "author_id": f"u-{n}", "text": f"comment {n} " * 150}
        for n in range(20)
    ]
    other = asyncio.create_task(other_request())
    try:
        status, body = await service.call("POST", "/v1/comments/batch", json={"comments": batch})
    finally:
        done = True
        await other
    assert status == 200, body
    assert len(seen) == len(batch)
    assert all(later > earlier for earlier, later in itertools.pairwise(seen))
