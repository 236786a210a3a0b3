"""The audit log: who changed what, when (guidelines, keys, webhooks, author standing)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from moderation.domain.records import AuditEntry, Page
from moderation.domain.scopes import to_api_optional
from moderation.storage.database import Database


@dataclass(slots=True)
class Audit:
    db: Database

    async def recent(
        self,
        limit: int,
        action: str | None = None,
        after: Sequence[str] | None = None,
        *,
        scope: str | None = None,
    ) -> Page[AuditEntry]:
        """Entries newest first, optionally of one action. An admin of the default scope
        reads every entry (as it lists every key and webhook); a scoped admin what every
        scope shares (the guidelines, shadow runs, integrations) and its own website's,
        with its authors under the ids the website uses."""
        async with self.db.transaction(write=False) as store:
            page = await store.audit_log(limit, action, after, scope=scope, every_scope=not scope)
        if not scope:
            return page
        items = [
            replace(entry, target=to_api_optional(scope, entry.target))
            if entry.action.startswith("author.")
            else entry
            for entry in page.items
        ]
        return Page(items, page.next_after)
