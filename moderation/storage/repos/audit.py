"""The audit log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from moderation.domain.models import ApiKey
from moderation.domain.records import AuditEntry, Page
from moderation.domain.scopes import column_value
from moderation.storage.core import UnitOfWork
from moderation.storage.tables import ApiKeyRow, AuditRow


class AuditRepo(UnitOfWork):
    async def audit(
        self,
        actor: str | ApiKey,
        action: str,
        target: str | None,
        details: Mapping[str, Any],
        at: datetime,
        *,
        scope: str | None = None,
        shared: bool = False,
    ) -> None:
        """``actor``: the key that acted (its name and id are recorded), or a name such as
        ``"system"`` or ``"cli"``. ``scope``: the website whose resource changed (None: the
        default scope); ``shared``: what every scope shares (the guidelines), which every
        scope's admins read."""
        name, key_id = (actor.name, actor.id) if isinstance(actor, ApiKey) else (actor, None)
        self._session.add(
            AuditRow(
                actor=name,
                action=action,
                target=target,
                details=dict(details),
                at=at,
                actor_key_id=key_id,
                scope=None if shared else column_value(scope),
            )
        )

    async def audit_log(
        self,
        limit: int,
        action: str | None = None,
        after: Sequence[str] | None = None,
        *,
        scope: str | None = None,
        every_scope: bool = False,
    ) -> Page[AuditEntry]:
        """Newest first: what every scope shares and ``scope``'s own entries, or all of
        them (``every_scope``)."""
        query = select(AuditRow)
        if not every_scope:
            query = query.where(
                or_(AuditRow.scope.is_(None), AuditRow.scope == column_value(scope))
            )
        if action:
            query = query.where(AuditRow.action == action)
        rows, more = await self._page(query, ((AuditRow.id, True),), after, limit)
        key_ids = {r.actor_key_id for r in rows if r.actor_key_id is not None}
        scopes: dict[str, str | None] = {}
        if key_ids:
            found = await self._session.execute(
                select(ApiKeyRow.id, ApiKeyRow.scope).where(ApiKeyRow.id.in_(key_ids))
            )
            scopes = {row.id: row.scope for row in found}
        items = [
            AuditEntry(
                id=r.id,
                actor=r.actor,
                action=r.action,
                target=r.target,
                details=dict(r.details or {}),
                at=r.at,
                actor_key_id=r.actor_key_id,
                actor_scope=scopes.get(r.actor_key_id) if r.actor_key_id else None,
            )
            for r in rows
        ]
        return Page(items, more)
