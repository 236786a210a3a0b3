"""Perspective's ``AnalyzeComment`` and ``SuggestCommentScore`` on this service's models.

Google's Perspective API closes at the end of 2026; its clients (Coral among them)
switch by changing one URL (``docs/perspective.md``). This module holds what the
endpoint decides — which attributes the running model can score, in which languages,
which part of a long text fits in the deadline — and leaves Google's wire format to
``http/routes/perspective.py``.

**The deadline.** Coral waits 800 ms and then publishes the comment unscored, so every
answer leaves within ``MODERATION_PERSPECTIVE_DEADLINE_MS`` (700 by default) whatever the
text's length. A text of at most :data:`CHUNK_CHARS` characters is scored whole. A longer
one is cut into chunks of whole sentences (each within one model window) and scored
chunk by chunk, the chunks that carry a banned or suspect term of the guidelines first,
then in reading order; its summary score is the highest chunk score, as the classifiers
themselves fold windows. Chunks are submitted in rounds sized by the model's measured
cost per character; a long text's first round waits behind whole comments, its later
rounds behind everything (``Scorer.submit(rank=...)``), so a long text never delays a
short one by more than one short batch. When the deadline comes (or the client hangs
up), the round still queued is cancelled — the model never spends time on an answer
nobody will read — and the answer names the part that was scored (``scoredSpans``).
Nothing scored by then: 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from classifiers.base import Scores
from classifiers.language import detect
from moderation.domain.errors import ServiceError
from moderation.domain.models import ApiKey, utcnow
from moderation.domain.records import Feedback
from moderation.services.policies import PolicyCache
from moderation.storage.database import Database
from moderation.workers.scorer import LATER, NOW, SOON, Scored, Scorer

ATTRIBUTES: dict[str, str] = {
    "TOXICITY": "toxicity",
    "SEVERE_TOXICITY": "severe_toxicity",
    "IDENTITY_ATTACK": "identity_attack",
    "INSULT": "insult",
    "PROFANITY": "obscene",
    "THREAT": "threat",
    "SEXUALLY_EXPLICIT": "sexual_explicit",
}
"""Perspective attribute name -> the category of ours it reads (one source: the
endpoint, the discovery document and ``docs/perspective.md`` follow it)."""

CHUNK_CHARS = 600
"""A chunk of a long text: about 150 tokens. Small, so that a round (at least one chunk)
stays short on a bert-base model and the first score arrives early under load."""

ANSWER_MARGIN_S = 0.05
"""Kept back from the deadline to build and send the answer."""

ROUND_S = 0.15
"""The model time one round of a long text is sized to (at least one chunk)."""

POLL_S = 0.02
"""How often a wait checks whether the client is still connected."""

MAX_LANGUAGE_SAMPLE = 2_000
"""Language identification reads at most this many characters (enough to be sure)."""


class PerspectiveRefusal(ServiceError):
    """A request Perspective would refuse, with Google's ``errorType`` for its details."""

    status = 400
    code = "invalid_argument"

    def __init__(self, error_type: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.extra = extra


class NotScoredInTime(ServiceError):
    status = 503
    code = "not_scored_in_time"


class ClientGone(Exception):
    """The client hung up while its text waited for the model."""


@dataclass(frozen=True, slots=True)
class Languages:
    """What a request's ``languages`` and ``detectedLanguages`` answer."""

    requested: tuple[str, ...]
    detected: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the model said of a text within the deadline. Offsets are string indices."""

    summary: Scores
    spans: list[tuple[int, int, Scores]]
    scored: list[tuple[int, int]]
    complete: bool
    languages: Languages


def base_language(tag: str) -> str:
    """``"en-US"`` -> ``"en"`` (the model lists primary subtags)."""
    return tag.strip().replace("_", "-").split("-", 1)[0].casefold()


def chunks(
    text: str, sentences: Sequence[tuple[int, int]], size: int = CHUNK_CHARS
) -> list[tuple[int, int]]:
    """Runs of whole sentences of at most ``size`` characters; a longer sentence is cut
    at the last whitespace before ``size`` (or at ``size`` when it has none)."""
    pieces: list[tuple[int, int]] = []
    for begin, end in sentences:
        while end - begin > size:
            cut = text.rfind(" ", begin + size // 2, begin + size)
            cut = cut if cut > begin else begin + size
            pieces.append((begin, cut))
            begin = cut
            while begin < end and text[begin].isspace():
                begin += 1
        if begin < end:
            pieces.append((begin, end))
    merged: list[tuple[int, int]] = []
    for begin, end in pieces:
        if merged and end - merged[-1][0] <= size:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((begin, end))
    return merged


@dataclass(slots=True)
class Perspective:
    """The Perspective endpoints' work: languages, scoring within a deadline, feedback."""

    db: Database
    scorer: Scorer
    policies: PolicyCache
    deadline_s: float = 0.7

    # -- attributes and languages ------------------------------------------------------------

    def available(self) -> dict[str, str]:
        """The attributes the running classifier can score, with their categories."""
        categories = set(self.scorer.classifier.categories)
        return {name: cat for name, cat in ATTRIBUTES.items() if cat in categories}

    @property
    def model_languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.scorer.languages)) or ("en",)

    async def detect(self, text: str) -> list[str]:
        """The text's language, when it can be identified (offline, off the event loop)."""
        found = await asyncio.to_thread(detect, text[:MAX_LANGUAGE_SAMPLE])
        return [] if found is None else [found.language]

    async def languages(
        self, text: str, requested: Sequence[str], attributes: Sequence[str]
    ) -> Languages:
        """The request's languages, refused (as Perspective refuses them) when the model
        cannot read them; without ``languages``, the text's own, identified offline."""
        readable = set(self.model_languages)
        sample = text[:MAX_LANGUAGE_SAMPLE]
        detected = tuple(await self.detect(sample))
        if requested:
            asked = tuple(dict.fromkeys(base_language(tag) for tag in requested if tag.strip()))
            unreadable = [tag for tag in asked if tag not in readable]
            if unreadable:
                raise _not_supported(attributes[0], unreadable, requested=True)
            return Languages(tuple(requested), detected or asked)
        if not detected:
            if not any(char.isalpha() for char in sample):
                raise PerspectiveRefusal("LANGUAGE_DETECTION_FAILED", "Unable to detect language")
            # Too short or too mixed to tell: read as the model's first language, as the
            # moderation path reads such comments (mostly names, emoji and "lol").
            detected = (self.model_languages[0] if "en" not in readable else "en",)
        if detected[0] not in readable:
            raise _not_supported(attributes[0], list(detected), requested=False)
        return Languages(detected, detected)

    # -- scoring within the deadline ---------------------------------------------------------

    async def analyze(
        self,
        text: str,
        *,
        sentences: Sequence[tuple[int, int]],
        spans: bool,
        languages: Languages,
        started: float,
        disconnected: Callable[[], bool] = lambda: False,
    ) -> Analysis:
        """Score ``text`` within the deadline counted from ``started`` (loop time).

        ``sentences``: the text's sentence spans. With ``spans`` the answer carries a
        score per sentence (per chunk of sentences for a long text)."""
        loop = asyncio.get_running_loop()
        deadline = started + self.deadline_s - ANSWER_MARGIN_S
        long = len(text) > CHUNK_CHARS
        if long:
            units = chunks(text, sentences)
            order = await self._priority(text, units)
        else:
            units = [(0, len(text)), *(sentences if spans else ())]
            order = list(range(len(units)))
        # A short text and its sentences go to the model as one job; a long one in rounds.
        results = await self._score_rounds(
            text, units, order, deadline, disconnected, loop, rounds=long
        )
        if not results:
            raise NotScoredInTime(
                "the comment could not be scored within the deadline; retry shortly",
                retry_after=1.0,
            )
        if long:
            summary = _maximum([results[i] for i in sorted(results)])
            span_units = sorted(results) if spans else []
        else:
            if 0 not in results:  # the whole text is always the first unit scored
                raise NotScoredInTime("the comment could not be scored within the deadline")
            summary = results[0]
            span_units = [i for i in range(1, len(units)) if i in results] if spans else []
        scored = [units[i] for i in sorted(results)] if long else [units[0]]
        return Analysis(
            summary=summary,
            spans=[(*units[i], results[i]) for i in span_units],
            scored=_merge(scored),
            complete=not long or len(results) == len(units),
            languages=languages,
        )

    async def _priority(self, text: str, units: Sequence[tuple[int, int]]) -> list[int]:
        """Chunks with a banned or suspect term first, then in reading order."""
        async with self.db.transaction(write=False) as store:
            policy = await self.policies.current(store)

        def flagged() -> list[bool]:
            return [
                bool(policy.banned.find(text[b:e]) or policy.suspect.find(text[b:e]))
                for b, e in units
            ]

        marks = await asyncio.to_thread(flagged)
        return sorted(range(len(units)), key=lambda i: (not marks[i], i))

    async def _score_rounds(
        self,
        text: str,
        units: Sequence[tuple[int, int]],
        order: Sequence[int],
        deadline: float,
        disconnected: Callable[[], bool],
        loop: asyncio.AbstractEventLoop,
        *,
        rounds: bool,
    ) -> dict[int, Scores]:
        results: dict[int, Scores] = {}
        position = 0
        while position < len(order):
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            per_char = self.scorer.seconds_per_char()
            # Small rounds: a round already running cannot be taken back, and other
            # requests' texts queue between rounds.
            budget = min(remaining * 0.7, ROUND_S) / per_char if per_char else 0.0
            picked = [order[position]]
            size = units[picked[0]][1] - units[picked[0]][0]
            limit = position + self.scorer.max_batch if rounds else len(order)
            for index in order[position + 1 : limit]:
                length = units[index][1] - units[index][0]
                if rounds and size + length > budget:
                    break
                picked.append(index)
                size += length
            position += len(picked)
            future = self.scorer.submit(
                [text[units[i][0] : units[i][1]] for i in picked],
                scores_only=True,
                # A whole short text queues with everyone's comments; a long one's first
                # round after them, and its further rounds after everything.
                rank=NOW if not rounds else LATER if results else SOON,
            )
            try:
                answered = await _wait(future, deadline, disconnected, loop)
            finally:
                if not future.done():
                    future.cancel()  # still queued: it must not cost anyone else time
            if not answered:
                break
            scored: list[Scored] = future.result()
            for index, item in zip(picked, scored, strict=True):
                if item.scores is not None:
                    results[index] = item.scores
        return results

    # -- feedback -----------------------------------------------------------------------------

    async def suggest(
        self,
        text: str,
        scores: Mapping[str, float],
        *,
        community_id: str | None,
        client_token: str | None,
        key: ApiKey,
    ) -> None:
        """Store a client's suggested scores (attribute -> value), sent with ``key``, as
        labels for learning in the key's scope."""
        now = utcnow()
        async with self.db.transaction() as store:
            for attribute, value in scores.items():
                await store.add_feedback(
                    Feedback(
                        text=text,
                        attribute=attribute,
                        category=ATTRIBUTES[attribute],
                        value=value,
                        community_id=community_id,
                        client_token=client_token,
                        at=now,
                    ),
                    key,
                )


async def _wait(
    future: asyncio.Future[Any],
    deadline: float,
    disconnected: Callable[[], bool],
    loop: asyncio.AbstractEventLoop,
) -> bool:
    """Whether ``future`` finished before ``deadline``; raises :class:`ClientGone` when
    the client hangs up meanwhile."""
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return False
        done, _ = await asyncio.wait({future}, timeout=min(remaining, POLL_S))
        if done:
            return not future.cancelled() and future.exception() is None
        if disconnected():
            raise ClientGone


def _maximum(scores: Sequence[Scores]) -> Scores:
    folded: dict[str, float] = {}
    for item in scores:
        for category, value in item.items():
            folded[category] = max(value, folded.get(category, 0.0))
    return folded


def _merge(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(ranges):
        if merged and begin <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return merged


def _not_supported(
    attribute: str, languages: Sequence[str], *, requested: bool
) -> PerspectiveRefusal:
    """Perspective's message, word for word (clients parse it for the attribute and the
    languages)."""
    return PerspectiveRefusal(
        "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
        f"Attribute {attribute} does not support request languages: {', '.join(languages)}",
        attribute=attribute,
        languages=list(languages),
        requested=requested,
    )
