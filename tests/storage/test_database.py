"""Storage on both backends: migrations, transactions, the store's round trips."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, insert, inspect, select, text

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
from moderation.storage.database import MIGRATIONS, Database
from moderation.storage.tables import ApiKeyRow, CommentRow, WebhookRow


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
    """Forty concurrent write transactions all commit: each one's own row is stored, and
    the five rows they all fight over hold a write of theirs. Fails when a writer's
    transaction is lost (rolled back, or never committed) as well as when one raises."""

    async def write(i: int) -> None:
        async with database.transaction() as store:
            await store.set_author(f"own-{i}", AuthorStatus.premoderated, str(i), utcnow())
            await store.set_author(f"u-{i % 5}", AuthorStatus.banned, str(i), utcnow())

    await asyncio.gather(*(write(i) for i in range(40)))
    async with database.transaction(write=False) as store:
        for i in range(40):
            own = await store.author(f"own-{i}")
            assert (own.status, own.reason) == (AuthorStatus.premoderated, str(i))
        for shared in range(5):
            author = await store.author(f"u-{shared}")
            assert author.status is AuthorStatus.banned
            assert author.reason is not None and int(author.reason) % 5 == shared


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


def _migrate(connection: Connection, action: str, target: str) -> None:
    """``alembic upgrade|downgrade <target>`` on ``connection`` (as ``Database.upgrade``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    getattr(command, action)(config, target)


async def test_the_scopes_migration_keeps_existing_data_and_downgrades(
    database_url: str,
) -> None:
    db = Database(database_url, sqlite_synchronous="NORMAL")
    now = utcnow()
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(_migrate, "upgrade", "0007")
            # A database of one website, before scopes: a key, a comment, a webhook.
            await conn.execute(
                insert(ApiKeyRow.__table__).values(  # type: ignore[arg-type]
                    id="k-old", name="old", role="site", key_hash="a" * 64, created_at=now
                )
            )
            await conn.execute(
                insert(CommentRow.__table__).values(  # type: ignore[arg-type]
                    id="c-old",
                    article_id="art",
                    author_id="u-1",
                    text="Written before scopes.",
                    text_sha256="d" * 64,
                    article_tags=[],
                    metadata={},
                    status="pending",
                    priority=10,
                    created_at=now,
                    updated_at=now,
                )
            )
            await conn.execute(
                insert(WebhookRow.__table__).values(  # type: ignore[arg-type]
                    id="w-old",
                    url="http://127.0.0.1:9/h",
                    events=["comment.held"],
                    secret="s",
                    created_by="old",
                    created_at=now,
                )
            )
            await conn.commit()
        await db.upgrade()

        # Everything that was is the default scope's, and reads as before.
        key = await db.key_by_hash("a" * 64)
        assert key is not None and key.id == "k-old" and key.scope is None
        async with db.transaction(write=False) as store:
            comment = await store.comment("c-old")
            assert comment is not None and comment.scope is None and comment.id == "c-old"
            entries, total = await store.queue(now=utcnow(), limit=10)
            assert total == 1 and entries[0].comment.id == "c-old"
            assert (await store.queue(now=utcnow(), limit=10, scope="a"))[1] == 0
            (webhook,) = await store.webhooks()
            assert webhook.id == "w-old" and webhook.scope is None
        async with db.transaction() as store:
            await store.add_key("k-a", "site-a", Role.site, "b" * 64, now, scope="a")
            await store.add_webhook(
                "w-a", "http://127.0.0.1:9/a", ["comment.held"], "s", "a", now, scope="a"
            )
        scoped = await db.key_by_hash("b" * 64)
        assert scoped is not None and scoped.scope == "a"

        # Down again: a scoped key or webhook would lose its scope, so it is revoked.
        async with db.engine.connect() as conn:
            await conn.run_sync(_migrate, "downgrade", "0007")
            await conn.commit()
            columns = await conn.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("comments")}
            )
            assert "scope" not in columns
            revoked = {
                row[0]: row[1]
                for row in await conn.execute(text("SELECT id, revoked_at FROM api_keys"))
            }
            assert revoked["k-old"] is None and revoked["k-a"] is not None
            deleted = {
                row[0]: row[1]
                for row in await conn.execute(text("SELECT id, deleted_at FROM webhooks"))
            }
            assert deleted["w-old"] is None and deleted["w-a"] is not None
        await db.upgrade()
        assert await db.key_by_hash("a" * 64) is not None
    finally:
        await db.dispose()


