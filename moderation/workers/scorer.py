"""Model inference off the event loop: one worker thread, micro-batches, back-pressure.

Requests that arrive together are scored together: the batcher takes what is
queued (up to ``max_batch`` texts, and no more once ``max_batch_chars`` characters are
in) and runs one
``predict`` call in a dedicated single-thread executor, so the event loop never
runs the model and the model never runs two batches at once. Only a model that found
nothing queued waits for company: after the first text arrives it waits at most
``max_wait`` for more. Texts that queued while the model was busy go at once, since
waiting then would leave the model idle while the event loop answers and commits the
batch just scored (docs/inference.md, "The batching wait"). The queue is
bounded: when it is full :class:`Overloaded` is raised (HTTP 429 with
``Retry-After``) instead of letting latency grow without bound. A text whose
scores do not arrive within ``timeout`` gets ``None``: the engine holds it with
``classifier_unavailable``, never approves it.

**Lanes** (``lanes``; the service runs as many as the runtime allows unless
``MODERATION_CLASSIFIER_LANES`` says otherwise: docs/inference.md, "Lanes"). A runtime
whose calls each run on one core (ONNX Runtime here: one intra-op thread per session
run) can take one lane per worker thread (:func:`model_lanes`): that many batches run
side by side, each beside another wholly on its own thread
(:func:`classifiers.base.on_this_thread`: neither the classifier nor the encoder splits
it over the cores again), so a batch of 8 is one call of 8 rows on one core rather than
two calls of 4 on two; a batch that starts while no other runs may use every core, as
with one lane. A free lane gathers its share of the comments (:meth:`Scorer._gather`):
at least as many texts as the last lane batch held, or the texts outstanding (queued
and in the lanes' batches) over the lanes, waiting at most ``lane_wait`` for them, so
that a closed loop of clients settles into one wave per lane. A ``batch_independent``
runtime scores a lane's batch in one ``predict`` call; any other (dynamic int8 cut in
batches, whose scores depend on their partners) one call per job, while the sentence
encoder still embeds the lane's texts in one call. With a single lane the batcher works
as described above.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from classifiers.base import Classifier, Scores, languages_of, on_this_thread
from classifiers.language import detect
from classifiers.loader import batch_independent
from moderation.domain.errors import TooManyRequests
from moderation.domain.examples import Vectors
from moderation.workers.base import Worker

log = logging.getLogger(__name__)


NOW, SOON, LATER = 0, 1, 2
"""Ranks of :meth:`Scorer.submit`: a whole text someone waits on; the first chunk of a
long text; the further rounds of one."""


class Overloaded(TooManyRequests):
    code = "overloaded"


def model_lanes(classifier: object) -> int:
    """How many ``predict`` calls may usefully run side by side on ``classifier``.

    A backend says so with a ``concurrent_calls`` attribute. Otherwise an ONNX Runtime
    backend (``runtime`` starting with ``onnx``) gets one per worker thread (its
    ``threads``): its session runs one intra-op thread per call and is safe to share;
    everything else one (PyTorch's intra-op threads use every core in one call)."""
    declared = getattr(classifier, "concurrent_calls", None)
    if isinstance(declared, int) and not isinstance(declared, bool):
        return max(1, declared)
    runtime = getattr(classifier, "runtime", None)
    threads = getattr(classifier, "threads", None)
    if isinstance(runtime, str) and runtime.startswith("onnx") and isinstance(threads, int):
        return max(1, threads)
    return 1


@dataclass(frozen=True, slots=True)
class Scored:
    """One text as the model saw it: its scores (``None``: not scored in time), the
    classifier that gave them, its sentence embedding (when an encoder ran) and whether
    the classifier reads its language."""

    scores: Scores | None
    by: str
    embedding: Vectors | None = None
    language: str | None = None
    language_supported: bool = True


class Embedder(Protocol):
    """The sentence encoder (``classifiers/encoder.SentenceEncoder``): texts -> unit vectors."""

    def embed(self, texts: Sequence[str]) -> Vectors: ...


@dataclass(slots=True)
class _Job:
    texts: Sequence[str]
    future: asyncio.Future[list[Scored]]
    #: Whether the texts need sentence embeddings (rules taught by example) and their
    #: language: scores alone (Perspective) skip the encoder's share of the batch.
    full: bool = True
    rank: int = 0  # 0: NOW, 1: SOON, 2: LATER (see Scorer.submit)


@dataclass(slots=True)
class ScorerStats:
    batches: int = 0
    texts: int = 0
    chars: int = 0
    cancelled: int = 0
    failures: int = 0
    timeouts: int = 0
    restarts: int = 0
    last_error: str | None = None
    busy_seconds: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)


