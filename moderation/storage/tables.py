"""SQLAlchemy 2 models. The schema itself is owned by the Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way out on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


STORED_ID = 265
"""A stored comment, article or author id: ``"<scope>/<id>"`` (64 + 1 + 200 characters;
``domain/scopes.py``)."""


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class ApiKeyRow(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        # Decisions and the audit log name keys: one active key per name and role.
        Index(
            "uq_api_keys_active_name",
            "role",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    #: Requests per second for this key; None: its role's default; 0: unlimited.
    rate_limit: Mapped[float | None]
    #: The website the key is scoped to (migration 0008); None: the default scope.
    scope: Mapped[str | None] = mapped_column(String(64))


class GuidelinesVersionRow(Base):
    __tablename__ = "guideline_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    document: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)


class ArticleRow(Base):
    __tablename__ = "articles"

    id: Mapped[str] = mapped_column(String(STORED_ID), primary_key=True)
    title: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[Any]]
    mode: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AuthorRow(Base):
    __tablename__ = "authors"

    id: Mapped[str] = mapped_column(String(STORED_ID), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class CommentRow(Base):
    __tablename__ = "comments"
    __table_args__ = (
        Index("ix_comments_status_created", "status", "created_at"),
        Index("ix_comments_article", "article_id"),
        Index("ix_comments_author", "author_id"),
        Index("ix_comments_queue", "status", "priority", "created_at"),
        Index("ix_comments_scope_queue", "scope", "status", "priority", "created_at"),
        Index("ix_comments_scope_updated", "scope", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(STORED_ID), primary_key=True)
    article_id: Mapped[str] = mapped_column(String(STORED_ID))
    author_id: Mapped[str] = mapped_column(String(STORED_ID))
    author_name: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[str | None] = mapped_column(String(STORED_ID))
    text: Mapped[str | None] = mapped_column(Text)
    # Idempotent retries compare digests, which stay after the text is erased.
    text_sha256: Mapped[str] = mapped_column(String(64))
    article_tags: Mapped[list[Any]]
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    status: Mapped[str] = mapped_column(String(16))
    scores: Mapped[dict[str, Any] | None]
    classifier: Mapped[str | None] = mapped_column(String(100))
    decision_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    # The review queue (migration 0002): why it waits, how urgent, who holds it.
    priority: Mapped[int] = mapped_column(Integer, server_default="0")
    queue_codes: Mapped[str] = mapped_column(String(400), server_default="")
    queue_categories: Mapped[str] = mapped_column(String(400), server_default="")
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    claimed_by_name: Mapped[str | None] = mapped_column(String(200))
    claim_expires_at: Mapped[datetime | None]
    # Latest scoring decision and latest human one, denormalised for fast backtests.
    auto_action: Mapped[str | None] = mapped_column(String(16))
    moderator_action: Mapped[str | None] = mapped_column(String(16))
    # The text's sentence embedding as float16 (768 bytes), for backtests of examples.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    # One more with every edit, decision and deletion (the resource's ``revision``).
    revision: Mapped[int] = mapped_column(Integer, server_default="0")
    # The website (migration 0008; '' for the default scope): ids are stored prefixed
    # with it (``domain/scopes.py``), and this column filters the queue and lists.
    scope: Mapped[str] = mapped_column(String(64), server_default="")


class DecisionRow(Base):
    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_comment", "comment_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    comment_id: Mapped[str] = mapped_column(ForeignKey("comments.id"))
    action: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(16))
    moderator: Mapped[str | None] = mapped_column(String(200))
    reasons: Mapped[list[Any]]
    message: Mapped[str] = mapped_column(Text)
    scores: Mapped[dict[str, Any]]
    classifier: Mapped[str | None] = mapped_column(String(100))
    guidelines_version: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]
    moderator_key_id: Mapped[str | None] = mapped_column(String(32))
    #: ``guidelines`` or ``illegal`` (EU DSA Art. 17; migration 0011) and, for ``illegal``,
    #: the law the comment breaks.
    ground: Mapped[str] = mapped_column(String(16), server_default="guidelines")
    legal_ground: Mapped[str | None] = mapped_column(Text)
    #: The statement of reasons of a restricting decision (``domain/statements.py``; EU DSA
    #: Art. 17), as issued; None for approvals and for decisions before migration 0011.
    statement: Mapped[dict[str, Any] | None]


class ReportRow(Base):
    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("comment_id", "reporter_id", name="uq_reports_reporter"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    comment_id: Mapped[str] = mapped_column(ForeignKey("comments.id"))
    reporter_id: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class WebhookRow(Base):
    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[Any]]
    secret: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    #: The scope whose events it receives (migration 0008); None: the default scope.
    scope: Mapped[str | None] = mapped_column(String(64))


class WebhookEventRow(Base):
    """The transactional outbox: written with the decision, delivered by the sender."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        Index("ix_webhook_events_due", "delivered_at", "next_attempt_at"),
        Index("ix_webhook_events_webhook", "webhook_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id"))
    type: Mapped[str] = mapped_column(String(40))
    comment_id: Mapped[str] = mapped_column(String(STORED_ID))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


