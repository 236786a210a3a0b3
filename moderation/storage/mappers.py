"""Rows to domain objects."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.engine import Row

from moderation.domain.models import (
    Action,
    ApiKey,
    Article,
    ArticleMode,
    Comment,
    Decision,
    Ground,
    Reason,
    Role,
    Status,
)
from moderation.domain.records import ShadowRun, Webhook
from moderation.domain.scopes import from_column
from moderation.domain.statements import Statement
from moderation.storage.tables import (
    ApiKeyRow,
    ArticleRow,
    CommentRow,
    DecisionRow,
    ShadowRunRow,
    WebhookRow,
)


def row_to_webhook(row: WebhookRow | Row[Any]) -> Webhook:
    return Webhook(
        id=row.id,
        url=row.url,
        events=tuple(row.events or ()),
        created_by=row.created_by,
        created_at=row.created_at,
        scope=from_column(row.scope),
    )


def sqlite_datetime(value: str) -> datetime:
    """A DATETIME as SQLAlchemy writes it on SQLite (UTC, no zone), made aware."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def row_to_key(row: ApiKeyRow | Row[Any] | SimpleNamespace) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        role=Role[row.role],
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        rate_limit=row.rate_limit,
        scope=from_column(row.scope),
    )


def row_to_article(row: ArticleRow) -> Article:
    return Article(
        id=row.id,
        mode=ArticleMode(row.mode),
        title=row.title,
        url=row.url,
        tags=tuple(row.tags or ()),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def row_to_decision(row: DecisionRow) -> Decision:
    return Decision(
        id=row.id,
        comment_id=row.comment_id,
        action=Action(row.action),
        by=row.by,
        moderator=row.moderator,
        reasons=tuple(Reason.from_dict(r) for r in row.reasons or ()),
        message=row.message,
        scores=dict(row.scores or {}),
        classifier=row.classifier,
        guidelines_version=row.guidelines_version,
        at=row.at,
        note=row.note,
        moderator_key_id=row.moderator_key_id,
        ground=Ground(row.ground or Ground.guidelines),
        legal_ground=row.legal_ground,
        statement=Statement.from_dict(row.statement) if row.statement else None,
    )


def row_to_comment(
    row: CommentRow, decision: Decision | None, history: tuple[Decision, ...]
) -> Comment:
    return Comment(
        id=row.id,
        article_id=row.article_id,
        author_id=row.author_id,
        author_name=row.author_name,
        parent_id=row.parent_id,
        text=row.text,
        status=Status(row.status),
        article_tags=tuple(row.article_tags or ()),
        metadata=dict(row.meta or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
        decision=decision,
        history=history,
        revision=row.revision,
        scope=from_column(row.scope),
    )


def row_to_shadow_run(row: ShadowRunRow | Row[Any]) -> ShadowRun:
    return ShadowRun(
        id=row.id,
        document=dict(row.document),
        note=row.note,
        started_by=row.started_by,
        started_at=row.started_at,
        stopped_at=row.stopped_at,
    )
