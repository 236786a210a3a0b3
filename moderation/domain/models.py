"""The domain's plain data: comments, decisions, reasons, articles, authors, keys."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from moderation.domain.statements import Statement


class Role(enum.IntEnum):
    """Ordered: a role can do everything the roles below it can."""

    site = 1
    moderator = 2
    admin = 3


class Action(enum.StrEnum):
    approve = "approve"
    hold = "hold"
    reject = "reject"


class Status(enum.StrEnum):
    approved = "approved"
    pending = "pending"
    rejected = "rejected"


STATUS_OF: Mapping[Action, Status] = {
    Action.approve: Status.approved,
    Action.hold: Status.pending,
    Action.reject: Status.rejected,
}

SEVERITY: Mapping[Action, int] = {Action.approve: 0, Action.hold: 1, Action.reject: 2}


class Ground(enum.StrEnum):
    """What a decision rests on (EU DSA Art. 17(3)(d) and (e)): the community guidelines,
    or the law (then the decision names the law broken, ``legal_ground``)."""

    guidelines = "guidelines"
    illegal = "illegal"


class ArticleMode(enum.StrEnum):
    auto = "auto"
    premoderate = "premoderate"
    closed = "closed"


class AuthorStatus(enum.StrEnum):
    active = "active"
    premoderated = "premoderated"
    banned = "banned"


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a decision was taken; ``action`` is the outcome this reason alone asks for."""

    code: str
    action: Action
    message: str
    rule: str | None = None
    category: str | None = None
    score: float | None = None
    threshold: float | None = None
    guideline: str | None = None
    terms: tuple[str, ...] = ()
    #: For ``example``: the nearest example of the rule (shown to moderators only).
    example: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "action": self.action.value,
            "rule": self.rule,
            "category": self.category,
            "score": self.score,
            "threshold": self.threshold,
            "guideline": self.guideline,
            "message": self.message,
        }
        if self.terms:
            data["terms"] = list(self.terms)
        if self.example is not None:
            data["example"] = self.example
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reason:
        return cls(
            code=data["code"],
            action=Action(data.get("action", "hold")),
            message=data.get("message", ""),
            rule=data.get("rule"),
            category=data.get("category"),
            score=data.get("score"),
            threshold=data.get("threshold"),
            guideline=data.get("guideline"),
            terms=tuple(data.get("terms", ())),
            example=data.get("example"),
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the guidelines say about one text: the engine's pure output."""

    action: Action
    reasons: tuple[Reason, ...]
    message: str


@dataclass(frozen=True, slots=True)
class Decision:
    id: int
    comment_id: str
    action: Action
    by: str  # "auto" | "moderator"
    moderator: str | None
    reasons: tuple[Reason, ...]
    message: str
    scores: Mapping[str, float]
    classifier: str | None
    guidelines_version: int
    at: datetime
    note: str | None = None
    #: The id of the moderator's key (names are unique only among active keys).
    moderator_key_id: str | None = None
    ground: Ground = Ground.guidelines
    #: For ``Ground.illegal``: the law the comment breaks, in the moderator's words.
    legal_ground: str | None = None
    #: The statement of reasons (EU DSA Art. 17) of a restricting decision, as issued.
    statement: Statement | None = None


@dataclass(frozen=True, slots=True)
class DecisionDraft:
    """A decision about to be recorded: what was decided, by whom, and why."""

    action: Action
    by: str  # "auto" | "moderator"
    reasons: tuple[Reason, ...]
    message: str
    scores: Mapping[str, float] | None
    classifier: str | None
    moderator: str | None = None
    moderator_key_id: str | None = None
    note: str | None = None
    #: False when the decision re-uses earlier scores (moderators, reader reports): the
    #: comment's stored scores and automatic action then stay those of its last scoring.
    store_scores: bool = True
    #: The text's sentence embedding (a unit vector), stored with the scores.
    embedding: Any = None
    ground: Ground = Ground.guidelines
    legal_ground: str | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    id: str
    article_id: str
    author_id: str
    text: str | None
    status: Status
    created_at: datetime
    updated_at: datetime
    author_name: str | None = None
    parent_id: str | None = None
    article_tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    deleted_at: datetime | None = None
    decision: Decision | None = None
    history: tuple[Decision, ...] = ()
    #: Grows by one with every edit, decision and deletion: a moderator's decision names
    #: the revision they read, so a comment changed since is not decided unseen.
    revision: int = 0
    #: The website (``domain/scopes.py``) the comment belongs to; None: the default scope.
    #: Its ids (``id``, ``article_id``, ``author_id``, ``parent_id``) are stored ids.
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class Article:
    id: str
    mode: ArticleMode
    title: str | None
    url: str | None
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Author:
    id: str
    status: AuthorStatus
    reason: str | None
    counts: Mapping[str, int]
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    #: Requests per second; None: the role's configured default; 0: unlimited.
    rate_limit: float | None = None
    #: The website whose data the key sees and changes (``domain/scopes.py``); None:
    #: the default scope.
    scope: str | None = None


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only clock the service reads)."""
    return datetime.now(UTC)


ACTIONS: tuple[str, ...] = tuple(action.value for action in Action)
