"""The audit log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from moderation.domain.models import ApiKey
from moderation.domain.records import AuditEntry, Page
from moderation.storage.core import UnitOfWork
from moderation.storage.tables import AuditRow


class AuditRepo(UnitOfWork):
    async def audit(
        self,
        actor: str | ApiKey,
        action: str,
        target: str | None,
        details: Mapping[str, Any],
        at: datetime,
    ) -> None:
        """``actor``: the key that acted (its name and id are recorded), or a name such as
        ``"system"`` or ``"cli"``."""
        name, key_id = (actor.name, actor.id) if isinstance(actor, ApiKey) else (actor, None)
        self._session.add(
            AuditRow(
                actor=name,
                action=action,
                target=target,
                details=dict(details),
                at=at,
                actor_key_id=key_id,
            )
        )

    async def audit_log(
        self, limit: int, action: str | None = None, after: Sequence[str] | None = None
    ) -> Page[AuditEntry]:
        """Newest first."""
        query = select(AuditRow)
        if action:
            query = query.where(AuditRow.action == action)
        rows, more = await self._page(query, ((AuditRow.id, True),), after, limit)
        items = [
            AuditEntry(
                id=r.id,
                actor=r.actor,
                action=r.action,
                target=r.target,
                details=dict(r.details or {}),
                at=r.at,
                actor_key_id=r.actor_key_id,
            )
            for r in rows
        ]
        return Page(items, more)
