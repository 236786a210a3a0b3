"""Group commit: jobs that arrive together share a transaction; each answers for itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from moderation.domain.errors import Conflict
from moderation.domain.models import AuthorStatus, utcnow
from moderation.storage.database import Database
from moderation.storage.store import Store
from moderation.workers.group_commit import GroupCommit


@pytest.fixture
async def database(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}", sqlite_synchronous="NORMAL")
    await db.upgrade()
    return db


async def test_jobs_share_commits_and_fail_alone(database: Database) -> None:
    writer = GroupCommit(database, max_batch=16)
    writer.start()

    def job(i: int):  # type: ignore[no-untyped-def]
        async def run(store: Store) -> int:
            await store.set_author(f"u-{i}", AuthorStatus.banned, None, utcnow())
            if i == 3:  # refused after writing: its write is undone, the others stay
                raise Conflict("refused", code="refused")
            return i

        return run

    try:
        results = await asyncio.gather(
            *(writer.run(job(i)) for i in range(20)), return_exceptions=True
        )
    finally:
        await writer.close()
        await database.dispose()
    assert isinstance(results[3], Conflict)
    assert [r for i, r in enumerate(results) if i != 3] == [i for i in range(20) if i != 3]
    assert writer.jobs == 20 and writer.groups < 20  # they were grouped
    async with database.transaction(write=False) as store:
        assert await store.author_status("u-5") is AuthorStatus.banned
        assert await store.author_status("u-3") is AuthorStatus.active


async def test_unexpected_error_rolls_back_the_group(database: Database) -> None:
    writer = GroupCommit(database)
    writer.start()

    async def good(store: Store) -> None:
        await store.set_author("u-good", AuthorStatus.banned, None, utcnow())

    async def bug(store: Store) -> None:
        raise RuntimeError("bug")

    try:
        results = await asyncio.gather(writer.run(good), writer.run(bug), return_exceptions=True)
    finally:
        await writer.close()
    assert all(isinstance(r, RuntimeError) for r in results)
    async with database.transaction(write=False) as store:
        assert await store.author_status("u-good") is AuthorStatus.active
    await database.dispose()
