"""The scorer: micro-batches off the event loop, timeouts and failures hold, bounded queue."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from classifiers.base import Scores
from moderation.workers.scorer import LATER, Overloaded, Scorer


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


async def test_batches_stop_taking_texts_at_the_character_cap() -> None:
    """A running batch cannot be taken back: long texts do not all join one."""
    model = Recording(delay=0.05)
    scorer = Scorer(model, max_batch=64, max_wait_s=0.02, max_batch_chars=1_000)
    scorer.start()
    try:
        first = asyncio.ensure_future(scorer.score(["x"]))
        await asyncio.sleep(0.01)
        await asyncio.gather(*(scorer.score(["y" * 400]) for _ in range(6)))
        await first
    finally:
        await scorer.close()
    # A batch closes once it holds 1,000 characters (the job that crossed it included).
    assert all(sum(len(t) for t in b) < 1_000 + 400 for b in model.batches), model.batches
    assert sum(len(b) for b in model.batches) == 7 and len(model.batches) >= 2


class CountingEmbedder:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> Any:
        import numpy as np

        self.texts.extend(texts)
        return np.ones((len(texts), 4), dtype=np.float32) / 2


async def test_scores_only_skips_the_encoder_and_language() -> None:
    embedder = CountingEmbedder()
    scorer = Scorer(Recording(), embedder=embedder, max_wait_s=0.02)
    scorer.start()
    try:
        full, bare = await asyncio.gather(
            scorer.submit(["a comment that wants its embedding and language"]),
            scorer.submit(["a Perspective chunk that wants its score only"], scores_only=True),
        )
    finally:
        await scorer.close()
    assert embedder.texts == ["a comment that wants its embedding and language"]
    assert full[0].embedding is not None and full[0].language == "en"
    assert bare[0].embedding is None and bare[0].language is None
    assert bare[0].scores is not None


async def test_later_rounds_wait_until_no_one_else_does() -> None:
    """A long text's further rounds (Perspective) never delay a waiting comment."""
    model = Recording(delay=0.05)
    scorer = Scorer(model, max_batch=1, max_wait_s=0.0)
    scorer.start()
    try:
        running = scorer.submit(["first"])
        await asyncio.sleep(0.01)  # "first" is in the model
        later = scorer.submit(["round two of a long text"], rank=LATER)
        urgent = scorer.submit(["a short comment"])
        await asyncio.gather(running, later, urgent)
    finally:
        await scorer.close()
    assert [b[0] for b in model.batches] == [
        "first",
        "a short comment",
        "round two of a long text",
    ]


async def test_batches_of_later_rounds_stay_short() -> None:
    model = Recording(delay=0.02)
    scorer = Scorer(model, max_batch=64, max_wait_s=0.02, max_later_chars=500)
    scorer.start()
    try:
        await asyncio.gather(*(scorer.submit(["z" * 400], rank=LATER) for _ in range(4)))
    finally:
        await scorer.close()
    assert max(sum(len(t) for t in b) for b in model.batches) <= 800, model.batches


async def test_chunks_never_ride_along_with_a_comments_batch() -> None:
    model = Recording(delay=0.05)
    scorer = Scorer(model, max_batch=64, max_wait_s=0.02)
    scorer.start()
    try:
        running = scorer.submit(["first"])
        await asyncio.sleep(0.01)
        chunk = scorer.submit(["a chunk of a long text"], rank=LATER)
        comments = [scorer.submit([f"comment {i}"]) for i in range(3)]
        await asyncio.gather(running, chunk, *comments)
    finally:
        await scorer.close()
    assert ["a chunk of a long text"] in model.batches  # in a batch of its own
    assert model.batches[-1] == ["a chunk of a long text"]  # after every comment
