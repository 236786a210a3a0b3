"""The review queue: listing, claiming, releasing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from moderation.domain.models import Comment, Status
from moderation.domain.records import Page, QueueEntry
from moderation.domain.scopes import column_value
from moderation.storage.core import UnitOfWork
from moderation.storage.mappers import row_to_comment, row_to_decision
from moderation.storage.statements import claimable, queue_filter
from moderation.storage.tables import CommentRow, DecisionRow


def _order(oldest_first: bool) -> tuple[Any, ...]:
    """The queue's order: by priority, oldest first among equals; or by waiting time
    (``updated_at``: when the comment's last decision or edit put it in the queue)."""
    if oldest_first:
        return (CommentRow.updated_at, CommentRow.id)
    return (CommentRow.priority.desc(), CommentRow.created_at, CommentRow.id)


class QueueRepo(UnitOfWork):
    async def queue(
        self,
        *,
        now: datetime,
        limit: int,
        offset: int = 0,
        article_id: str | None = None,
        category: str | None = None,
        reason: str | None = None,
        scope: str | None = None,
        oldest_first: bool = False,
    ) -> tuple[list[QueueEntry], int]:
        """``scope``'s pending comments, most urgent first, oldest first among equals (with
        ``oldest_first``: longest waiting first); and the exact total."""
        conditions = [
            *queue_filter(now, article_id, category, reason),
            CommentRow.scope == column_value(scope),
        ]
        total = await self._session.scalar(
            select(func.count()).select_from(CommentRow).where(*conditions)
        )
        rows = await self._session.scalars(
            select(CommentRow)
            .where(*conditions)
            .order_by(*_order(oldest_first))
            .offset(offset)
            .limit(limit)
        )
        entries = [await self._entry(row, now) for row in rows]
        return entries, int(total or 0)

    async def _entry(self, row: CommentRow, now: datetime) -> QueueEntry:
        decision_row = (
            await self._session.get(DecisionRow, row.decision_id) if row.decision_id else None
        )
        active = row.claim_expires_at is not None and row.claim_expires_at > now
        return QueueEntry(
            comment=row_to_comment(
                row, row_to_decision(decision_row) if decision_row else None, ()
            ),
            priority=row.priority,
            codes=tuple(c for c in row.queue_codes.split(",") if c),
            claimed_by=row.claimed_by if active else None,
            claimed_by_name=row.claimed_by_name if active else None,
            claim_expires_at=row.claim_expires_at if active else None,
        )

    async def claim(
        self,
        *,
        key_id: str,
        key_name: str,
        limit: int,
        now: datetime,
        until: datetime,
        article_id: str | None = None,
        category: str | None = None,
        scope: str | None = None,
        oldest_first: bool = False,
    ) -> list[QueueEntry]:
        """Lease up to ``limit`` pending comments of ``scope`` to ``key_id``; never one
        another lease holds.

        PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so concurrent claimers pass each other by;
        SQLite: the write transaction is ``BEGIN IMMEDIATE``, so claimers run one at a time.
        """
        conditions = [
            *queue_filter(now, article_id, category, None),
            CommentRow.scope == column_value(scope),
            claimable(key_id, now),
        ]
        query = (
            select(CommentRow.id).where(*conditions).order_by(*_order(oldest_first)).limit(limit)
        )
        ids = await self._lease(
            query, CommentRow, claimed_by=key_id, claimed_by_name=key_name, claim_expires_at=until
        )
        if not ids:
            return []
        rows = await self._session.scalars(
            select(CommentRow)
            .where(CommentRow.id.in_(ids))
            .execution_options(populate_existing=True)
        )
        by_id = {row.id: row for row in rows}
        return [await self._entry(by_id[i], now) for i in ids]

    async def release(self, key_id: str, ids: Sequence[str] | None) -> int:
        statement = update(CommentRow).where(CommentRow.claimed_by == key_id)
        if ids is not None:
            statement = statement.where(CommentRow.id.in_(list(ids)))
        result = await self._session.execute(
            statement.values(claimed_by=None, claimed_by_name=None, claim_expires_at=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def claim_holder(self, comment_id: str, now: datetime) -> tuple[str, str] | None:
        """(key id, key name) of the live lease on a comment, if any."""
        row = (
            await self._session.execute(
                select(CommentRow.claimed_by, CommentRow.claimed_by_name).where(
                    CommentRow.id == comment_id,
                    CommentRow.claimed_by.is_not(None),
                    CommentRow.claim_expires_at > now,
                )
            )
        ).first()
        return None if row is None else (str(row[0]), str(row[1]))

    async def queue_depth(self, now: datetime) -> tuple[int, datetime | None]:
        conditions = queue_filter(now, None, None, None)
        row = (
            await self._session.execute(
                select(func.count(), func.min(CommentRow.updated_at)).where(*conditions)
            )
        ).one()
        return int(row[0] or 0), row[1]

    async def recent_comments(
        self,
        *,
        limit: int,
        status: Status | None = None,
        article_id: str | None = None,
        author_id: str | None = None,
        after: Sequence[str] | None = None,
        scope: str | None = None,
    ) -> Page[Comment]:
        """``scope``'s most recently decided comments first (the moderators' "decided" view)."""
        query = select(CommentRow).where(CommentRow.scope == column_value(scope))
        if status is not None:
            query = query.where(CommentRow.status == status.value)
        if article_id is not None:
            query = query.where(CommentRow.article_id == article_id)
        if author_id is not None:
            query = query.where(CommentRow.author_id == author_id)
        order = ((CommentRow.updated_at, True), (CommentRow.id, False))
        rows, more = await self._page(query, order, after, limit)
        ids = [row.decision_id for row in rows if row.decision_id is not None]
        decided = (
            {
                d.id: row_to_decision(d)
                for d in await self._session.scalars(
                    select(DecisionRow).where(DecisionRow.id.in_(ids))
                )
            }
            if ids
            else {}
        )
        return Page(
            [
                row_to_comment(row, decided.get(row.decision_id) if row.decision_id else None, ())
                for row in rows
            ],
            more,
        )

    async def queued_of_author(
        self, author_id: str, *, now: datetime, limit: int, scope: str | None = None
    ) -> tuple[list[str], int]:
        """The ids of up to ``limit`` of an author's queued comments in ``scope``, oldest
        first, and how many there are in all."""
        conditions = [
            *queue_filter(now, None, None, None),
            CommentRow.status == Status.pending.value,
            CommentRow.author_id == author_id,
            CommentRow.scope == column_value(scope),
        ]
        total = await self._session.scalar(
            select(func.count()).select_from(CommentRow).where(*conditions)
        )
        ids = await self._session.scalars(
            select(CommentRow.id)
            .where(*conditions)
            .order_by(CommentRow.created_at, CommentRow.id)
            .limit(limit)
        )
        return list(ids), int(total or 0)

    async def thread_of(self, comment: Comment, limit: int) -> tuple[list[Comment], list[Comment]]:
        """Around ``comment`` in its article: up to ``limit`` comments answering what it
        answers (the same parent, or top-level), about half posted before it and the rest
        after, in posting order; and the first ``limit`` replies to it. Without their
        decisions (statuses only)."""
        same = [
            CommentRow.article_id == comment.article_id,
            CommentRow.id != comment.id,
            CommentRow.parent_id.is_(None)
            if comment.parent_id is None
            else CommentRow.parent_id == comment.parent_id,
        ]
        before = list(
            await self._session.scalars(
                select(CommentRow)
                .where(*same, CommentRow.created_at < comment.created_at)
                .order_by(CommentRow.created_at.desc(), CommentRow.id.desc())
                .limit(limit)
            )
        )
        after = list(
            await self._session.scalars(
                select(CommentRow)
                .where(*same, CommentRow.created_at >= comment.created_at)
                .order_by(CommentRow.created_at, CommentRow.id)
                .limit(limit)
            )
        )
        keep_before = max(limit // 2, limit - len(after))
        around = [*reversed(before[:keep_before]), *after][:limit]
        replies = await self._session.scalars(
            select(CommentRow)
            .where(
                CommentRow.article_id == comment.article_id,
                CommentRow.parent_id == comment.id,
            )
            .order_by(CommentRow.created_at, CommentRow.id)
            .limit(limit)
        )
        return (
            [row_to_comment(row, None, ()) for row in around],
            [row_to_comment(row, None, ()) for row in replies],
        )
