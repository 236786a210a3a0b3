"""The live queue's service: which decisions are changes, stream tokens, opening streams."""

from __future__ import annotations

import pytest

from moderation.domain.errors import Forbidden, Unauthorized
from moderation.domain.live import ChangeKind
from moderation.domain.models import Role
from moderation.services import live
from moderation.services.keys import Keys
from moderation.services.live import Live
from moderation.storage.database import Database
from moderation.workers.live_feed import Count, LiveFeed


@pytest.mark.parametrize(
    ("was_queued", "queued", "kind"),
    [
        (False, True, ChangeKind.held),
        (True, True, ChangeKind.updated),
        (True, False, ChangeKind.decided),
        (False, False, None),
    ],
)
async def test_a_decision_is_a_change_when_the_comment_was_or_is_queued(
    database: Database, was_queued: bool, queued: bool, kind: ChangeKind | None
) -> None:
    woken: list[bool] = []
    async with database.transaction() as store:
        await live.note_decision(
            store,
            "b/c-1",
            scope="b",
            status="approved",
            was_queued=was_queued,
            queued=queued,
            moderator=("key-1", "alice"),
            wake=lambda: woken.append(True),
        )
    async with database.transaction(write=False) as store:
        changes = await store.queue_changes_after(0, 10, scope="b")
    assert [c.kind for c in changes] == ([kind] if kind else [])
    assert woken == ([True] if kind else [])
    if kind:
        assert (changes[0].actor_key_id, changes[0].actor, changes[0].scope) == (
            "key-1",
            "alice",
            "b",
        )


async def test_a_stream_token_works_once_and_not_after_its_time(database: Database) -> None:
    service = Live(database, LiveFeed(database))
    key = (await Keys(database).create("mod", Role.moderator)).key
    issued = await service.issue_token(key)
    assert (await service.authenticate(None, issued.token)).id == key.id
    with pytest.raises(Unauthorized):
        await service.authenticate(None, issued.token)
    service.token_ttl_s = 0
    with pytest.raises(Unauthorized):
        await service.authenticate(None, (await service.issue_token(key)).token)
    with pytest.raises(Unauthorized):
        await service.authenticate(None, None)


async def test_a_site_key_opens_no_stream(database: Database) -> None:
    service = Live(database, LiveFeed(database))
    created = await Keys(database).create("site", Role.site)
    with pytest.raises(Forbidden):
        await service.authenticate(f"Bearer {created.secret}", None)
    with pytest.raises(Forbidden):
        await service.authenticate(None, (await service.issue_token(created.key)).token)


async def test_open_replays_only_the_keys_scope_and_then_the_count(database: Database) -> None:
    feed = LiveFeed(database)
    service = Live(database, feed)
    key = (await Keys(database).create("mod-b", Role.moderator, scope="b")).key
    async with database.transaction() as store:
        for comment_id, scope in (("b/c-1", "b"), ("c-2", None), ("b/c-3", "b")):
            await live.note(store, ChangeKind.held, comment_id, scope=scope, status="pending")
    stream = await service.open(key, last_event_id=0)
    try:
        assert [getattr(i, "comment_id", None) for i in stream.backlog] == ["b/c-1", "b/c-3", None]
        assert stream.backlog[-1] == Count(0) and not stream.reset
        assert feed.subscribers == 1
    finally:
        service.close(stream)
    assert feed.subscribers == 0
