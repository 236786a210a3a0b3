"""Webhooks: subscriptions, and the events a decision writes to the outbox.

:func:`emit` runs in the transaction that changes a comment's status (called by
:mod:`moderation.services.decisions`), so an event exists if and only if its decision
committed; :class:`moderation.workers.webhook_sender.WebhookSender` delivers them.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from moderation.contract import comment_json
from moderation.domain.errors import NotFound, ValidationFailed
from moderation.domain.events import COMMENT_EVENT, EVENTS
from moderation.domain.models import ApiKey, Comment, utcnow
from moderation.domain.records import Delivery, Page, Webhook
from moderation.storage.database import Database
from moderation.storage.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class NewWebhook:
    webhook: Webhook
    secret: str


@dataclass(slots=True)
class Webhooks:
    """Subscriptions (admins) and their delivery log."""

    db: Database

    async def create(self, key: ApiKey, url: str, events: Sequence[str]) -> NewWebhook:
        unknown = sorted(set(events) - set(EVENTS))
        if unknown:
            raise ValidationFailed(
                f"unknown events; expected: {', '.join(EVENTS)}", code="invalid_events"
            )
        secret = "whsec_" + secrets.token_urlsafe(32)
        async with self.db.transaction() as store:
            webhook = await store.add_webhook(
                "wh_" + secrets.token_hex(8), url, sorted(set(events)), secret, key.name, utcnow()
            )
            await store.audit(
                key.name,
                "webhook.create",
                webhook.id,
                {"url": url, "events": list(webhook.events)},
                utcnow(),
            )
        return NewWebhook(webhook=webhook, secret=secret)

    async def listing(self, limit: int, after: Sequence[str] | None = None) -> Page[Webhook]:
        async with self.db.transaction(write=False) as store:
            return await store.webhook_page(limit, after)

    async def remove(self, key: ApiKey, webhook_id: str) -> None:
        async with self.db.transaction() as store:
            if not await store.delete_webhook(webhook_id, utcnow()):
                raise NotFound("no such webhook", code="webhook_not_found")
            await store.audit(key.name, "webhook.delete", webhook_id, {}, utcnow())

    async def deliveries(
        self, webhook_id: str, limit: int, after: Sequence[str] | None = None
    ) -> Page[Delivery]:
        async with self.db.transaction(write=False) as store:
            if await store.webhook(webhook_id) is None:
                raise NotFound("no such webhook", code="webhook_not_found")
            return await store.deliveries(webhook_id, limit, after)


async def emit(store: Store, comment: Comment) -> bool:
    """Write one event per webhook subscribed to ``comment``'s new status; any written?"""
    event_type = COMMENT_EVENT[comment.status]
    subscribed = [w for w in await store.webhooks() if event_type in w.events]
    if not subscribed:
        return False
    resource = comment_json(comment)
    now = utcnow()
    for webhook in subscribed:
        event_id = "evt_" + secrets.token_hex(12)
        body = json.dumps(
            {"id": event_id, "type": event_type, "comment": resource},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        await store.add_event(event_id, webhook.id, event_type, comment.id, body, now)
    return True
