"""Comments, their decisions and reader reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Text, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from moderation.domain.models import STATUS_OF, Action, Comment, Decision, DecisionDraft, Status
from moderation.domain.records import Label, QueueState
from moderation.domain.scopes import column_value
from moderation.domain.statements import Statement
from moderation.storage.core import UnitOfWork
from moderation.storage.mappers import row_to_comment, row_to_decision
from moderation.storage.statements import (
    DECISION_COLUMNS,
    INSERT_DECISION,
    UPDATE_COMMENT,
    joined,
    pack_vector,
)
from moderation.storage.tables import CommentRow, DecisionRow, ReportRow


class CommentsRepo(UnitOfWork):
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
            decisions = [row_to_decision(r) for r in rows]
            current = next((d for d in reversed(decisions) if d.id == row.decision_id), None)
        elif row.decision_id is not None:
            decision_row = await self._session.get(DecisionRow, row.decision_id)
            current = None if decision_row is None else row_to_decision(decision_row)
        return row_to_comment(row, current, tuple(decisions))

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
        scope: str | None = None,
    ) -> bool:
        """Insert a new comment row (status pending until decided); False if the id exists.

        The ids are stored ids (``domain/scopes.py``); ``scope`` is the comment's website."""
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
                metadata=dict(metadata),
                status=Status.pending.value,
                created_at=at,
                updated_at=at,
                scope=column_value(scope),
            ),
        )

    async def record_decision(
        self,
        comment_id: str,
        draft: DecisionDraft,
        *,
        guidelines_version: int,
        at: datetime,
        queue: QueueState | None = None,
        statement: Statement | None = None,
    ) -> Decision:
        """Append a decision to the history and make it the comment's current one.

        The same UPDATE puts the comment in the review queue (``queue``) or takes it
        out, dropping any claim on it.
        """
        decision = Decision(
            id=0,  # assigned by the INSERT below
            comment_id=comment_id,
            action=draft.action,
            by=draft.by,
            moderator=draft.moderator,
            reasons=draft.reasons,
            message=draft.message,
            scores=dict(draft.scores or {}),
            classifier=draft.classifier,
            guidelines_version=guidelines_version,
            at=at,
            note=draft.note,
            moderator_key_id=draft.moderator_key_id,
            ground=draft.ground,
            legal_ground=draft.legal_ground,
            statement=statement,
        )
        action = draft.action
        row = {field: getattr(decision, field) for field in DECISION_COLUMNS}
        row.update(
            action=action.value,
            reasons=[r.as_dict() for r in draft.reasons],
            ground=draft.ground.value,
            statement=statement.as_dict() if statement is not None else None,
        )
        decision_id = (await self._run(INSERT_DECISION, row)).scalar_one()
        values: dict[str, Any] = {
            "_id": comment_id,
            "decision_id": decision_id,
            "status": STATUS_OF[action].value,
            "updated_at": at,
        }
        if draft.store_scores:
            values.update(
                scores=dict(draft.scores) if draft.scores is not None else None,
                embedding=pack_vector(draft.embedding),
                classifier=draft.classifier,
                auto_action=action.value,
            )
        if draft.by == "moderator":
            values["moderator_action"] = action.value
        if queue is not None:
            values.update(
                priority=queue.priority,
                queue_codes=joined(queue.codes),
                queue_categories=joined(queue.categories),
            )
        else:
            values.update(
                priority=0,
                queue_codes="",
                queue_categories="",
                claimed_by=None,
                claimed_by_name=None,
                claim_expires_at=None,
            )
        await self._run(UPDATE_COMMENT, values)
        # A Core UPDATE leaves the session's copy of the row (if one was loaded) stale;
        # drop it, so the next read in this transaction loads what was written.
        stale = self._session.identity_map.get(AsyncSession.identity_key(CommentRow, comment_id))
        if stale is not None:
            self._session.expunge(stale)
        return replace(decision, id=decision_id)

    async def replace_text(
        self, comment_id: str, text: str, text_sha256: str, at: datetime
    ) -> None:
        await self._session.execute(
            update(CommentRow)
            .where(CommentRow.id == comment_id)
            .values(
                text=text,
                text_sha256=text_sha256,
                updated_at=at,
                revision=CommentRow.revision + 1,
            )
        )

    async def erase_comment(self, comment_id: str, at: datetime) -> None:
        await self._session.execute(
            update(CommentRow)
            .where(CommentRow.id == comment_id)
            .values(
                text=None,
                author_name=None,
                deleted_at=at,
                updated_at=at,
                revision=CommentRow.revision + 1,
            )
        )

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

    async def erase_quotes(self, text: str) -> int:
        """Remove ``text`` from the nearest-example field of every stored reason (it
        quoted a comment whose author has since deleted it); how many decisions changed."""
        needle = orjson.dumps(text).decode()[1:-1]
        rows = await self._session.scalars(
            select(DecisionRow).where(
                DecisionRow.reasons.cast(Text).contains(needle, autoescape=True)
            )
        )
        changed = 0
        for row in rows:
            reasons = [
                {k: v for k, v in r.items() if not (k == "example" and v == text)}
                for r in row.reasons or ()
            ]
            if reasons != row.reasons:
                row.reasons = reasons
                changed += 1
        await self._session.flush()
        return changed

    async def moderator_labels(self, *, scope: str | None, limit: int = 5000) -> list[Label]:
        """The newest comments of ``scope`` (None: the default scope) whose current
        decision is a moderator's, as labels; their ids are stored ids."""
        query = (
            select(CommentRow, DecisionRow)
            .join(DecisionRow, DecisionRow.id == CommentRow.decision_id)
            .where(
                DecisionRow.by == "moderator",
                CommentRow.scope == column_value(scope),
                CommentRow.deleted_at.is_(None),
                CommentRow.text.is_not(None),
            )
            .order_by(DecisionRow.id.desc())
            .limit(limit)
        )
        rows = list(await self._session.execute(query))
        ids = [comment.id for comment, _ in rows]
        automatic: dict[str, DecisionRow] = {}
        if ids:
            earlier = await self._session.scalars(
                select(DecisionRow)
                .where(DecisionRow.comment_id.in_(ids), DecisionRow.by == "auto")
                .order_by(DecisionRow.id)
            )
            for decision in earlier:  # the last automatic decision of each comment wins
                automatic[decision.comment_id] = decision
        labels = []
        for comment, decision in rows:
            auto = automatic.get(comment.id)
            named = [r.get("rule") for r in decision.reasons or () if r.get("code") == "moderator"]
            labels.append(
                Label(
                    comment_id=comment.id,
                    text=comment.text or "",
                    action=Action(decision.action),
                    rule=named[0] if named else None,
                    auto_action=Action(auto.action) if auto is not None else None,
                    auto_rules=tuple(
                        sorted({r["rule"] for r in (auto.reasons if auto else ()) if r.get("rule")})
                    ),
                    scores=dict(comment.scores) if comment.scores is not None else None,
                    classifier=comment.classifier,
                    article_tags=tuple(comment.article_tags or ()),
                )
            )
        return labels
