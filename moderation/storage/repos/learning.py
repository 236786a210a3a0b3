"""What learning offered each website (``POST /v1/guidelines/learn``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from moderation.domain.scopes import column_value
from moderation.storage.core import UnitOfWork
from moderation.storage.tables import LearningOfferRow

#: (rule, label, SHA-256 of the text's example key)
Offer = tuple[str, str, str]


class LearningRepo(UnitOfWork):
    async def learning_offers(self, scope: str | None) -> dict[Offer, datetime]:
        """When each of ``scope``'s offers was last made."""
        rows = await self._session.execute(
            select(
                LearningOfferRow.rule,
                LearningOfferRow.label,
                LearningOfferRow.text_sha256,
                LearningOfferRow.offered_at,
            ).where(LearningOfferRow.scope == column_value(scope))
        )
        return {(row.rule, row.label, row.text_sha256): row.offered_at for row in rows}

    async def record_learning_offers(
        self, scope: str | None, offers: Iterable[Offer], at: datetime
    ) -> None:
        """``offers`` made to ``scope`` at ``at`` (an earlier offer of the same moves)."""
        values = [
            {
                "scope": column_value(scope),
                "rule": r,
                "label": k,
                "text_sha256": t,
                "offered_at": at,
            }
            for r, k, t in offers
        ]
        if not values:
            return
        insert = postgresql_insert if self._dialect == "postgresql" else sqlite_insert
        statement = insert(LearningOfferRow).values(values)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["scope", "rule", "label", "text_sha256"],
                set_={"offered_at": statement.excluded.offered_at},
            )
        )
