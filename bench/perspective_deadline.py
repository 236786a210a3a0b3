"""The Perspective endpoint's deadline, with a bert-base-sized Detoxify on this machine.

Coral waits 800 ms for Perspective and then publishes the comment unscored, so
``comments:analyze`` must answer within ``MODERATION_PERSPECTIVE_DEADLINE_MS`` (700)
whatever the text's length. This starts the service as a real process on
``detoxify:original`` with a bert-base-sized checkpoint (random weights, the real
model's compute: ``bench/bert_base_checkpoint.py``; default runtime and the sentence
encoder beside it, as ``make serve`` runs) and measures, per comment length (60, 600 and
3,000 words, built from the held-out reader comments), comments arriving at random at
``--rate`` per second as readers post them to a Coral site (each is Coral's exact
request): latency p50/p99/max, how many answers were partial or not scored (503), and
the share of the text scored. A last run mixes short comments with 3,000-word ones at
the same rate each, to show what the long ones cost the short.

Reproduce with (results go to bench/results/perspective_deadline.md):

    .venv/bin/python bench/perspective_deadline.py --seconds 20 --rate 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import provenance  # noqa: E402
from bert_base_checkpoint import build  # noqa: E402
from load_test import free_port, percentile  # noqa: E402
from minilm_bench import cli, texts  # noqa: E402

LENGTHS = (60, 600, 3_000)


def comments_of(words: int, pool: list[str], count: int = 40) -> list[str]:
    """``count`` distinct texts of exactly ``words`` words, reader comments run together."""
    made = []
    start = 0
    for _ in range(count):
        taken: list[str] = []
        while len(taken) < words:
            taken.extend(pool[start % len(pool)].split())
            start += 1
        made.append(" ".join(taken[:words]))
    return made


def coral_body(text: str) -> dict[str, Any]:
    """What Coral's toxic phase sends (coralproject/talk, services/perspective)."""
    return {
        "comment": {"text": text},
        "doNotStore": True,
        "requestedAttributes": {"TOXICITY": {}},
        "languages": ["en"],
    }


async def open_loop(
    url: str, key: str, pools: list[tuple[list[str], float]], seconds: float, seed: int = 7
) -> list[dict[str, Any]]:
    """Requests arriving at random (Poisson) at each pool's rate for ``seconds``, whatever
    the answers' pace: as comments reach Coral from readers, not from a waiting client."""
    results: list[dict[str, Any]] = []
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()

    async def one(session: aiohttp.ClientSession, text: str) -> None:
        started = time.perf_counter()
        async with session.post(
            f"{url}/v1alpha1/comments:analyze", params={"key": key}, json=coral_body(text)
        ) as response:
            body = await response.json()
            elapsed = time.perf_counter() - started
        scored = 1.0
        if "scoredSpans" in body:
            units = len(text.encode("utf-16-le")) // 2
            scored = sum(s["end"] - s["begin"] for s in body["scoredSpans"]) / units
        results.append(
            {
                "words": len(text.split()),
                "status": response.status,
                "ms": elapsed * 1000,
                "partial": response.headers.get("X-Moderation-Scored") == "partial",
                "scored": scored if response.status == 200 else 0.0,
            }
        )

    async def arrivals(session: aiohttp.ClientSession, pool: list[str], rate: float) -> None:
        tasks = []
        stop = loop.time() + seconds
        i = 0
        while loop.time() < stop:
            await asyncio.sleep(rng.expovariate(rate))
            tasks.append(asyncio.ensure_future(one(session, pool[i % len(pool)])))
            i += 1
        await asyncio.gather(*tasks)

    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await asyncio.gather(*(arrivals(session, pool, rate) for pool, rate in pools))
    return results


def summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    latencies = sorted(row["ms"] for row in rows)
    ok = [row for row in rows if row["status"] == 200]
    return {
        "n": len(rows),
        "ok": len(ok),
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "max": latencies[-1] if latencies else float("nan"),
        "partial": sum(row["partial"] for row in ok),
        "scored": sum(row["scored"] for row in ok) / len(ok) if ok else 0.0,
        "rate": len(rows),
    }


