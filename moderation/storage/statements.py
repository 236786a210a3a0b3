"""Prebuilt statements and SQL helpers shared by the repositories (see ``UnitOfWork._run``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import orjson
from sqlalchemy import BigInteger, Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from moderation.domain.appeals import APPEAL_CODE
from moderation.domain.errors import ValidationFailed
from moderation.domain.models import Status
from moderation.domain.records import HELD_ELSEWHERE
from moderation.domain.text import text_problem
from moderation.storage.tables import (
    ApiKeyRow,
    ArticleRow,
    AuthorRow,
    Base,
    CommentRow,
    DecisionRow,
    GuidelinesVersionRow,
    ShadowRunRow,
    WebhookEventRow,
    WebhookRow,
)


# Prebuilt statements for the per-comment hot path (see ``Store._run``).
def table_of(row_class: type[Base]) -> Table:
    return cast(Table, row_class.__table__)


COMMENTS = table_of(CommentRow)
KEYS = table_of(ApiKeyRow)
KEY_BY_HASH = select(*KEYS.c).where(KEYS.c.key_hash == bindparam("key_hash"))
LATEST_GUIDELINES = select(func.max(table_of(GuidelinesVersionRow).c.version))
ARTICLES = table_of(ArticleRow)
ARTICLE = select(*ARTICLES.c).where(ARTICLES.c.id == bindparam("id"))
AUTHORS = table_of(AuthorRow)
AUTHOR_STATUS = select(AUTHORS.c.status).where(AUTHORS.c.id == bindparam("id"))
DECISION_COLUMNS = tuple(c.key for c in table_of(DecisionRow).c if c.key != "id")
INSERT_DECISION = insert(table_of(DecisionRow)).returning(table_of(DecisionRow).c.id)
UPDATE_COMMENT = (
    update(COMMENTS)
    .where(COMMENTS.c.id == bindparam("_id"))
    .values(revision=COMMENTS.c.revision + 1)
)
INSERT_EVENT = insert(table_of(WebhookEventRow))
WEBHOOKS = table_of(WebhookRow)
ACTIVE_WEBHOOKS = (
    select(*WEBHOOKS.c).where(WEBHOOKS.c.deleted_at.is_(None)).order_by(WEBHOOKS.c.created_at)
)
SHADOW_RUNS = table_of(ShadowRunRow)
ACTIVE_SHADOW_RUN = (
    select(*SHADOW_RUNS.c)
    .where(SHADOW_RUNS.c.stopped_at.is_(None))
    .order_by(SHADOW_RUNS.c.id.desc())
    .limit(1)
)
INSERT_IGNORE = {
    postgres: {
        table.name: (pg_insert if postgres else sqlite_insert)(table).on_conflict_do_nothing()
        for table in Base.metadata.tables.values()
    }
    for postgres in (False, True)
}

GUIDELINES_LOCK = 0x67756964  # "guid": fixed advisory-lock key for guideline versions


def json_list(raw: Any) -> tuple[str, ...]:
    if not raw or raw == "[]":
        return ()
    value = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    return tuple(value or ())


def as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        # SQLite keeps naive UTC text; parsing it with its offset is the cheap path.
        return datetime.fromisoformat(value + "+00:00" if len(value) <= 26 else value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def joined(values: Sequence[str]) -> str:
    # ",a,b," lets one LIKE '%,a,%' filter on both SQLite and PostgreSQL.
    return f",{','.join(values)}," if values else ""


def queue_filter(
    now: datetime, article_id: str | None, category: str | None, reason: str | None
) -> list[Any]:
    conditions: list[Any] = [
        # Pending comments, and any whose restriction is appealed (EU DSA Art. 20).
        or_(
            CommentRow.status == Status.pending.value,
            CommentRow.queue_codes.contains(f",{APPEAL_CODE},", autoescape=True),
        ),
        # Holds reviewed elsewhere (Coral's queue) are pending but never queued here.
        CommentRow.priority > HELD_ELSEWHERE,
        CommentRow.deleted_at.is_(None),
    ]
    if article_id:
        conditions.append(CommentRow.article_id == article_id)
    if category:
        conditions.append(CommentRow.queue_categories.contains(f",{category},", autoescape=True))
    if reason:
        conditions.append(CommentRow.queue_codes.contains(f",{reason},", autoescape=True))
    return conditions


def claimable(key_id: str, now: datetime) -> Any:
    return or_(
        CommentRow.claimed_by.is_(None),
        CommentRow.claim_expires_at <= now,
        CommentRow.claimed_by == key_id,
    )


# -- keyset pagination ------------------------------------------------------------------------


def encode_key_value(value: Any) -> str:
    """One sort-key value as cursor text."""
    return as_utc(value).isoformat() if isinstance(value, datetime) else str(value)


def decode_key(order: Sequence[tuple[Any, bool]], values: Sequence[str]) -> list[Any]:
    """Cursor text back to the columns' values; a malformed cursor is the caller's error."""
    if len(values) != len(order):
        raise ValidationFailed("the cursor does not belong to this list", code="invalid_cursor")
    decoded: list[Any] = []
    for (column, _), value in zip(order, values, strict=True):
        kind = _python_type(column)
        try:
            if kind is datetime:
                parsed = datetime.fromisoformat(value)
                # In UTC here, as the column stores it: a zone that moves the instant
                # past year 1 or 9999 fails now rather than when the query is bound.
                decoded.append(
                    parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
                )
            elif kind is int:
                number = int(value)
                bits = 64 if isinstance(_implementation(column), BigInteger) else 32
                if not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
                    raise OverflowError  # beyond the column (PostgreSQL's INTEGER: 32 bits)
                decoded.append(number)
            else:
                if text_problem(value):
                    raise ValueError
                decoded.append(value)
        except (ValueError, OverflowError):
            raise ValidationFailed(
                "the cursor does not belong to this list", code="invalid_cursor"
            ) from None
    return decoded


def _implementation(column: Any) -> Any:
    # A TypeDecorator (UTCDateTime) reports ``object``: its implementation knows.
    return getattr(column.type, "impl", column.type)


def _python_type(column: Any) -> type:
    return cast(type, _implementation(column).python_type)


def after_key(order: Sequence[tuple[Any, bool]], values: Sequence[Any]) -> Any:
    """Rows strictly after ``values`` in ``order``: (a > x) or (a = x and b > y) …"""
    (column, descending), *rest = order
    beyond = column < values[0] if descending else column > values[0]
    if not rest:
        return beyond
    return or_(beyond, and_(column == values[0], after_key(rest, values[1:])))


def pack_vector(vector: Any) -> bytes | None:
    """An embedding as stored: float16, 2 bytes a dimension (cosines change < 1e-3)."""
    return None if vector is None else np.asarray(vector, dtype=np.float16).tobytes()


def unpack_vector(raw: bytes | None) -> Any:
    return None if raw is None else np.frombuffer(raw, dtype=np.float16)
