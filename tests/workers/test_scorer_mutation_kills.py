"""The scorer's batching window, written to kill the mutants `make mutation` found
surviving (docs/mutation.md)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from classifiers.base import Scores
from moderation.workers.scorer import SOON, Scorer


class Slow:
    name = "slow"
    categories = ("toxicity",)

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.batches: list[list[str]] = []

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        self.batches.append(list(texts))
        time.sleep(self.delay)
        return [{"toxicity": 0.0} for _ in texts]


async def _behind_a_running_batch(scorer: Scorer, texts: list[str]) -> None:
    """Queue ``texts`` (one job each) while a first batch is in the model."""
    scorer.start()
    try:
        running = scorer.submit(["first"])
        await asyncio.sleep(0.05)  # "first" is in the model; the rest queue behind it
        await asyncio.gather(running, *(scorer.submit([t]) for t in texts))
    finally:
        await scorer.close()


async def test_a_comments_batch_is_capped_by_max_batch_chars_not_max_later_chars() -> None:
    model = Slow(0.2)
    scorer = Scorer(model, max_wait_s=0.0, max_batch_chars=4_000, max_later_chars=1)
    await _behind_a_running_batch(scorer, ["comment one", "comment two", "comment six"])
    assert model.batches == [["first"], ["comment one", "comment two", "comment six"]]


async def test_a_batch_closes_once_it_reaches_the_character_cap() -> None:
    model = Slow(0.2)
    scorer = Scorer(model, max_wait_s=0.0, max_batch_chars=10)
    await _behind_a_running_batch(scorer, ["aaaaa", "bbbbb", "ccccc"])
    # 5 + 5 = 10 characters: the cap is reached, the third waits for the next batch.
    assert model.batches == [["first"], ["aaaaa", "bbbbb"], ["ccccc"]]


async def test_a_batch_waits_up_to_max_wait_for_company() -> None:
    model = Slow(0.0)
    scorer = Scorer(model, max_batch=2, max_wait_s=0.5)  # under a second: see _take
    scorer.start()
    try:
        alone = scorer.submit(["a"])
        await asyncio.sleep(0.05)
        # Arrives within the window: joins the batch, which is then full and starts.
        await asyncio.wait_for(asyncio.gather(alone, scorer.submit(["b"])), 2.0)
    finally:
        await scorer.close()
    assert model.batches == [["a", "b"]]


async def test_texts_that_queued_while_the_model_was_busy_go_without_waiting() -> None:
    # The window (ten seconds here) is for a model that found nothing queued: a backlog
    # is a batch already, and waiting out the window would fail the deadline below.
    model = Slow(0.2)
    scorer = Scorer(model, max_batch=2, max_wait_s=10.0)
    scorer.start()
    try:
        pair = [scorer.submit(["first"]), scorer.submit(["second"])]  # full: starts at once
        await asyncio.sleep(0.05)  # the pair is in the model
        behind = scorer.submit(["behind"])
        await asyncio.wait_for(asyncio.gather(*pair, behind), 5.0)
    finally:
        await scorer.close()
    assert model.batches == [["first", "second"], ["behind"]]


async def test_waiting_when_busy_too_waits_for_company_behind_a_running_batch() -> None:
    # MODERATION_BATCH_WAIT=always: the text behind the running pair waits out the window.
    model = Slow(0.1)
    scorer = Scorer(model, max_batch=2, max_wait_s=0.5, wait_when_busy=True)
    scorer.start()
    try:
        pair = [scorer.submit(["first"]), scorer.submit(["second"])]
        await asyncio.sleep(0.05)
        started = time.monotonic()
        behind = scorer.submit(["behind"])
        await asyncio.wait_for(asyncio.gather(*pair, behind), 5.0)
        waited = time.monotonic() - started
    finally:
        await scorer.close()
    assert model.batches == [["first", "second"], ["behind"]]
    assert waited >= 0.5


async def test_a_first_chunk_never_rides_along_with_a_comments_batch() -> None:
    # A long text's first chunk (SOON) waits, like its later rounds, for a batch of its own.
    model = Slow(0.1)
    scorer = Scorer(model, max_wait_s=0.05)
    scorer.start()
    try:
        running = scorer.submit(["first"])
        await asyncio.sleep(0.05)
        chunk = scorer.submit(["a first chunk"], rank=SOON)
        comment = scorer.submit(["a comment"])
        await asyncio.gather(running, chunk, comment)
    finally:
        await scorer.close()
    assert model.batches == [["first"], ["a comment"], ["a first chunk"]]
