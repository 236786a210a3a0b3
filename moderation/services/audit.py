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
        return Page([_as_seen_from(scope, entry) for entry in page.items], page.next_after)


OTHER_WEBSITE = "an admin of another website"
"""Who a scoped admin is told made a shared change (the guidelines) through another
website's key: that website's key names and ids are its own."""


def _as_seen_from(scope: str, entry: AuditEntry) -> AuditEntry:
    if entry.action.startswith("author."):
        entry = replace(entry, target=to_api_optional(scope, entry.target))
    if entry.actor_key_id is not None and entry.actor_scope != scope:
        entry = replace(entry, actor=OTHER_WEBSITE, actor_key_id=None, actor_scope=None)
    return entry
