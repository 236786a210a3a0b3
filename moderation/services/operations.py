"""What operators watch: the queue, the outbox, the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from moderation.domain.models import utcnow
from moderation.storage.database import Database


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: datetime
    queue_depth: int
    oldest_pending: datetime | None
    webhook_backlog: int


async def snapshot(db: Database) -> Snapshot:
    now = utcnow()
    async with db.transaction(write=False) as store:
        depth, oldest = await store.queue_depth(now)
        backlog = await store.outbox_backlog()
    return Snapshot(at=now, queue_depth=depth, oldest_pending=oldest, webhook_backlog=backlog)
