"""The live queue's feed: reads the queue's changes and fans them out to open streams.

Changes are rows of ``queue_changes``, written in the transaction that makes them
(``services/live.note``), so every process sharing the database reads every change,
whichever process made it: on SQLite (one process, or several on one file) and on
PostgreSQL alike, through this one code path. The feed reads after the highest id it
has seen: every ``poll_s`` while anyone listens, and at once when this process commits
a change (:meth:`LiveFeed.wake`). Nobody listening, it reads nothing.

PostgreSQL hands out ids when a row is written, not when it commits, so a change may
become visible after one with a higher id. The feed remembers the ids it skipped and
reads them again for ``gap_wait_s`` (after that, the gap was a rolled-back transaction,
or the change's count still arrives with the next one).

Each stream is a :class:`Subscriber` with a bounded buffer: one that cannot keep up is
closed (its page reconnects and reloads), never waited for. After each batch, the
exact pending count of every scope that changed is sent to that scope's subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from moderation.domain.errors import TooManyRequests
from moderation.domain.live import QueueChange
from moderation.domain.models import utcnow
from moderation.storage.database import Database
from moderation.workers.base import Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Count:
    """The exact number of comments in a scope's review queue."""

    pending: int


FeedItem = QueueChange | Count


class Subscriber:
    """One open stream: what the feed has for it, in order, until it is closed."""

    def __init__(self, scope: str | None, key_id: str, size: int) -> None:
        self.scope = scope
        self.key_id = key_id
        #: Why the feed closed it ("too slow", "shutdown"), None while open.
        self.closed: str | None = None
        self._queue: asyncio.Queue[FeedItem | None] = asyncio.Queue(size)
        self._skip: set[int] = set()

    def skip(self, ids: Iterable[int]) -> None:
        """Changes already sent another way (replayed for ``Last-Event-ID``)."""
        self._skip.update(ids)

    def offer(self, item: FeedItem) -> bool:
        """Buffer ``item``; False when the buffer is full."""
        if self.closed is not None or (isinstance(item, QueueChange) and item.id in self._skip):
            return True
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            return False
        return True

    def close(self, reason: str) -> None:
        if self.closed is not None:
            return
        self.closed = reason
        # Room for the end mark: what was not sent yet goes with the stream.
        while self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def next(self) -> FeedItem | None:
        """The next item, waiting for it; None once closed."""
        return await self._queue.get()


class LiveFeed(Worker):
    task_name = "live-feed"

    def __init__(
        self,
        db: Database,
        *,
        poll_s: float = 0.5,
        buffer: int = 256,
        max_subscribers: int = 500,
        batch: int = 500,
        gap_wait_s: float = 5.0,
        retention_s: float = 3600.0,
        prune_every_s: float = 300.0,
    ) -> None:
        """``buffer``: what one stream may have unsent before it is closed as too slow;
        ``retention_s``: how long changes stay readable (``Last-Event-ID`` resumption)."""
        self._db = db
        self._poll_s = poll_s
        self._buffer = buffer
        self._max_subscribers = max_subscribers
        self._batch = batch
        self._gap_wait_s = gap_wait_s
        self._retention = timedelta(seconds=retention_s)
        self._prune_every_s = prune_every_s
        self._subscribers: set[Subscriber] = set()
        #: The highest change id read; None while nobody listens.
        self._cursor: int | None = None
        #: Ids below the cursor not seen yet (PostgreSQL), and since when (monotonic).
        self._gaps: dict[int, float] = {}
        self._wakeup = asyncio.Event()
        self._next_prune = 0.0

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def wake(self) -> None:
        """A change was committed in this process: read it now."""
        self._wakeup.set()

    async def subscribe(self, scope: str | None, key_id: str) -> tuple[Subscriber, int]:
        """A new stream of ``scope``'s changes, and the highest change id it will not be
        sent (what it should have read already, for ``Last-Event-ID`` replay)."""
        if len(self._subscribers) >= self._max_subscribers:
            raise TooManyRequests(
                "too many live queue streams are open; try again shortly",
                code="too_many_streams",
                retry_after=5,
            )
        if self._cursor is None:
            async with self._db.transaction(write=False) as store:
                _, highest = await store.queue_change_bounds()
            if self._cursor is None:  # another subscriber may have set it meanwhile
                self._cursor = highest
        subscriber = Subscriber(scope, key_id, self._buffer)
        self._subscribers.add(subscriber)
        return subscriber, self._cursor

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        if not self._subscribers:
            # Nobody listens: stop reading; the next stream starts from the newest change.
            self._cursor = None
            self._gaps.clear()

    def close_subscribers(self, reason: str) -> None:
        """End every stream (shutdown: open streams must not hold up the drain)."""
        for subscriber in list(self._subscribers):
            subscriber.close(reason)
            self.unsubscribe(subscriber)

    async def poll_once(self) -> int:
        """Read the changes since the last read and fan them out; how many were new."""
        if not self._subscribers or self._cursor is None:
            return 0
        cursor = self._cursor
        low = min(self._gaps, default=cursor + 1) - 1
        async with self._db.transaction(write=False) as store:
            changes = await store.queue_changes_after(low, self._batch, every_scope=True)
        if self._cursor != cursor:  # everyone left, or a new first one, meanwhile
            return 0
        now = time.monotonic()
        fresh: list[QueueChange] = []
        for change in changes:
            if change.id <= cursor:
                if self._gaps.pop(change.id, None) is not None:
                    fresh.append(change)
                continue
            if change.id - cursor - 1 <= self._batch:
                self._gaps.update(dict.fromkeys(range(cursor + 1, change.id), now))
            cursor = change.id
            fresh.append(change)
        self._cursor = cursor
        self._gaps = {i: t for i, t in self._gaps.items() if now - t < self._gap_wait_s}
        if fresh:
            self._fan_out(fresh)
            await self._send_counts({change.scope for change in fresh})
        return len(fresh)

    def _fan_out(self, items: Iterable[FeedItem], scope: str | None = None) -> None:
        for item in items:
            target = item.scope if isinstance(item, QueueChange) else scope
            for subscriber in list(self._subscribers):
                if subscriber.scope == target and not subscriber.offer(item):
                    log.warning("live queue: closed a stream that could not keep up")
                    subscriber.close("too slow")
                    self.unsubscribe(subscriber)

    async def _send_counts(self, scopes: set[str | None]) -> None:
        listened = scopes & {s.scope for s in self._subscribers}
        if not listened:
            return
        async with self._db.transaction(write=False) as store:
            counts = await store.queue_counts(listened, utcnow())
        for scope, pending in counts.items():
            self._fan_out([Count(pending)], scope)

    async def prune(self) -> None:
        """Forget changes older than the retention, and expired stream tokens."""
        now = utcnow()
        async with self._db.transaction() as store:
            await store.prune_queue_changes(now - self._retention)
            await store.prune_stream_tokens(now)

    async def _drain(self) -> None:
        self.close_subscribers("shutdown")

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            found = 0
            try:
                if time.monotonic() >= self._next_prune:
                    self._next_prune = time.monotonic() + self._prune_every_s
                    await self.prune()
                found = await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be down; keep trying
                log.error("live queue feed: %s", type(exc).__name__)
            if found >= self._batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._poll_s)
