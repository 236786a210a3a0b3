"""The moderators' service (``moderation/services/review.py``): bulk decisions and the
author sweep decide each comment in its own transaction, exactly as one by one; queue
items' duplicate keys are computed off the event loop."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from moderation.domain import grouping
from moderation.domain.errors import ValidationFailed
from moderation.domain.models import Action, ApiKey, Role
from moderation.domain.review import MAX_BULK
from moderation.http.context import DATABASE, REVIEW
from moderation.services.keys import Keys, authenticate_token
from moderation.services.review import QueueFilter, Review
from tests.conftest import Service


async def held(service: Service, comment_id: str, **fields: Any) -> None:
    status, body = await service.post_comment(id=comment_id, text="you are an idiot", **fields)
    assert status == 201 and body["status"] == "pending", body


async def moderator(service: Service, name: str) -> ApiKey:
    created = await Keys(service.client.app[DATABASE]).create(name, Role.moderator)
    return await authenticate_token(service.client.app[DATABASE], created.secret)


async def test_decide_many_is_decide_one_by_one(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(3):
        await held(service, f"c-{i}")
    review: Review = service.client.app[REVIEW]
    key = await moderator(service, "bulk-mod")
    calls: list[str] = []
    real = Review.decide

    async def spy(self: Review, key: ApiKey, comment_id: str, *args: Any, **kw: Any) -> Any:
        calls.append(comment_id)
        return await real(self, key, comment_id, *args, **kw)

    monkeypatch.setattr(Review, "decide", spy)
    outcomes = await review.decide_many(
        key, ["c-0", "c-1", "c-2"], Action.reject, None, "private", "keep-it-civil"
    )
    assert calls == ["c-0", "c-1", "c-2"]
    assert [o.status for o in outcomes] == [200, 200, 200]
    for outcome in outcomes:
        assert outcome.comment is not None
        last = outcome.comment.history[-1]
        assert last.moderator == "bulk-mod" and last.note == "private"
        assert last.reasons[0].rule == "keep-it-civil"


async def test_one_refusal_does_not_undo_the_others(service: Service) -> None:
    await held(service, "ok")
    await held(service, "gone")
    status, _ = await service.call("DELETE", "/v1/comments/gone")
    assert status in (200, 204)
    review: Review = service.client.app[REVIEW]
    key = await moderator(service, "bulk-mod")
    outcomes = await review.decide_many(key, ["gone", "ok"], Action.approve, None, None)
    assert [(o.comment_id, o.status, o.code) for o in outcomes] == [
        ("gone", 409, "comment_deleted"),
        ("ok", 200, None),
    ]


async def test_bad_bulk_requests_decide_nothing(service: Service) -> None:
    await held(service, "c-1")
    review: Review = service.client.app[REVIEW]
    key = await moderator(service, "bulk-mod")
    for ids, rule in (
        ([], None),
        ([f"c-{i}" for i in range(MAX_BULK + 1)], None),
        (["c-1", "c-1"], None),
        (["c-1"], "no-such-rule"),
    ):
        with pytest.raises(ValidationFailed):
            await review.decide_many(key, ids, Action.approve, None, None, rule)
    items, _ = await review.queue(QueueFilter(), limit=10)
    assert [i.entry.comment.id for i in items] == ["c-1"]


async def test_the_sweep_takes_only_the_authors_queued_comments(service: Service) -> None:
    await held(service, "a-1", author_id="u-9")
    await held(service, "a-2", author_id="u-9")
    await held(service, "b-1", author_id="u-8")
    review: Review = service.client.app[REVIEW]
    key = await moderator(service, "sweeper")
    outcomes, remaining = await review.reject_pending_of(key, "u-9", None, None)
    assert sorted(o.comment_id for o in outcomes) == ["a-1", "a-2"] and remaining == 0
    items, total = await review.queue(QueueFilter(), limit=10)
    assert total == 1 and items[0].entry.comment.id == "b-1"


async def test_duplicate_keys_are_computed_off_the_event_loop(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    await held(service, "c-1")
    on_main: list[bool] = []
    real = grouping.duplicate_keys

    def recording(text: str | None) -> tuple[str, ...]:
        on_main.append(threading.current_thread() is threading.main_thread())
        return real(text)

    monkeypatch.setattr(grouping, "duplicate_keys", recording)
    review: Review = service.client.app[REVIEW]
    items, _ = await review.queue(QueueFilter(), limit=10)
    assert items[0].duplicate_keys == real("you are an idiot")
    assert on_main == [False]
