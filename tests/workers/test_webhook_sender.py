"""The webhook sender checks where it connects at every delivery, on the resolved addresses,
and its delivery log tells nothing about the network beyond what an admin may reach."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from moderation.domain.destinations import AllowList
from moderation.domain.models import utcnow
from moderation.domain.records import Delivery
from moderation.storage.database import Database
from moderation.workers.webhook_sender import (
    CONNECTION_FAILED,
    REFUSED,
    GuardedResolver,
    NonPublicAddress,
    WebhookSender,
)


class Names(AbstractResolver):
    """A DNS of our own: each name resolves to the addresses given, others to nothing."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.names:
            raise OSError("no such name")
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in self.names[host]
        ]

    async def close(self) -> None:
        pass


@pytest.fixture
async def db(tmp_path: Any) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'sender.db'}", sqlite_synchronous="OFF")
    await database.upgrade()
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def receiver(aiohttp_server: Any) -> tuple[TestServer, list[bytes]]:
    received: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    return await aiohttp_server(app), received


async def add_hook(db: Database, webhook_id: str, url: str) -> None:
    now = utcnow()
    async with db.transaction() as store:
        await store.add_webhook(webhook_id, url, ["comment.approved"], "s", "admin", now)
        await store.add_event(
            f"evt-{webhook_id}", webhook_id, "comment.approved", "c-1", '{"id":"x"}', now
        )


async def attempt_all(sender: WebhookSender, events: int) -> None:
    """Start ``sender`` and wait until it attempted ``events`` events once each."""
    sender.start()
    deadline = time.monotonic() + 10
    while sender.delivered + sender.failed < events:
        assert time.monotonic() < deadline, "not attempted in time"
        await asyncio.sleep(0.02)
    await sender.close()


async def delivery(db: Database, webhook_id: str) -> Delivery:
    async with db.transaction(write=False) as store:
        (found,) = (await store.deliveries(webhook_id, 10)).items
    return found


async def test_a_name_resolving_to_loopback_is_not_delivered(
    db: Database, receiver: tuple[TestServer, list[bytes]]
) -> None:
    server, received = receiver
    names = Names({"hooks.example.org": ["127.0.0.1"]})
    await add_hook(db, "w-1", f"http://hooks.example.org:{server.port}/hook")
    sender = WebhookSender(db, poll_s=0.05, allow=AllowList(), resolver=names)
    await attempt_all(sender, 1)
    assert names.asked == ["hooks.example.org"]  # resolved at delivery, then refused
    assert received == []
    found = await delivery(db, "w-1")
    assert found.delivered_at is None and found.attempts == 1
    assert (found.last_status, found.last_error) == (None, REFUSED)


async def test_every_resolved_address_is_checked(
    db: Database, receiver: tuple[TestServer, list[bytes]]
) -> None:
    server, received = receiver
    names = Names({"mixed.example.org": ["93.184.216.34", "::ffff:127.0.0.1"]})
    await add_hook(db, "w-1", f"http://mixed.example.org:{server.port}/hook")
    await attempt_all(WebhookSender(db, poll_s=0.05, resolver=names), 1)
    assert received == []
    assert (await delivery(db, "w-1")).last_error == REFUSED


async def test_the_allow_list_admits_loopback_by_network_or_by_name(
    db: Database, receiver: tuple[TestServer, list[bytes]]
) -> None:
    server, received = receiver
    names = Names({"a.example.org": ["127.0.0.1"], "hooks.corp.example": ["127.0.0.1"]})
    await add_hook(db, "w-1", f"http://a.example.org:{server.port}/hook")
    await add_hook(db, "w-2", f"http://hooks.corp.example:{server.port}/hook")
    await add_hook(db, "w-3", f"http://127.0.0.1:{server.port}/hook")
    allow = AllowList.parse("127.0.0.0/8")
    await attempt_all(WebhookSender(db, poll_s=0.05, allow=allow, resolver=names), 3)
    assert len(received) == 3
    for webhook_id in ("w-1", "w-2", "w-3"):
        assert (await delivery(db, webhook_id)).delivered_at is not None
    # A name on the list is trusted whatever it resolves to; other names are not.
    names.asked.clear()
    async with db.transaction() as store:
        await store.add_event("evt-again", "w-1", "comment.approved", "c-2", "{}", utcnow())
        await store.add_event("evt-again-2", "w-2", "comment.approved", "c-2", "{}", utcnow())
    allow = AllowList.parse("hooks.corp.example")
    sender = WebhookSender(db, poll_s=0.05, allow=allow, resolver=names)
    await attempt_all(sender, 2)
    assert (sender.delivered, sender.failed) == (1, 1)
    assert len(received) == 4


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "[::ffff:127.0.0.1]", "0x7f000001", "2130706433", "127.1", "localhost"]
)
async def test_a_stored_non_public_literal_is_refused_without_connecting(
    db: Database, receiver: tuple[TestServer, list[bytes]], host: str
) -> None:
    """A webhook registered before the check (or into the database) is refused too."""
    server, received = receiver
    names = Names({})
    await add_hook(db, "w-1", f"http://{host}:{server.port}/hook")
    await attempt_all(WebhookSender(db, poll_s=0.05, resolver=names), 1)
    assert received == []
    assert names.asked == []
    assert (await delivery(db, "w-1")).last_error == REFUSED


