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
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from moderation.contract import appeal_json, comment_json, notice_json
from moderation.domain.appeals import Appeal
from moderation.domain.destinations import AllowList, mask_credentials, url_refusal
from moderation.domain.errors import NotFound, ValidationFailed
from moderation.domain.events import APPEAL_DECIDED, COMMENT_EVENT, EVENTS, NOTICE_DECIDED
from moderation.domain.models import ApiKey, Comment, utcnow
from moderation.domain.notices import Notice
from moderation.domain.records import Delivery, Page, Webhook
from moderation.domain.scopes import to_api
from moderation.storage.database import Database
from moderation.storage.store import Store

log = logging.getLogger(__name__)


#: How many of a webhook's failing deliveries its listing shows.
LAST_ERRORS = 5


@dataclass(frozen=True, slots=True)
class NewWebhook:
    webhook: Webhook
    secret: str


@dataclass(frozen=True, slots=True)
class WebhookHealth:
    """A webhook and how its deliveries go: ``pending`` undelivered events (the oldest
    written at ``oldest_pending_at``), ``failing`` of them failed at least once, and the
    newest of those (``last_errors``, newest first, comment ids of the webhook's scope)."""

    webhook: Webhook
    pending: int = 0
    oldest_pending_at: datetime | None = None
    failing: int = 0
    last_errors: tuple[Delivery, ...] = ()


@dataclass(slots=True)
class Webhooks:
    """Subscriptions (admins) and their delivery log.

    ``allow`` names the non-public networks and hosts an operator allows as receivers
    (``MODERATION_WEBHOOK_ALLOW_HOSTS``); any other URL whose host is a non-public address
    or a local name is refused here, and the sender checks what a name resolves to at
    every delivery.
    """

    db: Database
    allow: AllowList = field(default_factory=AllowList)

    async def create(self, key: ApiKey, url: str, events: Sequence[str]) -> NewWebhook:
        """A webhook of ``key``'s scope: it receives that scope's events only."""
        refusal = url_refusal(url, self.allow)
        if refusal is not None:
            # The message and the detail never repeat the URL.
            raise ValidationFailed(
                "the webhook URL is not an allowed destination",
                code="webhook_destination_refused",
                details=[
                    {
                        "field": "url",
                        "problem": refusal
                        + "; webhooks go to public addresses, or to those allowed by"
                        " MODERATION_WEBHOOK_ALLOW_HOSTS",
                    }
                ],
            )
        unknown = sorted(set(events) - set(EVENTS))
        if unknown:
            raise ValidationFailed(
                f"unknown events; expected: {', '.join(EVENTS)}", code="invalid_events"
            )
        secret = "whsec_" + secrets.token_urlsafe(32)
        async with self.db.transaction() as store:
            webhook = await store.add_webhook(
                "wh_" + secrets.token_hex(8),
                url,
                sorted(set(events)),
                secret,
                key.name,
                utcnow(),
                scope=key.scope,
            )
            details: dict[str, object] = {
                "url": mask_credentials(url),
                "events": list(webhook.events),
            }
            if key.scope is not None:
                details["scope"] = key.scope
            await store.audit(key, "webhook.create", webhook.id, details, utcnow(), scope=key.scope)
        return NewWebhook(webhook=webhook, secret=secret)

    async def overview(
        self,
        limit: int,
        after: Sequence[str] | None = None,
        *,
        scope: str | None = None,
        errors: int = LAST_ERRORS,
    ) -> Page[WebhookHealth]:
        """Every webhook for an admin of the default scope, a scoped admin's scope's only;
        each with its delivery backlog and last ``errors`` failing deliveries."""
        async with self.db.transaction(write=False) as store:
            page = await store.webhook_page(limit, after, scope=scope)
            ids = [w.id for w in page.items]
            backlogs = await store.delivery_backlogs(ids)
            failed: dict[str, list[Delivery]] = {}
            for webhook_id, delivery in await store.failed_deliveries(ids, errors):
                failed.setdefault(webhook_id, []).append(delivery)
        items = []
        for webhook in page.items:
            pending, oldest, failing = backlogs.get(webhook.id, (0, None, 0))
            last = tuple(_in_scope(d, webhook) for d in failed.get(webhook.id, ()))
            items.append(WebhookHealth(webhook, pending, oldest, failing, last))
        return Page(items, page.next_after)

    async def remove(self, key: ApiKey, webhook_id: str) -> None:
        async with self.db.transaction() as store:
            webhook = await store.webhook(webhook_id)
            if (
                webhook is None
                or not _visible(webhook, key.scope)
                or not (await store.delete_webhook(webhook_id, utcnow()))
            ):
                raise NotFound("no such webhook", code="webhook_not_found")
            await store.audit(key, "webhook.delete", webhook_id, {}, utcnow(), scope=webhook.scope)

    async def deliveries(
        self,
        webhook_id: str,
        limit: int,
        after: Sequence[str] | None = None,
        *,
        scope: str | None = None,
    ) -> Page[Delivery]:
        """A webhook's deliveries; their comment ids are those of the webhook's scope."""
        async with self.db.transaction(write=False) as store:
            webhook = await store.webhook(webhook_id)
            if webhook is None or not _visible(webhook, scope):
                raise NotFound("no such webhook", code="webhook_not_found")
            page = await store.deliveries(webhook_id, limit, after)
        return Page([_in_scope(d, webhook) for d in page.items], page.next_after)


