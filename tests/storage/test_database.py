"""Storage on both backends: migrations, transactions, the store's round trips."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from moderation.domain.models import (
    Action,
    ArticleMode,
    AuthorStatus,
    DecisionDraft,
    Reason,
    Role,
    Status,
    utcnow,
)
from moderation.storage.database import Database


async def test_migrations_are_idempotent(database: Database) -> None:
    await database.upgrade()
    await database.upgrade()
    assert await database.ping()


async def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'wal.db'}")
    await db.upgrade()
    from sqlalchemy import text

    async with db.engine.connect() as conn:
        mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar()
        sync = (await conn.execute(text("PRAGMA synchronous"))).scalar()
    await db.dispose()
    assert mode == "wal"
    assert sync == 2  # FULL: a commit is on disk before the response
    assert (tmp_path / "sub" / "wal.db").is_file()


async def test_comment_and_decision_round_trip(database: Database) -> None:
    now = utcnow()
    async with database.transaction() as store:
        inserted = await store.insert_comment(
            comment_id="c-1",
            article_id="a-1",
            author_id="u-1",
            author_name="Ann",
            parent_id=None,
            text="héllo ✓",
            text_sha256="d" * 64,
            article_tags=["war"],
            metadata={"k": [1, 2]},
            at=now,
        )
        assert inserted
        assert not await store.insert_comment(
            comment_id="c-1",
            article_id="a-1",
            author_id="u-1",
            author_name=None,
            parent_id=None,
            text="other",
            text_sha256="e" * 64,
            article_tags=[],
            metadata={},
            at=now,
        )
        reason = Reason(
            "threshold",
            Action.hold,
            "Keep it civil",
            rule="civil",
            category="toxicity",
            score=0.91,
            threshold=0.9,
            guideline="1",
        )
        draft = DecisionDraft(
            action=Action.hold,
            by="auto",
            reasons=(reason,),
            message="m",
            scores={"toxicity": 0.91},
            classifier="linear",
        )
        await store.record_decision("c-1", draft, guidelines_version=1, at=now)
    async with database.transaction(write=False) as store:
        comment = await store.comment("c-1", history=True)
    assert comment is not None
    assert comment.text == "héllo ✓"
    assert comment.status is Status.pending
    assert comment.metadata == {"k": [1, 2]}
    assert comment.created_at.tzinfo is not None
    assert comment.decision is not None and comment.decision.reasons == (reason,)
    assert comment.history == (comment.decision,)


async def test_failed_transaction_leaves_nothing(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as store:
            await store.set_author("u-1", AuthorStatus.banned, None, utcnow())
            raise RuntimeError("boom")
    async with database.transaction(write=False) as store:
        assert await store.author_status("u-1") is AuthorStatus.active


async def test_articles_authors_keys_reports(database: Database) -> None:
    now = utcnow()
    async with database.transaction() as store:
        article, created = await store.put_article(
            "a-1", mode=ArticleMode.closed, title="T", url=None, tags=["x"], at=now
        )
        assert created and article.mode is ArticleMode.closed
        _, created = await store.put_article(
            "a-1", mode=ArticleMode.auto, title=None, url=None, tags=[], at=now
        )
        assert not created
        await store.set_author("u-1", AuthorStatus.premoderated, "new", now)
        key = await store.add_key("k1", "site one", Role.site, "h" * 64, now)
        await store.insert_comment(
            comment_id="c-9",
            article_id="a-1",
            author_id="u-1",
            author_name=None,
            parent_id=None,
            text="t",
            text_sha256="0" * 64,
            article_tags=[],
            metadata={},
            at=now,
        )
        assert await store.add_report("c-9", "r-1", "spam", now)
        assert not await store.add_report("c-9", "r-1", "again", now)
        assert await store.reporter_count("c-9") == 1
    async with database.transaction(write=False) as store:
        assert (await store.article("a-1")).mode is ArticleMode.auto  # type: ignore[union-attr]
        author = await store.author("u-1")
        assert author.status is AuthorStatus.premoderated and author.counts["pending"] == 1
        assert await store.key_by_hash("h" * 64) == key
    # The per-request lookup (on SQLite, a plain read outside SQLAlchemy) agrees.
    assert await database.key_by_hash("h" * 64) == key
    later = utcnow()
    async with database.transaction() as store:
        await store.touch_key("k1", later)
        assert await store.revoke_key("k1", later)
    found = await database.key_by_hash("h" * 64)
    assert found is not None and found.last_used_at == later and found.revoked_at == later
    assert await database.key_by_hash("0" * 64) is None


async def test_concurrent_writers_do_not_fail(database: Database) -> None:
    async def write(i: int) -> None:
        async with database.transaction() as store:
            await store.set_author(f"u-{i % 5}", AuthorStatus.active, str(i), utcnow())

    await asyncio.gather(*(write(i) for i in range(40)))


async def test_events_of_a_removed_webhook_are_dropped_not_sent(database: Database) -> None:
    now = utcnow()
    async with database.transaction() as store:
        await store.add_webhook("w-1", "http://127.0.0.1:9/h", ["comment.approved"], "s", "a", now)
        await store.delete_webhook("w-1", now)
        # A submission that read the webhooks just before the removal wrote this one.
        await store.add_event("evt-late", "w-1", "comment.approved", "c-1", "{}", now)
    async with database.transaction() as store:
        assert await store.lease_due_events(utcnow(), utcnow(), 10) == []
        assert await store.outbox_backlog() == 0
