"""The scorer: micro-batches off the event loop, timeouts and failures hold, bounded queue."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from classifiers.base import Scores, only_this_thread
from moderation.http.context import SCORER
from moderation.settings import Settings
from moderation.workers.scorer import (
    LATER,
    Overloaded,
    Scorer,
    model_lanes,
)


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


# -- lanes: batches side by side for runtimes that run one row per core -------------------


class Runtime:
    """Stands in for a backend's attributes, for model_lanes."""

    def __init__(self, **attributes: object) -> None:
        self.__dict__.update(attributes)


def test_model_lanes_follow_the_runtime() -> None:
    assert model_lanes(Runtime(runtime="onnx-int8", threads=2)) == 2
    assert model_lanes(Runtime(runtime="onnx", threads=4)) == 4
    assert model_lanes(Runtime(runtime="torch", threads=2)) == 1  # intra-op: every core
    assert model_lanes(Runtime(runtime="onnx-int8")) == 1
    assert model_lanes(Recording()) == 1
    assert model_lanes(Runtime(runtime="torch", threads=2, concurrent_calls=3)) == 3
    assert model_lanes(Runtime(concurrent_calls=True)) == 1  # a bool is not a count
    onnx = Runtime(runtime="onnx-int8", threads=2)
    assert Scorer(onnx, lanes=None).lanes == 2  # type: ignore[arg-type]
    assert Scorer(onnx).lanes == 1  # type: ignore[arg-type]  # one unless asked


class Gate:
    """predict waits at a barrier of two: it returns only if two calls run at once."""

    name = "gate"
    categories = ("toxicity",)

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=5)
        self.threads: set[str] = set()

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        self.threads.add(threading.current_thread().name)
        self.barrier.wait()
        return [{"toxicity": 0.5} for _ in texts]


async def test_lanes_run_batches_side_by_side() -> None:
    model = Gate()
    scorer = Scorer(model, lanes=2)
    scorer.start()
    try:
        results = await asyncio.gather(scorer.score(["one"]), scorer.score(["two"]))
    finally:
        await scorer.close()
    assert list(results) == [[{"toxicity": 0.5}], [{"toxicity": 0.5}]]
    assert len(model.threads) == 2 and all(n.startswith("classifier") for n in model.threads)


class Blocked:
    """predict blocks until released; records each call."""

    name = "blocked"
    categories = ("toxicity",)

    def __init__(self, batch_independent: bool = False) -> None:
        self.batch_independent = batch_independent
        self.release = threading.Event()
        self.batches: list[list[str]] = []

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        self.batches.append(list(texts))
        self.release.wait(5)
        return [{"toxicity": len(t) / 1000} for t in texts]


async def test_no_batch_waits_in_line_behind_the_lanes_the_rest_stay_queued() -> None:
    """Each lane takes its share and nothing more: a comment that arrives while every
    lane is busy stays in the scorer's queue, where its caller can still cancel it."""
    model = Blocked()
    scorer = Scorer(model, lanes=2, lane_wait_s=0.0)
    futures = [scorer.submit([name]) for name in ("a", "b", "c", "d", "e", "f")]
    scorer.start()
    try:
        for _ in range(500):  # until both lanes are inside predict
            if len(model.batches) >= 2:
                break
            await asyncio.sleep(0.01)
        late = scorer.submit(["g"])
        await asyncio.sleep(0.05)
        assert scorer.queued == 7  # six in the lanes' batches, "g" still queued
        late.cancel()
        model.release.set()
        results = await asyncio.gather(*futures)
        for _ in range(500):
            if scorer.queued == 0:
                break
            await asyncio.sleep(0.01)
    finally:
        model.release.set()
        await scorer.close()
    assert sorted(text for batch in model.batches for text in batch) == list("abcdef")
    # Scores that depend on batch partners: each job is its own predict call.
    assert all(len(batch) == 1 for batch in model.batches)
    assert [r[0].scores for r in results] == [{"toxicity": 0.001}] * 6
    assert scorer.stats.cancelled == 1 and scorer.queued == 0  # "g", skipped


class RecordingEmbedder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> Any:
        import numpy as np

        self.calls.append(list(texts))
        return np.ones((len(texts), 4), dtype=np.float32) / 2


