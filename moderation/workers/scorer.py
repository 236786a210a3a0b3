"""Model inference off the event loop: one worker thread, micro-batches, back-pressure.

Requests that arrive together are scored together: the batcher takes what is
queued (up to ``max_batch``), waits at most ``max_wait`` for more, and runs one
``predict`` call in a dedicated single-thread executor, so the event loop never
runs the model and the model never runs two batches at once. The queue is
bounded: when it is full :class:`Overloaded` is raised (HTTP 429 with
``Retry-After``) instead of letting latency grow without bound. A text whose
scores do not arrive within ``timeout`` gets ``None``: the engine holds it with
``classifier_unavailable``, never approves it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from classifiers.base import Classifier, Scores, languages_of
from classifiers.language import detect
from moderation.domain.errors import TooManyRequests
from moderation.domain.examples import Vectors
from moderation.workers.base import Worker

log = logging.getLogger(__name__)


class Overloaded(TooManyRequests):
    code = "overloaded"


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


@dataclass(slots=True)
class ScorerStats:
    batches: int = 0
    texts: int = 0
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
        queue_limit: int = 2000,
        timeout_s: float = 10.0,
        observe: Callable[[int, float], None] | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.classifier = classifier
        # A classifier built on the encoder embeds in the same pass as it scores.
        self._embed_and_predict = getattr(classifier, "embed_and_predict", None)
        self.embedder: Embedder | None = (
            getattr(classifier, "encoder", None) if self._embed_and_predict else embedder
        )
        self.languages = frozenset(languages_of(classifier))
        self.max_batch = max(1, max_batch)
        self.max_wait_s = max(0.0, max_wait_s)
        self.queue_limit = max(1, queue_limit)
        self.timeout_s = timeout_s
        self.stats = ScorerStats()
        self._observe = observe
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._queued_texts = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classifier")

    @property
    def name(self) -> str:
        return self.classifier.name

    @property
    def queued(self) -> int:
        return self._queued_texts

    async def _release(self) -> None:
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def score(self, texts: Sequence[str]) -> list[Scores | None]:
        """Scores per text, ``None`` for each text the classifier could not score in time."""
        return [scored.scores for scored in await self.score_named(texts)]

    async def score_named(self, texts: Sequence[str]) -> list[Scored]:
        """Like :meth:`score`, naming per text the classifier whose scores they are
        (a cascade routes texts to different models)."""
        if not texts:
            return []
        if self._queued_texts + len(texts) > self.queue_limit:
            raise Overloaded(
                "the classifier queue is full; retry shortly", retry_after=self._retry_after()
            )
        future: asyncio.Future[list[Scored]] = asyncio.get_running_loop().create_future()
        self._queued_texts += len(texts)
        self._queue.put_nowait(_Job(texts, future))
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_s)
        except TimeoutError:
            self.stats.timeouts += 1
            log.error("classifier did not answer within %.1fs", self.timeout_s)
        except Exception as exc:  # the backend raised: hold, never approve
            log.error("classifier failed: %s", type(exc).__name__)
        return [Scored(None, self.name) for _ in texts]

    def _retry_after(self) -> float:
        per_text = self.stats.busy_seconds / self.stats.texts if self.stats.texts else 0.05
        return max(1.0, round(self._queued_texts * per_text, 1))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self._queue.get()]
            size = len(jobs[0].texts)
            deadline = loop.time() + self.max_wait_s
            while size < self.max_batch:
                remaining = deadline - loop.time()
                try:
                    job = (
                        self._queue.get_nowait()
                        if remaining <= 0
                        else await asyncio.wait_for(self._queue.get(), remaining)
                    )
                except (asyncio.QueueEmpty, TimeoutError):
                    break
                jobs.append(job)
                size += len(job.texts)
            picked = jobs
            jobs = [job for job in picked if not job.future.cancelled()]
            texts = [text for job in jobs for text in job.texts]
            started = time.perf_counter()
            try:
                results = await asyncio.wait_for(
                    loop.run_in_executor(self._executor, self._predict, texts), self.timeout_s * 2
                )
            except TimeoutError as exc:
                # A hung model would block every later batch: abandon its thread, start anew.
                self.stats.failures += 1
                self.stats.restarts += 1
                self.stats.last_error = "hung"
                log.error("classifier hung for %.1fs; restarting its worker", self.timeout_s * 2)
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classifier")
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
                self.stats.batch_sizes.append(len(texts))
                del self.stats.batch_sizes[:-1000]

    async def embed(self, texts: Sequence[str]) -> Vectors | None:
        """The texts' embeddings, computed in the model's thread; None without an encoder."""
        embedder = self.embedder
        if embedder is None:
            return None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, embedder.embed, list(texts))

    def _predict(self, texts: list[str]) -> list[Scored]:
        """Runs in the model's thread: scores, embeddings and languages of one batch."""
        vectors: Vectors | None = None
        routed = getattr(self.classifier, "predict_routed", None)
        if self._embed_and_predict is not None:
            vectors, scores = self._embed_and_predict(texts)
            results: list[tuple[str, Scores]] = [(self.classifier.name, s) for s in scores]
        elif routed is not None:
            results = routed(texts)
        else:
            results = [(self.classifier.name, s) for s in self.classifier.predict(texts)]
        if len(results) != len(texts):
            raise RuntimeError("classifier returned a different number of results")
        if vectors is None and self.embedder is not None:
            vectors = self.embedder.embed(texts)
        scored = []
        for index, (text, (by, scores_of)) in enumerate(zip(texts, results, strict=True)):
            detected = detect(text)
            scored.append(
                Scored(
                    scores_of,
                    by,
                    None if vectors is None else vectors[index],
                    None if detected is None else detected.language,
                    detected is None or detected.language in self.languages,
                )
            )
        return scored