def _in_scope(delivery: Delivery, webhook: Webhook) -> Delivery:
    """``delivery`` with its comment id as the webhook's scope names it."""
    return replace(delivery, comment_id=to_api(webhook.scope, delivery.comment_id))


def _visible(webhook: Webhook | None, scope: str | None) -> bool:
    """Whether an admin of ``scope`` sees ``webhook`` (one of the default scope sees all)."""
    return webhook is not None and (scope is None or webhook.scope == scope)


async def emit(store: Store, comment: Comment) -> bool:
    """Write one event per webhook of ``comment``'s scope subscribed to its new status; any
    written? The payload's comment has the ids of that scope (``contract.comment_json``)."""
    return await _write_events(store, COMMENT_EVENT[comment.status], comment, {})


async def emit_notice_decided(store: Store, notice: Notice, comment: Comment) -> bool:
    """Write ``notice.decided`` for each webhook of ``comment``'s scope subscribed to it, in
    the transaction of the moderator's decision (as :func:`emit`); any written?"""
    return await _write_events(store, NOTICE_DECIDED, comment, {"notice": notice_json(notice)})


async def emit_appeal_decided(store: Store, appeal: Appeal, comment: Comment) -> bool:
    """Write ``appeal.decided`` for each webhook of ``comment``'s scope subscribed to it, in
    the transaction of the moderator's answer (as :func:`emit`); any written?"""
    return await _write_events(store, APPEAL_DECIDED, comment, {"appeal": appeal_json(appeal)})


async def _write_events(
    store: Store, event_type: str, comment: Comment, extra: dict[str, Any]
) -> bool:
    """One outbox row per webhook of ``comment``'s scope subscribed to ``event_type``, with
    the body ``{"id", "type", **extra, "comment"}``; any written?"""
    subscribed = [
        w for w in await store.webhooks() if event_type in w.events and w.scope == comment.scope
    ]
    if not subscribed:
        return False
    resource = comment_json(comment)
    now = utcnow()
    for webhook in subscribed:
        event_id = "evt_" + secrets.token_hex(12)
        body = json.dumps(
            {"id": event_id, "type": event_type, **extra, "comment": resource},
            separators=(",", ":"),
            ensure_ascii=False,
        )
        await store.add_event(event_id, webhook.id, event_type, comment.id, body, now)
    return True
