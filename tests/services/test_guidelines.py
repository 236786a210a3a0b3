"""Saving guidelines (:class:`moderation.services.guidelines.Guidelines`).

Concurrent saves are serialised (``lock_guidelines``: PostgreSQL's advisory lock, SQLite's
write transaction), so each gets the next version and none is lost or refused.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

import pytest

from moderation.services.policies import DECIDE_ON_LOOP_CHARS
from tests.conftest import Service, ServiceFactory

SAVES = 8


async def test_concurrent_saves_get_consecutive_versions(
    make_service: ServiceFactory, database_url: str
) -> None:
    service = await make_service(database_url=database_url)
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    assert status == 200
    first = current["version"]

    async def save(n: int) -> tuple[int, Any]:
        return await service.call(
            "PUT", f"/v1/guidelines?note=save+{n}", role="admin", json=current
        )

    results = await asyncio.gather(*(save(n) for n in range(SAVES)))
    assert [status for status, _ in results] == [200] * SAVES, results
    numbers = sorted(body["version"] for _, body in results)
    assert numbers == list(range(first + 1, first + 1 + SAVES))
    _, after = await service.call("GET", "/v1/guidelines/versions?limit=100", role="admin")
    notes = {v["note"] for v in after["items"] if v["version"] > first}
    assert notes == {f"save {n}" for n in range(SAVES)}  # every save is there, none lost


async def test_backtests_and_suggestions_run_off_the_event_loop(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both decide every stored comment again: work that grows with the store, and
    readers' texts matched against terms and links, which must not hold the loop."""
    from moderation.services import guidelines

    on_main: dict[str, bool] = {}

    def watched(name: str) -> Any:
        real = getattr(guidelines, name)

        def run(*args: Any, **kwargs: Any) -> Any:
            on_main[name] = threading.current_thread() is threading.main_thread()
            return real(*args, **kwargs)

        return run

    for name in ("backtest", "suggest"):
        monkeypatch.setattr(guidelines, name, watched(name))
    assert (await service.post_comment(text="you are an idiot"))[0] == 201
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    status, body = await service.call(
        "POST", "/v1/guidelines/backtest", role="admin", json={"guidelines": current}
    )
    assert status == 200, body
    status, body = await service.call("POST", "/v1/guidelines/suggest", role="admin", json={})
    assert status == 200, body
    assert on_main == {"backtest": False, "suggest": False}


async def test_a_long_comment_is_decided_while_backtests_hold_their_thread(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More backtests at once than asyncio's default executor has threads: a long comment
    (decided in a worker thread) must not wait for them. They queue for the bulk thread
    (``workers/bulk.py``), one at a time, and all of them finish."""
    from moderation.services import guidelines

    release = threading.Event()
    running: list[int] = []
    from moderation.backtest import backtest as real

    def held(*args: Any, **kwargs: Any) -> Any:
        running.append(threading.get_ident())
        # Bounded, so a broken service fails the test rather than hanging the suite.
        release.wait(timeout=30)
        return real(*args, **kwargs)

    monkeypatch.setattr(guidelines, "backtest", held)
    status, current = await service.call("GET", "/v1/guidelines", role="admin")
    backtests = [
        asyncio.create_task(
            service.call(
                "POST", "/v1/guidelines/backtest", role="admin", json={"guidelines": current}
            )
        )
        # The default executor has min(32, cores + 4) threads.
        for _ in range(min(32, (os.cpu_count() or 1) + 4) + 2)
    ]
    try:
        while not running:
            await asyncio.sleep(0.01)
        long_text = "A reader's long and careful comment about the war. " * 60
        assert len(long_text) > DECIDE_ON_LOOP_CHARS
        status, body = await asyncio.wait_for(service.post_comment(text=long_text), timeout=10)
        assert status == 201, body
        assert len(running) == 1  # one backtest at a time, the rest wait for their turn
    finally:
        release.set()
        results = await asyncio.gather(*backtests)
    assert [status for status, _ in results] == [200] * len(backtests)
    assert len(set(running)) == 1  # all in the bulk thread
    assert threading.main_thread().ident not in running
