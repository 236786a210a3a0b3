"""The unit of work: one session, one transaction, shared by every repository."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar, cast

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from moderation.storage.sqlite_inline import InlineConnection
from moderation.storage.statements import (
    INSERT_IGNORE,
    after_key,
    decode_key,
    encode_key_value,
)

T = TypeVar("T")


class UnitOfWork:
    """One session (one transaction) and the plumbing every repository shares."""

    def __init__(self, session: AsyncSession, *, dialect: str) -> None:
        self._session = session
        self._dialect = dialect
        self.committed_callbacks: list[Callable[[], None]] = []
        # Settings every decision reads (guidelines version, webhooks, shadow run), read
        # once per transaction on SQLite: a group commit decides dozens of comments in
        # one. Writes to them clear it. Safe there because SQLite runs one write
        # transaction at a time, so admin changes commit before this one begins or after
        # it ends; PostgreSQL (READ COMMITTED) reads them every time.
        self._memo: dict[str, Any] = {}
        self._connection: AsyncConnection | None = None
        self._raw: sqlite3.Connection | Literal[False] | None = None

    async def _memoized(self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        if self._dialect != "sqlite":
            # READ COMMITTED: an admin change may commit mid-transaction; read it each time.
            return await load()
        if key not in self._memo:
            self._memo[key] = await load()
        return cast(T, self._memo[key])

    async def _run(self, statement: Any, parameters: Mapping[str, Any]) -> Any:
        """A prebuilt Core statement with bound parameters.

        The hot paths build no statement per call (a ``.values(...)`` statement is a new
        object whose cache key SQLAlchemy must compute each time) and skip the ORM's unit
        of work: the compiled form of each statement is cached once. They run on the
        session's connection directly (the session's own layer costs as much again),
        after flushing whatever the session holds, as ``Session.execute`` would.
        """
        connection = await self._session_connection()
        await self._flush()
        return await connection.execute(statement, parameters)

    async def _session_connection(self) -> AsyncConnection:
        if self._connection is None:
            self._connection = await self._session.connection()
        return self._connection

    async def _flush(self) -> None:
        if self._session.new or self._session.dirty or self._session.deleted:
            await self._session.flush()

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A nested transaction: what the block wrote is undone if the block raises.

        Callbacks the block registered with :meth:`after_commit` are dropped with it.
        """
        callbacks = len(self.committed_callbacks)
        raw = await self._inline_sqlite()
        if raw is None:
            try:
                async with self._session.begin_nested():
                    yield
            except BaseException:
                del self.committed_callbacks[callbacks:]
                raise
            return
        # On the inline SQLite connection the savepoint is two plain statements; through
        # the session's nested transaction it cost an eighth of a group-committed
        # submission. Pending ORM writes are flushed first so they stay outside it.
        await self._flush()
        raw.execute("SAVEPOINT job")
        try:
            yield
            await self._flush()
        except BaseException:
            del self.committed_callbacks[callbacks:]
            self._memo.clear()
            if not (raw.in_transaction and self._session.is_active):
                # The error already ended the whole transaction (a failed flush, or
                # SQLite aborting it): there is no savepoint left to return to, and the
                # original error is the one to report.
                raise
            raw.execute("ROLLBACK TO job")
            raw.execute("RELEASE job")
            # Rows the block loaded or wrote may be gone: forget them all.
            self._session.expunge_all()
            raise
        raw.execute("RELEASE job")

    async def _inline_sqlite(self) -> sqlite3.Connection | None:
        """The ``sqlite3`` connection under this transaction when it runs inline."""
        if self._dialect != "sqlite":
            return None
        if self._raw is None:
            connection = await self._session_connection()
            driver = (await connection.get_raw_connection()).driver_connection
            self._raw = driver.sqlite if isinstance(driver, InlineConnection) else False
        return self._raw or None

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this transaction has committed (never if it rolls back)."""
        if callback not in self.committed_callbacks:
            self.committed_callbacks.append(callback)

    async def _insert_ignore(self, table: type[Any], values: Mapping[str, Any]) -> bool:
        """INSERT that does nothing on a key conflict (race-free on both backends)."""
        statement = INSERT_IGNORE[self._dialect == "postgresql"][table.__tablename__]
        result = await self._run(statement, values)
        return bool(getattr(result, "rowcount", 0))

    async def _upsert(
        self,
        table: type[Any],
        rows: Sequence[Mapping[str, Any]],
        *,
        keys: Sequence[str],
        update: Sequence[str],
    ) -> None:
        """INSERT ``rows``; a row whose ``keys`` match one stored takes its ``update``
        columns from the new row instead (race-free on both backends: one statement)."""
        if not rows:
            return
        insert = pg_insert if self._dialect == "postgresql" else sqlite_insert
        statement = insert(table).values(list(rows))
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=list(keys),
                set_={name: statement.excluded[name] for name in update},
            )
        )

    async def _page(
        self,
        query: Any,
        order: Sequence[tuple[Any, bool]],
        after: Sequence[str] | None,
        limit: int,
    ) -> tuple[list[Any], tuple[str, ...] | None]:
        """Rows of ``query`` in ``order`` ((column, descending) pairs, the last one unique),
        starting after the key ``after``; and the key of the last row when more follow."""
        if after is not None:
            query = query.where(after_key(order, decode_key(order, after)))
        query = query.order_by(*(c.desc() if desc else c.asc() for c, desc in order))
        rows = list(await self._session.scalars(query.limit(limit + 1)))
        if len(rows) <= limit:
            return rows, None
        rows = rows[:limit]
        return rows, tuple(encode_key_value(getattr(rows[-1], c.key)) for c, _ in order)

    async def _lease(self, query: Any, table: type[Any], **values: Any) -> list[Any]:
        """Select ids and mark them in one transaction, never two callers the same rows.

        PostgreSQL: ``FOR UPDATE SKIP LOCKED`` passes over rows another transaction holds;
        SQLite: the write transaction (``BEGIN IMMEDIATE``) already runs alone.
        """
        if self._dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(await self._session.scalars(query))
        if ids:
            await self._session.execute(update(table).where(table.id.in_(ids)).values(**values))
        return ids