async def test_a_lane_embeds_its_texts_in_one_call_though_it_scores_rows_alone() -> None:
    model = Recording()
    embedder = RecordingEmbedder()
    scorer = Scorer(model, lanes=2, embedder=embedder)
    futures = [scorer.submit([name]) for name in ("a", "b", "c", "d", "e", "f")]
    scorer.start()
    try:
        results = await asyncio.gather(*futures)
    finally:
        await scorer.close()
    assert all(len(batch) == 1 for batch in model.batches)
    # six outstanding over two lanes: each lane's share, one encoder call each
    assert sorted(embedder.calls) == [["a", "b", "c"], ["d", "e", "f"]]
    assert all(r[0].embedding is not None for r in results)
    assert [r[0].scores for r in results] == [{"toxicity": 0.01}] * 6


async def test_many_texts_are_embedded_in_slices_of_a_batch() -> None:
    """A guidelines document's thousands of examples must not hold a model thread in one
    call: slices of ``max_batch``, their rows in order."""
    embedder = RecordingEmbedder()
    scorer = Scorer(Recording(), embedder=embedder, max_batch=4)
    scorer.start()
    try:
        texts = [f"example {n}" for n in range(10)]
        vectors = await scorer.embed(texts)
        few = await scorer.embed(texts[:3])
    finally:
        await scorer.close()
    assert embedder.calls == [texts[:4], texts[4:8], texts[8:], texts[:3]]
    assert vectors is not None and vectors.shape == (10, 4) and vectors.dtype == np.float32
    assert few is not None and few.shape == (3, 4)


async def test_a_batch_independent_runtime_scores_a_lane_batch_in_one_call() -> None:
    """Whatever their lengths: the runtime cuts its sub-batches by padding itself."""
    model = Blocked(batch_independent=True)
    model.release.set()
    scorer = Scorer(model, lanes=2, lane_wait_s=0.0)
    assert scorer.batch_independent
    texts = ["s" * 20, "l" * 400, "s" * 21, "l" * 401, "s" * 22, "s" * 23, "l" * 402]
    futures = [scorer.submit([text]) for text in texts]
    scorer.start()
    try:
        results = await asyncio.gather(*futures)
    finally:
        await scorer.close()
    assert [r[0].scores for r in results] == [{"toxicity": len(t) / 1000} for t in texts]
    # 7 outstanding over two lanes: 4 for the first, the 3 left for the second
    assert model.batches == [texts[:4], texts[4:]]


class ThreadReporting(Recording):
    """Records, per call, whether it runs inside ``on_this_thread``."""

    batch_independent = True

    def __init__(self) -> None:
        super().__init__()
        self.here: list[bool] = []

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        self.here.append(only_this_thread())
        return super().predict(texts)


