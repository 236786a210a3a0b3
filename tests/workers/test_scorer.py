"""The scorer: micro-batches off the event loop, timeouts and failures hold, bounded queue."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from classifiers.base import Scores
from moderation.workers.scorer import Overloaded, Scorer


class Recording:
    name = "recording"
    categories = ("toxicity",)

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.delay = delay
        self.fail = fail
        self.batches: list[list[str]] = []
        self.threads: set[str] = set()

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        self.threads.add(threading.current_thread().name)
        self.batches.append(list(texts))
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("model exploded")
        return [{"toxicity": len(t) / 100} for t in texts]


async def test_concurrent_requests_share_a_batch_in_order() -> None:
    model = Recording(delay=0.05)
    scorer = Scorer(model, max_batch=64, max_wait_s=0.01)
    scorer.start()
    try:
        first = asyncio.ensure_future(scorer.score(["x"]))
        await asyncio.sleep(0.01)  # the first batch is running; the rest queue up behind it
        texts = [str(i) * (i + 1) for i in range(20)]
        results = await asyncio.gather(*(scorer.score([t]) for t in texts))
        await first
    finally:
        await scorer.close()
    assert [r[0]["toxicity"] for r in results] == [len(t) / 100 for t in texts]  # type: ignore[index]
    assert len(model.batches) <= 3
    assert max(len(b) for b in model.batches) >= 10
    assert all(name.startswith("classifier") for name in model.threads)  # never the event loop


async def test_batch_size_is_bounded() -> None:
    model = Recording()
    scorer = Scorer(model, max_batch=4, max_wait_s=0.05)
    scorer.start()
    try:
        await asyncio.gather(*(scorer.score([f"t{i}"]) for i in range(10)))
    finally:
        await scorer.close()
    assert max(len(b) for b in model.batches) <= 4


async def test_failure_gives_none_never_scores() -> None:
    scorer = Scorer(Recording(fail=True))
    scorer.start()
    try:
        assert await scorer.score(["a", "b"]) == [None, None]
        assert scorer.stats.failures == 1
    finally:
        await scorer.close()


async def test_timeout_gives_none() -> None:
    scorer = Scorer(Recording(delay=0.5), timeout_s=0.05)
    scorer.start()
    try:
        assert await scorer.score(["slow"]) == [None]
        assert scorer.stats.timeouts == 1
    finally:
        await scorer.close()


async def test_full_queue_is_refused_with_retry_after() -> None:
    scorer = Scorer(Recording(delay=0.2), queue_limit=3, max_batch=1)
    scorer.start()
    try:
        pending = [asyncio.ensure_future(scorer.score(["a"])) for _ in range(3)]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as caught:
            await scorer.score(["b"])
        assert caught.value.status == 429 and caught.value.retry_after
        await asyncio.gather(*pending)
        assert scorer.queued == 0
    finally:
        await scorer.close()


async def test_empty_input() -> None:
    scorer = Scorer(Recording())
    scorer.start()
    try:
        assert await scorer.score([]) == []
    finally:
        await scorer.close()


class Hanging:
    name = "hanging"
    categories = ("toxicity",)

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        self.calls += 1
        if self.calls == 1:
            self.release.wait(5)  # the first batch hangs
        return [{"toxicity": 0.1} for _ in texts]


async def test_hung_worker_is_replaced() -> None:
    model = Hanging()
    scorer = Scorer(model, timeout_s=0.1)
    scorer.start()
    try:
        assert await scorer.score(["stuck"]) == [None]
        await asyncio.sleep(0.25)  # the batch passes twice the deadline: a new worker
        assert scorer.stats.restarts == 1
        assert await scorer.score(["fine"]) == [{"toxicity": 0.1}]
    finally:
        model.release.set()
        await scorer.close()