def _schema(connection: Connection) -> dict[str, object]:
    """Tables with their columns, indexes, keys and constraints, comparable as a whole."""
    inspector = inspect(connection)
    schema: dict[str, object] = {}
    for table in sorted(inspector.get_table_names()):
        schema[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
            ],
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"] or "", tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "foreign_keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(table)
            ),
            "unique": sorted(
                tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
            ),
        }
    return schema


async def test_every_migration_downgrades_to_base_and_back(database: Database) -> None:
    """``alembic downgrade base`` undoes every migration (each ``downgrade()`` runs and
    leaves no table behind) and ``upgrade head`` then builds the same schema again."""
    async with database.engine.connect() as conn:
        head = await conn.run_sync(_schema)
        assert "comments" in head and "alembic_version" in head
        await conn.run_sync(_migrate, "downgrade", "base")
        await conn.commit()
        assert set(await conn.run_sync(_schema)) <= {"alembic_version"}
        if "alembic_version" in await conn.run_sync(_schema):
            versions = (await conn.execute(text("SELECT * FROM alembic_version"))).all()
            assert versions == []
        await conn.run_sync(_migrate, "upgrade", "head")
        await conn.commit()
        assert await conn.run_sync(_schema) == head
    await database.upgrade()  # nothing left to apply, and the store works
    async with database.transaction() as store:
        await store.add_key("k-1", "after", Role.site, "c" * 64, utcnow())
    assert await database.key_by_hash("c" * 64) is not None


async def test_the_priority_migration_puts_queued_notices_and_appeals_first(
    database_url: str,
) -> None:
    """Comments queued under the old floor (1.1) move above every ordinary hold, whose
    reader reports took it to 150, and back down on a downgrade."""
    db = Database(database_url, sqlite_synchronous="NORMAL")
    now = utcnow()
    before = {
        "c-notice": (",notice,threshold,", 120),  # a notice with one reader report
        "c-appeal": (",appeal,", 110),
        "c-appeal-reported": (",banned_term,appeal,", 150),
        "c-ordinary": (",banned_term,", 150),  # banned term with five reader reports
    }
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(_migrate, "upgrade", "0014")
            for n, (comment_id, (codes, priority)) in enumerate(before.items()):
                await conn.execute(
                    insert(CommentRow.__table__).values(  # type: ignore[arg-type]
                        id=comment_id,
                        article_id="art",
                        author_id="u-1",
                        text=f"Comment {n}.",
                        text_sha256=f"{n}" * 64,
                        article_tags=[],
                        metadata={},
                        status="pending",
                        priority=priority,
                        queue_codes=codes,
                        created_at=now,
                        updated_at=now,
                    )
                )
            await conn.commit()
        await db.upgrade()

        async def priorities() -> dict[str, int]:
            async with db.engine.connect() as conn:
                rows = await conn.execute(select(CommentRow.id, CommentRow.priority))
                return {row.id: row.priority for row in rows}

        assert await priorities() == {
            "c-notice": 170,
            "c-appeal": 160,
            "c-appeal-reported": 160,
            "c-ordinary": 150,
        }
        async with db.engine.connect() as conn:
            await conn.run_sync(_migrate, "downgrade", "0014")
            await conn.commit()
        assert await priorities() == {
            "c-notice": 120,
            "c-appeal": 110,
            "c-appeal-reported": 110,
            "c-ordinary": 150,
        }
    finally:
        await db.dispose()