class ThreadReportingEmbedder(RecordingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.here: list[bool] = []

    def embed(self, texts: Sequence[str]) -> Any:
        self.here.append(only_this_thread())
        return super().embed(texts)


class ThreadReportingBlocked(ThreadReporting):
    """ThreadReporting whose calls for texts starting with "wait" block until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        if texts[0].startswith("wait"):
            self.release.wait(5)
        return super().predict(texts)


async def test_a_lane_beside_another_runs_its_batch_on_its_own_thread() -> None:
    """Beside another lane's batch, the classifier and the encoder keep a batch on the
    lane's thread (``on_this_thread``); a batch alone may use their workers, as with a
    single lane, so a quiet service answers as fast as before."""
    model, embedder = ThreadReportingBlocked(), ThreadReportingEmbedder()
    scorer = Scorer(model, lanes=2, embedder=embedder, lane_wait_s=0.0)
    scorer.start()
    try:
        await scorer.score(["alone"])
        assert model.here == [False] and embedder.here == [False]
        blocked = asyncio.ensure_future(scorer.score(["wait"]))
        await asyncio.sleep(0.05)  # the first lane is busy
        await scorer.score(["beside"])
        assert model.here[-1] is True and embedder.here[-1] is True
        model.release.set()
        await blocked
    finally:
        model.release.set()
        await scorer.close()
    assert model.batches == [["alone"], ["beside"], ["wait"]]
    assert not only_this_thread()  # the event loop's thread was never switched


async def test_one_lane_never_keeps_a_batch_to_its_thread() -> None:
    model, embedder = ThreadReporting(), ThreadReportingEmbedder()
    scorer = Scorer(model, embedder=embedder)
    scorer.start()
    try:
        await asyncio.gather(*(scorer.score([name]) for name in ("a", "b", "c")))
    finally:
        await scorer.close()
    assert model.here and not any(model.here) and not any(embedder.here)


async def test_a_free_lane_waits_for_as_many_texts_as_the_last_lane_batch() -> None:
    """Closed-loop clients come back a wave at a time: a lane waits (at most
    ``lane_wait_s``) for as many texts as the last lane batch held, then goes with what
    it has; a single comment after a batch of one goes at once."""
    model = Blocked(batch_independent=True)
    model.release.set()
    scorer = Scorer(model, lanes=2, lane_wait_s=1.0)
    scorer.start()
    try:
        await asyncio.gather(*(scorer.score([name]) for name in ("a", "b", "c", "d")))
        assert sorted(model.batches) == [["a", "b"], ["c", "d"]]  # two each: last = 2
        first = asyncio.ensure_future(scorer.score(["e"]))
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(scorer.score(["f"]))
        await asyncio.gather(first, second)
        assert model.batches[-1] == ["e", "f"]  # "e" waited for "f"
        started = time.monotonic()
        await scorer.score(["g"])  # nobody follows: it goes once the wait is over
        assert time.monotonic() - started >= 0.9 and model.batches[-1] == ["g"]
        started = time.monotonic()
        await scorer.score(["h"])  # after a batch of one: at once
        assert time.monotonic() - started < 0.9 and model.batches[-1] == ["h"]
    finally:
        await scorer.close()


async def test_closing_answers_the_batches_in_the_lanes() -> None:
    model = Recording(delay=0.1)
    scorer = Scorer(model, lanes=2)
    scorer.start()
    futures = [scorer.submit([name]) for name in ("a", "b")]
    await asyncio.sleep(0.03)  # both in the model
    await scorer.close()
    assert [f.result()[0].scores for f in futures] == [{"toxicity": 0.01}] * 2


class OnnxLike(Recording):
    """A classifier that says it runs on ONNX Runtime with two worker threads."""

    runtime = "onnx-int8"

    def __init__(self) -> None:
        super().__init__()
        self.threads = 2  # type: ignore[assignment]


@pytest.mark.parametrize(("setting", "lanes"), [(1, 1), (0, 2), (3, 3)])
async def test_the_service_runs_the_lanes_it_is_told(
    make_service: Any, setting: int, lanes: int
) -> None:
    """MODERATION_CLASSIFIER_LANES: 0 (the default) what the runtime allows (here 2); 1
    one batch at a time; any other count as given. Comments go through either way."""
    service = await make_service(classifier_instance=OnnxLike(), classifier_lanes=setting)
    assert service.client.app[SCORER].lanes == lanes
    statuses = await asyncio.gather(*(service.post_comment() for _ in range(6)))
    assert [status for status, _ in statuses] == [201] * 6


@pytest.mark.parametrize(("setting", "waits"), [("idle", False), ("always", True)])
async def test_the_service_waits_for_company_as_it_is_told(
    make_service: Any, setting: str, waits: bool
) -> None:
    """MODERATION_BATCH_WAIT: "idle" (the default) waits for company only when the model
    found nothing queued; "always" also when texts queued while it was busy."""
    service = await make_service(batch_wait=setting)
    assert service.client.app[SCORER].wait_when_busy is waits


def test_waiting_only_when_idle_is_the_default_setting() -> None:
    assert Settings().batch_wait == "idle"


def test_a_lane_per_model_thread_is_the_default_setting() -> None:
    assert Settings().classifier_lanes == 0


async def test_the_service_gives_its_lanes_the_wait_it_is_told(make_service: Any) -> None:
    """MODERATION_LANE_WAIT_MS: how long a free lane waits for its share (20 ms unless set)."""
    assert Settings().lane_wait_ms == 20.0
    service = await make_service(classifier_instance=OnnxLike(), lane_wait_ms=5.0)
    assert service.client.app[SCORER].lane_wait_s == pytest.approx(0.005)
