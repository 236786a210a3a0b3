"""What transparency reports read (EU DSA Art. 15, 24; ``domain/transparency.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select

from moderation.domain.appeals import Appeal
from moderation.domain.models import Action, Decision
from moderation.domain.notices import Notice
from moderation.domain.scopes import column_value
from moderation.storage.core import UnitOfWork
from moderation.storage.mappers import row_to_decision
from moderation.storage.repos.appeals import _appeal
from moderation.storage.repos.notices import _notice
from moderation.storage.tables import AppealRow, CommentRow, DecisionRow, NoticeRow


class TransparencyRepo(UnitOfWork):
    async def notices_in(self, scope: str | None, start: datetime, end: datetime) -> list[Notice]:
        """``scope``'s notices received or decided in ``[start, end)``."""
        rows = await self._session.scalars(
            select(NoticeRow).where(
                NoticeRow.scope == column_value(scope),
                or_(
                    (NoticeRow.received_at >= start) & (NoticeRow.received_at < end),
                    (NoticeRow.decided_at >= start) & (NoticeRow.decided_at < end),
                ),
            )
        )
        return [_notice(row) for row in rows]

    async def appeals_in(self, scope: str | None, start: datetime, end: datetime) -> list[Appeal]:
        """``scope``'s appeals received or decided in ``[start, end)``."""
        rows = await self._session.scalars(
            select(AppealRow).where(
                AppealRow.scope == column_value(scope),
                or_(
                    (AppealRow.received_at >= start) & (AppealRow.received_at < end),
                    (AppealRow.decided_at >= start) & (AppealRow.decided_at < end),
                ),
            )
        )
        return [_appeal(row) for row in rows]

    async def decisions_in(
        self, scope: str | None, start: datetime, end: datetime
    ) -> list[tuple[Decision, Decision | None]]:
        """``scope``'s decisions taken in ``[start, end)``, each with its comment's decision
        before it (None: the comment's first)."""
        comment_ids = (
            select(DecisionRow.comment_id)
            .join(CommentRow, CommentRow.id == DecisionRow.comment_id)
            .where(
                CommentRow.scope == column_value(scope),
                DecisionRow.at >= start,
                DecisionRow.at < end,
            )
            .distinct()
        )
        rows = await self._session.scalars(
            select(DecisionRow)
            .where(DecisionRow.comment_id.in_(comment_ids), DecisionRow.at < end)
            .order_by(DecisionRow.comment_id, DecisionRow.id)
        )
        found: list[tuple[Decision, Decision | None]] = []
        before: Decision | None = None
        for row in rows:
            decision = row_to_decision(row)
            if before is not None and before.comment_id != decision.comment_id:
                before = None
            if decision.at >= start:
                found.append((decision, before))
            before = decision
        return found

    async def statements_page(
        self, scope: str | None, start: datetime, end: datetime, after: int, limit: int
    ) -> tuple[list[Decision], int | None]:
        """``scope``'s decisions with a statement of reasons taken in ``[start, end)``, in
        the order they were taken, after the decision id ``after``; and the id to read on
        after (None: no more). (A JSON column's null may be SQL NULL or JSON ``null``, so
        approvals are left out in SQL and the rest by their mapped statement.)"""
        rows = await self._session.scalars(
            select(DecisionRow)
            .join(CommentRow, CommentRow.id == DecisionRow.comment_id)
            .where(
                CommentRow.scope == column_value(scope),
                DecisionRow.action != Action.approve.value,
                DecisionRow.at >= start,
                DecisionRow.at < end,
                DecisionRow.id > after,
            )
            .order_by(DecisionRow.id)
            .limit(limit)
        )
        decisions = [row_to_decision(row) for row in rows]
        last = decisions[-1].id if len(decisions) == limit else None
        return [d for d in decisions if d.statement is not None], last
