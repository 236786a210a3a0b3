"""Transparency reports (EU DSA Art. 15, 24): the figures of a period, and its statements of
reasons as NDJSON lines (``domain/transparency.py``, ``domain/statements.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from moderation.contract import timestamp
from moderation.domain.errors import ValidationFailed
from moderation.domain.scopes import to_api
from moderation.domain.transparency import report
from moderation.storage.database import Database

PAGE = 500
"""Statements read per read transaction while streaming."""


def _check(start: datetime, end: datetime) -> None:
    if start >= end:
        raise ValidationFailed("from must be before to", code="validation_failed")


@dataclass(slots=True)
class Transparency:
    db: Database

    async def report(self, start: datetime, end: datetime, *, scope: str | None) -> dict[str, Any]:
        """The figures of ``[start, end)`` for ``scope``."""
        _check(start, end)
        async with self.db.transaction(write=False) as store:
            notices = await store.notices_in(scope, start, end)
            decisions = await store.decisions_in(scope, start, end)
            appeals = await store.appeals_in(scope, start, end)
        period = {"from": timestamp(start), "to": timestamp(end)}
        return period | report(start, end, notices, decisions, appeals)

    async def statements(
        self, start: datetime, end: datetime, *, scope: str | None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """``scope``'s statements of reasons issued in ``[start, end)``, page by page, each
        page read in its own short read transaction."""
        _check(start, end)
        after: int | None = 0
        while after is not None:
            async with self.db.transaction(write=False) as store:
                decisions, after = await store.statements_page(scope, start, end, after, PAGE)
            yield [
                d.statement.as_dict()
                | {"puid": to_api(scope, d.comment_id), "application_date": timestamp(d.at)}
                for d in decisions
                if d.statement is not None
            ]
