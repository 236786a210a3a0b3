"""Request bodies (pydantic, validated at the edge) and response serialisation.

Limits (also in README "Limits"): ids are 1-200 characters of letters, digits
and ``. _ : @ -``, starting with a letter or digit; a comment's text is 1 to
20,000 characters and not blank; ``metadata`` is at most 16 KiB as JSON;
no string may contain NUL characters.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from moderation.domain.appeals import MAX_EXPLANATION_CHARS as APPEAL_EXPLANATION_CHARS
from moderation.domain.appeals import MAX_REASON_CHARS as MAX_APPEAL_REASON_CHARS
from moderation.domain.events import EVENTS
from moderation.domain.guidelines import CATEGORIES
from moderation.domain.notices import (
    MAX_EMAIL_CHARS,
    MAX_EXPLANATION_CHARS,
    MAX_LEGAL_GROUND_CHARS,
    MAX_REPORTER_NAME_CHARS,
    STATEMENT_CATEGORIES,
    NewNotice,
)
from moderation.domain.review import MAX_BULK
from moderation.domain.scopes import MAX_SCOPE_CHARS, SCOPE_PATTERN
from moderation.services.comments import NewComment
from moderation.services.keys import MAX_RATE_LIMIT

MAX_TEXT_CHARS = 20_000
MAX_METADATA_BYTES = 16 * 1024
MAX_BATCH = 100

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$"
Id = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=ID_PATTERN)]
#: An opaque list cursor (``http/pagination.py``).
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
CommentText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)]
#: A website's name (``domain/scopes.py``).
Scope = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_SCOPE_CHARS, pattern=SCOPE_PATTERN)
]


def _instant(value: datetime) -> datetime:
    """A moment every backend and every zone conversion can hold: naive means UTC, and
    the year is 1970 to 9998 (year 1 or 9999 overflowed converting to UTC: a 500)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not 1970 <= value.year <= 9998:
        raise ValueError("must be a date between 1970 and 9998")
    return value.astimezone(UTC)


#: A date-time in a query or body (ISO 8601); see :func:`_instant`.
Instant = Annotated[datetime, AfterValidator(_instant)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _not_blank_optional(value: str | None) -> str | None:
    return None if value is None else _not_blank(value)


class CommentIn(_Body):
    id: Id
    article_id: Id
    author_id: Id
    text: CommentText
    author_name: Annotated[str, StringConstraints(max_length=200)] | None = None
    parent_id: Id | None = None
    article_tags: list[Tag] = Field(default_factory=list, max_length=50)
    metadata: dict[str, Any] = Field(default_factory=dict)

    _text = field_validator("text")(_not_blank)

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, ensure_ascii=False).encode("utf-8")) > MAX_METADATA_BYTES:
            raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes as JSON")
        return value

    def to_domain(self) -> NewComment:
        return NewComment(
            id=self.id,
            article_id=self.article_id,
            author_id=self.author_id,
            text=self.text,
            author_name=self.author_name,
            parent_id=self.parent_id,
            article_tags=tuple(self.article_tags),
            metadata=self.metadata,
        )


class BatchIn(_Body):
    # Items are validated one by one so that one bad item becomes one error object.
    comments: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)


class EditIn(_Body):
    text: CommentText

    _text = field_validator("text")(_not_blank)


class ReportIn(_Body):
    reporter_id: Id
    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None


def _statement_category(name: str) -> str:
    if name not in STATEMENT_CATEGORIES:
        raise ValueError("must be a statement category of the EU DSA Transparency Database")
    return name


# The names come from moderation.domain.notices, the one list of them.
StatementCategory = Annotated[
    str,
    AfterValidator(_statement_category),
    WithJsonSchema({"type": "string", "enum": list(STATEMENT_CATEGORIES)}),
]
#: An email address: one ``@``, no spaces, a dot in the domain (what a website can check
#: without sending mail).
Email = Annotated[
    str,
    StringConstraints(
        min_length=3, max_length=MAX_EMAIL_CHARS, pattern=r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$"
    ),
]


class ReporterIn(_Body):
    name: Annotated[str, StringConstraints(max_length=MAX_REPORTER_NAME_CHARS)] | None = None
    email: Email | None = None


