"""Queries and writes inside one transaction, in the domain's terms."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from moderation.domain import (
    STATUS_OF,
    Action,
    ApiKey,
    Article,
    ArticleMode,
    Author,
    AuthorStatus,
    Comment,
    Decision,
    Reason,
    Role,
    Status,
)
from moderation.storage.tables import (
    ApiKeyRow,
    ArticleRow,
    AuthorRow,
    CommentRow,
    DecisionRow,
    GuidelinesVersionRow,
    ReportRow,
)


class Store:
    """A repository bound to one session (one transaction)."""

    def __init__(self, session: AsyncSession, *, dialect: str) -> None:
        self._session = session
        self._dialect = dialect

    async def _insert_ignore(self, table: type[Any], values: Mapping[str, Any]) -> bool:
        """INSERT that does nothing on a key conflict (race-free on both backends)."""
        insert = pg_insert if self._dialect == "postgresql" else sqlite_insert
        result = await self._session.execute(
            insert(table).values(**values).on_conflict_do_nothing()
        )
        return bool(getattr(result, "rowcount", 0))

    # -- API keys ---------------------------------------------------------------------------

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        row = await self._session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash))
        return None if row is None else _key(row)

    async def add_key(
        self, key_id: str, name: str, role: Role, key_hash: str, at: datetime
    ) -> ApiKey:
        row = ApiKeyRow(id=key_id, name=name, role=role.name, key_hash=key_hash, created_at=at)
        self._session.add(row)
        await self._session.flush()
        return _key(row)

    async def list_keys(self) -> list[ApiKey]:
        rows = await self._session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at))
        return [_key(row) for row in rows]

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        result = await self._session.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(getattr(result, "rowcount", 0))

    async def touch_key(self, key_id: str, at: datetime) -> None:
        await self._session.execute(
            update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=at)
        )

    # -- guidelines -------------------------------------------------------------------------

    async def latest_guidelines_version(self) -> int:
        value = await self._session.scalar(select(func.max(GuidelinesVersionRow.version)))
        return int(value or 0)

    async def guidelines(self, version: int) -> tuple[dict[str, Any], str, datetime] | None:
        row = await self._session.get(GuidelinesVersionRow, version)
        return None if row is None else (dict(row.document), row.created_by, row.created_at)

    async def add_guidelines(
        self, version: int, document: Mapping[str, Any], by: str, at: datetime, note: str | None
    ) -> None:
        self._session.add(
            GuidelinesVersionRow(
                version=version, document=dict(document), created_by=by, created_at=at, note=note
            )
        )
        await self._session.flush()

    async def guidelines_history(self) -> list[tuple[int, str, datetime, str | None]]:
        rows = await self._session.execute(
            select(
                GuidelinesVersionRow.version,
                GuidelinesVersionRow.created_by,
                GuidelinesVersionRow.created_at,
                GuidelinesVersionRow.note,
            ).order_by(GuidelinesVersionRow.version)
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    # -- articles and authors ----------------------------------------------------------------

    async def article(self, article_id: str) -> Article | None:
        row = await self._session.get(ArticleRow, article_id)
        return None if row is None else _article(row)

    async def put_article(
        self,
        article_id: str,
        *,
        mode: ArticleMode,
        title: str | None,
        url: str | None,
        tags: Sequence[str],
        at: datetime,
    ) -> tuple[Article, bool]:
        """Create or replace an article; returns it and whether it was created."""
        values = {
            "mode": mode.value,
            "title": title,
            "url": url,
            "tags": list(tags),
            "updated_at": at,
        }
        created = await self._insert_ignore(
            ArticleRow, {"id": article_id, "created_at": at, **values}
        )
        if not created:
            await self._session.execute(
                update(ArticleRow).where(ArticleRow.id == article_id).values(**values)
            )
        row = await self._session.get(ArticleRow, article_id, populate_existing=True)
        assert row is not None
        return _article(row), created

    async def author_status(self, author_id: str) -> AuthorStatus:
        status = await self._session.scalar(
            select(AuthorRow.status).where(AuthorRow.id == author_id)
        )
        return AuthorStatus(status) if status else AuthorStatus.active

    async def author(self, author_id: str) -> Author:
        row = await self._session.get(AuthorRow, author_id)
        counts = {status.value: 0 for status in Status}
        result = await self._session.execute(
            select(CommentRow.status, func.count())
            .where(CommentRow.author_id == author_id)
            .group_by(CommentRow.status)
        )
        for status, count in result:
            counts[status] = int(count)
        if row is None:
            return Author(id=author_id, status=AuthorStatus.active, reason=None, counts=counts)
        return Author(
            id=author_id,
            status=AuthorStatus(row.status),
            reason=row.reason,
            counts=counts,
            updated_at=row.updated_at,
        )

    async def set_author(
        self, author_id: str, status: AuthorStatus, reason: str | None, at: datetime
    ) -> None:
        values = {"status": status.value, "reason": reason, "updated_at": at}
        if not await self._insert_ignore(AuthorRow, {"id": author_id, **values}):
            await self._session.execute(
                update(AuthorRow).where(AuthorRow.id == author_id).values(**values)
            )

    # -- comments and decisions ----------------------------------------------------------------

    async def comment_digest(self, comment_id: str) -> str | None:
        """The stored text digest of a comment, or None when there is no such comment."""
        return await self._session.scalar(
            select(CommentRow.text_sha256).where(CommentRow.id == comment_id)
        )

    async def comment(
        self, comment_id: str, *, history: bool = False, lock: bool = False
    ) -> Comment | None:
        row = await self._session.get(CommentRow, comment_id, with_for_update=lock or None)
        if row is None:
            return None
        decisions: list[Decision] = []
        current: Decision | None = None
        if history:
            rows = await self._session.scalars(
                select(DecisionRow)
                .where(DecisionRow.comment_id == comment_id)
                .order_by(DecisionRow.id)
            )
            decisions = [_decision(r) for r in rows]
            current = next((d for d in reversed(decisions) if d.id == row.decision_id), None)
        elif row.decision_id is not None:
            decision_row = await self._session.get(DecisionRow, row.decision_id)
            current = None if decision_row is None else _decision(decision_row)
        return _comment(row, current, tuple(decisions))

    async def insert_comment(
        self,
        *,
        comment_id: str,
        article_id: str,
        author_id: str,
        author_name: str | None,
        parent_id: str | None,
        text: str,
        text_sha256: str,
        article_tags: Sequence[str],
        metadata: Mapping[str, Any],
        at: datetime,
    ) -> bool:
        """Insert a new comment row (status pending until decided); False if the id exists."""
        return await self._insert_ignore(
            CommentRow,
            dict(
                id=comment_id,
                article_id=article_id,
                author_id=author_id,
                author_name=author_name,
                parent_id=parent_id,
                text=text,
                text_sha256=text_sha256,
                article_tags=list(article_tags),
                meta=dict(metadata),
                status=Status.pending.value,
                created_at=at,
                updated_at=at,
            ),
        )

    async def record_decision(
        self,
        comment_id: str,
        *,
        action: Action,
        by: str,
        moderator: str | None,
        reasons: Sequence[Reason],
        message: str,
        scores: Mapping[str, float] | None,
        classifier: str | None,
        guidelines_version: int,
        at: datetime,
        note: str | None = None,
        store_scores: bool = True,
    ) -> Decision:
        """Append a decision to the history and make it the comment's current one."""
        row = DecisionRow(
            comment_id=comment_id,
            action=action.value,
            by=by,
            moderator=moderator,
            reasons=[r.as_dict() for r in reasons],
            message=message,
            scores=dict(scores or {}),
            classifier=classifier,
            guidelines_version=guidelines_version,
            note=note,
            at=at,
        )
        self._session.add(row)
        await self._session.flush()
        values: dict[str, Any] = {
            "decision_id": row.id,
            "status": STATUS_OF[action].value,
            "updated_at": at,
        }
        if store_scores:
            values.update(
                scores=dict(scores) if scores is not None else None, classifier=classifier
            )
        await self._session.execute(
            update(CommentRow).where(CommentRow.id == comment_id).values(**values)
        )
        return _decision(row)

    async def replace_text(
        self, comment_id: str, text: str, text_sha256: str, at: datetime
    ) -> None:
        await self._session.execute(
            update(CommentRow)
            .where(CommentRow.id == comment_id)
            .values(text=text, text_sha256=text_sha256, updated_at=at)
        )

    async def erase_comment(self, comment_id: str, at: datetime) -> None:
        await self._session.execute(
            update(CommentRow)
            .where(CommentRow.id == comment_id)
            .values(text=None, author_name=None, deleted_at=at, updated_at=at)
        )

    # -- reader reports ------------------------------------------------------------------------

    async def add_report(
        self, comment_id: str, reporter_id: str, reason: str | None, at: datetime
    ) -> bool:
        """Record a report; False when this reporter already reported this comment."""
        return await self._insert_ignore(
            ReportRow,
            {
                "comment_id": comment_id,
                "reporter_id": reporter_id,
                "reason": reason,
                "created_at": at,
            },
        )

    async def reporter_count(self, comment_id: str) -> int:
        value = await self._session.scalar(
            select(func.count()).select_from(ReportRow).where(ReportRow.comment_id == comment_id)
        )
        return int(value or 0)


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        role=Role[row.role],
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _article(row: ArticleRow) -> Article:
    return Article(
        id=row.id,
        mode=ArticleMode(row.mode),
        title=row.title,
        url=row.url,
        tags=tuple(row.tags or ()),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _decision(row: DecisionRow) -> Decision:
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
    )


def _comment(row: CommentRow, decision: Decision | None, history: tuple[Decision, ...]) -> Comment:
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
    )
