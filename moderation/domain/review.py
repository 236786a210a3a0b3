"""What a moderator sees of a queued comment besides the comment: the lines on its score
bars, its near-identical companions, the thread around it; and the outcome of deciding
many comments at once."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from moderation.domain.guidelines import Guidelines
from moderation.domain.models import Article, Comment
from moderation.domain.records import QueueEntry

MAX_BULK = 100
"""The most comments one bulk decision (``POST /v1/decisions/bulk``) decides."""
MAX_SWEEP = 500
"""The most pending comments one author sweep rejects; the answer says how many remain."""
THREAD_SIZE = 5
"""How many neighbours of a comment (siblings before and after, replies) its context shows."""


class QueueOrder(enum.Enum):
    """The order of the queue and of claims: most urgent first, or longest waiting first."""

    priority = "priority"
    age = "age"


@dataclass(frozen=True, slots=True)
class Lines:
    """A category's hold and reject lines (None: no such line)."""

    hold: float | None
    reject: float | None


@dataclass(frozen=True, slots=True)
class QueueItem:
    """A queue entry with what the page draws from the guidelines in force: the lines on
    its score bars, and the keys it shares with near-identical comments
    (``domain/grouping.py``)."""

    entry: QueueEntry
    lines: Mapping[str, Lines] = field(default_factory=dict)
    duplicate_keys: tuple[str, ...] = ()


def score_lines(
    guidelines: Guidelines, classifier: str | None, tags: tuple[str, ...]
) -> dict[str, Lines]:
    """Per category, the lowest hold and reject lines of the rules on it, for a comment on
    an article with ``tags`` scored by ``classifier`` (overrides applied, as the engine
    applies them)."""
    lines: dict[str, Lines] = {}
    for rule in guidelines.rules_for_tags(frozenset(t.casefold() for t in tags)):
        hold, reject = rule.thresholds_for(classifier or "")
        known = lines.get(rule.category, Lines(None, None))
        lines[rule.category] = Lines(_lowest(known.hold, hold), _lowest(known.reject, reject))
    return lines


def _lowest(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


@dataclass(frozen=True, slots=True)
class Context:
    """A comment's surroundings: its article (None when the website never described it),
    the comment it answers, and a few neighbours in its thread — those answering the same
    comment (or, top-level, the same article) just before and after it, and the first
    replies to it."""

    comment: Comment
    article: Article | None
    parent: Comment | None
    siblings: tuple[Comment, ...] = ()
    replies: tuple[Comment, ...] = ()


@dataclass(frozen=True, slots=True)
class BulkOutcome:
    """One comment of a bulk decision: decided (``comment``), or refused as it would have
    been alone (``error``, with its HTTP status)."""

    comment_id: str
    comment: Comment | None = None
    status: int = 200
    code: str | None = None
    message: str | None = None