def start(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, dict[str, Any]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "service.py"],
        cwd=ROOT,
        env=env | {"MODERATION_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 1_200  # the first start exports the model to ONNX
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                return process, url, json.loads(answer.read())
        except OSError:
            if process.poll() is not None:
                raise SystemExit("the service exited while starting") from None
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the service did not start")


async def main(args: argparse.Namespace) -> None:
    cache = Path(args.cache)
    checkpoint, config = build(cache / "bert-base")
    data = tempfile.mkdtemp()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")} | {
        "MODERATION_DATA_DIR": data,
        "MODERATION_CLASSIFIER": "detoxify:original",
        "MODERATION_DETOXIFY_CHECKPOINT": str(checkpoint),
        "MODERATION_DETOXIFY_CONFIG": str(config),
        "MODERATION_ONNX_CACHE_DIR": str(cache / "onnx"),
        "MODERATION_PERSPECTIVE_DEADLINE_MS": str(args.deadline_ms),
        "MODERATION_LOG_LEVEL": "WARNING",
        "MODERATION_RATE_LIMIT_SITE": "0",
        "HF_HUB_OFFLINE": "1",
    }
    load_before = os.getloadavg()[0]
    key = cli(env, "keys", "create", "--role", "site", "--name", "coral")
    process, url, health = start(env)
    pool = texts()
    by_length = {words: comments_of(words, pool) for words in LENGTHS}
    rows: dict[str, dict[str, float]] = {}
    try:
        await open_loop(url, key, [(by_length[60], args.rate)], 5)  # warm up
        for words in LENGTHS:
            runs = await open_loop(url, key, [(by_length[words], args.rate)], args.seconds)
            rows[f"{words} words"] = summary(runs)
        mixed = await open_loop(
            url, key, [(by_length[60], args.rate), (by_length[3_000], args.rate)], args.seconds
        )
        rows["mixed: the 60-word ones"] = summary([r for r in mixed if r["words"] == 60])
        rows["mixed: the 3,000-word ones"] = summary([r for r in mixed if r["words"] == 3_000])
    finally:
        process.terminate()
        process.wait(timeout=30)
    lines = [
        "# Perspective's deadline with a bert-base-sized Detoxify",
        "",
        provenance.command(
            "perspective_deadline.py", f"--seconds {args.seconds:g} --rate {args.rate:g}"
        )
        + "  ",
        f"{provenance.machine()}; classifier: {health.get('classifier')}; "
        f"deadline {args.deadline_ms:g} ms; "
        f"comments arriving at random at {args.rate:g}/s per length (and {args.rate:g}/s "
        "of each in the mixed run), each Coral's request "
        '(`TOXICITY`, `languages: ["en"]`, `doNotStore`). Load average before the '
        f"run: {load_before:.2f}, after: {os.getloadavg()[0]:.2f} (other work on the cores "
        "slows the model).",
        "",
        "| comments | answers | 200s | p50 ms | p99 ms | max ms | partial | text scored |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in rows.items():
        lines.append(
            f"| {name} | {s['n']} | {s['ok']} | {s['p50']:.0f} | {s['p99']:.0f} | "
            f"{s['max']:.0f} | {s['partial']} | {100 * s['scored']:.0f} % |"
        )
    lines += [
        "",
        "*partial*: answers that scored part of the text within the deadline "
        "(`X-Moderation-Scored: partial`); *text scored*: the mean share of each text's "
        "characters the model read. Target: p99 under the deadline for every length. "
        "The scores are meaningless (random weights); the compute is the real model's.",
        "",
    ]
    out = ROOT / "bench" / "results" / "perspective_deadline.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=4.0, help="comments/s per length")
    parser.add_argument("--deadline-ms", type=float, default=700)
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "moderation-bench"))
    asyncio.run(main(parser.parse_args()))