class NoticeIn(_Body):
    """A reader's notice under the EU DSA, Art. 16(2): what is illegal and why, optionally
    who reports it, and their statement of good faith (``bona_fide``, which must be true)."""

    category: StatementCategory
    explanation: Annotated[str, StringConstraints(min_length=1, max_length=MAX_EXPLANATION_CHARS)]
    legal_ground: Annotated[str, StringConstraints(max_length=MAX_LEGAL_GROUND_CHARS)] | None = None
    reporter: ReporterIn | None = None
    bona_fide: Literal[True] = Field(
        description="The reporter's statement that the notice is accurate and complete, in"
        " good faith (DSA Art. 16(2)(d)); must be true."
    )

    _explanation = field_validator("explanation")(_not_blank)

    @field_validator("bona_fide", mode="before")
    @classmethod
    def _good_faith(cls, value: Any) -> Any:
        if value is not True:  # JSON true only: not 1, not "true"
            raise ValueError("must be true: the reporter's statement of good faith")
        return value

    def to_domain(self) -> NewNotice:
        reporter = self.reporter or ReporterIn()
        return NewNotice(
            category=self.category,
            explanation=self.explanation,
            legal_ground=self.legal_ground,
            reporter_name=reporter.name,
            reporter_email=reporter.email,
        )


class ArticleIn(_Body):
    title: Annotated[str, StringConstraints(max_length=500)] | None = None
    url: Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://\S+$")] | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    mode: Literal["auto", "premoderate", "closed"] = "auto"


class CheckIn(_Body):
    text: CommentText
    article_tags: list[Tag] = Field(default_factory=list, max_length=50)

    _text = field_validator("text")(_not_blank)


def _score_category(name: str) -> str:
    if name not in CATEGORIES:
        raise ValueError(f"must be one of {', '.join(CATEGORIES)}")
    return name


#: A score category (classifiers.base.CATEGORIES, the one list of them): a filter on an
#: unknown one would silently match nothing.
ScoreCategory = Annotated[
    str,
    AfterValidator(_score_category),
    WithJsonSchema({"type": "string", "enum": list(CATEGORIES)}),
]


class QueueQuery(_Body):
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)
    cursor: Cursor | None = None
    article_id: Id | None = None
    category: ScoreCategory | None = None
    reason: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")] | None = None
    # ``priority`` (default): most urgent first; ``age``: longest waiting first.
    sort: Literal["priority", "age"] = "priority"


class ClaimIn(_Body):
    limit: int = Field(default=10, ge=1, le=100)
    article_id: Id | None = None
    category: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")] | None = None
    # ``priority``: most urgent first; ``age``: longest waiting first.
    sort: Literal["priority", "age"] = "priority"


class BulkDecisionIn(_Body):
    """One decision for several comments (``POST /v1/decisions/bulk``)."""

    ids: list[Id] = Field(min_length=1, max_length=MAX_BULK)
    action: Literal["approve", "reject"]
    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None
    note: Annotated[str, StringConstraints(max_length=5000)] | None = None
    rule: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class SweepIn(_Body):
    """Reject an author's pending comments (``POST /v1/authors/{id}/reject-pending``)."""

    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None
    note: Annotated[str, StringConstraints(max_length=5000)] | None = None
    rule: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class ReleaseIn(_Body):
    ids: list[Id] | None = Field(default=None, max_length=500)


class DecisionIn(_Body):
    action: Literal["approve", "reject"]
    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None
    note: Annotated[str, StringConstraints(max_length=5000)] | None = None
    # The guidelines rule the comment breaks (a rule id): a label for learning.
    rule: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    # The comment's ``revision`` the moderator read: 409 ``comment_changed`` when it moved.
    revision: int | None = Field(default=None, ge=0)
    # What a rejection rests on (EU DSA Art. 17(3)(d), (e)): the guidelines, or the law —
    # then ``legal_ground`` names the law broken.
    ground: Literal["guidelines", "illegal"] = "guidelines"
    legal_ground: (
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_LEGAL_GROUND_CHARS)] | None
    ) = None

    _legal_ground = field_validator("legal_ground")(_not_blank_optional)

    @model_validator(mode="after")
    def _grounds(self) -> DecisionIn:
        if self.ground == "illegal":
            if self.action != "reject":
                raise ValueError("ground illegal is for a rejection; an approval restricts nothing")
            if self.legal_ground is None:
                raise ValueError("ground illegal requires legal_ground: the law the comment breaks")
        elif self.legal_ground is not None:
            raise ValueError("legal_ground is for ground illegal")
        return self


