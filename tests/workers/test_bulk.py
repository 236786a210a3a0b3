"""Admins' bulk work in its own threads (:mod:`moderation.workers.bulk`)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from moderation.workers.bulk import BulkWork


async def test_work_runs_in_the_pools_thread_not_the_loops() -> None:
    bulk = BulkWork()
    try:
        names = {await bulk.call(lambda: threading.current_thread().name) for _ in range(3)}
    finally:
        bulk.close()
    assert len(names) == 1
    assert names.pop().startswith("bulk")


async def test_turns_let_no_more_jobs_in_than_there_are_threads() -> None:
    bulk = BulkWork(threads=2)
    inside = peak = 0

    async def job() -> None:
        nonlocal inside, peak
        async with bulk.turn():
            inside += 1
            peak = max(peak, inside)
            await bulk.call(lambda: time.sleep(0.02))
            inside -= 1

    try:
        await asyncio.gather(*(job() for _ in range(7)))
    finally:
        bulk.close()
    assert peak == 2


async def test_close_waits_for_running_work_and_drops_queued_work() -> None:
    bulk = BulkWork()
    started, release = threading.Event(), threading.Event()
    finished: list[str] = []

    def first() -> None:
        started.set()
        release.wait(timeout=10)
        finished.append("first")

    running = asyncio.ensure_future(bulk.call(first))
    queued = asyncio.ensure_future(bulk.call(lambda: finished.append("queued")))
    await asyncio.to_thread(started.wait, 10)
    closing = asyncio.ensure_future(asyncio.to_thread(bulk.close))
    await asyncio.sleep(0.05)
    assert not closing.done()  # the running job is not abandoned
    release.set()
    await closing
    await running
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert finished == ["first"]


def test_a_pool_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        BulkWork(threads=0)
