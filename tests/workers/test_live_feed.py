"""The live queue's feed on each backend: fan-out by scope, counts, slow streams, gaps, wake."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import text

from moderation.domain.live import ChangeKind, QueueChange
from moderation.storage.database import Database
from moderation.workers.live_feed import Count, FeedItem, LiveFeed, Subscriber


async def change(db: Database, comment_id: str, scope: str | None = None) -> None:
    async with db.transaction() as store:
        await store.add_queue_change(
            ChangeKind.held, comment_id, scope=scope, status="pending", at=datetime.now(UTC)
        )


def buffered(subscriber: Subscriber) -> list[FeedItem | None]:
    items = []
    while not subscriber._queue.empty():
        items.append(subscriber._queue.get_nowait())
    return items


def ids(items: list[FeedItem | None]) -> list[str]:
    return [item.comment_id for item in items if isinstance(item, QueueChange)]


async def test_changes_go_to_their_scopes_subscribers_with_its_count(database: Database) -> None:
    feed = LiveFeed(database)
    default, _ = await feed.subscribe(None, "k1")
    other, _ = await feed.subscribe("b", "k2")
    await change(database, "c-1")
    await change(database, "b/c-2", scope="b")
    assert await feed.poll_once() == 2
    got_default, got_other = buffered(default), buffered(other)
    assert ids(got_default) == ["c-1"] and ids(got_other) == ["b/c-2"]
    # The counts are the queue's (no comment is stored here: 0), one per batch and scope.
    assert [i for i in got_default if isinstance(i, Count)] == [Count(0)]
    assert [i for i in got_other if isinstance(i, Count)] == [Count(0)]
    assert await feed.poll_once() == 0  # nothing twice


async def test_a_slow_subscriber_is_closed_and_the_others_go_on(database: Database) -> None:
    feed = LiveFeed(database, buffer=3)
    slow, _ = await feed.subscribe(None, "k1")
    fast, _ = await feed.subscribe(None, "k2")
    await change(database, "c-1")
    await change(database, "c-2")
    await feed.poll_once()  # two changes and a count: both buffers are full
    assert ids(buffered(fast)) == ["c-1", "c-2"]
    await change(database, "c-3")
    await feed.poll_once()
    assert slow.closed == "too slow"
    assert feed.subscribers == 1
    assert ids(buffered(fast)) == ["c-3"]
    # The slow one's stream ends: what it had, then the end mark.
    assert buffered(slow)[-1] is None


async def test_nothing_is_read_while_nobody_listens(database: Database) -> None:
    feed = LiveFeed(database)
    await change(database, "c-old")
    assert await feed.poll_once() == 0
    subscriber, seen = await feed.subscribe(None, "k1")
    assert seen >= 1
    assert await feed.poll_once() == 0
    await change(database, "c-new")
    assert await feed.poll_once() == 1
    assert ids(buffered(subscriber)) == ["c-new"]
    feed.unsubscribe(subscriber)
    await change(database, "c-unheard")
    assert await feed.poll_once() == 0


async def test_a_change_committed_late_below_the_cursor_is_still_sent(database: Database) -> None:
    """PostgreSQL numbers a row when it is written: id 1 may commit after id 2."""
    feed = LiveFeed(database)
    subscriber, _ = await feed.subscribe(None, "k1")

    async def insert(change_id: int, comment_id: str) -> None:
        async with database.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO queue_changes (id, kind, comment_id, scope, at)"
                    " VALUES (:id, 'held', :comment, '', :at)"
                ),
                {"id": change_id, "comment": comment_id, "at": datetime.now(UTC)},
            )

    await insert(2, "c-second")
    assert await feed.poll_once() == 1
    await insert(1, "c-first")
    assert await feed.poll_once() == 1
    assert ids(buffered(subscriber)) == ["c-second", "c-first"]
    assert await feed.poll_once() == 0


async def test_closing_ends_every_stream(database: Database) -> None:
    feed = LiveFeed(database)
    subscriber, _ = await feed.subscribe(None, "k1")
    feed.close_subscribers("shutdown")
    assert await subscriber.next() is None
    assert subscriber.closed == "shutdown" and feed.subscribers == 0


async def test_a_commit_in_this_process_is_pushed_without_waiting_for_the_poll(
    database: Database,
) -> None:
    feed = LiveFeed(database, poll_s=30)
    feed.start()
    try:
        subscriber, _ = await feed.subscribe(None, "k1")
        await asyncio.sleep(0.1)  # the loop is waiting out its (long) poll interval
        async with database.transaction() as store:
            await store.add_queue_change(
                ChangeKind.held, "c-1", scope=None, status="pending", at=datetime.now(UTC)
            )
            store.after_commit(feed.wake)
        async with asyncio.timeout(5):
            first = await subscriber.next()
        assert isinstance(first, QueueChange) and first.comment_id == "c-1"
    finally:
        await feed.close()
    assert feed.subscribers == 0
