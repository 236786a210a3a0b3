"""What learning offered each website (``POST /v1/guidelines/learn``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select

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
        await self._upsert(
            LearningOfferRow,
            [
                {
                    "scope": column_value(scope),
                    "rule": rule,
                    "label": label,
                    "text_sha256": digest,
                    "offered_at": at,
                }
                for rule, label, digest in offers
            ],
            keys=("scope", "rule", "label", "text_sha256"),
            update=("offered_at",),
        )
