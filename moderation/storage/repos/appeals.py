"""Appeals under the EU DSA, Art. 20 (``domain/appeals.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from moderation.domain.appeals import APPEAL_CODE, Appeal, AppealOutcome, AppealStatus
from moderation.domain.scopes import column_value, from_column
from moderation.storage.core import UnitOfWork
from moderation.storage.statements import joined
from moderation.storage.tables import AppealRow, CommentRow


def _appeal(row: AppealRow) -> Appeal:
    return Appeal(
        id=row.id,
        comment_id=row.comment_id,
        scope=from_column(row.scope),
        decision_id=row.decision_id,
        status=AppealStatus(row.status),
        received_at=row.received_at,
        appealed_by=row.appealed_by,
        appealed_moderator_key_id=row.appealed_moderator_key_id,
        outcome=AppealOutcome(row.outcome) if row.outcome else None,
        decided_at=row.decided_at,
        moderator_key_id=row.moderator_key_id,
    )


class AppealsRepo(UnitOfWork):
    async def add_appeal(self, appeal: Appeal, explanation: str) -> Appeal:
        self._session.add(
            AppealRow(
                id=appeal.id,
                comment_id=appeal.comment_id,
                scope=column_value(appeal.scope),
                decision_id=appeal.decision_id,
                appealed_by=appeal.appealed_by,
                appealed_moderator_key_id=appeal.appealed_moderator_key_id,
                explanation=explanation,
                status=appeal.status.value,
                received_at=appeal.received_at,
            )
        )
        await self._session.flush()
        return appeal

    async def appeal(self, appeal_id: str, *, lock: bool = False) -> Appeal | None:
        query = select(AppealRow).where(AppealRow.id == appeal_id)
        if lock:
            query = query.with_for_update()
        row = await self._session.scalar(query.execution_options(populate_existing=True))
        return None if row is None else _appeal(row)

    async def open_appeal(self, comment_id: str) -> Appeal | None:
        """The comment's open appeal, if any (there is at most one)."""
        row = await self._session.scalar(
            select(AppealRow)
            .where(
                AppealRow.comment_id == comment_id,
                AppealRow.status == AppealStatus.open.value,
            )
            .limit(1)
        )
        return None if row is None else _appeal(row)

    async def appeals_of(self, comment_id: str) -> list[tuple[Appeal, str | None]]:
        """The comment's appeals, oldest first, each with the author's explanation (for
        moderators)."""
        rows = await self._session.scalars(
            select(AppealRow)
            .where(AppealRow.comment_id == comment_id)
            .order_by(AppealRow.received_at, AppealRow.id)
        )
        return [(_appeal(row), row.explanation) for row in rows]

    async def decide_appeal(
        self,
        appeal_id: str,
        outcome: AppealOutcome,
        reason: str,
        moderator: str,
        moderator_key_id: str,
        at: datetime,
    ) -> Appeal:
        await self._session.execute(
            update(AppealRow)
            .where(AppealRow.id == appeal_id)
            .values(
                status=AppealStatus.decided.value,
                outcome=outcome.value,
                reason=reason,
                moderator=moderator,
                moderator_key_id=moderator_key_id,
                decided_at=at,
            )
            .execution_options(synchronize_session=False)
        )
        decided = await self.appeal(appeal_id)
        assert decided is not None
        return decided

    async def queue_appeal(self, comment_id: str, priority: int) -> None:
        """Put the comment in the review queue with reason ``appeal`` (whatever its status),
        at least at ``priority``; its other queue reasons stay."""
        row = (
            await self._session.execute(
                select(CommentRow.priority, CommentRow.queue_codes).where(
                    CommentRow.id == comment_id
                )
            )
        ).one()
        codes = sorted({c for c in str(row[1] or "").split(",") if c} | {APPEAL_CODE})
        await self._set_queue(comment_id, max(int(row[0] or 0), priority), joined(codes))

    async def unqueue_appeal(self, comment_id: str, *, pending: bool) -> None:
        """The appeal is decided: reason ``appeal`` leaves the comment's queue item (a
        pending comment stays queued for its other reasons; another leaves the queue)."""
        if not pending:
            await self._set_queue(comment_id, 0, "", categories="")
            return
        codes = await self._session.scalar(
            select(CommentRow.queue_codes).where(CommentRow.id == comment_id)
        )
        kept = [c for c in str(codes or "").split(",") if c and c != APPEAL_CODE]
        await self._set_queue(comment_id, None, joined(kept))

    async def _set_queue(
        self, comment_id: str, priority: int | None, codes: str, categories: str | None = None
    ) -> None:
        values: dict[str, object] = {"queue_codes": codes}
        if priority is not None:
            values["priority"] = priority
        if categories is not None:
            values.update(
                queue_categories=categories,
                claimed_by=None,
                claimed_by_name=None,
                claim_expires_at=None,
            )
        await self._session.execute(
            update(CommentRow)
            .where(CommentRow.id == comment_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        stale = self._session.identity_map.get(AsyncSession.identity_key(CommentRow, comment_id))
        if stale is not None:
            self._session.expunge(stale)

    async def erase_appeals(self, comment_id: str) -> None:
        """The comment was deleted: its appeals' explanations go."""
        await self._session.execute(
            update(AppealRow)
            .where(AppealRow.comment_id == comment_id)
            .values(explanation=None)
            .execution_options(synchronize_session=False)
        )