class Scorer(Worker):
    task_name = "scorer"

    """Owns the classifier's worker thread; start with :meth:`start`, stop with :meth:`close`."""

    def __init__(
        self,
        classifier: Classifier,
        *,
        max_batch: int = 32,
        max_wait_s: float = 0.002,
        wait_when_busy: bool = False,
        max_batch_chars: int = 4_000,
        max_later_chars: int = 1_000,
        queue_limit: int = 2000,
        timeout_s: float = 10.0,
        observe: Callable[[int, float], None] | None = None,
        embedder: Embedder | None = None,
        lanes: int | None = 1,
        lane_wait_s: float = 0.02,
    ) -> None:
        self.classifier = classifier
        #: Batches that run side by side (None: as many as the classifier allows,
        #: :func:`model_lanes`).
        self.lanes = max(1, model_lanes(classifier) if lanes is None else lanes)
        #: The classifier's scores of a text do not depend on what it is batched with
        #: (its own word, or its encoder's for ``minilm``): then a batch is one call.
        self.batch_independent = batch_independent(classifier)
        #: How long a free lane waits for its share of the comments (lanes > 1).
        self.lane_wait_s = max(0.0, lane_wait_s)
        # The texts of the last lane batch: a lane waits for as many (:meth:`_gather`).
        self._last_lane_batch = 1
        # A classifier built on the encoder embeds in the same pass as it scores.
        self._embed_and_predict = getattr(classifier, "embed_and_predict", None)
        self.embedder: Embedder | None = (
            getattr(classifier, "encoder", None) if self._embed_and_predict else embedder
        )
        self.languages = frozenset(languages_of(classifier))
        self.max_batch = max(1, max_batch)
        self.max_wait_s = max(0.0, max_wait_s)
        #: Whether texts that queued while the model was busy also wait ``max_wait_s``
        #: for company (``MODERATION_BATCH_WAIT=always``); by default they go at once.
        self.wait_when_busy = wait_when_busy
        # A batch, once running, cannot be taken back: long texts do not all join one.
        self.max_batch_chars = max(1, max_batch_chars)
        # A batch of chunks stays short: a comment that arrives while it runs
        # waits for it (about 100 ms of a bert-base model on two cores).
        self.max_later_chars = max(1, max_later_chars)
        self.queue_limit = max(1, queue_limit)
        self.timeout_s = timeout_s
        self.stats = ScorerStats()
        self._observe = observe
        # One queue per rank (NOW, SOON, LATER): the model takes from the first that has
        # a job, so a long text's chunks never hold up a whole comment.
        self._queues: tuple[deque[_Job], ...] = (deque(), deque(), deque())
        self._arrived = asyncio.Event()
        self._queued_texts = 0
        self._executor = self._new_executor()
        # Batches handed to the lanes and not finished (lanes > 1).
        self._in_flight: set[asyncio.Task[None]] = set()
        self._lane_free = asyncio.Event()

    def _new_executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self.lanes, thread_name_prefix="classifier")

    @property
    def name(self) -> str:
        return self.classifier.name

    @property
    def queued(self) -> int:
        return self._queued_texts

    async def _release(self) -> None:
        while (job := self._pop()) is not None:
            if not job.future.done():
                job.future.cancel()
        if self._in_flight:  # batches in the lanes answer their jobs (each has a deadline)
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def score(self, texts: Sequence[str]) -> list[Scores | None]:
        """Scores per text, ``None`` for each text the classifier could not score in time."""
        return [scored.scores for scored in await self.score_named(texts)]

    async def score_named(self, texts: Sequence[str]) -> list[Scored]:
        """Like :meth:`score`, naming per text the classifier whose scores they are
        (a cascade routes texts to different models)."""
        if not texts:
            return []
        future = self.submit(texts)
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except TimeoutError:
            self.stats.timeouts += 1
            log.error("classifier did not answer within %.1fs", self.timeout_s)
        except Exception as exc:  # the backend raised: hold, never approve
            log.error("classifier failed: %s", type(exc).__name__)
        return [Scored(None, self.name) for _ in texts]

    def submit(
        self, texts: Sequence[str], *, scores_only: bool = False, rank: int = 0
    ) -> asyncio.Future[list[Scored]]:
        """Queue ``texts`` for scoring and return the future of their results.

        The caller owns the future: cancelling it before its batch starts takes the texts
        out of the model's way (the batcher skips cancelled jobs), which is how a caller
        with a deadline, or whose client hung up, stops costing anyone else time. Raises
        :class:`Overloaded` when the queue is full. ``scores_only``: no embedding and no
        language identification (the results carry neither). ``rank``: :data:`NOW` for
        a whole text someone waits on (every comment), :data:`SOON` for the first chunk of
        a long text, :data:`LATER` for its further rounds; a job waits until no job of a
        lower rank does, so long texts never delay whole comments."""
        if self._queued_texts + len(texts) > self.queue_limit:
            raise Overloaded(
                "the classifier queue is full; retry shortly", retry_after=self._retry_after()
            )
        future: asyncio.Future[list[Scored]] = asyncio.get_running_loop().create_future()
        self._queued_texts += len(texts)
        job = _Job(texts, future, full=not scores_only, rank=min(max(rank, NOW), LATER))
        self._queues[job.rank].append(job)
        self._arrived.set()
        return future

    def seconds_per_char(self) -> float | None:
        """The model's measured cost per character of text so far (None before any batch)."""
        return self.stats.busy_seconds / self.stats.chars if self.stats.chars else None

    def _retry_after(self) -> float:
        per_text = self.stats.busy_seconds / self.stats.texts if self.stats.texts else 0.05
        return max(1.0, round(self._queued_texts * per_text / self.lanes, 1))

    async def _run(self) -> None:
        if self.lanes > 1:
            await self._run_lanes()
            return
        loop = asyncio.get_running_loop()
        gather = True  # the model has scored nothing yet: it is idle
        while True:
            first = None if gather else self._pop()
            gather = first is None
            if first is None:
                first = await self._take(None)
            assert first is not None
            jobs = [first]
            size = len(jobs[0].texts)
            chars = sum(len(text) for text in jobs[0].texts)
            cap = self.max_later_chars if first.rank > NOW else self.max_batch_chars
            deadline = loop.time() + self.max_wait_s
            while size < self.max_batch and chars < cap:
                # Only as urgent or more: a long text's chunk must not ride along with,
                # and slow down, a whole comment's batch.
                job = await self._take(deadline, first.rank) if gather else self._pop(first.rank)
                if job is None:
                    break
                jobs.append(job)
                size += len(job.texts)
                chars += sum(len(text) for text in job.texts)
            await self._run_batch(jobs)
            # What queued while the model scored is a batch already: waiting for more
            # would idle the model.
            gather = self.wait_when_busy

    async def _run_lanes(self) -> None:
        """Several lanes: as one frees up, gather its batch and run it on its thread."""
        while True:
            # No batch waits in line for a lane: its texts join the next gathering.
            while len(self._in_flight) >= self.lanes:
                self._lane_free.clear()
                await self._lane_free.wait()
            jobs = await self._gather()
            self._last_lane_batch = sum(len(job.texts) for job in jobs)
            # Alone, a batch may use every core (a quiet service answers as fast as it
            # did with one lane); beside another lane's, it keeps to its own thread.
            here = bool(self._in_flight)
            task = asyncio.get_running_loop().create_task(
                self._run_batch(jobs, alone=not self.batch_independent, here=here)
            )
            self._in_flight.add(task)
            task.add_done_callback(self._lane_done)

    def _lane_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._lane_free.set()

    async def _gather(self) -> list[_Job]:
        """A free lane's batch: the first queued job, then jobs as urgent or more in
        arrival order until it holds its share, ``max_batch`` texts or the character cap,
        waiting at most ``lane_wait_s`` after the first.

        Its share is the larger of the last lane batch and the texts outstanding (queued,
        being gathered, or in the lanes' batches) over the lanes. Clients in a closed loop
        come back in waves, a lane's batch at a time; waiting for a wave to come back
        whole keeps each lane's calls as large as the load allows (one call of 8 rows costs
        a core less than two of 4: docs/inference.md, "Lanes"), and a single comment on a
        quiet service (a last batch of 1) goes at once."""
        loop = asyncio.get_running_loop()
        first = await self._take(None)
        assert first is not None
        jobs = [first]
        size = len(first.texts)
        chars = sum(len(text) for text in first.texts)
        cap = self.max_later_chars if first.rank > NOW else self.max_batch_chars
        deadline = loop.time() + self.lane_wait_s
        while size < self.max_batch and chars < cap:
            share = -(-self._queued_texts // self.lanes)
            if size >= max(self._last_lane_batch, share):
                break
            job = await self._take(deadline, first.rank)
            if job is None:
                break
            jobs.append(job)
            size += len(job.texts)
            chars += sum(len(text) for text in job.texts)
        return jobs

    async def _run_batch(
        self, picked: list[_Job], *, alone: bool = False, here: bool = False
    ) -> None:
        """Score one batch in the model's thread(s) and answer each of its jobs
        (``alone``: one ``predict`` call per job; ``here``: all of it on the lane's thread,
        :func:`classifiers.base.on_this_thread`)."""
        loop = asyncio.get_running_loop()
        jobs = [job for job in picked if not job.future.cancelled()]
        self.stats.cancelled += len(picked) - len(jobs)
        texts = [text for job in jobs for text in job.texts]
        full = [job.full for job in jobs for _ in job.texts]
        if not texts:
            self._queued_texts -= sum(len(job.texts) for job in picked)
            return
        calls = [len(job.texts) for job in jobs] if alone else None
        started = time.perf_counter()
        try:
            results = await asyncio.wait_for(
                loop.run_in_executor(self._executor, self._predict, texts, full, calls, here),
                self.timeout_s * 2,
            )
        except TimeoutError as exc:
            # A hung model would block every later batch: abandon its thread, start anew.
            self.stats.failures += 1
            self.stats.restarts += 1
            self.stats.last_error = "hung"
            log.error("classifier hung for %.1fs; restarting its worker", self.timeout_s * 2)
            # Other lanes' batches (running or waiting in line) finish on the old threads.
            self._executor.shutdown(wait=False, cancel_futures=self.lanes == 1)
            self._executor = self._new_executor()
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
        except Exception as exc:
            self.stats.failures += 1
            self.stats.last_error = type(exc).__name__
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
        else:
            offset = 0
            for job in jobs:
                part = results[offset : offset + len(job.texts)]
                offset += len(job.texts)
                if not job.future.done():
                    job.future.set_result(part)
        finally:
            self._queued_texts -= sum(len(job.texts) for job in picked)
            elapsed = time.perf_counter() - started
            self.stats.busy_seconds += elapsed
            if self._observe is not None:
                self._observe(len(texts), elapsed)
            self.stats.batches += 1
            self.stats.texts += len(texts)
            self.stats.chars += sum(len(text) for text in texts)
            self.stats.batch_sizes.append(len(texts))
            del self.stats.batch_sizes[:-1000]

    def _pop(self, rank: int = LATER) -> _Job | None:
        for queue in self._queues[: rank + 1]:
            if queue:
                return queue.popleft()
        return None

    async def _take(self, deadline: float | None, rank: int = LATER) -> _Job | None:
        """The next job of at most ``rank``, lower ranks first; None when ``deadline``
        (loop time) passes."""
        loop = asyncio.get_running_loop()
        while True:
            job = self._pop(rank)
            if job is not None:
                return job
            self._arrived.clear()
            if deadline is None:
                await self._arrived.wait()
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return None

    async def embed(self, texts: Sequence[str]) -> Vectors | None:
        """The texts' embeddings, computed in the model's threads; None without an encoder.

        In slices of :attr:`max_batch` texts, one after the other: a guidelines document's
        thousands of examples, or learning's thousands of labels, would otherwise hold a
        model thread for seconds in one call, and readers' comments queue for it; between
        two slices their batches run."""
        embedder = self.embedder
        if embedder is None:
            return None
        loop = asyncio.get_running_loop()
        texts = list(texts)
        if len(texts) <= self.max_batch:
            return await loop.run_in_executor(self._executor, embedder.embed, texts)
        parts = [
            await loop.run_in_executor(
                self._executor, embedder.embed, texts[start : start + self.max_batch]
            )
            for start in range(0, len(texts), self.max_batch)
        ]
        return np.concatenate(parts)

    def _predict(
        self,
        texts: list[str],
        full: Sequence[bool] | None = None,
        calls: Sequence[int] | None = None,
        here: bool = False,
    ) -> list[Scored]:
        """:meth:`_score_batch`, with ``here`` every part of it on the calling thread (a
        lane's: :func:`classifiers.base.on_this_thread`)."""
        with on_this_thread() if here else contextlib.nullcontext():
            return self._score_batch(texts, full, calls)

    def _score_batch(
        self,
        texts: list[str],
        full: Sequence[bool] | None,
        calls: Sequence[int] | None,
    ) -> list[Scored]:
        """Runs in the model's thread: scores, embeddings and languages of one batch
        (embeddings and languages only for the texts whose ``full`` is true). ``calls``:
        the sizes of consecutive runs of texts the classifier scores in separate calls
        (each job's rows alone); None: one call."""
        wanted = [True] * len(texts) if full is None else list(full)
        vectors: Vectors | None = None
        results: list[tuple[str, Scores]] = []
        start = 0
        for size in [len(texts)] if calls is None else calls:
            part = texts[start : start + size]
            start += size
            if self._embed_and_predict is not None:
                part_vectors, scores = self._embed_and_predict(part)
                vectors = part_vectors if vectors is None else np.vstack([vectors, part_vectors])
                results += [(self.classifier.name, s) for s in scores]
            elif (routed := getattr(self.classifier, "predict_routed", None)) is not None:
                results += routed(part)
            else:
                results += [(self.classifier.name, s) for s in self.classifier.predict(part)]
        if len(results) != len(texts):
            raise RuntimeError("classifier returned a different number of results")
        rows: dict[int, int] = {}  # text index -> row of ``vectors``
        if vectors is not None:
            rows = {index: index for index in range(len(texts))}
        elif self.embedder is not None and any(wanted):
            embed = [index for index, want in enumerate(wanted) if want]
            vectors = self.embedder.embed([texts[index] for index in embed])
            rows = {index: row for row, index in enumerate(embed)}
        scored = []
        for index, (text, (by, scores_of)) in enumerate(zip(texts, results, strict=True)):
            detected = detect(text) if wanted[index] else None
            scored.append(
                Scored(
                    scores_of,
                    by,
                    None if vectors is None or index not in rows else vectors[rows[index]],
                    None if detected is None else detected.language,
                    detected is None or detected.language in self.languages,
                )
            )
        return scored
