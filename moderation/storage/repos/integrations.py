"""Perspective feedback (``comments:suggestscore``) and integration settings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from moderation.domain.models import ApiKey
from moderation.domain.records import Feedback
from moderation.domain.scopes import column_value
from moderation.storage.core import UnitOfWork
from moderation.storage.tables import IntegrationRow, PerspectiveFeedbackRow


class IntegrationsRepo(UnitOfWork):
    async def add_feedback(self, feedback: Feedback, key: ApiKey) -> None:
        """Store a client's suggested score, sent with ``key``; it replaces an earlier one
        of the key's scope for the same (community, client token, attribute) when the
        client gave a token.

        With a community and a token, an upsert: a client resending a suggestion after a
        timeout sends two at once, and on PostgreSQL a delete-then-insert let both deletes
        run before either insert committed, so the second broke the unique constraint."""
        values = {
            "community_id": feedback.community_id,
            "client_token": feedback.client_token,
            "attribute": feedback.attribute,
            "category": feedback.category,
            "value": feedback.value,
            "text": feedback.text,
            "key_name": key.name,
            "created_at": feedback.at,
            "scope": column_value(key.scope),
        }
        if feedback.client_token is not None and feedback.community_id is not None:
            await self._upsert(
                PerspectiveFeedbackRow,
                [values],
                keys=("scope", "community_id", "client_token", "attribute"),
                update=("category", "value", "text", "key_name", "created_at"),
            )
            return
        if feedback.client_token is not None:
            # No community: the unique constraint does not hold NULLs equal, so no upsert
            # can find the earlier row; it is deleted first (at worst two labels stay).
            await self._session.execute(
                delete(PerspectiveFeedbackRow).where(
                    PerspectiveFeedbackRow.scope == values["scope"],
                    PerspectiveFeedbackRow.community_id.is_(None),
                    PerspectiveFeedbackRow.client_token == feedback.client_token,
                    PerspectiveFeedbackRow.attribute == feedback.attribute,
                )
            )
        await self._session.execute(insert(PerspectiveFeedbackRow).values(values))

    async def feedback(self, *, scope: str | None, limit: int = 5000) -> list[Feedback]:
        """The newest suggested scores sent with keys of ``scope`` (None: the default
        scope), newest first."""
        rows = await self._session.scalars(
            select(PerspectiveFeedbackRow)
            .where(PerspectiveFeedbackRow.scope == column_value(scope))
            .order_by(PerspectiveFeedbackRow.id.desc())
            .limit(limit)
        )
        return [
            Feedback(
                id=row.id,
                text=row.text,
                attribute=row.attribute,
                category=row.category,
                value=row.value,
                community_id=row.community_id,
                client_token=row.client_token,
                at=row.created_at,
            )
            for row in rows
        ]

    async def integration(self, name: str) -> dict[str, Any] | None:
        row = await self._session.get(IntegrationRow, name)
        return None if row is None else dict(row.settings)

    async def put_integration(
        self, name: str, settings: Mapping[str, Any], by: str, at: datetime
    ) -> None:
        row = await self._session.get(IntegrationRow, name)
        if row is None:
            self._session.add(
                IntegrationRow(name=name, settings=dict(settings), updated_by=by, updated_at=at)
            )
        else:
            row.settings = dict(settings)
            row.updated_by = by
            row.updated_at = at
        await self._session.flush()
