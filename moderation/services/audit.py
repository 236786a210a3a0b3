"""The audit log: who changed what, when (guidelines, keys, webhooks, author standing)."""

from __future__ import annotations

from moderation.domain.records import AuditEntry
from moderation.storage.database import Database


async def recent(db: Database, limit: int, action: str | None = None) -> list[AuditEntry]:
    async with db.transaction(write=False) as store:
        return await store.audit_log(limit, action)
