"""Records the services read and write besides comments: the queue, webhooks and their
events, the audit log, shadow runs, and the stored comments a backtest replays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from moderation.domain.models import Action, ArticleMode, AuthorStatus, Comment


@dataclass(frozen=True, slots=True)
class QueueEntry:
    comment: Comment
    priority: int
    codes: tuple[str, ...]
    claimed_by: str | None
    claimed_by_name: str | None
    claim_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    id: str
    webhook_id: str
    url: str
    secret: str
    type: str
    body: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    events: tuple[str, ...]
    created_by: str
    created_at: datetime
    #: The scope whose events it receives (that of the admin key that made it).
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    event_id: str
    type: str
    comment_id: str
    created_at: datetime
    attempts: int
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    actor: str
    action: str
    target: str | None
    details: Mapping[str, Any]
    at: datetime
    actor_key_id: str | None = None
    #: The scope of the key that acted (None: the default scope, or no key).
    actor_scope: str | None = None


@dataclass(frozen=True, slots=True)
class QueueState:
    """Why and how urgently a pending comment waits (``decisions.priority``)."""

    priority: int
    codes: tuple[str, ...]
    categories: tuple[str, ...]


HELD_ELSEWHERE = -1
"""The queue priority of a hold reviewed outside this service (Coral's queue): stored as
pending like any hold, with its codes, but never listed, claimed or counted by the queue."""


@dataclass(frozen=True, slots=True)
class ShadowRun:
    id: int
    document: Mapping[str, Any]
    note: str | None
    started_by: str
    started_at: datetime
    stopped_at: datetime | None


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """Which stored comments a backtest or suggestion looks at."""

    since: datetime | None = None
    until: datetime | None = None
    article_id: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(slots=True)  # not frozen: 100,000 of these are built per backtest
class Case:
    """One stored comment, as the storage layer hands it over.

    ``text`` is ``None`` when the author deleted the comment (term and link checks
    then find nothing); ``scores`` is ``None`` when the classifier was
    unavailable; ``article_tags`` are casefolded; ``decided`` is the latest
    *automatic* decision and ``moderator`` the latest moderator decision, if any.
    """

    comment_id: str
    text: str | None
    scores: Mapping[str, float] | None
    classifier: str
    article_tags: frozenset[str]
    article_mode: ArticleMode
    author_status: AuthorStatus
    decided: Action
    moderator: Action | None
    created_at: datetime
    #: The text's sentence embedding as stored (float16 bytes); None when none was made.
    embedding: bytes | None = None


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, and the key of its last item when more follow (else None).

    The key is the list's sort key as text; the HTTP edge turns it into an opaque
    ``next_cursor`` and back (keyset pagination: a page never repeats or skips an item
    because others were added meanwhile).
    """

    items: list[T]
    next_after: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Label:
    """A moderator's decision about a comment, as a label for learning: the comment's
    text, what the moderator decided (and the rule they named, if any), and the rules
    behind the automatic decision they reviewed."""

    comment_id: str
    text: str
    action: Action
    rule: str | None
    auto_action: Action | None
    auto_rules: tuple[str, ...]
    scores: Mapping[str, float] | None
    classifier: str | None
    article_tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Feedback:
    """A Perspective client's suggested score for one attribute of a text
    (``comments:suggestscore``): a label for learning, as a moderator's decision is.
    ``value`` ≥ 0.5 says the text has the attribute (Coral sends 1 on reject, 0 on approve)."""

    text: str
    attribute: str
    category: str
    value: float
    community_id: str | None
    client_token: str | None
    at: datetime
    id: int | None = None
