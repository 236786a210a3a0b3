"""The live queue: its change feed, the pending counts it sends, stream tokens."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select

from moderation.domain.live import ChangeKind, QueueChange
from moderation.domain.models import ApiKey
from moderation.domain.scopes import column_value, from_column
from moderation.storage.core import UnitOfWork
from moderation.storage.mappers import row_to_key
from moderation.storage.statements import queue_filter
from moderation.storage.tables import ApiKeyRow, CommentRow, QueueChangeRow, StreamTokenRow

_ADD_CHANGE = insert(QueueChangeRow)


def _change(row: QueueChangeRow) -> QueueChange:
    return QueueChange(
        id=row.id,
        kind=ChangeKind(row.kind),
        comment_id=row.comment_id,
        scope=from_column(row.scope),
        status=row.status,
        actor_key_id=row.actor_key_id,
        actor=row.actor,
        at=row.at,
    )


class LiveRepo(UnitOfWork):
    async def add_queue_change(
        self,
        kind: ChangeKind,
        comment_id: str,
        *,
        scope: str | None,
        status: str | None,
        at: datetime,
        actor_key_id: str | None = None,
        actor: str | None = None,
    ) -> None:
        """One change of the feed, in the transaction that makes it."""
        await self._run(
            _ADD_CHANGE,
            {
                "kind": kind.value,
                "comment_id": comment_id,
                "scope": column_value(scope),
                "status": status,
                "actor_key_id": actor_key_id,
                "actor": actor,
                "at": at,
            },
        )

    async def queue_changes_after(
        self, after: int, limit: int, *, scope: str | None = None, every_scope: bool = False
    ) -> list[QueueChange]:
        """Changes with an id above ``after``, oldest first: ``scope``'s, or with
        ``every_scope`` those of all scopes."""
        query = select(QueueChangeRow).where(QueueChangeRow.id > after)
        if not every_scope:
            query = query.where(QueueChangeRow.scope == column_value(scope))
        rows = await self._session.scalars(query.order_by(QueueChangeRow.id).limit(limit))
        return [_change(row) for row in rows]

    async def queue_change_bounds(self) -> tuple[int, int]:
        """(lowest id kept, highest id written): (0, 0) while the feed is empty."""
        row = (
            await self._session.execute(
                select(func.min(QueueChangeRow.id), func.max(QueueChangeRow.id))
            )
        ).one()
        return int(row[0] or 0), int(row[1] or 0)

    async def prune_queue_changes(self, before: datetime) -> int:
        result = await self._session.execute(
            delete(QueueChangeRow).where(QueueChangeRow.at < before)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def queue_counts(
        self, scopes: Collection[str | None], now: datetime
    ) -> dict[str | None, int]:
        """The queue's exact size (as ``GET /v1/queue`` counts it) for each of ``scopes``."""
        values = sorted({column_value(s) for s in scopes})
        rows = await self._session.execute(
            select(CommentRow.scope, func.count())
            .where(*queue_filter(now, None, None, None), CommentRow.scope.in_(values))
            .group_by(CommentRow.scope)
        )
        counted = {from_column(scope): int(count) for scope, count in rows}
        return {scope: counted.get(scope, 0) for scope in scopes}

    async def claimed_ids(self, key_id: str, ids: Sequence[str] | None) -> list[str]:
        """The comments ``key_id`` holds a claim on (live or run out), of ``ids`` if given."""
        query = select(CommentRow.id).where(CommentRow.claimed_by == key_id)
        if ids is not None:
            query = query.where(CommentRow.id.in_(list(ids)))
        return list(await self._session.scalars(query))

    async def add_stream_token(self, digest: str, key_id: str, expires_at: datetime) -> None:
        self._session.add(StreamTokenRow(digest=digest, key_id=key_id, expires_at=expires_at))

    async def take_stream_token(self, digest: str, now: datetime) -> str | None:
        """The key id of an unexpired token, which is deleted: a token opens one stream."""
        key_id = await self._session.scalar(
            delete(StreamTokenRow)
            .where(StreamTokenRow.digest == digest, StreamTokenRow.expires_at > now)
            .returning(StreamTokenRow.key_id)
        )
        return None if key_id is None else str(key_id)

    async def prune_stream_tokens(self, now: datetime) -> int:
        result = await self._session.execute(
            delete(StreamTokenRow).where(StreamTokenRow.expires_at <= now)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def key_by_id(self, key_id: str) -> ApiKey | None:
        row = await self._session.get(ApiKeyRow, key_id)
        return None if row is None else row_to_key(row)
