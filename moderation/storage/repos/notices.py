"""Notices under the EU DSA, Art. 16 (``domain/notices.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update

from moderation.domain.notices import NewNotice, Notice, NoticeOutcome, NoticeStatus
from moderation.domain.scopes import column_value, from_column
from moderation.storage.core import UnitOfWork
from moderation.storage.tables import NoticeRow


def _notice(row: NoticeRow) -> Notice:
    return Notice(
        id=row.id,
        comment_id=row.comment_id,
        scope=from_column(row.scope),
        category=row.category,
        status=NoticeStatus(row.status),
        received_at=row.received_at,
        outcome=NoticeOutcome(row.outcome) if row.outcome else None,
        decided_at=row.decided_at,
    )


class NoticesRepo(UnitOfWork):
    async def add_notice(
        self, notice_id: str, comment_id: str, scope: str | None, new: NewNotice, at: datetime
    ) -> Notice:
        await self._session.execute(
            insert(NoticeRow).values(
                id=notice_id,
                comment_id=comment_id,
                scope=column_value(scope),
                category=new.category,
                explanation=new.explanation,
                legal_ground=new.legal_ground,
                reporter_name=new.reporter_name,
                reporter_email=new.reporter_email,
                status=NoticeStatus.received.value,
                received_at=at,
            )
        )
        return Notice(notice_id, comment_id, scope, new.category, NoticeStatus.received, at)

    async def has_notice(self, comment_id: str) -> bool:
        """Whether any notice was received on the comment."""
        found = await self._session.scalar(
            select(NoticeRow.id).where(NoticeRow.comment_id == comment_id).limit(1)
        )
        return found is not None

    async def notice(self, notice_id: str) -> Notice | None:
        row = await self._session.get(NoticeRow, notice_id)
        return None if row is None else _notice(row)

    async def notices_of(self, comment_id: str) -> list[tuple[Notice, str | None, str | None]]:
        """The comment's notices, oldest first, each with its explanation and legal ground
        (for moderators; never the reporter)."""
        rows = await self._session.scalars(
            select(NoticeRow)
            .where(NoticeRow.comment_id == comment_id)
            .order_by(NoticeRow.received_at, NoticeRow.id)
        )
        return [(_notice(row), row.explanation, row.legal_ground) for row in rows]

    async def decide_notices(
        self, comment_id: str, outcome: NoticeOutcome, at: datetime
    ) -> list[Notice]:
        """Decide every open notice on the comment; the notices as decided."""
        ids = list(
            await self._session.scalars(
                select(NoticeRow.id)
                .where(
                    NoticeRow.comment_id == comment_id,
                    NoticeRow.status == NoticeStatus.received.value,
                )
                .order_by(NoticeRow.received_at, NoticeRow.id)
            )
        )
        if not ids:
            return []
        await self._session.execute(
            update(NoticeRow)
            .where(NoticeRow.id.in_(ids))
            .values(status=NoticeStatus.decided.value, outcome=outcome.value, decided_at=at)
            .execution_options(synchronize_session=False)
        )
        rows = await self._session.scalars(
            select(NoticeRow)
            .where(NoticeRow.id.in_(ids))
            .order_by(NoticeRow.received_at, NoticeRow.id)
            .execution_options(populate_existing=True)
        )
        return [_notice(row) for row in rows]

    async def erase_notices(self, comment_id: str) -> None:
        """The comment was deleted: its notices' personal data and explanations go."""
        await self._session.execute(
            update(NoticeRow)
            .where(NoticeRow.comment_id == comment_id)
            .values(reporter_name=None, reporter_email=None, explanation=None)
            .execution_options(synchronize_session=False)
        )
