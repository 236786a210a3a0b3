"""The audit log: who changed what, when (guidelines, keys, webhooks, author standing)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from moderation.domain.records import AuditEntry, Page
from moderation.storage.database import Database


@dataclass(slots=True)
class Audit:
    db: Database

    async def recent(
        self, limit: int, action: str | None = None, after: Sequence[str] | None = None
    ) -> Page[AuditEntry]:
        """Entries newest first, optionally of one action."""
        async with self.db.transaction(write=False) as store:
            return await store.audit_log(limit, action, after)
