"""Response models: what each operation answers, for ``/openapi.json``.

Responses are serialised by ``moderation/contract.py`` (the one place that turns domain
objects into the contract's JSON); these models describe those shapes. The suite's
Schemathesis run checks every answer against them, so the two cannot drift apart
unnoticed. Extra fields are allowed, as the contract allows them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from moderation.http.guidelines_document import GuidelinesDocument


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class Error(_Out):
    class Body(_Out):
        code: str
        message: str
        details: list[dict[str, str]] | None = None

    error: Body


class ReasonOut(_Out):
    code: str
    action: Literal["approve", "hold", "reject"]
    rule: str | None
    category: str | None
    score: float | None
    threshold: float | None
    guideline: str | None
    message: str


class RedressOut(_Out):
    how: str = Field(description="How the author appeals: through the website, which relays it")
    until: str = Field(description="The last moment to appeal: decision time + appeal_days")


class StatementOut(_Out):
    """A statement of reasons (EU DSA Art. 17), with the Transparency Database's names."""

    decision_visibility: list[
        Literal["DECISION_VISIBILITY_CONTENT_REMOVED", "DECISION_VISIBILITY_CONTENT_DISABLED"]
    ]
    decision_ground: Literal[
        "DECISION_GROUND_ILLEGAL_CONTENT", "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    ]
    illegal_content_legal_ground: str | None
    incompatible_content_ground: str | None
    decision_facts: str
    content_type: list[Literal["CONTENT_TYPE_TEXT"]]
    automated_detection: bool
    automated_decision: Literal[
        "AUTOMATED_DECISION_FULLY",
        "AUTOMATED_DECISION_PARTIALLY",
        "AUTOMATED_DECISION_NOT_AUTOMATED",
    ]
    source_type: Literal["SOURCE_ARTICLE_16", "SOURCE_VOLUNTARY"]
    category: str
    redress: RedressOut


class DecisionOut(_Out):
    id: int
    action: Literal["approve", "hold", "reject"]
    by: Literal["auto", "moderator"]
    moderator: str | None
    reasons: list[ReasonOut]
    message: str
    scores: dict[str, float]
    classifier: str | None
    guidelines_version: int
    at: str
    ground: Literal["guidelines", "illegal"] = Field(
        description="What the decision rests on (EU DSA Art. 17): the community guidelines,"
        " or the law (a moderator's rejection of illegal content)"
    )
    legal_ground: str | None = Field(description="For ground illegal: the law broken")
    statement: StatementOut | None = Field(
        description="The statement of reasons of a rejection, and of a hold while it lasts"
    )


class CommentOut(_Out):
    id: str
    article_id: str
    author_id: str
    author_name: str | None
    parent_id: str | None
    text: str | None
    status: Literal["approved", "pending", "rejected"]
    decision: DecisionOut | None
    article_tags: list[str]
    metadata: dict[str, Any]
    created_at: str
    updated_at: str
    deleted_at: str | None
    #: Grows with every edit, decision and deletion; send it back with a decision.
    revision: int
    scope: str | None = Field(
        description="The website (the key's scope) the comment belongs to; null: the default"
        " scope. The comment's ids are that scope's own."
    )


class CommentWithHistory(CommentOut):
    history: list[DecisionOut]


class BatchOut(_Out):
    results: list[dict[str, Any]]


class NoticeReceivedOut(_Out):
    id: str
    status: Literal["received"]
    received_at: str
    comment_id: str


class NoticeOut(_Out):
    """A notice (EU DSA Art. 16); never the reporter or the explanation."""

    id: str
    comment_id: str
    status: Literal["received", "decided"]
    category: str
    received_at: str
    outcome: Literal["action_taken", "no_action"] | None = None
    decided_at: str | None = None


class AppealOut(_Out):
    """An appeal (EU DSA Art. 20); never the author's explanation."""

    id: str
    comment_id: str
    status: Literal["open", "decided"]
    received_at: str
    outcome: Literal["upheld", "reversed"] | None = None
    decided_at: str | None = None


class ModeratorNoticeOut(NoticeOut):
    """A notice as moderators read it: what the reporter wrote, never who they are."""

    explanation: str | None
    legal_ground: str | None


class ModeratorNoticesOut(_Out):
    items: list[ModeratorNoticeOut]


class ModeratorAppealOut(AppealOut):
    """An appeal as moderators read it: the author's explanation and the appealed
    decision."""

    explanation: str | None
    decision_id: int
    appealed_by: str


class ModeratorAppealsOut(_Out):
    items: list[ModeratorAppealOut]


class ArticleOut(_Out):
    id: str
    title: str | None
    url: str | None
    tags: list[str]
    mode: Literal["auto", "premoderate", "closed"]


class ReportOut(_Out):
    accepted: bool
    counted: bool
    reporters: int
    status: str


class LinesOut(_Out):
    hold: float | None
    reject: float | None


class QueueItem(CommentOut):
    priority: int
    claim: dict[str, Any] | None
    queue_reasons: list[str]
    # Per category, the guidelines' hold and reject lines in force for this comment.
    lines: dict[str, LinesOut] | None = None
    # Keys shared by near-identical comments (copy-paste campaigns): same key, one group.
    duplicate_keys: list[str] | None = None


class ThreadCommentOut(_Out):
    id: str
    author_id: str
    author_name: str | None
    parent_id: str | None
    text: str | None
    status: Literal["approved", "pending", "rejected"]
    deleted: bool
    created_at: str
    relation: Literal["sibling", "reply"] | None = None


class ContextArticleOut(_Out):
    id: str
    title: str | None
    url: str | None
    tags: list[str]


class ContextOut(_Out):
    id: str
    article: ContextArticleOut | None
    parent: ThreadCommentOut | None
    thread: list[ThreadCommentOut]


class BulkResultOut(_Out):
    id: str
    status: int
    comment: CommentOut | None = None
    error: Error.Body | None = None


class BulkOut(_Out):
    results: list[BulkResultOut]
    decided: int
    failed: int


class SweepOut(BulkOut):
    remaining: int


class QueueOut(_Out):
    items: list[QueueItem]
    total: int
    next_cursor: str | None


class ClaimOut(_Out):
    items: list[QueueItem]


class CommentsOut(_Out):
    items: list[CommentOut]
    next_cursor: str | None


class AuthorOut(_Out):
    author_id: str
    status: Literal["active", "premoderated", "banned"]
    counts: dict[str, int]
    recent: list[dict[str, Any]]


class GuidelinesOut(GuidelinesDocument):
    model_config = ConfigDict(extra="allow")


class Anything(_Out):
    pass


class CheckOut(_Out):
    action: Literal["approve", "hold", "reject"]
    reasons: list[ReasonOut]
    message: str
    scores: dict[str, float]
    classifier: str
    guidelines_version: int


class HealthOut(_Out):
    status: Literal["ok", "degraded"]
    classifier: str
    database: Literal["ok", "unavailable"]


class VersionOut(_Out):
    version: int
    created_by: str
    created_at: str
    note: str | None
    changes: list[dict[str, Any]]


class VersionsOut(_Out):
    items: list[VersionOut]
    next_cursor: str | None


class DeliveryOut(_Out):
    event_id: str
    type: str
    comment_id: str


class BacklogOut(_Out):
    #: Undelivered events; the oldest one's time; how many of them failed at least once.
    pending: int
    oldest_pending_at: str | None
    failing: int


class WebhookOut(_Out):
    id: str
    url: str
    events: list[str]
    created_by: str
    created_at: str
    #: The scope whose events it receives (its creator's); null: the default scope.
    scope: str | None = None
    #: In the listing: its delivery backlog, and its newest failing deliveries (up to 5).
    backlog: BacklogOut | None = None
    last_errors: list[DeliveryOut] | None = None


class WebhooksOut(_Out):
    items: list[WebhookOut]
    next_cursor: str | None
    #: The event names a webhook may subscribe to.
    events: list[str] | None = None


class DeliveriesOut(_Out):
    items: list[DeliveryOut]
    next_cursor: str | None


class KeyOut(_Out):
    id: str
    name: str
    role: Literal["site", "moderator", "admin"]
    scope: str | None = None


class KeysOut(_Out):
    items: list[KeyOut]
    next_cursor: str | None


class AuditEntryOut(_Out):
    id: int
    actor: str
    actor_key_id: str | None
    action: str
    at: str


class AuditOut(_Out):
    items: list[AuditEntryOut]
    next_cursor: str | None


class ClassifierOut(_Out):
    name: str
    categories: list[str]


class MeOut(_Out):
    key_id: str
    name: str
    role: Literal["site", "moderator", "admin"]
    scope: str | None = None
    categories: list[str]
    classifier: ClassifierOut
    rules: list[dict[str, str]] | None = None


class LearnedOut(_Out):
    rule: str
    label: Literal["violates", "allowed"]
    text: str
    comment_id: str


class LearnOut(_Out):
    guidelines: dict[str, Any]
    learned: list[LearnedOut]
    backtest: dict[str, Any]


class IdentityAuditWorstOut(_Out):
    sentence: str
    action: Literal["approve", "hold", "reject"]
    category: str | None
    score: float | None
    reasons: list[ReasonOut]


class IdentityAuditTermOut(_Out):
    term: str
    group: str
    forms: list[str]
    sentences: int
    held: int
    rejected: int
    held_share: float
    rejected_share: float
    max_score: float | None
    max_category: str | None
    worst: IdentityAuditWorstOut | None


class IdentityAuditBaselineOut(_Out):
    words: list[str]
    sentences: int
    held: int
    rejected: int
    held_share: float
    rejected_share: float
    max_score: float | None
    max_category: str | None
    worst: IdentityAuditWorstOut | None


class IdentityAuditOut(_Out):
    classifier: str
    guidelines_version: int | None
    proposal: bool
    templates: int
    sentences: int
    flagged: int
    terms: list[IdentityAuditTermOut]
    baseline: IdentityAuditBaselineOut | None


class TransparencyReportOut(_Out):
    """The EU DSA Art. 15 figures of a period (``docs/dsa.md``)."""

    class Notices(_Out):
        total: int
        by_category: dict[str, int]
        median_hours_to_action: float | None

    class Decisions(_Out):
        class Automated(_Out):
            fully: int
            partially: int
            not_: int = Field(alias="not")

        total: int
        by_ground: dict[str, int]
        automated: Automated

    class Appeals(_Out):
        received: int
        upheld: int
        reversed: int
        median_hours_to_decision: float | None

    class Accuracy(_Out):
        decided_by_moderators_after_auto: int
        agreed: int

    from_: str = Field(alias="from")
    to: str
    notices: Notices
    decisions: Decisions
    appeals: Appeals
    automated_accuracy: Accuracy
