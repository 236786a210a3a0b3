"""Crash safety: kill -9 mid-burst loses nothing acknowledged and leaves nothing half-written;
SIGTERM drains in-flight requests and exits cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
from pathlib import Path

import aiohttp

from tests.processes import cli_env, create_key, start_service


def start(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    return start_service(env, "serve")


def site_key(env: dict[str, str]) -> str:
    return create_key(env, "site", "www")


async def burst(
    url: str, key: str, count: int, on_acknowledged: int, action: object
) -> tuple[set[str], list[int]]:
    """POST ``count`` comments 16 at a time; call ``action`` once enough were acknowledged."""
    acknowledged: set[str] = set()
    statuses: list[int] = []
    fired = False
    semaphore = asyncio.Semaphore(16)

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        nonlocal fired
        async with semaphore:
            try:
                async with session.post(
                    url + "/v1/comments",
                    json={
                        "id": f"c-{i}",
                        "article_id": "a",
                        "author_id": "u",
                        "text": f"Comment number {i} about the report.",
                    },
                    headers={"Authorization": f"Bearer {key}"},
                ) as response:
                    statuses.append(response.status)
                    if response.status in (200, 201):
                        acknowledged.add(f"c-{i}")
            except (TimeoutError, aiohttp.ClientError):
                return
            if len(acknowledged) >= on_acknowledged and not fired:
                fired = True
                action()  # type: ignore[operator]

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(one(session, i) for i in range(count)))
    return acknowledged, statuses


def check_database(data_dir: Path, acknowledged: set[str]) -> None:
    with sqlite3.connect(data_dir / "moderation.db") as db:
        stored = {row[0] for row in db.execute("SELECT id FROM comments")}
        half = db.execute("SELECT count(*) FROM comments WHERE decision_id IS NULL").fetchone()[0]
        orphans = db.execute(
            "SELECT count(*) FROM comments c LEFT JOIN decisions d ON d.id = c.decision_id "
            "WHERE d.id IS NULL"
        ).fetchone()[0]
    assert acknowledged <= stored, f"lost: {sorted(acknowledged - stored)[:5]}"
    assert half == 0 and orphans == 0


async def test_kill_9_loses_no_acknowledged_comment(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    key = site_key(env)
    process, url = start(env)
    try:
        acknowledged, _ = await burst(
            url, key, 400, 60, lambda: process.send_signal(signal.SIGKILL)
        )
    finally:
        process.kill()
        process.wait(timeout=30)
    assert 60 <= len(acknowledged) < 400
    check_database(tmp_path / "data", acknowledged)
    # and after a restart every acknowledged comment is served with its decision
    process, url = start(env)
    try:
        async with aiohttp.ClientSession() as session:
            for comment_id in sorted(acknowledged)[:50]:
                async with session.get(
                    url + f"/v1/comments/{comment_id}", headers={"Authorization": f"Bearer {key}"}
                ) as response:
                    body = await response.json()
                    assert response.status == 200 and body["decision"]["action"] == "approve"
    finally:
        process.terminate()
        process.wait(timeout=30)


async def held_request(
    url: str, key: str, comment_id: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A whole POST sent on its own connection; its answer is left to be read."""
    body = json.dumps(
        {"id": comment_id, "article_id": "a", "author_id": "u", "text": "In flight at SIGTERM."}
    ).encode()
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        (
            "POST /v1/comments HTTP/1.1\r\n"
            f"Host: {host}\r\n"
            f"Authorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        + body
    )
    await writer.drain()
    return reader, writer


async def wait_until_not_listening(url: str) -> None:
    """Returns once the service refuses new connections: it has begun to stop."""
    host, port = url.removeprefix("http://").split(":")
    async with asyncio.timeout(30):  # hang guard
        while True:
            try:
                _, writer = await asyncio.open_connection(host, int(port))
            except OSError:
                return
            writer.close()
            await asyncio.sleep(0.02)


async def test_sigterm_drains_and_exits_cleanly(tmp_path: Path) -> None:
    """Every request in flight when SIGTERM arrives is answered, and what it acknowledged
    is stored; the process then exits 0.

    The test holds SQLite's write lock, so requests sent before the signal are still
    inside their handlers (waiting to write) when it arrives and when the service stops
    listening; the lock is let go only then. Fails when the service exits at SIGTERM
    without draining (``os._exit(0)`` in the signal handler): it is gone while the
    held requests are in flight, and they get no answer."""
    env = cli_env(tmp_path)
    key = site_key(env)
    process, url = start(env)
    try:
        acknowledged, statuses = await burst(url, key, 40, 40, lambda: None)
        assert len(acknowledged) == 40 and set(statuses) == {201}, set(statuses)
        lock = sqlite3.connect(tmp_path / "data" / "moderation.db", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the service's writers now wait (busy_timeout)
        try:
            held = [await held_request(url, key, f"held-{i}") for i in range(8)]
            # Loopback delivers at once; the pause is a margin for a loaded machine.
            await asyncio.sleep(0.5)
            process.send_signal(signal.SIGTERM)
            await wait_until_not_listening(url)
            assert process.poll() is None, "exited while requests were in flight"
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        answers = [await asyncio.wait_for(reader.read(), 60) for reader, _ in held]
        for _, writer in held:
            writer.close()
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        process.wait(timeout=30)
    for i, answer in enumerate(answers):
        assert answer.startswith(b"HTTP/1.1 201"), (i, answer[:200])
        acknowledged.add(f"held-{i}")
    check_database(tmp_path / "data", acknowledged)


async def test_a_second_sigterm_exits_without_draining(tmp_path: Path) -> None:
    """SIGTERM starts the drain; a second one is the operator insisting, and the process
    exits at once instead of waiting for the requests in flight.

    The write lock is held throughout, so the held request cannot finish: draining would
    last SQLite's busy timeout (15 s) or aiohttp's shutdown timeout (30 s). Fails when
    the second signal is ignored (the handlers left installed after the first): the
    process is still there seconds later."""
    env = cli_env(tmp_path)
    key = site_key(env)
    process, url = start(env)
    lock = sqlite3.connect(tmp_path / "data" / "moderation.db", isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        _, writer = await held_request(url, key, "held")
        await asyncio.sleep(0.5)  # margin for a loaded machine: the request is in its handler
        process.send_signal(signal.SIGTERM)
        await wait_until_not_listening(url)
        await asyncio.sleep(0.5)
        assert process.poll() is None, "exited at the first signal, while draining"
        process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(process.wait, 5)
        except subprocess.TimeoutExpired:
            raise AssertionError("a second SIGTERM did not stop the drain") from None
        assert code != 0, "a drain that completed, not an exit at the second signal"
        writer.close()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        process.kill()
        process.wait(timeout=30)
