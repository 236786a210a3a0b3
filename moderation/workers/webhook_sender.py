"""The webhook sender: drains the transactional outbox in the background.

Events are written to the ``webhook_events`` table in the transaction that changes a
comment's status (:mod:`moderation.services.webhooks`), so an event exists if and only
if its decision committed. The sender leases due events (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several processes never take the same event), POSTs each body with
``X-Moderation-Signature: sha256=<hex HMAC-SHA256 of the body>``, and on anything but
a 2xx retries with exponential backoff and jitter. Leases expire, so events a crashed
process held are sent after a restart; delivery is at least once. Receivers are bounded
by a timeout and never touch the request path.

Only public addresses receive webhooks, besides those the operator allows
(:class:`moderation.domain.destinations.AllowList`). The check runs at every delivery on
what is connected to: a literal address before the request, a name in
:class:`GuardedResolver`, which resolves it, checks every address and hands the
connector only those it checked, so nothing can change between the check and the
connection. Redirects are not followed (a 3xx is a failure, retried), and the delivery
log records only coarse errors, so it tells no closed port from an open one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import socket
from datetime import timedelta
from ipaddress import ip_address

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from moderation.domain.destinations import AllowList, host_refusal
from moderation.domain.models import utcnow
from moderation.domain.records import OutboxEvent
from moderation.storage.database import Database
from moderation.workers.base import Worker

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Moderation-Signature"

# What the delivery log may say about a failure: coarse on purpose, so that it is no
# scanner of the receiver's network (a closed port and an open one read alike).
REFUSED = "refused: non-public address"
REDIRECT = "redirect not followed"
TIMED_OUT = "timed out"
CONNECTION_FAILED = "connection failed"


class NonPublicAddress(OSError):
    """A webhook's host name resolved to an address it may not reach."""


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` and refuses a name if any of its addresses is not allowed.

    The connector connects only to the addresses this returns, which are the ones it
    checked: a name cannot resolve to a public address for the check and to a private
    one for the connection.
    """

    def __init__(self, allow: AllowList, inner: AbstractResolver | None = None) -> None:
        self._allow = allow
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._allow.allows_name(host):
            return results
        for result in results:
            try:
                address = ip_address(result["host"])
            except ValueError:
                raise NonPublicAddress("an address that is not an IP address") from None
            if not self._allow.allows_address(address):
                raise NonPublicAddress(REFUSED)
        return results

    async def close(self) -> None:
        await self._inner.close()


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
        allow: AllowList | None = None,
        resolver: AbstractResolver | None = None,
    ) -> None:
        """``allow``: the non-public networks and names that may receive webhooks;
        ``resolver`` resolves names before they are checked (default: aiohttp's)."""
        self._db = db
        self._allow = allow if allow is not None else AllowList()
        self._inner_resolver = resolver
        self._resolver: GuardedResolver | None = None
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
        self._resolver = GuardedResolver(self._allow, self._inner_resolver)
        # No DNS cache: each delivery resolves (and checks) its host afresh.
        connector = aiohttp.TCPConnector(resolver=self._resolver, use_dns_cache=False)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            headers={"User-Agent": "moderation-service-webhooks/1"},
            trust_env=False,  # never through a proxy from the environment
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
        if self._resolver is not None:
            await self._resolver.close()
            self._resolver = None

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

    def _refusal(self, url: str) -> str | None:
        """Why ``url`` may not be posted to before any name is resolved, or None: its host
        as aiohttp reads it is a non-public address (aiohttp resolves no literal address,
        so this is its whole check) or a local name."""
        try:
            parsed = URL(url)
            host = parsed.raw_host
        except (ValueError, TypeError):
            return CONNECTION_FAILED
        if parsed.scheme not in ("http", "https") or not host:
            return CONNECTION_FAILED
        return REFUSED if host_refusal(host, self._allow) is not None else None

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        """POST ``body`` once, following no redirect: the status and the error, if any."""
        assert self._session is not None
        try:
            async with self._session.post(
                URL(url), data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                await response.read()
        except TimeoutError:
            return None, TIMED_OUT
        except aiohttp.ClientConnectorError as exc:
            refused = isinstance(exc.os_error, NonPublicAddress)
            return None, REFUSED if refused else CONNECTION_FAILED
        except (aiohttp.ClientError, OSError, ValueError):
            return None, CONNECTION_FAILED
        if 200 <= status < 300:
            return status, None
        # A 3xx is not followed: a 307/308 would re-POST the signed body elsewhere, a
        # 301/302/303 would turn it into a GET whose 2xx would count as delivered.
        return status, REDIRECT if 300 <= status < 400 else f"HTTP {status}"

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
            error = self._refusal(event.url)
            if error is None:
                status, error = await self._post(event.url, body, headers)
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
