"""The live queue over real HTTP: stream tokens, the SSE stream, scopes, resumption, the end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from moderation.domain.models import Role
from moderation.http.context import DATABASE, LIVE, LIVE_FEED
from moderation.http.routes import live as live_routes
from moderation.services.keys import Keys
from tests.conftest import Service
from tests.http.test_appeals import answer, appeal, rejected_by_moderator


@dataclass
class Event:
    name: str
    data: dict[str, Any]
    id: int | None = None


class Events:
    """The events of one open stream, read as they come."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.seen: list[Event] = []
        self.retry: int | None = None
        self.comments = 0

    async def _next(self) -> Event | None:
        name, data, event_id = "message", "", None
        while True:
            raw = await self.response.content.readline()
            if not raw:
                return None
            line = raw.decode().rstrip("\n")
            if not line:
                if data:
                    return Event(name, json.loads(data), event_id)
                continue
            field, _, value = line.partition(": ")
            if line.startswith(":"):
                self.comments += 1
            elif field == "retry":
                self.retry = int(value)
            elif field == "event":
                name = value
            elif field == "data":
                data += value
            elif field == "id":
                event_id = int(value)

    async def until(self, check: Callable[[Event], bool], timeout: float = 10.0) -> Event:
        """The first event (from now on) that passes ``check``."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self._next()
                assert event is not None, f"the stream ended; saw {self.seen}"
                self.seen.append(event)
                if check(event):
                    return event

    async def change(self, kind: str, comment_id: str) -> Event:
        return await self.until(
            lambda e: (
                e.name == "change"
                and e.data["change"] == kind
                and e.data["comment_id"] == comment_id
            )
        )

    async def count(self, pending: int) -> Event:
        return await self.until(lambda e: e.name == "count" and e.data["pending"] == pending)

    async def rest(self) -> list[Event]:
        """Every event until the stream ends."""
        events = []
        async with asyncio.timeout(10):
            while (event := await self._next()) is not None:
                events.append(event)
        return events


@asynccontextmanager
async def stream(
    service: Service, headers: dict[str, str] | None = None, **params: Any
) -> AsyncIterator[Events]:
    headers = service.auth("moderator") if headers is None and not params else headers or {}
    async with service.client.get("/v1/queue/events", headers=headers, params=params) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "text/event-stream"
        yield Events(response)


async def token(service: Service, role: str = "moderator") -> str:
    status, body = await service.call("POST", "/v1/queue/events/token", role=role)
    assert status == 201, body
    assert body["url"] == f"/v1/queue/events?token={body['token']}"
    return str(body["token"])


async def moderator(service: Service, name: str, scope: str | None = None) -> dict[str, str]:
    created = await Keys(service.client.app[DATABASE]).create(name, Role.moderator, scope=scope)
    return {"Authorization": f"Bearer {created.secret}"}


async def held(service: Service, comment_id: str, **fields: Any) -> None:
    status, body = await service.post_comment(id=comment_id, text="you are an idiot", **fields)
    assert (status, body["status"]) == (201, "pending"), body


async def test_a_token_opens_one_stream_with_the_count_first(service: Service) -> None:
    await held(service, "c-1")
    issued = await token(service)
    async with stream(service, token=issued) as events:
        first = await events.until(lambda e: True)
        assert (first.name, first.data) == ("count", {"pending": 1})
        assert events.retry == live_routes.RETRY_MS
    # Single use: the same token opens nothing more.
    async with service.client.get("/v1/queue/events", params={"token": issued}) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "invalid_stream_token"


async def test_streams_refuse_what_is_not_a_moderators(service: Service) -> None:
    async def status_of(**kwargs: Any) -> tuple[int, str]:
        async with service.client.get("/v1/queue/events", **kwargs) as response:
            return response.status, (await response.json())["error"]["code"]

    assert await status_of() == (401, "missing_key")
    assert await status_of(params={"token": "sst_made-up"}) == (401, "invalid_stream_token")
    assert await status_of(params={"token": service.keys["moderator"]}) == (
        401,
        "invalid_stream_token",
    )
    assert await status_of(headers=service.auth("site")) == (403, "role_too_low")
    status, body = await service.call("POST", "/v1/queue/events/token", role="site")
    assert (status, body["error"]["code"]) == (403, "role_too_low")
    async with service.client.post("/v1/queue/events/token") as response:
        assert response.status == 401
    # An expired token is refused (and was not used up by being refused).
    service.client.app[LIVE].token_ttl_s = 0
    assert await status_of(params={"token": await token(service)}) == (
        401,
        "invalid_stream_token",
    )


async def test_a_revoked_keys_token_opens_nothing(service: Service) -> None:
    database = service.client.app[DATABASE]
    created = await Keys(database).create("leaving", Role.moderator)
    headers = {"Authorization": f"Bearer {created.secret}"}
    async with service.client.post("/v1/queue/events/token", headers=headers) as response:
        issued = (await response.json())["token"]
    await Keys(database).revoke(created.key.id)
    async with service.client.get("/v1/queue/events", params={"token": issued}) as response:
        assert response.status == 401


async def test_holds_claims_and_decisions_are_pushed_with_the_count(service: Service) -> None:
    other = await moderator(service, "colleague")
    async with stream(service, token=await token(service)) as events:
        await events.count(0)
        await held(service, "c-1")
        held_change = await events.change("held", "c-1")
        assert held_change.data["status"] == "pending" and held_change.id is not None
        await events.count(1)
        async with service.client.post(
            "/v1/queue/claim", headers=other, json={"limit": 5}
        ) as response:
            assert response.status == 200
        claimed = await events.change("claimed", "c-1")
        assert (claimed.data["by"], claimed.data["mine"]) == ("colleague", False)
        async with service.client.post(
            "/v1/comments/c-1/decision", headers=other, json={"action": "approve"}
        ) as response:
            assert response.status == 200
        decided = await events.change("decided", "c-1")
        assert (decided.data["status"], decided.data["by"]) == ("approved", "colleague")
        assert decided.id is not None and decided.id > claimed.id > held_change.id  # type: ignore[operator]
        await events.count(0)
        # The moderator's own claim and release are theirs.
        await held(service, "c-2")
        status, _ = await service.call("POST", "/v1/queue/claim", role="moderator", json={})
        assert status == 200
        assert (await events.change("claimed", "c-2")).data["mine"] is True
        status, _ = await service.call("POST", "/v1/queue/release", role="moderator", json={})
        assert status == 200
        assert (await events.change("released", "c-2")).data["mine"] is True
        # The author's edit and deletion.
        status, _ = await service.call("PUT", "/v1/comments/c-2", json={"text": "you idiot!"})
        assert status == 200
        await events.change("updated", "c-2")
        status, _ = await service.call("DELETE", "/v1/comments/c-2")
        assert status == 200
        await events.change("deleted", "c-2")
        await events.count(0)


async def test_an_approved_comment_changes_nothing_in_the_queue(service: Service) -> None:
    async with stream(service) as events:
        await events.count(0)
        _, body = await service.post_comment(id="c-fine", text="A calm remark.")
        assert body["status"] == "approved"
        status, _ = await service.call("DELETE", "/v1/comments/c-fine")
        assert status == 200
        await held(service, "c-held")
        await events.change("held", "c-held")
    assert not any(e.data.get("comment_id") == "c-fine" for e in events.seen)


async def test_a_scoped_moderator_hears_only_its_scope(service: Service) -> None:
    scoped = await moderator(service, "site-b-mod", scope="b")
    site_b = await Keys(service.client.app[DATABASE]).create("site-b", Role.site, scope="b")
    async with stream(service, headers=scoped) as b_events, stream(service) as default:
        await b_events.count(0)
        await default.count(0)
        await held(service, "c-default")
        await default.change("held", "c-default")
        async with service.client.post(
            "/v1/comments",
            headers={"Authorization": f"Bearer {site_b.secret}"},
            json={"id": "c-b", "article_id": "a", "author_id": "u", "text": "you are an idiot"},
        ) as response:
            assert response.status == 201
        # In its scope's ids (not the stored "b/c-b"), and its scope's count.
        await b_events.change("held", "c-b")
        await b_events.count(1)
        await default.count(1)
    assert not any(e.data.get("comment_id") == "c-default" for e in b_events.seen)
    assert not any(e.data.get("comment_id") == "c-b" for e in default.seen)


async def test_last_event_id_replays_what_was_missed(service: Service) -> None:
    async with stream(service) as events:
        await events.count(0)
        await held(service, "c-1")
        last = (await events.change("held", "c-1")).id
    await held(service, "c-2")
    await held(service, "c-3")
    headers = service.auth("moderator") | {"Last-Event-ID": str(last)}
    async with stream(service, headers=headers) as resumed:
        replayed = [await resumed.until(lambda e: True) for _ in range(3)]
    assert [(e.name, e.data.get("comment_id")) for e in replayed] == [
        ("change", "c-2"),
        ("change", "c-3"),
        ("count", None),
    ]
    assert replayed[2].data == {"pending": 3}
    # A new EventSource cannot send the header: the query names it instead.
    async with stream(service, token=await token(service), last_event_id=last) as again:
        assert (await again.until(lambda e: True)).data["comment_id"] == "c-2"


async def test_a_resumption_the_feed_cannot_serve_is_a_reset(service: Service) -> None:
    await held(service, "c-1")
    async with stream(service) as events:
        await events.count(1)
        await held(service, "c-2")
        await events.change("held", "c-2")
    async with service.client.app[DATABASE].transaction() as store:
        await store.prune_queue_changes(datetime.now(UTC))  # everything is gone
    headers = service.auth("moderator") | {"Last-Event-ID": "0"}
    await held(service, "c-3")
    async with stream(service, headers=headers) as resumed:
        first = await resumed.until(lambda e: True)
        assert first.name == "reset"
        assert (await resumed.until(lambda e: True)).data == {"pending": 3}


async def test_shutdown_ends_open_streams(service: Service) -> None:
    async with stream(service) as events:
        await events.count(0)
        service.client.app[LIVE_FEED].close_subscribers("shutdown")
        rest = await events.rest()
    assert [(e.name, e.data) for e in rest] == [("end", {"reason": "shutdown"})]
    assert service.client.app[LIVE_FEED].subscribers == 0


async def test_a_revoked_keys_stream_ends_at_the_next_heartbeat(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_routes, "HEARTBEAT_S", 0.2)
    database = service.client.app[DATABASE]
    created = await Keys(database).create("leaving", Role.moderator)
    async with stream(service, headers={"Authorization": f"Bearer {created.secret}"}) as events:
        await events.count(0)
        await asyncio.sleep(0.5)
        await Keys(database).revoke(created.key.id)
        rest = await events.rest()
    assert events.comments >= 1  # heartbeats while the key was good
    assert [(e.name, e.data) for e in rest] == [("end", {"reason": "key revoked"})]


async def test_an_appeal_enters_the_queue_and_its_answer_takes_it_out(service: Service) -> None:
    await rejected_by_moderator(service, "c-1")
    async with stream(service) as events:
        await events.count(0)
        status, opened = await appeal(service, "c-1")
        assert status == 201, opened
        entered = await events.change("held", "c-1")
        assert entered.data["status"] == "rejected"
        await events.count(1)
        status, _ = await answer(service, opened["id"], "upheld")  # by the admin
        assert status == 200
        upheld = await events.change("decided", "c-1")
        assert (upheld.data["status"], upheld.data["by"]) == ("rejected", "test-admin")
        await events.count(0)
