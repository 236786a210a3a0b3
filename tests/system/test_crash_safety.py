"""Crash safety: kill -9 mid-burst loses nothing acknowledged and leaves nothing half-written;
SIGTERM drains in-flight requests and exits cleanly."""

from __future__ import annotations

import asyncio
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


async def test_sigterm_drains_and_exits_cleanly(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    key = site_key(env)
    process, url = start(env)
    acknowledged, statuses = await burst(
        url, key, 300, 40, lambda: process.send_signal(signal.SIGTERM)
    )
    assert process.wait(timeout=60) == 0
    assert all(status in (200, 201) for status in statuses), set(statuses)
    check_database(tmp_path / "data", acknowledged)
