"""Webhooks and the transactional outbox of their events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import aliased

from moderation.domain.records import Delivery, OutboxEvent, Page, Webhook
from moderation.storage.core import UnitOfWork
from moderation.storage.mappers import row_to_webhook
from moderation.storage.statements import ACTIVE_WEBHOOKS, INSERT_EVENT
from moderation.storage.tables import WebhookEventRow, WebhookRow


class WebhooksRepo(UnitOfWork):
    async def add_webhook(
        self,
        webhook_id: str,
        url: str,
        events: Sequence[str],
        secret: str,
        by: str,
        at: datetime,
        scope: str | None = None,
    ) -> Webhook:
        row = WebhookRow(
            id=webhook_id,
            url=url,
            events=list(events),
            secret=secret,
            created_by=by,
            created_at=at,
            scope=scope,
        )
        self._session.add(row)
        await self._session.flush()
        self._memo.clear()
        return row_to_webhook(row)

    async def webhooks(self) -> list[Webhook]:
        async def load() -> list[Webhook]:
            return [row_to_webhook(row) for row in await self._run(ACTIVE_WEBHOOKS, {})]

        return list(await self._memoized("webhooks", load))

    async def webhook_page(
        self, limit: int, after: Sequence[str] | None = None, *, scope: str | None = None
    ) -> Page[Webhook]:
        """The active webhooks, oldest first; with ``scope``, only that scope's."""
        query = select(WebhookRow).where(WebhookRow.deleted_at.is_(None))
        if scope is not None:
            query = query.where(WebhookRow.scope == scope)
        order = ((WebhookRow.created_at, False), (WebhookRow.id, False))
        rows, more = await self._page(query, order, after, limit)
        return Page([row_to_webhook(row) for row in rows], more)

    async def webhook(self, webhook_id: str) -> Webhook | None:
        row = await self._session.get(WebhookRow, webhook_id)
        return None if row is None or row.deleted_at is not None else row_to_webhook(row)

    async def delete_webhook(self, webhook_id: str, at: datetime) -> bool:
        result = await self._session.execute(
            update(WebhookRow)
            .where(WebhookRow.id == webhook_id, WebhookRow.deleted_at.is_(None))
            .values(deleted_at=at)
        )
        self._memo.clear()
        if not getattr(result, "rowcount", 0):
            return False
        # Undelivered events of a removed webhook would otherwise retry forever.
        await self._session.execute(
            delete(WebhookEventRow).where(
                WebhookEventRow.webhook_id == webhook_id, WebhookEventRow.delivered_at.is_(None)
            )
        )
        return True

    async def add_event(
        self,
        event_id: str,
        webhook_id: str,
        event_type: str,
        comment_id: str,
        body: str,
        at: datetime,
    ) -> None:
        await self._run(
            INSERT_EVENT,
            {
                "id": event_id,
                "webhook_id": webhook_id,
                "type": event_type,
                "comment_id": comment_id,
                "body": body,
                "created_at": at,
                "attempts": 0,
                "next_attempt_at": at,
            },
        )

    async def lease_due_events(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxEvent]:
        """Due, undelivered events, leased so no other sender takes them meanwhile."""
        query = (
            select(WebhookEventRow.id)
            .where(
                WebhookEventRow.delivered_at.is_(None),
                WebhookEventRow.next_attempt_at <= now,
                or_(WebhookEventRow.locked_until.is_(None), WebhookEventRow.locked_until <= now),
            )
            .order_by(WebhookEventRow.next_attempt_at, WebhookEventRow.created_at)
            .limit(limit)
        )
        ids = await self._lease(query, WebhookEventRow, locked_until=lease_until)
        if not ids:
            return []
        # Events written for a webhook removed meanwhile (a submission that read the
        # webhooks just before the removal committed) are dropped, never sent.
        removed = select(WebhookRow.id).where(WebhookRow.deleted_at.is_not(None))
        await self._session.execute(
            delete(WebhookEventRow).where(
                WebhookEventRow.id.in_(ids), WebhookEventRow.webhook_id.in_(removed)
            )
        )
        rows = await self._session.execute(
            select(WebhookEventRow, WebhookRow.url, WebhookRow.secret)
            .join(WebhookRow, WebhookRow.id == WebhookEventRow.webhook_id)
            .where(WebhookEventRow.id.in_(ids), WebhookRow.deleted_at.is_(None))
            .order_by(WebhookEventRow.created_at)
        )
        return [
            OutboxEvent(
                id=event.id,
                webhook_id=event.webhook_id,
                url=url,
                secret=secret,
                type=event.type,
                body=event.body,
                attempts=event.attempts,
            )
            for event, url, secret in rows
        ]

    async def event_delivered(self, event_id: str, status: int, at: datetime) -> None:
        await self._session.execute(
            update(WebhookEventRow)
            .where(WebhookEventRow.id == event_id)
            .values(
                delivered_at=at,
                last_status=status,
                last_error=None,
                locked_until=None,
                attempts=WebhookEventRow.attempts + 1,
            )
        )

    async def event_failed(
        self, event_id: str, status: int | None, error: str, next_attempt_at: datetime
    ) -> None:
        await self._session.execute(
            update(WebhookEventRow)
            .where(WebhookEventRow.id == event_id)
            .values(
                last_status=status,
                last_error=error[:500],
                locked_until=None,
                next_attempt_at=next_attempt_at,
                attempts=WebhookEventRow.attempts + 1,
            )
        )

    async def release_events(self, event_ids: Sequence[str]) -> None:
        await self._session.execute(
            update(WebhookEventRow)
            .where(WebhookEventRow.id.in_(list(event_ids)), WebhookEventRow.delivered_at.is_(None))
            .values(locked_until=None)
        )

    async def deliveries(
        self, webhook_id: str, limit: int, after: Sequence[str] | None = None
    ) -> Page[Delivery]:
        """Newest first."""
        query = select(WebhookEventRow).where(WebhookEventRow.webhook_id == webhook_id)
        order = ((WebhookEventRow.created_at, True), (WebhookEventRow.id, True))
        rows, more = await self._page(query, order, after, limit)
        return Page([_delivery(r) for r in rows], more)

    async def delivery_backlogs(
        self, webhook_ids: Sequence[str]
    ) -> dict[str, tuple[int, datetime | None, int]]:
        """Per webhook with undelivered events: (how many, the oldest one's time, how many
        of them failed at least once). Reads the undelivered events only (the outbox's
        due index), however many were delivered before."""
        if not webhook_ids:
            return {}
        rows = await self._session.execute(
            select(
                WebhookEventRow.webhook_id,
                func.count(),
                func.min(WebhookEventRow.created_at),
                func.count(WebhookEventRow.last_error),
            )
            .where(
                WebhookEventRow.delivered_at.is_(None),
                WebhookEventRow.webhook_id.in_(list(webhook_ids)),
            )
            .group_by(WebhookEventRow.webhook_id)
        )
        return {
            webhook_id: (int(pending), oldest, int(failing))
            for webhook_id, pending, oldest, failing in rows
        }

    async def failed_deliveries(
        self, webhook_ids: Sequence[str], per_webhook: int
    ) -> list[tuple[str, Delivery]]:
        """(webhook id, delivery) of the newest ``per_webhook`` undelivered events of each
        webhook whose last attempt failed, newest first."""
        if not webhook_ids or per_webhook <= 0:
            return []
        rank = (
            func.row_number()
            .over(
                partition_by=WebhookEventRow.webhook_id,
                order_by=(WebhookEventRow.created_at.desc(), WebhookEventRow.id.desc()),
            )
            .label("rank")
        )
        ranked = (
            select(WebhookEventRow, rank)
            .where(
                WebhookEventRow.delivered_at.is_(None),
                WebhookEventRow.last_error.is_not(None),
                WebhookEventRow.webhook_id.in_(list(webhook_ids)),
            )
            .subquery()
        )
        event = aliased(WebhookEventRow, ranked)
        rows = await self._session.scalars(
            select(event)
            .where(ranked.c.rank <= per_webhook)
            .order_by(event.webhook_id, event.created_at.desc(), event.id.desc())
        )
        return [(r.webhook_id, _delivery(r)) for r in rows]

    async def outbox_backlog(self) -> int:
        value = await self._session.scalar(
            select(func.count())
            .select_from(WebhookEventRow)
            .where(WebhookEventRow.delivered_at.is_(None))
        )
        return int(value or 0)


def _delivery(r: WebhookEventRow) -> Delivery:
    return Delivery(
        event_id=r.id,
        type=r.type,
        comment_id=r.comment_id,
        created_at=r.created_at,
        attempts=r.attempts,
        delivered_at=r.delivered_at,
        next_attempt_at=None if r.delivered_at else r.next_attempt_at,
        last_status=r.last_status,
        last_error=r.last_error,
    )
