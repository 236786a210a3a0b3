"""The inline SQLite connection: statements on the loop thread, lock waits and syncs off it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from moderation.domain.errors import Conflict
from moderation.domain.models import AuthorStatus, utcnow
from moderation.storage.database import Database
from moderation.storage.sqlite_inline import InlineConnection


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'i.db'}")
    await db.upgrade()
    try:
        yield db
    finally:
        await db.dispose()


async def test_writes_run_inline_and_reads_stay_on_threads(database: Database) -> None:
    async with database.transaction() as store:
        assert isinstance(await store._inline_sqlite(), sqlite3.Connection)
    async with database.transaction(write=False) as store:
        assert await store._inline_sqlite() is None  # aiosqlite: long reads never block


async def test_waiting_for_another_writer_does_not_block_the_loop(
    database: Database, tmp_path: Path
) -> None:
    # Another process (here: a plain connection) holds the write lock for a while.
    other = sqlite3.connect(tmp_path / "i.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    released.start()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        async with database.transaction() as store:
            await store.set_author("u-1", AuthorStatus.banned, None, utcnow())
    finally:
        task.cancel()
        released.join()
        other.close()
    assert ticks >= 10  # the loop kept running while BEGIN IMMEDIATE waited
    async with database.transaction(write=False) as store:
        assert await store.author_status("u-1") is AuthorStatus.banned


async def test_savepoint_undoes_writes_and_callbacks(database: Database) -> None:
    fired: list[str] = []
    async with database.transaction() as store:
        await store.set_author("u-kept", AuthorStatus.banned, None, utcnow())
        store.after_commit(lambda: fired.append("kept"))
        with pytest.raises(Conflict):
            async with store.savepoint():
                await store.set_author("u-undone", AuthorStatus.banned, None, utcnow())
                store.after_commit(lambda: fired.append("undone"))
                raise Conflict("refused", code="refused")
        assert await store.author_status("u-undone") is AuthorStatus.active
        async with store.savepoint():
            await store.set_author("u-second", AuthorStatus.premoderated, None, utcnow())
    assert fired == ["kept"]
    async with database.transaction(write=False) as store:
        assert await store.author_status("u-kept") is AuthorStatus.banned
        assert await store.author_status("u-undone") is AuthorStatus.active
        assert await store.author_status("u-second") is AuthorStatus.premoderated


async def test_commit_of_a_read_only_transaction_stays_inline(tmp_path: Path) -> None:
    from moderation.storage import sqlite_inline

    connection = await sqlite_inline.connect(tmp_path / "r.db")
    assert isinstance(connection, InlineConnection)
    cursor = connection.cursor()
    await cursor.execute("CREATE TABLE t (x)")
    await cursor.execute("BEGIN IMMEDIATE")
    await cursor.execute("INSERT INTO t VALUES (1)")
    await connection.commit()  # wrote: synced on the connection's thread
    await cursor.execute("BEGIN")
    await cursor.execute("SELECT x FROM t")
    assert await cursor.fetchall() == [(1,)]
    await connection.commit()
    await connection.close()
    await connection.close()  # closing twice is harmless


async def test_store_memo_is_cleared_by_admin_writes(database: Database) -> None:
    async with database.transaction() as store:
        assert await store.webhooks() == []
        await store.add_webhook(
            "w-1", "http://127.0.0.1:9/x", ["comment.approved"], "s", "a", utcnow()
        )
        assert [w.id for w in await store.webhooks()] == ["w-1"]
        assert await store.active_shadow_run() is None
        run = await store.start_shadow_run({"rules": []}, None, "a", utcnow())
        assert (await store.active_shadow_run()) == run
        await store.stop_shadow_runs(utcnow())
        assert await store.active_shadow_run() is None


async def test_a_cancelled_write_transaction_releases_the_lock(
    database: Database, tmp_path: Path
) -> None:
    began = asyncio.Event()

    async def interrupted() -> None:
        async with database.transaction() as store:
            await store.set_author("u-cancelled", AuthorStatus.banned, None, utcnow())
            began.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(interrupted())
    await began.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Another process can take the write lock at once, and the write was undone.
    other = sqlite3.connect(tmp_path / "i.db", isolation_level=None, timeout=0.5)
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()
    async with database.transaction() as store:
        assert await store.author_status("u-cancelled") is AuthorStatus.active
        await store.set_author("u-next", AuthorStatus.banned, None, utcnow())


async def test_cancelled_while_waiting_for_the_lock(database: Database, tmp_path: Path) -> None:
    """Cancelled during BEGIN IMMEDIATE: the loop runs on, and no lock is left behind."""
    other = sqlite3.connect(tmp_path / "i.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.6, lambda: other.execute("COMMIT")).start()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    async def writer() -> None:
        async with database.transaction() as store:
            await store.set_author("u-never", AuthorStatus.banned, None, utcnow())

    ticking = asyncio.create_task(ticker())
    task = asyncio.create_task(writer())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    ticking.cancel()
    assert ticks >= 15  # the loop kept running throughout
    third = sqlite3.connect(tmp_path / "i.db", isolation_level=None, timeout=0.2)
    third.execute("BEGIN IMMEDIATE")  # the lock is free: the cancelled writer gave it back
    third.execute("ROLLBACK")
    third.close()
    other.close()
    async with database.transaction(write=False) as store:
        assert await store.author_status("u-never") is AuthorStatus.active


async def test_health_ping_does_not_wait_for_writers(database: Database, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "i.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = asyncio.get_running_loop().time()
        assert await database.ping()
        assert asyncio.get_running_loop().time() - started < 1
    finally:
        other.execute("ROLLBACK")
        other.close()


async def test_a_failed_flush_in_a_savepoint_reports_its_own_error(database: Database) -> None:
    from sqlalchemy.exc import IntegrityError

    from moderation.domain.models import Role

    async with database.transaction() as store:
        await store.add_key("k1", "one", Role.site, "h" * 64, utcnow())
    with pytest.raises(IntegrityError):
        async with database.transaction() as store, store.savepoint():
            await store.add_key("k2", "two", Role.site, "h" * 64, utcnow())  # same hash