async def test_the_audit_scope_migration_tells_each_entrys_website(database_url: str) -> None:
    """Entries written before the audit log had a scope get their resource's: a key's and
    a (deleted) webhook's from their rows, an author's from its stored id; the guidelines'
    stay shared (NULL)."""
    db = Database(database_url, sqlite_synchronous="NORMAL")
    now = utcnow()
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(_migrate, "upgrade", "0015")
            await conn.execute(
                insert(ApiKeyRow.__table__).values(  # type: ignore[arg-type]
                    id="k-a", name="a", role="site", key_hash="a" * 64, created_at=now, scope="a"
                )
            )
            await conn.execute(
                insert(WebhookRow.__table__).values(  # type: ignore[arg-type]
                    id="w-b",
                    url="http://127.0.0.1:9/b",
                    events=["comment.held"],
                    secret="s",
                    created_by="b",
                    created_at=now,
                    deleted_at=now,
                    scope="b",
                )
            )
            entries = [
                ("key.create", "k-a"),
                ("key.revoke", "k-gone"),  # no row left: the default scope
                ("webhook.delete", "w-b"),
                ("author.status", "a/u-1"),
                ("author.premoderated", "u-2"),
                ("guidelines.update", "3"),
                ("shadow.stop", None),
            ]
            for action, target in entries:
                await conn.execute(
                    text(
                        "INSERT INTO audit_log (actor, action, target, details, at) "
                        "VALUES ('cli', :action, :target, '{}', :at)"
                    ),
                    {"action": action, "target": target, "at": now},
                )
            await conn.commit()
        await db.upgrade()
        async with db.engine.connect() as conn:
            rows = await conn.execute(text("SELECT action, scope FROM audit_log"))
            scopes = {row.action: row.scope for row in rows}
        assert scopes == {
            "key.create": "a",
            "key.revoke": "",
            "webhook.delete": "b",
            "author.status": "a",
            "author.premoderated": "",
            "guidelines.update": None,
            "shadow.stop": None,
        }
        async with db.engine.connect() as conn:
            await conn.run_sync(_migrate, "downgrade", "0015")
            await conn.commit()
            assert "scope" not in {c["name"] for c in await conn.run_sync(_audit_columns)}
    finally:
        await db.dispose()


def _audit_columns(connection: Connection) -> list[Any]:
    return list(inspect(connection).get_columns("audit_log"))


async def test_the_feedback_scope_migration_keeps_suggestions_with_their_website(
    database_url: str,
) -> None:
    """Suggestions stored before carry their key's scope where its name tells it, none
    where keys of two scopes shared the name; afterwards two websites' suggestions for
    the same (community, token, attribute) live side by side, and a downgrade keeps the
    newest."""
    db = Database(database_url, sqlite_synchronous="NORMAL")
    now = utcnow()
    try:
        async with db.engine.connect() as conn:
            await conn.run_sync(_migrate, "upgrade", "0016")
            for key_id, name, scope, revoked in (
                ("k-1", "coral-a", "a", None),
                ("k-2", "plain", None, None),
                ("k-3", "shared", "a", now),  # names are unique among active keys only
                ("k-4", "shared", "b", None),
            ):
                await conn.execute(
                    insert(ApiKeyRow.__table__).values(  # type: ignore[arg-type]
                        id=key_id,
                        name=name,
                        role="site",
                        key_hash=key_id * 16,
                        created_at=now,
                        scope=scope,
                        revoked_at=revoked,
                    )
                )
            for n, name in enumerate(("coral-a", "plain", "shared", "gone")):
                await conn.execute(
                    text(
                        "INSERT INTO perspective_feedback (community_id, client_token, "
                        "attribute, category, value, text, key_name, created_at) VALUES "
                        "('c', :token, 'TOXICITY', 'toxicity', 1.0, 'words', :name, :at)"
                    ),
                    {"token": f"t-{n}", "name": name, "at": now},
                )
            await conn.commit()
        await db.upgrade()
        async with db.engine.connect() as conn:
            rows = await conn.execute(text("SELECT key_name, scope FROM perspective_feedback"))
            assert {row.key_name: row.scope for row in rows} == {
                "coral-a": "a",
                "plain": "",
                "shared": None,
                "gone": None,
            }
            # The same (community, token, attribute) from another website: a row of its own.
            await conn.execute(
                text(
                    "INSERT INTO perspective_feedback (community_id, client_token, attribute, "
                    "category, value, text, key_name, created_at, scope) VALUES "
                    "('c', 't-0', 'TOXICITY', 'toxicity', 0.0, 'other', 'b-key', :at, 'b')"
                ),
                {"at": now},
            )
            await conn.commit()
            await conn.run_sync(_migrate, "downgrade", "0016")
            await conn.commit()
            rows = await conn.execute(
                text("SELECT text FROM perspective_feedback WHERE client_token = 't-0'")
            )
            assert [row.text for row in rows] == ["other"]
    finally:
        await db.dispose()
