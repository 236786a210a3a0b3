"""Engine, connections, transactions and migrations, for SQLite and PostgreSQL.

SQLite: WAL journal, ``synchronous`` from settings (FULL by default, so a
committed comment survives power loss), a busy timeout for other processes,
and write transactions opened with ``BEGIN IMMEDIATE`` so two writers never
deadlock upgrading a read lock. Writers inside one process also queue on an
asyncio lock, so they wait without polling SQLite's busy handler.

PostgreSQL: plain ``READ COMMITTED`` transactions through asyncpg; migrations
take an advisory lock so several processes starting together migrate once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from moderation.domain.errors import NotReady
from moderation.domain.models import ApiKey
from moderation.storage import sqlite_inline
from moderation.storage.store import SqliteKeyReader, Store, key_by_hash

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_MIGRATION_LOCK_ID = 0x6D6F6465  # "mode": an arbitrary, fixed advisory-lock key


class Database:
    """Owns the async engine; hands out one :class:`Store` per transaction."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL", pool_size: int = 10) -> None:
        parsed = make_url(url)
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        # A failing statement's error message would otherwise carry its parameters
        # (comment texts, ids, cursors): readers' input must not reach the logs.
        kwargs: dict[str, Any] = {"hide_parameters": True}
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # Every transaction here ends in COMMIT or ROLLBACK already; the pool's extra
            # reset-on-return would be one more trip to aiosqlite's thread per transaction.
            kwargs.update(pool_reset_on_return=None)
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if not self.is_sqlite:
            _ping_idle_connections(self.engine)
        # Writes and short reads on SQLite skip aiosqlite's per-statement thread hops
        # (storage/sqlite_inline.py); long reads stay on ``engine``.
        self.inline_engine = self.engine
        # A URL with options (``?mode=ro``, ``uri=true``) keeps aiosqlite for everything:
        # the inline connection opens a plain path and would not honour them.
        if self.is_sqlite and parsed.database not in (None, "", ":memory:") and not parsed.query:
            path = parsed.database
            # Here the reset is an inline call, so it stays: a transaction interrupted
            # by cancellation must not go back to the pool still holding the write lock.
            self.inline_engine = create_async_engine(
                url,
                async_creator=lambda: sqlite_inline.connect(path),
                **(kwargs | {"pool_reset_on_return": "rollback"}),
            )
        self._write_lock = asyncio.Lock()
        self._key_reader: SqliteKeyReader | None = None
        if self.inline_engine is not self.engine:
            self._key_reader = SqliteKeyReader(parsed.database or "")
        if self.is_sqlite:
            for engine in {self.engine, self.inline_engine}:
                _configure_sqlite(engine, sqlite_synchronous.upper())

    @property
    def backend(self) -> str:
        return "sqlite" if self.is_sqlite else self.engine.dialect.name

    async def upgrade(self) -> None:
        """Apply every Alembic migration not yet applied (``alembic upgrade head``)."""
        async with self.engine.connect() as conn:
            if not self.is_sqlite:
                await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK_ID})
                await conn.commit()
            try:
                await conn.run_sync(_run_upgrade)
                await conn.commit()
            finally:
                if not self.is_sqlite:
                    await conn.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK_ID}
                    )
                    await conn.commit()

    @contextlib.asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Store]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        if self.is_sqlite and write:
            async with self._write_lock, self._session(self.inline_engine, True) as store:
                yield store
        else:
            async with self._session(self.engine, write) as store:
                yield store

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The API key with this hash, as stored now (every request asks this)."""
        if self._key_reader is not None:
            try:
                return self._key_reader.key_by_hash(key_hash)
            except sqlite3.Error:
                pass  # e.g. busy during recovery: the ordinary path waits for it
        if self.is_sqlite:
            async with self.transaction(write=False) as store:
                return await store.key_by_hash(key_hash)
        # One statement needs no transaction: autocommit saves BEGIN and COMMIT, two of
        # the three round trips every request made for this.
        async with _outages_as_not_ready(), self.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            return await key_by_hash(autocommit, key_hash)

    @contextlib.asynccontextmanager
    async def _session(self, engine: AsyncEngine, write: bool) -> AsyncIterator[Store]:
        bind = engine.execution_options(sqlite_write=write) if self.is_sqlite else engine
        async with (
            _outages_as_not_ready(),
            AsyncSession(bind=bind, expire_on_commit=False) as session,
        ):
            async with session.begin():
                store = Store(session, dialect=self.engine.dialect.name)
                yield store
            for callback in store.committed_callbacks:
                try:
                    callback()
                except Exception:  # committed already: a failing observer changes nothing
                    log.exception("after-commit callback failed")

    async def ping(self) -> bool:
        # A read: on SQLite it must not queue for the write lock behind busy writers.
        engine = (
            self.engine.execution_options(sqlite_write=False) if self.is_sqlite else self.engine
        )
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        if self._key_reader is not None:
            self._key_reader.close()
        await self.engine.dispose()
        if self.inline_engine is not self.engine:
            await self.inline_engine.dispose()


@contextlib.asynccontextmanager
async def _outages_as_not_ready() -> AsyncIterator[None]:
    """A database that does not answer becomes :class:`NotReady` (503), logged once."""
    try:
        yield
    except (OperationalError, DBAPIError) as exc:
        if not _is_unavailable(exc):
            raise
        raise _unavailable(exc.orig) from exc
    except OSError as exc:  # asyncpg raises these when the server is gone
        raise _unavailable(exc) from exc


def _unavailable(cause: BaseException | None) -> NotReady:
    log.error("database unavailable: %s", type(cause).__name__)
    return NotReady(
        "the database is unavailable; try again shortly",
        code="database_unavailable",
        retry_after=1,
    )


IDLE_PING_S = 5.0


def _ping_idle_connections(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only if it sat idle for ``IDLE_PING_S``.

    ``pool_pre_ping`` pings on every checkout, and on asyncpg a ping is three round
    trips (BEGIN, an empty statement, ROLLBACK): two checkouts per request made it a
    fifth of a submission's cost. A connection used moments ago is very likely alive;
    if it is not, the request fails with 503 and SQLAlchemy discards the whole pool, so
    the next request reconnects. Idle connections (a restarted server, a firewall that
    drops quiet connections) are still checked before they are trusted.
    """

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last_used = record.info.get("last_used")
        if last_used is None or time.monotonic() - last_used > IDLE_PING_S:
            try:
                dbapi_connection.ping()
            except Exception as exc:
                # The pool replaces the connection and tries again.
                raise DisconnectionError("idle connection did not answer") from exc

    @event.listens_for(engine.sync_engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["last_used"] = time.monotonic()


def _is_unavailable(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    message = str(exc.orig).lower()
    return any(
        s in message
        for s in ("database is locked", "connection", "could not connect", "unable to open")
    )


def _run_upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    # Alembic's own INFO lines (a dozen per start: plugins, "Context impl", one per
    # migration) are silenced by moderation.logs.configure; this one line says what happened.
    before = MigrationContext.configure(connection).get_current_revision()
    command.upgrade(config, "head")
    after = MigrationContext.configure(connection).get_current_revision()
    if before == after:
        log.info("database at revision %s", after)
    else:
        log.info("database migrated from revision %s to %s", before or "(empty)", after)


def _configure_sqlite(engine: AsyncEngine, synchronous: str) -> None:
    if synchronous not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise ValueError("MODERATION_SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA")

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit transactions defer locks).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        mode = cursor.fetchone()
        if mode and str(mode[0]).lower() not in ("wal", "memory"):
            # Writers would then block readers: the design assumes WAL (docs/architecture.md).
            log.error("SQLite refused WAL mode (journal_mode=%s)", mode[0])
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_write", True)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def database_exists(url: str) -> bool:
    """Whether the database at ``url`` may already hold data: a SQLite file that exists,
    or any server database (which this cannot know without connecting)."""
    parsed = make_url(url)
    return parsed.get_backend_name() != "sqlite" or bool(
        parsed.database and Path(parsed.database).is_file()
    )
