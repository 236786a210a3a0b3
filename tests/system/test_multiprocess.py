"""Several real service processes on one database: claims, guidelines, keys, webhooks.

Each runs on PostgreSQL (replicas, docs/deploy.md) and on one shared SQLite file (the
processes of ``MODERATION_PROCESSES`` on one machine).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.processes import cli_env, create_key, start_service


@dataclass
class Cluster:
    urls: list[str]
    keys: dict[str, str]
    env: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def start_cluster(env: dict[str, str], count: int) -> Iterator[Cluster]:
    keys = {role: create_key(env, role, f"{role}-key") for role in ("site", "moderator", "admin")}
    processes, urls = [], []
    try:
        for _ in range(count):
            process, url = start_service(env, "serve")
            processes.append(process)
            urls.append(url)
        yield Cluster(urls=urls, keys=keys, env=env)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(params=["postgresql", "sqlite"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    env = cli_env(tmp_path) | {
        "MODERATION_WEBHOOK_POLL_S": "0.1",
        "MODERATION_WEBHOOK_BACKOFF_BASE_S": "0.1",
        "MODERATION_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",  # the receiver is a local test server
    }
    if request.param == "postgresql":
        env["MODERATION_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    yield from start_cluster(env, 3)


async def request(
    session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], **kwargs: Any
) -> tuple[int, Any]:
    async with session.request(method, url, headers=headers, **kwargs) as response:
        return response.status, await response.json()


async def test_concurrent_claims_across_processes(cluster: Cluster) -> None:
    async with aiohttp.ClientSession() as session:
        site = cluster.headers("site")
        for i in range(30):
            status, body = await request(
                session,
                "POST",
                cluster.urls[i % 3] + "/v1/comments",
                site,
                json={
                    "id": f"c-{i:02d}",
                    "article_id": "a",
                    "author_id": "u",
                    "text": "you are an idiot",
                },
            )
            assert (status, body["status"]) == (201, "pending")
        moderators = []
        for i in range(12):
            status, created = await request(
                session,
                "POST",
                cluster.urls[0] + "/v1/keys",
                cluster.headers("admin"),
                json={"name": f"mod-{i}", "role": "moderator"},
            )
            assert status == 201
            moderators.append({"Authorization": f"Bearer {created['key']}"})
        results = await asyncio.gather(
            *[
                request(
                    session,
                    "POST",
                    cluster.urls[i % 3] + "/v1/queue/claim",
                    headers,
                    json={"limit": 3},
                )
                for i, headers in enumerate(moderators)
            ]
        )
    assert all(status == 200 for status, _ in results)
    claimed = [item["id"] for _, body in results for item in body["items"]]
    assert len(claimed) == len(set(claimed)) == 30


async def test_guidelines_and_key_revocation_take_effect_everywhere(cluster: Cluster) -> None:
    admin, site = cluster.headers("admin"), cluster.headers("site")
    first, second, third = cluster.urls
    async with aiohttp.ClientSession() as session:
        text = {"article_id": "a", "author_id": "u", "text": "you are an idiot"}
        status, body = await request(
            session, "POST", second + "/v1/comments", site, json={"id": "c-before", **text}
        )
        assert body["status"] == "pending"
        _, current = await request(session, "GET", first + "/v1/guidelines", admin)
        current["rules"][0]["classifiers"]["linear"] = {"hold_at": 0.5, "reject_at": 0.9}
        status, changed = await request(
            session, "PUT", first + "/v1/guidelines", admin, json=current
        )
        assert status == 200
        for url, cid in ((second, "c-after-2"), (third, "c-after-3")):
            status, body = await request(
                session, "POST", url + "/v1/comments", site, json={"id": cid, **text}
            )
            assert body["status"] == "rejected"
            assert body["decision"]["guidelines_version"] == changed["version"]
        status, created = await request(
            session, "POST", first + "/v1/keys", admin, json={"name": "temp", "role": "site"}
        )
        temp = {"Authorization": f"Bearer {created['key']}"}
        status, _ = await request(session, "GET", third + "/v1/comments/c-before", temp)
        assert status == 200
        status, _ = await request(session, "DELETE", first + f"/v1/keys/{created['id']}", admin)
        assert status == 200
        for url in (second, third):
            status, body = await request(session, "GET", url + "/v1/comments/c-before", temp)
            assert status == 401


async def test_each_webhook_event_is_delivered_once(cluster: Cluster, aiohttp_server: Any) -> None:
    received: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read())["id"])
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        status, _ = await request(
            session,
            "POST",
            cluster.urls[0] + "/v1/webhooks",
            cluster.headers("admin"),
            json={
                "url": str(server.make_url("/hook")),
                "events": ["comment.approved", "comment.held", "comment.rejected"],
            },
        )
        assert status == 201
        for i in range(30):
            await request(
                session,
                "POST",
                cluster.urls[i % 3] + "/v1/comments",
                cluster.headers("site"),
                json={
                    "id": f"c-{i}",
                    "article_id": "a",
                    "author_id": "u",
                    "text": "A calm remark.",
                },
            )
    deadline = time.monotonic() + 20
    while len(set(received)) < 30 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)
    assert len(set(received)) == 30
    assert len(received) == 30  # no duplicates in normal operation


@pytest.fixture(params=["postgresql", "sqlite"])
def limited_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    env = cli_env(tmp_path) | {
        "MODERATION_RATE_LIMIT_MODERATOR": "6",  # 2/s and a burst of 4 in each of 3
        "MODERATION_INSTANCE_HEARTBEAT_S": "0.2",
    }
    if request.param == "postgresql":
        env["MODERATION_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    yield from start_cluster(env, 3)


async def instance_counts(session: aiohttp.ClientSession, urls: list[str]) -> list[int]:
    counts = []
    for url in urls:
        async with session.get(url + "/healthz") as response:
            counts.append((await response.json())["instances"])
    return counts


async def test_rate_limits_are_shared_between_processes(limited_cluster: Cluster) -> None:
    """Fails when each process allows the whole rate (more than a share is admitted) and
    when buckets never refill (nothing is admitted after the pause)."""
    moderator = limited_cluster.headers("moderator")
    urls = limited_cluster.urls
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + 10
        while await instance_counts(session, urls) != [3, 3, 3]:
            assert time.monotonic() < deadline, "the processes never saw each other"
            await asyncio.sleep(0.1)
        started = time.monotonic()
        statuses = [
            (await request(session, "GET", urls[i % 3] + "/v1/comments/x", moderator))[0]
            for i in range(90)
        ]
        elapsed = time.monotonic() - started
        # Every bucket is now about empty. A pause of 1.5 s refills at least 3 tokens in
        # each process (2/s each); a slower machine only pauses longer, and a bucket
        # holds at most 4, so each process admits all of its 3 requests. Buckets that
        # never refill admit none of them.
        await asyncio.sleep(1.5)
        refilled = [
            (await request(session, "GET", urls[i % 3] + "/v1/comments/x", moderator))[0]
            for i in range(9)
        ]
    admitted = sum(status == 404 for status in statuses)
    assert set(statuses) <= {404, 429}
    # One key at 6/s in all: a burst of 12 plus what refills meanwhile. Per-process
    # buckets at the full rate would have admitted 36 and more.
    assert 10 <= admitted <= 12 + 6 * elapsed + 2, (admitted, elapsed)
    assert set(refilled) <= {404, 429}
    assert sum(status == 404 for status in refilled) >= 6, refilled


async def test_a_stopped_process_leaves_the_share(tmp_path: Path) -> None:
    env = cli_env(tmp_path) | {"MODERATION_INSTANCE_HEARTBEAT_S": "0.2"}
    create_key(env, "site", "www")
    (first, url_1), (second, url_2) = start_service(env, "serve"), start_service(env, "serve")
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 10
            while await instance_counts(session, [url_1, url_2]) != [2, 2]:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
            second.terminate()
            second.wait(timeout=30)
            while await instance_counts(session, [url_1]) != [1]:
                assert time.monotonic() < deadline + 5
                await asyncio.sleep(0.1)
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