async def test_a_closed_port_and_an_open_one_look_alike(
    db: Database, receiver: tuple[TestServer, list[bytes]]
) -> None:
    # An open port that is no web server: it takes the connection and hangs up.
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    open_port = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    try:
        await add_hook(db, "w-open", f"http://127.0.0.1:{open_port.sockets[0].getsockname()[1]}/")
        await add_hook(db, "w-closed", f"http://127.0.0.1:{closed}/")
        allow = AllowList.parse("127.0.0.1")
        await attempt_all(WebhookSender(db, poll_s=0.05, allow=allow), 2)
    finally:
        open_port.close()
        await open_port.wait_closed()
    seen = [await delivery(db, w) for w in ("w-open", "w-closed")]
    assert [(d.last_status, d.last_error) for d in seen] == [(None, CONNECTION_FAILED)] * 2


async def test_the_guarded_resolver_refuses_before_anything_connects() -> None:
    names = Names({"meta.example.org": ["169.254.169.254"], "ok.example.org": ["93.184.216.34"]})
    guarded = GuardedResolver(AllowList(), names)
    with pytest.raises(NonPublicAddress):
        await guarded.resolve("meta.example.org", 80)
    (result,) = await guarded.resolve("ok.example.org", 80)
    assert result["host"] == "93.184.216.34"


class FrozenClock:
    """``utcnow`` for the sender: it moves only when the test says; counts its readings."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)
        self.readings = 0

    def __call__(self) -> datetime:
        self.readings += 1
        return self.now

    async def read_more(self, times: int) -> None:
        """Wait until the sender read the clock ``times`` more times (it does once a poll)."""
        target = self.readings + times
        async with asyncio.timeout(10):  # hang guard
            while self.readings < target:
                await asyncio.sleep(0.005)


async def test_a_failed_event_waits_for_its_backoff_before_the_next_attempt(
    db: Database, aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sender stores the backoff as ``next_attempt_at`` and does not try again before it,
    however often it polls. Fails when the sender retries at once (a delay of 0, or a
    ``next_attempt_at`` of now), ignores ``backoff_base_s``, or leases events not yet due."""
    hits: list[datetime] = []

    async def failing(request: web.Request) -> web.Response:
        hits.append(clock.now)
        return web.Response(status=500)

    app = web.Application()
    app.router.add_post("/hook", failing)
    server = await aiohttp_server(app)
    clock = FrozenClock()
    monkeypatch.setattr("moderation.workers.webhook_sender.utcnow", clock)
    monkeypatch.setattr(random, "uniform", lambda low, high: 1.0)  # no jitter
    await add_hook(db, "w-1", f"http://127.0.0.1:{server.port}/hook")  # due: written now
    sender = WebhookSender(db, poll_s=0.01, backoff_base_s=10.0, allow=AllowList.parse("127.0.0.1"))
    sender.start()
    try:
        async with asyncio.timeout(10):
            while sender.failed < 1:
                await asyncio.sleep(0.01)
        await clock.read_more(20)  # twenty polls at the same instant: nothing is due
        first = await delivery(db, "w-1")
        assert (first.attempts, first.last_status) == (1, 500)
        assert first.next_attempt_at is not None
        assert first.next_attempt_at.replace(tzinfo=UTC) == clock.now + timedelta(seconds=10)
        assert hits == [clock.now]

        clock.now += timedelta(seconds=9.9)  # just before the backoff ends
        await clock.read_more(20)
        assert len(hits) == 1 and sender.failed == 1

        clock.now += timedelta(seconds=0.1)  # due now
        async with asyncio.timeout(10):
            while sender.failed < 2:
                await asyncio.sleep(0.01)
        await clock.read_more(20)
        second = await delivery(db, "w-1")
        assert second.attempts == 2 and len(hits) == 2
        # The second failure doubles the wait: base × 2.
        assert second.next_attempt_at is not None
        assert second.next_attempt_at.replace(tzinfo=UTC) == clock.now + timedelta(seconds=20)
    finally:
        await sender.close()
