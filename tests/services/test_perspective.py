"""Perspective's endpoint within its deadline: long texts in chunks, the chunks that
matter first, nothing left in the model's queue after the answer or a hang-up."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Sequence
from typing import Any

from classifiers.base import Scores
from moderation.http.context import SCORER
from moderation.http.routes.perspective import sentence_spans
from moderation.services.perspective import CHUNK_CHARS, chunks
from tests.conftest import Service, ServiceFactory

PATH = "/v1alpha1/comments:analyze"
SENTENCE = "The soldiers were shot while they retreated across the river, the report says. "
LONG = SENTENCE * 230  # about 3,000 words, 18,400 characters


class SlowPerChar:
    """Costs 0.2 ms per character (a 1,500-character chunk: 0.3 s); remembers what it read.
    A text that names a banned term scores high."""

    name = "fake:slow"
    categories = ("toxicity",)

    def __init__(self, per_char: float = 0.0002) -> None:
        self.per_char = per_char
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        time.sleep(self.per_char * sum(len(t) for t in texts))
        with self.lock:
            self.seen.extend(texts)
        return [{"toxicity": 0.95 if "kike" in t else 0.1} for t in texts]


async def post(service: Service, text: str, **extra: Any) -> tuple[int, Any, dict[str, str]]:
    body = {"comment": {"text": text}, "languages": ["en"], "requestedAttributes": {"TOXICITY": {}}}
    async with service.client.post(
        PATH, params={"key": service.keys["site"]}, json=body | extra
    ) as response:
        return response.status, await response.json(), dict(response.headers)


def test_chunks_are_runs_of_whole_sentences_within_a_window() -> None:
    text = LONG + "x" * 4_000 + " tail."
    pieces = chunks(text, sentence_spans(text))
    assert all(end - begin <= CHUNK_CHARS for begin, end in pieces)
    assert [p for p in pieces if p[1] - p[0] < CHUNK_CHARS // 2][:-2] == []  # packed
    assert pieces == sorted(pieces) and all(a[1] <= b[0] for a, b in itertools.pairwise(pieces))
    covered = "".join(text[b:e] for b, e in pieces)
    assert covered.replace(" ", "") == text.replace(" ", "")  # nothing but spaces left out
    # a sentence cut in the middle is cut at a space where it has one
    assert all(text[e - 1] != " " for _, e in pieces)


async def test_a_long_text_answers_within_the_deadline(make_service: ServiceFactory) -> None:
    slow = SlowPerChar()
    service = await make_service(classifier_instance=slow, perspective_deadline_ms=700)
    await post(service, "warm the model up with a first short comment.")  # cost per char
    # A banned term deep in the text: its chunk goes to the model first.
    text = LONG[:12_000] + "Send the kike back. " + LONG[12_000:]
    started = time.perf_counter()
    status, body, headers = await post(service, text)
    elapsed = time.perf_counter() - started
    assert status == 200, body
    assert elapsed < 1.5, elapsed  # the whole text would take 3.7 s
    assert headers["X-Moderation-Scored"] == "partial"
    scored = body["scoredSpans"]
    assert scored and sum(s["end"] - s["begin"] for s in scored) < len(text)
    # the part that mattered was read: the summary is that chunk's score
    assert body["attributeScores"]["TOXICITY"]["summaryScore"]["value"] == 0.95
    assert any(s["begin"] <= 12_000 < s["end"] for s in scored)
    # After the answer the model reads nothing more of it: the queued round was cancelled.
    seen = len(slow.seen)
    await asyncio.sleep(1.0)
    assert len(slow.seen) <= seen + 1  # at most the round already running
    # Short texts are whole, and say so.
    status, body, headers = await post(service, SENTENCE)
    assert status == 200 and headers["X-Moderation-Scored"] == "complete"
    assert "scoredSpans" not in body


async def test_a_long_text_within_budget_is_scored_whole(make_service: ServiceFactory) -> None:
    fast = SlowPerChar(per_char=0.0)
    service = await make_service(classifier_instance=fast)
    status, body, headers = await post(service, LONG, spanAnnotations=True)
    assert status == 200, body
    assert headers["X-Moderation-Scored"] == "complete" and "scoredSpans" not in body
    assert "".join(fast.seen[-len(chunks(LONG, sentence_spans(LONG))) :]).replace(" ", "") == (
        LONG.replace(" ", "")
    )
    spans = body["attributeScores"]["TOXICITY"]["spanScores"]
    assert len(spans) == len(chunks(LONG, sentence_spans(LONG))) > 1  # one per chunk


async def test_a_client_that_hangs_up_costs_nobody_time(make_service: ServiceFactory) -> None:
    slow = SlowPerChar()
    service = await make_service(classifier_instance=slow, perspective_deadline_ms=5_000)
    await post(service, "warm the model up with a first short comment.")
    scorer = service.client.app[SCORER]
    abandoned = []
    for _ in range(6):
        request = service.client.post(
            PATH,
            params={"key": service.keys["site"]},
            json={
                "comment": {"text": LONG},
                "languages": ["en"],
                "requestedAttributes": {"TOXICITY": {}},
            },
        )
        abandoned.append(asyncio.ensure_future(request))
    await asyncio.sleep(0.2)
    for task in abandoned:
        task.cancel()  # the clients hang up
    await asyncio.gather(*abandoned, return_exceptions=True)
    await asyncio.sleep(0.4)  # each handler notices within its next poll
    started = time.perf_counter()
    status, body, _ = await post(service, SENTENCE)
    assert status == 200, body
    # Six 3,000-word texts would keep the model busy for 22 s; the short comment waits at
    # most for the batch that was running (at most 4,000 characters: 0.8 s here).
    assert time.perf_counter() - started < 3.0
    await asyncio.sleep(0.2)
    assert scorer.queued == 0  # nothing of theirs waits for the model any more
    assert sum(len(t) for t in slow.seen) < len(LONG)  # not even one of them read whole