class AppealIn(_Body):
    """The author's appeal (EU DSA Art. 20), relayed by the website."""

    author_id: Id
    explanation: Annotated[
        str, StringConstraints(min_length=1, max_length=APPEAL_EXPLANATION_CHARS)
    ]

    _explanation = field_validator("explanation")(_not_blank)


class AppealDecisionIn(_Body):
    outcome: Literal["upheld", "reversed"]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=MAX_APPEAL_REASON_CHARS)]

    _reason = field_validator("reason")(_not_blank)


class LearnIn(_Body):
    # How many new examples (and counterexamples) at most per rule.
    per_rule: int = Field(default=12, ge=1, le=100)
    samples: int = Field(default=20, ge=0, le=200)


class AuthorIn(_Body):
    status: Literal["active", "premoderated", "banned"]
    reason: Annotated[str, StringConstraints(max_length=1000)] | None = None


def _known_event(name: str) -> str:
    if name not in EVENTS:
        raise ValueError(f"unknown event; expected one of: {', '.join(EVENTS)}")
    return name


# The names come from moderation.domain.events, the one list of them.
Event = Annotated[
    str, AfterValidator(_known_event), WithJsonSchema({"type": "string", "enum": list(EVENTS)})
]


class WebhookIn(_Body):
    url: Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s/?#]+\S*$")]
    events: list[Event] = Field(min_length=1, max_length=len(EVENTS))


class KeyIn(_Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    role: Literal["site", "moderator", "admin"]
    #: Requests per second for this key across all processes; 0: unlimited; absent or
    #: null: its role's default (MODERATION_RATE_LIMIT_<ROLE>).
    rate_limit: float | None = Field(default=None, ge=0, le=MAX_RATE_LIMIT, allow_inf_nan=False)
    #: The website whose data the key sees and changes; absent or null: the default scope
    #: (a scoped admin's keys get its scope).
    scope: Scope | None = Field(
        default=None,
        description="The website whose articles, comments, queue, authors and reports the key"
        " sees and changes (ids are unique within it); absent or null: the default scope. A"
        " scoped admin key makes keys of its own scope only.",
    )


class ListQuery(_Body):
    limit: int = Field(default=50, ge=1, le=500)
    cursor: Cursor | None = None


class BacktestIn(_Body):
    guidelines: dict[str, Any]
    since: Instant | None = None
    until: Instant | None = None
    article_id: Id | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    samples: int = Field(default=20, ge=0, le=200)


class SuggestIn(_Body):
    classifier: Annotated[str, StringConstraints(max_length=100)] | None = None
    target_precision: float = Field(default=0.95, gt=0.5, le=1.0)
    min_evidence: int = Field(default=20, ge=1, le=100_000)
    since: Instant | None = None
    until: Instant | None = None
    article_id: Id | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)


class AuditQuery(_Body):
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: Cursor | None = None
    action: Annotated[str, StringConstraints(pattern=r"^[a-z_.]{1,60}$")] | None = None


class GuidelinesPutQuery(_Body):
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class RecentQuery(_Body):
    limit: int = Field(default=50, ge=1, le=500)
    cursor: Cursor | None = None
    status: Literal["approved", "pending", "rejected"] | None = None
    article_id: Id | None = None
    author_id: Id | None = None


class ShadowIn(_Body):
    guidelines: dict[str, Any]
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class IdentityAuditIn(_Body):
    """``POST /v1/guidelines/audit``: the proposed guidelines to audit (not stored)."""

    guidelines: dict[str, Any]


class PeriodQuery(_Body):
    """A period of a transparency report: ISO 8601 dates or date-times (a date is its
    midnight, UTC; no zone means UTC), ``from`` inclusive, ``to`` exclusive."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: Instant = Field(alias="from")
    end: Instant = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> PeriodQuery:
        if self.start >= self.end:
            raise ValueError("from must be before to")
        return self
