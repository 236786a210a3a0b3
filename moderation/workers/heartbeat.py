"""Which service processes are running on the shared database, by heartbeat.

Every process writes a heartbeat every ``interval_s`` seconds and counts the processes
that beat within the last three intervals; the rate limiter divides each key's rate
by that count (:mod:`moderation.domain.ratelimit`). A process that stops removes its row; one
that crashes drops out of the count three intervals later, so for that long the others
are a little stricter than needed. Heartbeats carry each process's own clock: hosts must
keep their clocks in sync (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta

from moderation.domain.errors import ServiceError
from moderation.domain.models import utcnow
from moderation.storage.database import Database
from moderation.workers.base import Worker

log = logging.getLogger(__name__)


class InstanceRegistry(Worker):
    task_name = "instances"

    def __init__(self, db: Database, *, interval_s: float, on_count: Callable[[int], None]) -> None:
        self.id = secrets.token_hex(8)
        self._db = db
        self._interval_s = interval_s
        self._on_count = on_count
        #: Live processes at the last beat, this one included.
        self.count = 1

    async def beat(self) -> int:
        """Record this process's heartbeat and return how many processes are live."""
        now = utcnow()
        async with self._db.transaction() as store:
            await store.heartbeat(self.id, now)
            count = await store.live_instances(now - timedelta(seconds=3 * self._interval_s))
        self.count = max(1, count)
        self._on_count(self.count)
        return self.count

    async def begin(self) -> None:
        """First beat now (so limits are shared from the first request), then the loop."""
        await self.beat()
        self.start()

    async def _release(self) -> None:
        try:
            async with self._db.transaction() as store:
                await store.remove_instance(self.id)
        except Exception as error:
            log.warning("could not remove this instance's heartbeat: %s", type(error).__name__)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.beat()
            except ServiceError as error:  # database unavailable: keep the last count
                log.warning("instance heartbeat failed: %s", error.code)
            except Exception:
                log.exception("instance heartbeat failed")
