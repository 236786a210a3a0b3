"""Heartbeats count the live processes on a database; stopped or silent ones drop out."""

from __future__ import annotations

from datetime import timedelta

from moderation.domain.models import utcnow
from moderation.storage.database import Database
from moderation.workers.heartbeat import InstanceRegistry


async def test_processes_count_each_other_and_leave(database: Database) -> None:
    seen: list[int] = []
    first = InstanceRegistry(database, interval_s=60, on_count=seen.append)
    second = InstanceRegistry(database, interval_s=60, on_count=lambda _: None)
    await first.begin()
    assert first.count == 1 and seen == [1]
    await second.begin()
    assert await first.beat() == 2 and seen[-1] == 2
    await second.close()
    assert await first.beat() == 1
    await first.close()


async def test_a_silent_process_expires_after_three_intervals(database: Database) -> None:
    registry = InstanceRegistry(database, interval_s=1, on_count=lambda _: None)
    async with database.transaction() as store:  # a process that crashed long ago
        await store.heartbeat("crashed", utcnow() - timedelta(seconds=10))
        await store.heartbeat("recent", utcnow() - timedelta(seconds=2))
    assert await registry.beat() == 2  # itself and "recent"
    async with database.transaction(write=False) as store:
        assert await store.live_instances(utcnow() - timedelta(days=1)) == 2  # "crashed" is gone
    await registry.close()
