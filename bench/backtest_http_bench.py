"""End-to-end backtest benchmark: POST /v1/guidelines/backtest over 100,000 stored comments.

Builds a SQLite database with N automatically decided comments (a fifth of them also
decided by moderators), starts the real service in-process on loopback, and times the
HTTP request, loading the rows included. Reproduce with:

    .venv/bin/python bench/backtest_http_bench.py            # 100,000 comments
    .venv/bin/python bench/backtest_http_bench.py --count 20000

Results are written to bench/results/backtest_http.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import provenance
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert

from moderation.app import create_app
from moderation.domain.models import Role
from moderation.http.context import DATABASE
from moderation.services.keys import Keys
from moderation.settings import Settings
from moderation.storage.tables import CommentRow

CATEGORIES = ("toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack")
TEXTS = [
    "The article says the soldiers were shot while retreating.",
    "Thank you for this careful report on the prisoners of war.",
    "you are an idiot and so is the author",
    "see example.com for the real story",
    "These vermin should all be locked up.",
    "The government lied about the army again, as usual.",
]


def rows(count: int) -> list[dict[str, object]]:
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    result = []
    for i in range(count):
        scores = {c: round(rng.betavariate(0.6, 4), 4) for c in CATEGORIES}
        worst = max(scores.values())
        auto = "reject" if worst > 0.9 else "hold" if worst > 0.5 else "approve"
        moderated = rng.random() < 0.2
        result.append(
            {
                "id": f"c-{i}",
                "article_id": f"a-{i % 500}",
                "author_id": f"u-{i % 5000}",
                "text": rng.choice(TEXTS),
                "text_sha256": "0" * 64,
                "article_tags": ["war"] if i % 3 == 0 else [],
                "metadata": {},
                "status": {"approve": "approved", "hold": "pending", "reject": "rejected"}[auto],
                "scores": scores,
                "classifier": "detoxify:unbiased",
                "created_at": start + timedelta(seconds=i),
                "updated_at": start + timedelta(seconds=i),
                "auto_action": auto,
                "moderator_action": ("reject" if worst > 0.6 else "approve") if moderated else None,
            }
        )
    return result


async def main(count: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            classifier="linear",
            log_format="text",
            log_level="WARNING",
            rate_limit_admin=0,
        )
        client = TestClient(TestServer(create_app(settings)))
        await client.start_server()
        try:
            database = client.app[DATABASE]
            key = (await Keys(database).create("bench", Role.admin)).secret
            started = time.perf_counter()
            data = rows(count)
            async with database.engine.begin() as conn:
                for begin in range(0, len(data), 5000):
                    await conn.execute(insert(CommentRow), data[begin : begin + 5000])
            seeded = time.perf_counter() - started
            headers = {"Authorization": f"Bearer {key}"}
            async with client.get("/v1/guidelines", headers=headers) as response:
                document = await response.json()
            document["rules"][2]["hold_at"] = 0.3  # the proposal: hold threats earlier
            timings = []
            for _ in range(repeats):
                started = time.perf_counter()
                async with client.post(
                    "/v1/guidelines/backtest", headers=headers, json={"guidelines": document}
                ) as response:
                    assert response.status == 200, await response.text()
                    result = await response.json()
                timings.append(time.perf_counter() - started)
        finally:
            await client.close()
    table = "\n".join(
        [
            "| comments | seeding (s) | backtest request, best (s) | median (s) | changed |",
            "| ---: | ---: | ---: | ---: | ---: |",
            f"| {count:,} | {seeded:.1f} | {min(timings):.3f} "
            f"| {sorted(timings)[len(timings) // 2]:.3f} | {result['changed']:,} |",
        ]
    )
    command, machine = provenance.header(
        "backtest_http_bench.py", f"--count {count} --repeats {repeats}"
    )
    report = (
        f"# Backtest over HTTP (SQLite)\n\n{command}\n{machine}; "
        f"Python {platform.python_version()}; {repeats} requests.\n\n{table}\n"
    )
    print(report)
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "backtest_http.md").write_text(report)
    print(json.dumps(result["matrix"]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.count, arguments.repeats))