class AuditRow(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_at", "at"), Index("ix_audit_scope", "scope"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str | None] = mapped_column(String(STORED_ID))
    details: Mapped[dict[str, Any]]
    at: Mapped[datetime]
    actor_key_id: Mapped[str | None] = mapped_column(String(32))
    #: Whose admins read the entry (migration 0016): a scope ('' the default scope), or
    #: None for what every scope shares (the guidelines, shadow runs, integrations).
    scope: Mapped[str | None] = mapped_column(String(64))


class InstanceRow(Base):
    """A running service process, by heartbeat (to share rate limits between them)."""

    __tablename__ = "service_instances"
    __table_args__ = (Index("ix_service_instances_heartbeat_at", "heartbeat_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]


class ShadowRunRow(Base):
    """Proposed guidelines run beside the live ones (shadow mode)."""

    __tablename__ = "shadow_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document: Mapped[dict[str, Any]]
    note: Mapped[str | None] = mapped_column(Text)
    started_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]


class ShadowDecisionRow(Base):
    __tablename__ = "shadow_decisions"
    __table_args__ = (Index("ix_shadow_decisions_run", "run_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("shadow_runs.id"))
    comment_id: Mapped[str] = mapped_column(String(STORED_ID))
    live_action: Mapped[str] = mapped_column(String(16))
    shadow_action: Mapped[str] = mapped_column(String(16))
    classifier: Mapped[str] = mapped_column(String(100))
    reasons: Mapped[list[Any]]
    at: Mapped[datetime]


class PerspectiveFeedbackRow(Base):
    """A Perspective ``comments:suggestscore`` call: a client's label for one attribute.

    One row per (scope, community, client token, attribute): a later suggestion for the
    same comment replaces the earlier one (Coral suggests again when a decision changes);
    another website's, with the same community and token, does not."""

    __tablename__ = "perspective_feedback"
    __table_args__ = (
        UniqueConstraint(
            "scope",
            "community_id",
            "client_token",
            "attribute",
            name="uq_perspective_feedback_token",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    community_id: Mapped[str | None] = mapped_column(String(200))
    client_token: Mapped[str | None] = mapped_column(String(200))
    attribute: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(64))
    value: Mapped[float]
    text: Mapped[str] = mapped_column(Text)
    key_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    #: The scope of the key that sent it (migration 0017; '' the default scope; None for
    #: a suggestion stored before whose key name more than one scope used): learning
    #: learns from its own website's suggestions only.
    scope: Mapped[str | None] = mapped_column(String(64))


class LearningOfferRow(Base):
    """What ``POST /v1/guidelines/learn`` last offered one website (migration 0018): a
    rule, a label and the digest of a text's :func:`~moderation.domain.guidelines.
    example_key` (no reader's words are kept here). An offer older than the guidelines
    version in force was seen by an admin who has since saved the guidelines: adopted or
    left out, it is not offered again."""

    __tablename__ = "learning_offers"
    __table_args__ = (
        UniqueConstraint("scope", "rule", "label", "text_sha256", name="uq_learning_offers"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(16))
    text_sha256: Mapped[str] = mapped_column(String(64))
    offered_at: Mapped[datetime]


class IntegrationRow(Base):
    """One integration's settings (``coral``: the External Moderation Phase's signing secret)."""

    __tablename__ = "integrations"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    settings: Mapped[dict[str, Any]]
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class NoticeRow(Base):
    """A notice under the EU DSA, Art. 16 (migration 0010): the reporter's name and email
    are personal data, kept for the website's follow-up and erased (with the explanation)
    when the comment is deleted."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_comment", "comment_id", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    comment_id: Mapped[str] = mapped_column(ForeignKey("comments.id"))
    scope: Mapped[str] = mapped_column(String(64), server_default="")
    category: Mapped[str] = mapped_column(String(100))
    explanation: Mapped[str | None] = mapped_column(Text)
    legal_ground: Mapped[str | None] = mapped_column(Text)
    reporter_name: Mapped[str | None] = mapped_column(Text)
    reporter_email: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16))
    received_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class AppealRow(Base):
    """An appeal under the EU DSA, Art. 20 (migration 0011): the author's complaint about a
    restricting decision, and a moderator's answer. The explanation is erased when the
    comment is deleted."""

    __tablename__ = "appeals"
    __table_args__ = (Index("ix_appeals_comment", "comment_id", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    comment_id: Mapped[str] = mapped_column(ForeignKey("comments.id"))
    scope: Mapped[str] = mapped_column(String(64), server_default="")
    decision_id: Mapped[int] = mapped_column(Integer)
    appealed_by: Mapped[str] = mapped_column(String(16))
    appealed_moderator_key_id: Mapped[str | None] = mapped_column(String(32))
    explanation: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    moderator: Mapped[str | None] = mapped_column(String(200))
    moderator_key_id: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class QueueChangeRow(Base):
    """The live queue's change feed (migration 0013; ``services/live.py``): one row per
    change a moderator's page should hear of, written with the change; read by every
    process's ``workers/live_feed`` after the last id it saw, pruned after an hour."""

    __tablename__ = "queue_changes"
    # AUTOINCREMENT on SQLite: ids never go back, even when pruning empties the table.
    __table_args__ = (Index("ix_queue_changes_at", "at"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    comment_id: Mapped[str] = mapped_column(String(STORED_ID))
    scope: Mapped[str] = mapped_column(String(64), server_default="")
    status: Mapped[str | None] = mapped_column(String(16))
    actor_key_id: Mapped[str | None] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime]


class StreamTokenRow(Base):
    """A short-lived, single-use token that opens one live-queue stream (migration 0013):
    EventSource cannot send an Authorization header, and the key must stay out of URLs.
    Stored as the token's SHA-256 digest."""

    __tablename__ = "stream_tokens"
    __table_args__ = (Index("ix_stream_tokens_expires_at", "expires_at"),)

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime]
