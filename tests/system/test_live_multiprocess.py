"""The live queue across real service processes on one PostgreSQL database.

A decision taken through one process is pushed to a stream open on another; a stream
token issued by one opens a stream on another (behind a load balancer, the two requests
rarely meet the same process); SIGTERM ends open streams instead of waiting on them.
Skipped, with the reason, when PostgreSQL does not answer (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.processes import cli_env, create_key, start_service
from tests.system.test_multiprocess import Cluster, request, start_cluster


@pytest.fixture
def pair(tmp_path: Path, postgres_url: str) -> Iterator[Cluster]:
    yield from start_cluster(cli_env(tmp_path) | {"MODERATION_DATABASE_URL": postgres_url}, 2)


async def events_until(
    response: aiohttp.ClientResponse, wanted: dict[str, Any], timeout: float = 15
) -> list[dict[str, Any]]:
    """Every event's data until one whose data includes ``wanted``."""
    seen: list[dict[str, Any]] = []
    name = ""
    async with asyncio.timeout(timeout):
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: ")) | {"event": name}
                seen.append(data)
                if wanted.items() <= data.items():
                    return seen
    raise AssertionError(f"the stream ended before {wanted}; saw {seen}")


async def test_a_decision_in_one_process_reaches_a_stream_on_another(pair: Cluster) -> None:
    first, second = pair.urls
    moderator, site = pair.headers("moderator"), pair.headers("site")
    async with aiohttp.ClientSession() as session:
        status, issued = await request(session, "POST", first + "/v1/queue/events/token", moderator)
        assert status == 201
        async with session.get(
            second + "/v1/queue/events", params={"token": issued["token"]}
        ) as stream:
            assert stream.status == 200
            await events_until(stream, {"event": "count", "pending": 0})
            comment = {"id": "c-1", "article_id": "a", "author_id": "u", "text": "you idiot"}
            status, body = await request(
                session, "POST", first + "/v1/comments", site, json=comment
            )
            assert (status, body["status"]) == (201, "pending")
            await events_until(stream, {"change": "held", "comment_id": "c-1"})
            await events_until(stream, {"event": "count", "pending": 1})
            status, _ = await request(
                session,
                "POST",
                first + "/v1/comments/c-1/decision",
                moderator,
                json={"action": "reject"},
            )
            assert status == 200
            seen = await events_until(stream, {"change": "decided", "comment_id": "c-1"})
            assert seen[-1]["status"] == "rejected" and seen[-1]["mine"] is True
            await events_until(stream, {"event": "count", "pending": 0})


def test_sigterm_ends_open_streams_and_the_process_stops(tmp_path: Path, postgres_url: str) -> None:
    env = cli_env(tmp_path) | {"MODERATION_DATABASE_URL": postgres_url}
    headers = {"Authorization": f"Bearer {create_key(env, 'moderator', 'watcher')}"}
    process, url = start_service(env, "serve")
    try:

        async def watch_and_stop() -> list[dict[str, Any]]:
            async with (
                aiohttp.ClientSession() as session,
                session.get(url + "/v1/queue/events", headers=headers) as stream,
            ):
                await events_until(stream, {"event": "count"})
                process.terminate()
                return await events_until(stream, {"event": "end"})

        stopping = time.monotonic()
        seen = asyncio.run(watch_and_stop())
        assert seen[-1]["reason"] == "shutdown"
        assert process.wait(timeout=20) == 0
        # Well within the 30 s drain: the open stream did not hold the shutdown up.
        assert time.monotonic() - stopping < 10
    finally:
        if process.poll() is None:
            process.kill()
