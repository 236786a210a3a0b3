"""An aiosqlite-compatible SQLite connection that runs short statements inline.

aiosqlite runs every call (cursor, execute, fetch, close) on its own thread: about four
thread round trips per statement, each a future, a wake-up of the event loop and a GIL
hand-over. A submitted comment is a dozen statements, so on two cores those hops, not
SQLite, set the service's throughput (measured: about 95 hops and 12 ms of CPU per
comment; see docs/architecture.md, "SQLite on the event loop").

Statements against a local SQLite file in WAL mode take microseconds once the write
lock is held, so this connection runs them on the calling (event loop) thread. What can
wait goes to a thread of its own, one per connection:

* ``BEGIN IMMEDIATE`` / ``BEGIN EXCLUSIVE``, which wait for another process's write lock
  (up to the busy timeout);
* ``COMMIT`` of a transaction that wrote, which syncs the WAL to disk.

It serves only the write engine and short primary-key reads (see ``Database``); long
reads (backtests, listings) stay on aiosqlite's threads, so they never stall the loop.
SQLAlchemy receives it through ``create_async_engine(async_creator=...)`` and drives it
with its own aiosqlite adapter, so this class mirrors the slice of aiosqlite's API that
the adapter uses.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_WAITS_FOR_LOCK = ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")


class InlineCursor:
    """aiosqlite's ``Cursor`` surface over a plain ``sqlite3.Cursor``."""

    def __init__(self, connection: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        if sql.lstrip()[:16].upper().startswith(_WAITS_FOR_LOCK):
            await self._connection.begin_off_loop(self._cursor, sql, parameters or ())
        else:
            self._cursor.execute(sql, parameters or ())
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _InlineQueue:
    """Stands in for aiosqlite's work queue, which SQLAlchemy's adapter uses directly
    to set ``isolation_level``: the work runs at once, on the calling thread."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:
            if future is not None:
                future.set_exception(exc)
        else:
            if future is not None:
                future.set_result(result)


class InlineConnection:
    """aiosqlite's ``Connection`` surface over a ``sqlite3.Connection`` (see module doc)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection
        self._tx = _InlineQueue()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-sync")
        self._changes_at_begin = connection.total_changes
        #: A write transaction began here and has not ended (see ``commit``).
        self._writing = False

    async def off_loop(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function`` on this connection's thread and wait for it to finish.

        Even when the caller is cancelled it returns only once the thread is done: the
        connection must never be rolled back or closed on the loop while the thread is
        still inside a statement (sqlite3 does not guard that race). The cancellation
        is re-raised afterwards.
        """
        job = asyncio.get_running_loop().run_in_executor(self._thread, function, *args)
        cancelled = False
        while True:
            try:
                result = await asyncio.shield(job)
                break
            except asyncio.CancelledError:
                if job.done():
                    raise
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError
        return result

    async def begin_off_loop(
        self, cursor: sqlite3.Cursor, sql: str, parameters: Sequence[Any]
    ) -> None:
        """``BEGIN IMMEDIATE``, which may wait for another process's write lock."""
        try:
            await self.off_loop(cursor.execute, sql, parameters)
        except asyncio.CancelledError:
            # Cancelled while waiting; if the lock was granted meanwhile, give it back.
            if self._conn.in_transaction:
                self._conn.rollback()
            raise
        self._writing = True
        self._changes_at_begin = self._conn.total_changes

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The underlying connection, for statements that must bypass the adapter."""
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self, self._conn.cursor())

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        writing, self._writing = self._writing, False
        if writing and not self._conn.in_transaction:
            # SQLite rolled the transaction back by itself (disk full, I/O error, a
            # failed statement that aborts it): committing now would report success for
            # writes that are gone.
            raise sqlite3.OperationalError("the write transaction was rolled back by SQLite")
        if self._conn.in_transaction and self._conn.total_changes != self._changes_at_begin:
            await self.off_loop(self._conn.commit)  # syncs the WAL: off the loop
        else:
            self._conn.commit()
        self._changes_at_begin = self._conn.total_changes

    async def rollback(self) -> None:
        self._writing = False
        self._conn.rollback()
        self._changes_at_begin = self._conn.total_changes

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close now (also SQLAlchemy's forced ``terminate``); closing twice is harmless."""
        if self._connection is None:
            return
        self._connection = None
        try:
            self._conn.close()
        finally:
            self._thread.shutdown(wait=False)


async def connect(path: str | Path) -> InlineConnection:
    """Open ``path``; usable from the event loop thread and this connection's own thread."""
    return InlineConnection(sqlite3.connect(str(path), check_same_thread=False))
