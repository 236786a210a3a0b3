"""While the service starts (moderation/http/starting.py): its port answers ``/healthz``
with 503 ``"status": "loading"`` and each download's progress, and every other request
with the contract's error body; the port is free again when the stand-in closes."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from classifiers import downloads
from moderation.http import starting
from tests.processes import free_port


class Paused:
    """A download's response that delivers 250 of 1000 bytes, then waits to be let go."""

    def __init__(self) -> None:
        self.headers = {"Content-Length": "1000"}
        self.sent = 0
        self.go = threading.Event()
        self.waiting = threading.Event()

    def read(self, _size: int) -> bytes:
        if self.sent == 250:
            self.waiting.set()
            self.go.wait(10)
        if self.sent >= 1000:
            return b""
        self.sent += 250
        return b"x" * 250

    def __enter__(self) -> Paused:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


async def test_healthz_says_loading_with_the_downloads_progress(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await aiohttp_client(starting.app("detoxify:unbiased,minilm"))
    response = Paused()
    fetching = threading.Thread(
        target=downloads.fetch,
        args=("https://models.example/m.ckpt", tmp_path / "m.ckpt"),
        kwargs={"timeout_s": 5, "label": "Detoxify checkpoint", "opener": lambda *a, **k: response},
    )
    fetching.start()
    try:
        assert await asyncio.to_thread(response.waiting.wait, 10)
        answer = await client.get("/healthz")
        body = await answer.json()
    finally:
        response.go.set()
        fetching.join()
    assert answer.status == 503 and answer.headers["Retry-After"]
    assert body["status"] == "loading" and body["classifier"] is None
    assert body["classifier_preference"] == "detoxify:unbiased,minilm"
    assert body["error"]["code"] == "starting"
    (download,) = body["loading"]["downloads"]
    assert download["what"] == "Detoxify checkpoint" and download["percent"] == 25.0
    assert (download["bytes"], download["total_bytes"]) == (250, 1000)
    # Done: nothing under way any more.
    assert (await (await client.get("/healthz")).json())["loading"]["downloads"] == []


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/comments"), ("GET", "/ui/")])
async def test_everything_else_is_503_starting(aiohttp_client: Any, method: str, path: str) -> None:
    client = await aiohttp_client(starting.app("linear"))
    answer = await client.request(method, path, data=b"{}")
    assert answer.status == 503 and answer.headers["Retry-After"] == str(starting.RETRY_AFTER_S)
    body = await answer.json()
    assert set(body) == {"error"} and body["error"]["code"] == "starting"


async def test_the_stand_in_holds_the_port_only_while_open() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    async with aiohttp.ClientSession() as session:
        async with starting.stand_in("127.0.0.1", port, "linear"), session.get(url) as answer:
            assert answer.status == 503
            assert (await answer.json())["status"] == "loading"
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(url):
                pass
