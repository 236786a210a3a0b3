"""API keys, and their lookup outside any session."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import select, update
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from moderation.domain.errors import Conflict
from moderation.domain.models import ApiKey, Role
from moderation.domain.records import Page
from moderation.storage.core import UnitOfWork
from moderation.storage.mappers import row_to_key, sqlite_datetime
from moderation.storage.statements import KEY_BY_HASH
from moderation.storage.tables import ApiKeyRow


class KeysRepo(UnitOfWork):
    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        row = (await self._run(KEY_BY_HASH, {"key_hash": key_hash})).first()
        return None if row is None else row_to_key(row)

    async def add_key(
        self,
        key_id: str,
        name: str,
        role: Role,
        key_hash: str,
        at: datetime,
        rate_limit: float | None = None,
        scope: str | None = None,
    ) -> ApiKey:
        """Raises :class:`Conflict` when an active key of ``role`` has ``name`` already
        (decisions and the audit log name keys; a partial unique index holds it under
        races too)."""
        taken = await self._session.scalar(
            select(ApiKeyRow.id).where(
                ApiKeyRow.role == role.name,
                ApiKeyRow.name == name,
                ApiKeyRow.revoked_at.is_(None),
            )
        )
        if taken is not None:
            raise _name_taken()
        row = ApiKeyRow(
            id=key_id,
            name=name,
            role=role.name,
            key_hash=key_hash,
            created_at=at,
            rate_limit=rate_limit,
            scope=scope,
        )
        self._session.add(row)
        try:
            await self._session.flush()
        except IntegrityError as error:
            # A concurrent create won the race for the name (not, say, a hash collision).
            if "uq_api_keys_active_name" in str(error) or "api_keys.role" in str(error):
                raise _name_taken() from None
            raise
        return row_to_key(row)

    async def list_keys(
        self, limit: int, after: Sequence[str] | None = None, *, scope: str | None = None
    ) -> Page[ApiKey]:
        """Oldest first; with ``scope``, only that scope's keys (None: every key)."""
        query = select(ApiKeyRow)
        if scope is not None:
            query = query.where(ApiKeyRow.scope == scope)
        order = ((ApiKeyRow.created_at, False), (ApiKeyRow.id, False))
        rows, more = await self._page(query, order, after, limit)
        return Page([row_to_key(row) for row in rows], more)

    async def revoke_key(self, key_id: str, at: datetime, *, scope: str | None = None) -> bool:
        """With ``scope``, only a key of that scope is revoked (None: any key)."""
        statement = update(ApiKeyRow).where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
        if scope is not None:
            statement = statement.where(ApiKeyRow.scope == scope)
        result = await self._session.execute(statement.values(revoked_at=at))
        return bool(getattr(result, "rowcount", 0))

    async def key_scope(self, key_id: str) -> str | None:
        """The scope of the key ``key_id`` (None: the default scope, or no such key)."""
        return await self._session.scalar(select(ApiKeyRow.scope).where(ApiKeyRow.id == key_id))

    async def touch_key(self, key_id: str, at: datetime) -> None:
        await self._session.execute(
            update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=at)
        )


async def key_by_hash(connection: AsyncConnection, key_hash: str) -> ApiKey | None:
    """The key lookup on a bare connection (PostgreSQL, in autocommit)."""
    row = (await connection.execute(KEY_BY_HASH, {"key_hash": key_hash})).first()
    return None if row is None else row_to_key(row)


class SqliteKeyReader:
    """API key lookups on SQLite with no SQLAlchemy and no thread: one indexed read.

    Every request authenticates, and a revoked key must fail at once in every process,
    so the lookup cannot be cached; through a session it cost as much as the rest of a
    small request. In WAL mode a read never waits for writers. The connection opens on
    first use, so building the service does no I/O.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None
        # The same query the sessions run, compiled once for sqlite3's own paramstyle.
        self._sql = str(KEY_BY_HASH.compile(dialect=sqlite_dialect()))
        self._columns = [str(column.key) for column in KEY_BY_HASH.selected_columns]

    def key_by_hash(self, key_hash: str) -> ApiKey | None:
        if self._connection is None:
            # Autocommit: each SELECT is its own read transaction, holding no snapshot open.
            self._connection = sqlite3.connect(self._path, isolation_level=None)
            self._connection.execute("PRAGMA busy_timeout=100")
        row = self._connection.execute(self._sql, (key_hash,)).fetchone()
        if row is None:
            return None
        values = dict(zip(self._columns, row, strict=True))
        for name in ("created_at", "last_used_at", "revoked_at"):
            if values[name] is not None:
                values[name] = sqlite_datetime(values[name])
        return row_to_key(SimpleNamespace(**values))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _name_taken() -> Conflict:
    return Conflict("an active key of this role already has this name", code="key_name_taken")
