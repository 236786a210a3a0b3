"""The webhook sender: drains the transactional outbox in the background.

Events are written to the ``webhook_events`` table in the transaction that changes a
comment's status (:mod:`moderation.services.webhooks`), so an event exists if and only
if its decision committed. The sender leases due events (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several processes never take the same event), POSTs each body with
``X-Moderation-Signature: sha256=<hex HMAC-SHA256 of the body>``, and on anything but
a 2xx retries with exponential backoff and jitter. Leases expire, so events a crashed
process held are sent after a restart; delivery is at least once. Receivers are bounded
by a timeout and never touch the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
from datetime import timedelta

import aiohttp

from moderation.domain.models import utcnow
from moderation.domain.records import OutboxEvent
from moderation.storage.database import Database
from moderation.workers.base import Worker

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Moderation-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def backoff(attempts: int, *, base: float = 1.0, cap: float = 3600.0) -> float:
    """Seconds before the next try: exponential, capped, with ±50 % jitter."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)) * random.uniform(0.5, 1.5))


class WebhookSender(Worker):
    task_name = "webhook-sender"

    """Drains the outbox in the background; :meth:`wake` after committing new events."""

    def __init__(
        self,
        db: Database,
        *,
        timeout_s: float = 10.0,
        poll_s: float = 1.0,
        lease_s: float = 60.0,
        batch: int = 50,
        concurrency: int = 8,
        backoff_base_s: float = 1.0,
    ) -> None:
        self._db = db
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._poll_s = poll_s
        self._lease = timedelta(seconds=max(lease_s, timeout_s * 2))
        self._batch = batch
        self._slots = asyncio.Semaphore(concurrency)
        self._backoff_base_s = backoff_base_s
        self._wakeup = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._inflight: set[str] = set()
        self.delivered = 0
        self.failed = 0

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=self._timeout, headers={"User-Agent": "moderation-service-webhooks/1"}
        )
        super().start()

    async def _release(self) -> None:
        """Events interrupted mid-delivery are handed back for the next sender at once."""
        if self._inflight:
            with contextlib.suppress(Exception):
                async with self._db.transaction() as store:
                    await store.release_events(sorted(self._inflight))
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            try:
                sent = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be down; keep trying
                log.error("webhook sender: %s", type(exc).__name__)
                sent = 0
            if sent:
                continue
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_s)

    async def run_once(self) -> int:
        """Lease and attempt the due events once; returns how many were attempted."""
        now = utcnow()
        async with self._db.transaction() as store:
            events = await store.lease_due_events(now, now + self._lease, self._batch)
        if events:
            await asyncio.gather(*(self._deliver(event) for event in events))
        return len(events)

    async def _deliver(self, event: OutboxEvent) -> None:
        assert self._session is not None
        body = event.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(event.secret, body),
            "X-Moderation-Event": event.type,
            "X-Moderation-Event-Id": event.id,
        }
        status: int | None = None
        error: str | None = None
        self._inflight.add(event.id)
        async with self._slots:
            try:
                async with self._session.post(event.url, data=body, headers=headers) as response:
                    status = response.status
                    await response.read()
                    if not 200 <= status < 300:
                        error = f"HTTP {status}"
            except TimeoutError:
                error = "timed out"
            except aiohttp.ClientError as exc:
                error = f"{type(exc).__name__}"
        async with self._db.transaction() as store:
            if error is None:
                assert status is not None
                await store.event_delivered(event.id, status, utcnow())
                self.delivered += 1
            else:
                delay = backoff(event.attempts + 1, base=self._backoff_base_s)
                await store.event_failed(
                    event.id, status, error, utcnow() + timedelta(seconds=delay)
                )
                self.failed += 1
        self._inflight.discard(event.id)
        if error is not None:
            log.warning(
                "webhook delivery failed",
                extra={"event_id": event.id, "webhook_id": event.webhook_id, "error": error},
            )
