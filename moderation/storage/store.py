"""Queries and writes inside one transaction, in the domain's terms."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, Literal, TypeVar, cast

import orjson
from sqlalchemy import Table, Text, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from moderation.backtest import Case
from moderation.domain.models import (
    STATUS_OF,
    Action,
    ApiKey,
    Article,
    ArticleMode,
    Author,
    AuthorStatus,
    Comment,
    Decision,
    Reason,
    Role,
    Status,
)
from moderation.storage.sqlite_inline import InlineConnection
from moderation.storage.tables import (
    ApiKeyRow,
    ArticleRow,
    AuditRow,
    AuthorRow,
    Base,
    CommentRow,
    DecisionRow,
    GuidelinesVersionRow,
    InstanceRow,
    ReportRow,
    ShadowDecisionRow,
    ShadowRunRow,
    UTCDateTime,
    WebhookEventRow,
    WebhookRow,
)

T = TypeVar("T")


class Store:
    """A repository bound to one session (one transaction)."""

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
        statement = _INSERT_IGNORE[self._dialect == "postgresql"][table.__tablename__]
        result = await self._run(statement, values)
        return bool(getattr(result, "rowcount", 0))

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

    # -- API keys ---------------------------------------------------------------------------

    async def key_by_hash(self, key_hash: str) -> ApiKey | None:
        row = (await self._run(_KEY_BY_HASH, {"key_hash": key_hash})).first()
        return None if row is None else _key(row)

    async def add_key(
        self,
        key_id: str,
        name: str,
        role: Role,
        key_hash: str,
        at: datetime,
        rate_limit: float | None = None,
    ) -> ApiKey:
        row = ApiKeyRow(
            id=key_id,
            name=name,
            role=role.name,
            key_hash=key_hash,
            created_at=at,
            rate_limit=rate_limit,
        )
        self._session.add(row)
        await self._session.flush()
        return _key(row)

    async def list_keys(self) -> list[ApiKey]:
        rows = await self._session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at))
        return [_key(row) for row in rows]

    async def revoke_key(self, key_id: str, at: datetime) -> bool:
        result = await self._session.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return bool(getattr(result, "rowcount", 0))

    async def touch_key(self, key_id: str, at: datetime) -> None:
        await self._session.execute(
            update(ApiKeyRow).where(ApiKeyRow.id == key_id).values(last_used_at=at)
        )

    # -- service instances ----------------------------------------------------------------------

    async def heartbeat(self, instance_id: str, at: datetime) -> None:
        """Record that this process is alive (inserting it on its first beat)."""
        if not await self._insert_ignore(
            InstanceRow, {"id": instance_id, "started_at": at, "heartbeat_at": at}
        ):
            await self._session.execute(
                update(InstanceRow).where(InstanceRow.id == instance_id).values(heartbeat_at=at)
            )

    async def live_instances(self, since: datetime) -> int:
        """How many processes beat since ``since``; older rows are removed."""
        await self._session.execute(delete(InstanceRow).where(InstanceRow.heartbeat_at < since))
        value = await self._session.scalar(select(func.count()).select_from(InstanceRow))
        return int(value or 0)

    async def remove_instance(self, instance_id: str) -> None:
        await self._session.execute(delete(InstanceRow).where(InstanceRow.id == instance_id))

    # -- guidelines -------------------------------------------------------------------------

    async def latest_guidelines_version(self) -> int:
        async def load() -> int:
            value = (await self._run(_LATEST_GUIDELINES, {})).scalar()
            return int(value or 0)

        return await self._memoized("guidelines_version", load)

    async def guidelines(self, version: int) -> tuple[dict[str, Any], str, datetime] | None:
        row = await self._session.get(GuidelinesVersionRow, version)
        return None if row is None else (dict(row.document), row.created_by, row.created_at)

    async def add_guidelines(
        self, version: int, document: Mapping[str, Any], by: str, at: datetime, note: str | None
    ) -> None:
        self._session.add(
            GuidelinesVersionRow(
                version=version, document=dict(document), created_by=by, created_at=at, note=note
            )
        )
        await self._session.flush()
        self._memo.clear()

    async def guidelines_history(self) -> list[tuple[int, str, datetime, str | None]]:
        rows = await self._session.execute(
            select(
                GuidelinesVersionRow.version,
                GuidelinesVersionRow.created_by,
                GuidelinesVersionRow.created_at,
                GuidelinesVersionRow.note,
            ).order_by(GuidelinesVersionRow.version)
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    # -- articles and authors ----------------------------------------------------------------

    async def article(self, article_id: str) -> Article | None:
        row = (await self._run(_ARTICLE, {"id": article_id})).first()
        return None if row is None else _article(row)

    async def put_article(
        self,
        article_id: str,
        *,
        mode: ArticleMode,
        title: str | None,
        url: str | None,
        tags: Sequence[str],
        at: datetime,
    ) -> tuple[Article, bool]:
        """Create or replace an article; returns it and whether it was created."""
        values = {
            "mode": mode.value,
            "title": title,
            "url": url,
            "tags": list(tags),
            "updated_at": at,
        }
        created = await self._insert_ignore(
            ArticleRow, {"id": article_id, "created_at": at, **values}
        )
        if not created:
            await self._session.execute(
                update(ArticleRow).where(ArticleRow.id == article_id).values(**values)
            )
        row = await self._session.get(ArticleRow, article_id, populate_existing=True)
        assert row is not None
        return _article(row), created

    async def author_status(self, author_id: str) -> AuthorStatus:
        status = (await self._run(_AUTHOR_STATUS, {"id": author_id})).scalar()
        return AuthorStatus(status) if status else AuthorStatus.active

    async def author(self, author_id: str) -> Author:
        row = await self._session.get(AuthorRow, author_id)
        counts = {status.value: 0 for status in Status}
        result = await self._session.execute(
            select(CommentRow.status, func.count())
            .where(CommentRow.author_id == author_id)
            .group_by(CommentRow.status)
        )
        for status, count in result:
            counts[status] = int(count)
        if row is None:
            return Author(id=author_id, status=AuthorStatus.active, reason=None, counts=counts)
        return Author(
            id=author_id,
            status=AuthorStatus(row.status),
            reason=row.reason,
            counts=counts,
            updated_at=row.updated_at,
        )

    async def set_author(
        self, author_id: str, status: AuthorStatus, reason: str | None, at: datetime
    ) -> None:
        values = {"status": status.value, "reason": reason, "updated_at": at}
        if not await self._insert_ignore(AuthorRow, {"id": author_id, **values}):
            await self._session.execute(
                update(AuthorRow).where(AuthorRow.id == author_id).values(**values)
            )

    # -- comments and decisions ----------------------------------------------------------------

    async def comment_digest(self, comment_id: str) -> str | None:
        """The stored text digest of a comment, or None when there is no such comment."""
        return await self._session.scalar(
            select(CommentRow.text_sha256).where(CommentRow.id == comment_id)
        )

    async def comment(
        self, comment_id: str, *, history: bool = False, lock: bool = False
    ) -> Comment | None:
        row = await self._session.get(CommentRow, comment_id, with_for_update=lock or None)
        if row is None:
            return None
        decisions: list[Decision] = []
        current: Decision | None = None
        if history:
            rows = await self._session.scalars(
                select(DecisionRow)
                .where(DecisionRow.comment_id == comment_id)
                .order_by(DecisionRow.id)
            )
            decisions = [_decision(r) for r in rows]
            current = next((d for d in reversed(decisions) if d.id == row.decision_id), None)
        elif row.decision_id is not None:
            decision_row = await self._session.get(DecisionRow, row.decision_id)
            current = None if decision_row is None else _decision(decision_row)
        return _comment(row, current, tuple(decisions))

    async def insert_comment(
        self,
        *,
        comment_id: str,
        article_id: str,
        author_id: str,
        author_name: str | None,
        parent_id: str | None,
        text: str,
        text_sha256: str,
        article_tags: Sequence[str],
        metadata: Mapping[str, Any],
        at: datetime,
    ) -> bool:
        """Insert a new comment row (status pending until decided); False if the id exists."""
        return await self._insert_ignore(
            CommentRow,
            dict(
                id=comment_id,
                article_id=article_id,
                author_id=author_id,
                author_name=author_name,
                parent_id=parent_id,
                text=text,
                text_sha256=text_sha256,
                article_tags=list(article_tags),
                metadata=dict(metadata),
                status=Status.pending.value,
                created_at=at,
                updated_at=at,
            ),
        )

    async def record_decision(
        self,
        comment_id: str,
        *,
        action: Action,
        by: str,
        moderator: str | None,
        reasons: Sequence[Reason],
        message: str,
        scores: Mapping[str, float] | None,
        classifier: str | None,
        guidelines_version: int,
        at: datetime,
        note: str | None = None,
        store_scores: bool = True,
        queue: QueueState | None = None,
    ) -> Decision:
        """Append a decision to the history and make it the comment's current one.

        The same UPDATE puts the comment in the review queue (``queue``) or takes it
        out, dropping any claim on it.
        """
        decision = Decision(
            id=0,  # assigned by the INSERT below
            comment_id=comment_id,
            action=action,
            by=by,
            moderator=moderator,
            reasons=tuple(reasons),
            message=message,
            scores=dict(scores or {}),
            classifier=classifier,
            guidelines_version=guidelines_version,
            at=at,
            note=note,
        )
        row = {field: getattr(decision, field) for field in _DECISION_COLUMNS}
        row.update(action=action.value, reasons=[r.as_dict() for r in reasons])
        decision_id = (await self._run(_INSERT_DECISION, row)).scalar_one()
        values: dict[str, Any] = {
            "_id": comment_id,
            "decision_id": decision_id,
            "status": STATUS_OF[action].value,
            "updated_at": at,
        }
        if store_scores:
            values.update(
                scores=dict(scores) if scores is not None else None,
                classifier=classifier,
                auto_action=action.value,
            )
        if by == "moderator":
            values["moderator_action"] = action.value
        if queue is not None:
            values.update(
                priority=queue.priority,
                queue_codes=_joined(queue.codes),
                queue_categories=_joined(queue.categories),
            )
        else:
            values.update(
                priority=0,
                queue_codes="",
                queue_categories="",
                claimed_by=None,
                claimed_by_name=None,
                claim_expires_at=None,
            )
        await self._run(_UPDATE_COMMENT, values)
        # A Core UPDATE leaves the session's copy of the row (if one was loaded) stale;
        # drop it, so the next read in this transaction loads what was written.
        stale = self._session.identity_map.get(AsyncSession.identity_key(CommentRow, comment_id))
        if stale is not None:
            self._session.expunge(stale)
        return replace(decision, id=decision_id)

    async def replace_text(
        self, comment_id: str, text: str, text_sha256: str, at: datetime
    ) -> None:
        await self._session.execute(
            update(CommentRow)
            .where(CommentRow.id == comment_id)
            .values(text=text, text_sha256=text_sha256, updated_at=at)
        )

    async def erase_comment(self, comment_id: str, at: datetime) -> None:
        await self._session.execute(
            update(CommentRow)
            .where(CommentRow.id == comment_id)
            .values(text=None, author_name=None, deleted_at=at, updated_at=at)
        )

    # -- reader reports ------------------------------------------------------------------------

    async def add_report(
        self, comment_id: str, reporter_id: str, reason: str | None, at: datetime
    ) -> bool:
        """Record a report; False when this reporter already reported this comment."""
        return await self._insert_ignore(
            ReportRow,
            {
                "comment_id": comment_id,
                "reporter_id": reporter_id,
                "reason": reason,
                "created_at": at,
            },
        )

    async def reporter_count(self, comment_id: str) -> int:
        value = await self._session.scalar(
            select(func.count()).select_from(ReportRow).where(ReportRow.comment_id == comment_id)
        )
        return int(value or 0)

    # -- review queue --------------------------------------------------------------------------

    async def queue(
        self,
        *,
        now: datetime,
        limit: int,
        offset: int = 0,
        article_id: str | None = None,
        category: str | None = None,
        reason: str | None = None,
    ) -> tuple[list[QueueEntry], int]:
        """Pending comments, most urgent first, oldest first among equals; and the exact total."""
        conditions = _queue_filter(now, article_id, category, reason)
        total = await self._session.scalar(
            select(func.count()).select_from(CommentRow).where(*conditions)
        )
        rows = await self._session.scalars(
            select(CommentRow)
            .where(*conditions)
            .order_by(CommentRow.priority.desc(), CommentRow.created_at, CommentRow.id)
            .offset(offset)
            .limit(limit)
        )
        entries = [await self._entry(row, now) for row in rows]
        return entries, int(total or 0)

    async def _entry(self, row: CommentRow, now: datetime) -> QueueEntry:
        decision_row = (
            await self._session.get(DecisionRow, row.decision_id) if row.decision_id else None
        )
        active = row.claim_expires_at is not None and row.claim_expires_at > now
        return QueueEntry(
            comment=_comment(row, _decision(decision_row) if decision_row else None, ()),
            priority=row.priority,
            codes=tuple(c for c in row.queue_codes.split(",") if c),
            claimed_by=row.claimed_by if active else None,
            claimed_by_name=row.claimed_by_name if active else None,
            claim_expires_at=row.claim_expires_at if active else None,
        )

    async def claim(
        self,
        *,
        key_id: str,
        key_name: str,
        limit: int,
        now: datetime,
        until: datetime,
        article_id: str | None = None,
        category: str | None = None,
    ) -> list[QueueEntry]:
        """Lease up to ``limit`` pending comments to ``key_id``; never one another lease holds.

        PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so concurrent claimers pass each other by;
        SQLite: the write transaction is ``BEGIN IMMEDIATE``, so claimers run one at a time.
        """
        conditions = [*_queue_filter(now, article_id, category, None), _claimable(key_id, now)]
        query = (
            select(CommentRow.id)
            .where(*conditions)
            .order_by(CommentRow.priority.desc(), CommentRow.created_at, CommentRow.id)
            .limit(limit)
        )
        ids = await self._lease(
            query, CommentRow, claimed_by=key_id, claimed_by_name=key_name, claim_expires_at=until
        )
        if not ids:
            return []
        rows = await self._session.scalars(
            select(CommentRow)
            .where(CommentRow.id.in_(ids))
            .execution_options(populate_existing=True)
        )
        by_id = {row.id: row for row in rows}
        return [await self._entry(by_id[i], now) for i in ids]

    async def release(self, key_id: str, ids: Sequence[str] | None) -> int:
        statement = update(CommentRow).where(CommentRow.claimed_by == key_id)
        if ids is not None:
            statement = statement.where(CommentRow.id.in_(list(ids)))
        result = await self._session.execute(
            statement.values(claimed_by=None, claimed_by_name=None, claim_expires_at=None)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def claim_holder(self, comment_id: str, now: datetime) -> tuple[str, str] | None:
        """(key id, key name) of the live lease on a comment, if any."""
        row = (
            await self._session.execute(
                select(CommentRow.claimed_by, CommentRow.claimed_by_name).where(
                    CommentRow.id == comment_id,
                    CommentRow.claimed_by.is_not(None),
                    CommentRow.claim_expires_at > now,
                )
            )
        ).first()
        return None if row is None else (str(row[0]), str(row[1]))

    async def queue_depth(self, now: datetime) -> tuple[int, datetime | None]:
        conditions = _queue_filter(now, None, None, None)
        row = (
            await self._session.execute(
                select(func.count(), func.min(CommentRow.updated_at)).where(*conditions)
            )
        ).one()
        return int(row[0] or 0), row[1]

    async def recent_comments(
        self,
        *,
        limit: int,
        status: Status | None = None,
        article_id: str | None = None,
        author_id: str | None = None,
    ) -> list[Comment]:
        """Most recently decided comments first (the moderators' "decided" view)."""
        query = (
            select(CommentRow).order_by(CommentRow.updated_at.desc(), CommentRow.id).limit(limit)
        )
        if status is not None:
            query = query.where(CommentRow.status == status.value)
        if article_id is not None:
            query = query.where(CommentRow.article_id == article_id)
        if author_id is not None:
            query = query.where(CommentRow.author_id == author_id)
        rows = list(await self._session.scalars(query))
        ids = [row.decision_id for row in rows if row.decision_id is not None]
        decided = (
            {
                d.id: _decision(d)
                for d in await self._session.scalars(
                    select(DecisionRow).where(DecisionRow.id.in_(ids))
                )
            }
            if ids
            else {}
        )
        return [
            _comment(row, decided.get(row.decision_id) if row.decision_id else None, ())
            for row in rows
        ]

    # -- authors ---------------------------------------------------------------------------------

    async def rejections_since(self, author_id: str, since: datetime) -> int:
        value = await self._session.scalar(
            select(func.count())
            .select_from(CommentRow)
            .where(
                CommentRow.author_id == author_id,
                CommentRow.status == Status.rejected.value,
                CommentRow.updated_at >= since,
            )
        )
        return int(value or 0)

    async def author_recent(self, author_id: str, limit: int = 10) -> list[Comment]:
        rows = await self._session.scalars(
            select(CommentRow)
            .where(CommentRow.author_id == author_id)
            .order_by(CommentRow.created_at.desc())
            .limit(limit)
        )
        result = []
        for row in rows:
            decision_row = (
                await self._session.get(DecisionRow, row.decision_id) if row.decision_id else None
            )
            result.append(_comment(row, _decision(decision_row) if decision_row else None, ()))
        return result

    # -- webhooks and the outbox -------------------------------------------------------------------

    async def add_webhook(
        self, webhook_id: str, url: str, events: Sequence[str], secret: str, by: str, at: datetime
    ) -> Webhook:
        row = WebhookRow(
            id=webhook_id, url=url, events=list(events), secret=secret, created_by=by, created_at=at
        )
        self._session.add(row)
        await self._session.flush()
        self._memo.clear()
        return _webhook(row)

    async def webhooks(self) -> list[Webhook]:
        async def load() -> list[Webhook]:
            return [_webhook(row) for row in await self._run(_ACTIVE_WEBHOOKS, {})]

        return list(await self._memoized("webhooks", load))

    async def webhook(self, webhook_id: str) -> Webhook | None:
        row = await self._session.get(WebhookRow, webhook_id)
        return None if row is None or row.deleted_at is not None else _webhook(row)

    async def delete_webhook(self, webhook_id: str, at: datetime) -> bool:
        result = await self._session.execute(
            update(WebhookRow)
            .where(WebhookRow.id == webhook_id, WebhookRow.deleted_at.is_(None))
            .values(deleted_at=at)
        )
        self._memo.clear()
        if not getattr(result, "rowcount", 0):
            return False
        # Undelivered events of a removed webhook would otherwise retry forever.
        await self._session.execute(
            delete(WebhookEventRow).where(
                WebhookEventRow.webhook_id == webhook_id, WebhookEventRow.delivered_at.is_(None)
            )
        )
        return True

    async def add_event(
        self,
        event_id: str,
        webhook_id: str,
        event_type: str,
        comment_id: str,
        body: str,
        at: datetime,
    ) -> None:
        await self._run(
            _INSERT_EVENT,
            {
                "id": event_id,
                "webhook_id": webhook_id,
                "type": event_type,
                "comment_id": comment_id,
                "body": body,
                "created_at": at,
                "attempts": 0,
                "next_attempt_at": at,
            },
        )

    async def lease_due_events(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxEvent]:
        """Due, undelivered events, leased so no other sender takes them meanwhile."""
        query = (
            select(WebhookEventRow.id)
            .where(
                WebhookEventRow.delivered_at.is_(None),
                WebhookEventRow.next_attempt_at <= now,
                or_(WebhookEventRow.locked_until.is_(None), WebhookEventRow.locked_until <= now),
            )
            .order_by(WebhookEventRow.next_attempt_at, WebhookEventRow.created_at)
            .limit(limit)
        )
        ids = await self._lease(query, WebhookEventRow, locked_until=lease_until)
        if not ids:
            return []
        # Events written for a webhook removed meanwhile (a submission that read the
        # webhooks just before the removal committed) are dropped, never sent.
        removed = select(WebhookRow.id).where(WebhookRow.deleted_at.is_not(None))
        await self._session.execute(
            delete(WebhookEventRow).where(
                WebhookEventRow.id.in_(ids), WebhookEventRow.webhook_id.in_(removed)
            )
        )
        rows = await self._session.execute(
            select(WebhookEventRow, WebhookRow.url, WebhookRow.secret)
            .join(WebhookRow, WebhookRow.id == WebhookEventRow.webhook_id)
            .where(WebhookEventRow.id.in_(ids), WebhookRow.deleted_at.is_(None))
            .order_by(WebhookEventRow.created_at)
        )
        return [
            OutboxEvent(
                id=event.id,
                webhook_id=event.webhook_id,
                url=url,
                secret=secret,
                type=event.type,
                body=event.body,
                attempts=event.attempts,
            )
            for event, url, secret in rows
        ]

    async def event_delivered(self, event_id: str, status: int, at: datetime) -> None:
        await self._session.execute(
            update(WebhookEventRow)
            .where(WebhookEventRow.id == event_id)
            .values(
                delivered_at=at,
                last_status=status,
                last_error=None,
                locked_until=None,
                attempts=WebhookEventRow.attempts + 1,
            )
        )

    async def event_failed(
        self, event_id: str, status: int | None, error: str, next_attempt_at: datetime
    ) -> None:
        await self._session.execute(
            update(WebhookEventRow)
            .where(WebhookEventRow.id == event_id)
            .values(
                last_status=status,
                last_error=error[:500],
                locked_until=None,
                next_attempt_at=next_attempt_at,
                attempts=WebhookEventRow.attempts + 1,
            )
        )

    async def release_events(self, event_ids: Sequence[str]) -> None:
        await self._session.execute(
            update(WebhookEventRow)
            .where(WebhookEventRow.id.in_(list(event_ids)), WebhookEventRow.delivered_at.is_(None))
            .values(locked_until=None)
        )

    async def deliveries(self, webhook_id: str, limit: int) -> list[Delivery]:
        rows = await self._session.scalars(
            select(WebhookEventRow)
            .where(WebhookEventRow.webhook_id == webhook_id)
            .order_by(WebhookEventRow.created_at.desc())
            .limit(limit)
        )
        return [
            Delivery(
                event_id=r.id,
                type=r.type,
                comment_id=r.comment_id,
                created_at=r.created_at,
                attempts=r.attempts,
                delivered_at=r.delivered_at,
                next_attempt_at=None if r.delivered_at else r.next_attempt_at,
                last_status=r.last_status,
                last_error=r.last_error,
            )
            for r in rows
        ]

    async def outbox_backlog(self) -> int:
        value = await self._session.scalar(
            select(func.count())
            .select_from(WebhookEventRow)
            .where(WebhookEventRow.delivered_at.is_(None))
        )
        return int(value or 0)

    # -- guidelines administration -----------------------------------------------------------

    async def lock_guidelines(self) -> None:
        """Serialise guideline writers (SQLite's write transaction already does)."""
        if self._dialect == "postgresql":
            await self._session.execute(select(func.pg_advisory_xact_lock(_GUIDELINES_LOCK)))

    async def backtest_cases(self, filters: CaseFilter) -> list[Case]:
        """Every automatically decided comment, as the backtest needs it.

        The hot path of ``POST /v1/guidelines/backtest``: one scan of ``comments``
        read as raw driver values (no ORM or type processing, JSON decoded with
        orjson), with articles and non-active authors looked up from small dicts.
        """
        connection = await self._session.connection()
        articles = {
            row[0]: (ArticleMode(row[1]), _json_list(row[2]))
            for row in await connection.execute(
                select(ArticleRow.id, ArticleRow.mode, ArticleRow.tags.cast(Text))
            )
        }
        authors = {
            row[0]: AuthorStatus(row[1])
            for row in await connection.execute(
                select(AuthorRow.id, AuthorRow.status).where(
                    AuthorRow.status != AuthorStatus.active.value
                )
            )
        }
        clauses = ["auto_action IS NOT NULL"]
        params: dict[str, Any] = {}
        if filters.since is not None:
            clauses.append("created_at >= :since")
            params["since"] = filters.since
        if filters.until is not None:
            clauses.append("created_at < :until")
            params["until"] = filters.until
        if filters.article_id is not None:
            clauses.append("article_id = :article_id")
            params["article_id"] = filters.article_id
        statement = text(
            "SELECT id, text, CAST(scores AS TEXT), classifier, CAST(article_tags AS TEXT), "
            "auto_action, moderator_action, created_at, article_id, author_id "
            f"FROM comments WHERE {' AND '.join(clauses)}"
        ).bindparams(
            *(bindparam(name, type_=UTCDateTime()) for name in ("since", "until") if name in params)
        )
        wanted = frozenset(t.casefold() for t in filters.tags)
        no_article = (ArticleMode.auto, ())
        actions = {action.value: action for action in Action}
        cases: list[Case] = []
        rows = (await connection.execute(statement, params)).all()
        for cid, body, scores, classifier, tags, auto, human, created, article_id, author in rows:
            mode, article_tags = articles.get(article_id, no_article)
            own = _json_list(tags)
            all_tags = (
                frozenset(t.casefold() for t in (*own, *article_tags))
                if (own or article_tags)
                else frozenset()
            )
            if wanted and not wanted & all_tags:
                continue
            cases.append(
                Case(
                    comment_id=cid,
                    text=body,
                    scores=orjson.loads(scores) if scores and scores != "null" else None,
                    classifier=classifier or "",
                    article_tags=all_tags,
                    article_mode=mode,
                    author_status=authors.get(author, AuthorStatus.active),
                    decided=actions[auto],
                    moderator=actions[human] if human else None,
                    created_at=_as_utc(created),
                )
            )
        return cases

    # -- shadow mode ---------------------------------------------------------------------------

    async def active_shadow_run(self) -> ShadowRun | None:
        async def load() -> ShadowRun | None:
            row = (await self._run(_ACTIVE_SHADOW_RUN, {})).first()
            return None if row is None else _shadow_run(row)

        return await self._memoized("shadow_run", load)

    async def start_shadow_run(
        self, document: Mapping[str, Any], note: str | None, by: str, at: datetime
    ) -> ShadowRun:
        await self.stop_shadow_runs(at)
        row = ShadowRunRow(document=dict(document), note=note, started_by=by, started_at=at)
        self._session.add(row)
        await self._session.flush()
        self._memo.clear()
        return _shadow_run(row)

    async def stop_shadow_runs(self, at: datetime) -> int:
        self._memo.clear()
        result = await self._session.execute(
            update(ShadowRunRow).where(ShadowRunRow.stopped_at.is_(None)).values(stopped_at=at)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def latest_shadow_run(self) -> ShadowRun | None:
        row = await self._session.scalar(
            select(ShadowRunRow).order_by(ShadowRunRow.id.desc()).limit(1)
        )
        return None if row is None else _shadow_run(row)

    async def add_shadow_decision(
        self,
        run_id: int,
        comment_id: str,
        live: Action,
        shadow: Action,
        reasons: Sequence[Reason],
        classifier: str,
        at: datetime,
    ) -> None:
        self._session.add(
            ShadowDecisionRow(
                classifier=classifier,
                run_id=run_id,
                comment_id=comment_id,
                live_action=live.value,
                shadow_action=shadow.value,
                reasons=[r.as_dict() for r in reasons],
                at=at,
            )
        )

    async def shadow_counts(self, run_id: int) -> dict[tuple[str, str], int]:
        rows = await self._session.execute(
            select(ShadowDecisionRow.live_action, ShadowDecisionRow.shadow_action, func.count())
            .where(ShadowDecisionRow.run_id == run_id)
            .group_by(ShadowDecisionRow.live_action, ShadowDecisionRow.shadow_action)
        )
        return {(live, shadow): int(count) for live, shadow, count in rows}

    async def shadow_disagreements(self, run_id: int, limit: int) -> list[dict[str, Any]]:
        rows = await self._session.scalars(
            select(ShadowDecisionRow)
            .where(
                ShadowDecisionRow.run_id == run_id,
                ShadowDecisionRow.live_action != ShadowDecisionRow.shadow_action,
            )
            .order_by(ShadowDecisionRow.id.desc())
            .limit(limit)
        )
        return [
            {
                "comment_id": r.comment_id,
                "live": r.live_action,
                "shadow": r.shadow_action,
                "shadow_reasons": list(r.reasons or ()),
                "shadow_classifier": r.classifier,
                "at": r.at,
            }
            for r in rows
        ]

    # -- audit -------------------------------------------------------------------------------------

    async def audit(
        self, actor: str, action: str, target: str | None, details: Mapping[str, Any], at: datetime
    ) -> None:
        self._session.add(
            AuditRow(actor=actor, action=action, target=target, details=dict(details), at=at)
        )

    async def audit_log(self, limit: int, action: str | None = None) -> list[AuditEntry]:
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if action:
            query = query.where(AuditRow.action == action)
        rows = await self._session.scalars(query)
        return [
            AuditEntry(
                id=r.id,
                actor=r.actor,
                action=r.action,
                target=r.target,
                details=dict(r.details or {}),
                at=r.at,
            )
            for r in rows
        ]


def _webhook(row: WebhookRow | Row[Any]) -> Webhook:
    return Webhook(
        id=row.id,
        url=row.url,
        events=tuple(row.events or ()),
        created_by=row.created_by,
        created_at=row.created_at,
    )


async def key_by_hash(connection: AsyncConnection, key_hash: str) -> ApiKey | None:
    """The key lookup on a bare connection (PostgreSQL, in autocommit)."""
    row = (await connection.execute(_KEY_BY_HASH, {"key_hash": key_hash})).first()
    return None if row is None else _key(row)


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
        self._sql = str(_KEY_BY_HASH.compile(dialect=sqlite_dialect()))
        self._columns = [str(column.key) for column in _KEY_BY_HASH.selected_columns]

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
                values[name] = _sqlite_datetime(values[name])
        return _key(SimpleNamespace(**values))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _sqlite_datetime(value: str) -> datetime:
    """A DATETIME as SQLAlchemy writes it on SQLite (UTC, no zone), made aware."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _key(row: ApiKeyRow | Row[Any] | SimpleNamespace) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        role=Role[row.role],
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        rate_limit=row.rate_limit,
    )


def _article(row: ArticleRow) -> Article:
    return Article(
        id=row.id,
        mode=ArticleMode(row.mode),
        title=row.title,
        url=row.url,
        tags=tuple(row.tags or ()),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _decision(row: DecisionRow) -> Decision:
    return Decision(
        id=row.id,
        comment_id=row.comment_id,
        action=Action(row.action),
        by=row.by,
        moderator=row.moderator,
        reasons=tuple(Reason.from_dict(r) for r in row.reasons or ()),
        message=row.message,
        scores=dict(row.scores or {}),
        classifier=row.classifier,
        guidelines_version=row.guidelines_version,
        at=row.at,
        note=row.note,
    )


def _comment(row: CommentRow, decision: Decision | None, history: tuple[Decision, ...]) -> Comment:
    return Comment(
        id=row.id,
        article_id=row.article_id,
        author_id=row.author_id,
        author_name=row.author_name,
        parent_id=row.parent_id,
        text=row.text,
        status=Status(row.status),
        article_tags=tuple(row.article_tags or ()),
        metadata=dict(row.meta or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
        decision=decision,
        history=history,
    )


# -- the review queue ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueEntry:
    comment: Comment
    priority: int
    codes: tuple[str, ...]
    claimed_by: str | None
    claimed_by_name: str | None
    claim_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    id: str
    webhook_id: str
    url: str
    secret: str
    type: str
    body: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    url: str
    events: tuple[str, ...]
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    event_id: str
    type: str
    comment_id: str
    created_at: datetime
    attempts: int
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    actor: str
    action: str
    target: str | None
    details: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class QueueState:
    """Why and how urgently a pending comment waits (``decisions.priority``)."""

    priority: int
    codes: tuple[str, ...]
    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ShadowRun:
    id: int
    document: Mapping[str, Any]
    note: str | None
    started_by: str
    started_at: datetime
    stopped_at: datetime | None


def _shadow_run(row: ShadowRunRow | Row[Any]) -> ShadowRun:
    return ShadowRun(
        id=row.id,
        document=dict(row.document),
        note=row.note,
        started_by=row.started_by,
        started_at=row.started_at,
        stopped_at=row.stopped_at,
    )


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """Which stored comments a backtest or suggestion looks at."""

    since: datetime | None = None
    until: datetime | None = None
    article_id: str | None = None
    tags: tuple[str, ...] = ()


# Prebuilt statements for the per-comment hot path (see ``Store._run``).
def _table(row_class: type[Base]) -> Table:
    return cast(Table, row_class.__table__)


_COMMENTS = _table(CommentRow)
_KEYS = _table(ApiKeyRow)
_KEY_BY_HASH = select(*_KEYS.c).where(_KEYS.c.key_hash == bindparam("key_hash"))
_LATEST_GUIDELINES = select(func.max(_table(GuidelinesVersionRow).c.version))
_ARTICLES = _table(ArticleRow)
_ARTICLE = select(*_ARTICLES.c).where(_ARTICLES.c.id == bindparam("id"))
_AUTHORS = _table(AuthorRow)
_AUTHOR_STATUS = select(_AUTHORS.c.status).where(_AUTHORS.c.id == bindparam("id"))
_DECISION_COLUMNS = tuple(c.key for c in _table(DecisionRow).c if c.key != "id")
_INSERT_DECISION = insert(_table(DecisionRow)).returning(_table(DecisionRow).c.id)
_UPDATE_COMMENT = update(_COMMENTS).where(_COMMENTS.c.id == bindparam("_id"))
_INSERT_EVENT = insert(_table(WebhookEventRow))
_WEBHOOKS = _table(WebhookRow)
_ACTIVE_WEBHOOKS = (
    select(*_WEBHOOKS.c).where(_WEBHOOKS.c.deleted_at.is_(None)).order_by(_WEBHOOKS.c.created_at)
)
_SHADOW_RUNS = _table(ShadowRunRow)
_ACTIVE_SHADOW_RUN = (
    select(*_SHADOW_RUNS.c)
    .where(_SHADOW_RUNS.c.stopped_at.is_(None))
    .order_by(_SHADOW_RUNS.c.id.desc())
    .limit(1)
)
_INSERT_IGNORE = {
    postgres: {
        table.name: (pg_insert if postgres else sqlite_insert)(table).on_conflict_do_nothing()
        for table in Base.metadata.tables.values()
    }
    for postgres in (False, True)
}

_GUIDELINES_LOCK = 0x67756964  # "guid": fixed advisory-lock key for guideline versions


def _json_list(raw: Any) -> tuple[str, ...]:
    if not raw or raw == "[]":
        return ()
    value = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    return tuple(value or ())


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):
        # SQLite keeps naive UTC text; parsing it with its offset is the cheap path.
        return datetime.fromisoformat(value + "+00:00" if len(value) <= 26 else value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _joined(values: Sequence[str]) -> str:
    # ",a,b," lets one LIKE '%,a,%' filter on both SQLite and PostgreSQL.
    return f",{','.join(values)}," if values else ""


def _queue_filter(
    now: datetime, article_id: str | None, category: str | None, reason: str | None
) -> list[Any]:
    conditions: list[Any] = [
        CommentRow.status == Status.pending.value,
        CommentRow.deleted_at.is_(None),
    ]
    if article_id:
        conditions.append(CommentRow.article_id == article_id)
    if category:
        conditions.append(CommentRow.queue_categories.contains(f",{category},", autoescape=True))
    if reason:
        conditions.append(CommentRow.queue_codes.contains(f",{reason},", autoescape=True))
    return conditions


def _claimable(key_id: str, now: datetime) -> Any:
    return or_(
        CommentRow.claimed_by.is_(None),
        CommentRow.claim_expires_at <= now,
        CommentRow.claimed_by == key_id,
    )
