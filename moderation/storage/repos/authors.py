"""Articles and authors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update

from moderation.domain.models import Article, ArticleMode, Author, AuthorStatus, Comment, Status
from moderation.storage.core import UnitOfWork
from moderation.storage.mappers import row_to_article, row_to_comment, row_to_decision
from moderation.storage.statements import ARTICLE, AUTHOR_STATUS
from moderation.storage.tables import ArticleRow, AuthorRow, CommentRow, DecisionRow


class ArticlesRepo(UnitOfWork):
    async def article(self, article_id: str) -> Article | None:
        row = (await self._run(ARTICLE, {"id": article_id})).first()
        return None if row is None else row_to_article(row)

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
        return row_to_article(row), created

    async def author_status(self, author_id: str) -> AuthorStatus:
        status = (await self._run(AUTHOR_STATUS, {"id": author_id})).scalar()
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

    async def rejections_since(self, author_id: str, since: datetime) -> int:
        value = await self._session.scalar(
            select(func.count())
            .select_from(CommentRow)
            .where(
                CommentRow.author_id == author_id,
                CommentRow.status == Status.rejected.value,
                CommentRow.updated_at >= since,
            )
        )
        return int(value or 0)

    async def author_recent(self, author_id: str, limit: int = 10) -> list[Comment]:
        rows = await self._session.scalars(
            select(CommentRow)
            .where(CommentRow.author_id == author_id)
            .order_by(CommentRow.created_at.desc())
            .limit(limit)
        )
        result = []
        for row in rows:
            decision_row = (
                await self._session.get(DecisionRow, row.decision_id) if row.decision_id else None
            )
            result.append(
                row_to_comment(row, row_to_decision(decision_row) if decision_row else None, ())
            )
        return result
