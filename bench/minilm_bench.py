"""The default offline model end to end: the service on SQLite with ``minilm``.

Starts the service as a real process (``MODERATION_CLASSIFIER=minilm``, SQLite, every
comment committed) and measures, with reader comments from the held-out evaluation set
as the load (each made unique):

1. the maximum rate: closed loop at ``--concurrency`` for ``--seconds``;
2. latency at half that rate: open loop, p50/p99;
3. the cost of rules taught by example: the maximum rate again after a ``PUT`` of the
   guidelines with ``--examples`` more examples and counterexamples spread over the rules.

Reproduce with (results go to bench/results/minilm.md):

    .venv/bin/python bench/minilm_bench.py --seconds 20 --concurrency 16,32 --examples 1000 \\
        --encoder-runtimes onnx,torch-bf16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
from load_test import free_port, percentile  # noqa: E402

EVAL = ROOT / "classifiers" / "training" / "data" / "eval"


def texts() -> list[str]:
    rows = [json.loads(line) for path in sorted(EVAL.glob("set_*.jsonl")) for line in path.open()]
    return [row["text"] for row in rows]


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "service.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def comment(tag: str, i: int, pool: list[str]) -> dict[str, str]:
    """The i-th comment of a run: a held-out reader comment, made unique."""
    return {
        "id": f"{tag}-{i}",
        "article_id": f"a-{i % 40}",
        "author_id": f"u-{i % 5000}",
        "text": f"{pool[i % len(pool)]} ({i})",
    }


async def post(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: dict[str, str]
) -> tuple[bool, float]:
    """Submit one comment: (created?, seconds it took)."""
    sent = time.monotonic()
    async with session.post(url + "/v1/comments", json=body, headers=headers) as answer:
        await answer.read()
        return answer.status == 201, time.monotonic() - sent


async def closed_loop(
    url: str, headers: dict[str, str], pool: list[str], seconds: float, concurrency: int, tag: str
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds
    counter = iter(range(10**9))

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.monotonic() < stop:
            created, seconds = await post(session, url, headers, comment(tag, next(counter), pool))
            errors += not created
            latencies.append(seconds)

    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    return {
        "rate": len(latencies) / elapsed,
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "errors": errors,
        "requests": len(latencies),
    }


async def open_loop(
    url: str, headers: dict[str, str], pool: list[str], seconds: float, rate: float, tag: str
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        nonlocal errors
        created, seconds = await post(session, url, headers, comment(tag, i, pool))
        errors += not created
        latencies.append(seconds)

    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        i = 0
        while (now := time.monotonic()) < started + seconds:
            due = started + i / rate
            if due > now:
                await asyncio.sleep(due - now)
            task = asyncio.get_running_loop().create_task(one(session, i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        await asyncio.gather(*tasks)
    return {
        "rate": rate,
        "p50_ms": 1000 * percentile(latencies, 0.5),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "errors": errors,
        "requests": len(latencies),
    }


async def put_examples(url: str, headers: dict[str, str], pool: list[str], count: int) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.get(url + "/v1/guidelines", headers=headers) as answer:
            document = await answer.json()
        rules = document["rules"]
        for n in range(count):
            rule = rules[n % len(rules)]
            text = f"{pool[n % len(pool)]} [{n}]"
            key = "examples" if n % 2 == 0 else "counterexamples"
            rule.setdefault("examples", [])
            if key == "counterexamples" and not rule["examples"]:
                key = "examples"
            rule.setdefault(key, []).append(text)
        async with session.put(url + "/v1/guidelines", json=document, headers=headers) as answer:
            assert answer.status == 200, await answer.text()
        return sum(len(r.get("examples", [])) + len(r.get("counterexamples", [])) for r in rules)


async def measure(args: argparse.Namespace, runtime: str, concurrency: int) -> dict[str, Any]:
    """One service process with encoder runtime ``runtime`` ("" = the default): the three
    runs, the closed loops at ``concurrency``."""
    tmp = tempfile.mkdtemp()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")} | {
        "MODERATION_DATA_DIR": tmp,
        "MODERATION_CLASSIFIER": "minilm",
        "MODERATION_LOG_LEVEL": "WARNING",
        "MODERATION_RATE_LIMIT_SITE": "0",
        "MODERATION_RATE_LIMIT_ADMIN": "0",
        "HF_HUB_OFFLINE": "1",
    }
    if runtime:
        env["MODERATION_ENCODER_RUNTIME"] = runtime
    site = cli(env, "keys", "create", "--role", "site", "--name", "bench")
    admin = cli(env, "keys", "create", "--role", "admin", "--name", "bench-admin")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "service.py"],
        cwd=ROOT,
        env=env | {"MODERATION_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    health: dict[str, Any] = {}
    try:
        for _ in range(1500):
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                    health = json.loads(answer.read())
                    break
            except OSError:
                time.sleep(0.2)
        pool = texts()
        site_headers = {"Authorization": f"Bearer {site}"}
        load = os.getloadavg()[0]
        await closed_loop(url, site_headers, pool, 5, concurrency, "warm")
        best = await closed_loop(url, site_headers, pool, args.seconds, concurrency, "max")
        half = await open_loop(url, site_headers, pool, args.seconds, best["rate"] / 2, "half")
        taught = await put_examples(url, {"Authorization": f"Bearer {admin}"}, pool, args.examples)
        await closed_loop(url, site_headers, pool, 3, concurrency, "warm2")
        examples = await closed_loop(url, site_headers, pool, args.seconds, concurrency, "examples")
    finally:
        process.terminate()
        process.wait(timeout=30)
    return {
        "asked": runtime or "default",
        "concurrency": concurrency,
        "ran": (health.get("classifier_runtime") or {}).get("runtime", "?"),
        "classifier": health.get("classifier"),
        "load": load,
        "best": best,
        "half": half,
        "taught": taught,
        "examples": examples,
    }


async def main(args: argparse.Namespace) -> None:
    runtimes = [r.strip() for r in args.encoder_runtimes.split(",")]
    concurrencies = [int(c) for c in str(args.concurrency).split(",")]
    measured = [
        await measure(args, runtime, concurrency)
        for concurrency in concurrencies
        for runtime in runtimes
    ]
    lines = [
        "# The default offline model (`minilm`), end to end on SQLite",
        "",
        provenance.command(
            "minilm_bench.py",
            f"--seconds {args.seconds:g} --concurrency {args.concurrency}",
            f"--examples {args.examples}",
            f"--encoder-runtimes {args.encoder_runtimes}" if args.encoder_runtimes else "",
        )
        + "  ",
        f"{provenance.machine()}; classifier: {measured[0]['classifier']}; "
        "load: the held-out evaluation comments (each made unique with a number); "
        "the load generator shares the cores.",
        "",
        "| encoder runtime (asked / ran) | run | comments/s | p50 ms | p99 ms | errors "
        "| load avg before |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in measured:
        best, half, examples = m["best"], m["half"], m["examples"]
        name = f"{m['asked']} / {m['ran']}"
        lines += [
            f"| {name} | closed loop, concurrency {m['concurrency']} | {best['rate']:.1f} | "
            f"{best['p50_ms']:.0f} | {best['p99_ms']:.0f} | {best['errors']} | {m['load']:.2f} |",
            f"| {name} | open loop at half that rate | {half['rate']:.1f} | "
            f"{half['p50_ms']:.0f} | {half['p99_ms']:.0f} | {half['errors']} | |",
            f"| {name} | closed loop, guidelines with {m['taught']} examples | "
            f"{examples['rate']:.1f} | {examples['p50_ms']:.0f} | {examples['p99_ms']:.0f} | "
            f"{examples['errors']} | |",
        ]
    lines.append("")
    for m in measured:
        best, examples = m["best"], m["examples"]
        overhead = 100 * (best["rate"] / examples["rate"] - 1) if examples["rate"] else float("nan")
        lines.append(
            f"{m['asked']} / {m['ran']}, concurrency {m['concurrency']}: rules taught by "
            f"example cost {overhead:.1f} % per "
            f"comment at {m['taught']} examples."
        )
    lines += [
        "",
        "Targets: at least 200 comments/s; p99 at most 100 ms at half the maximum rate; "
        "examples at most 10 % per comment.",
        "",
    ]
    out = ROOT / "bench" / "results" / "minilm.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--concurrency", default="16", help="closed-loop concurrency, or several: 16,32"
    )
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument(
        "--encoder-runtimes",
        default="",
        help="comma-separated MODERATION_ENCODER_RUNTIME values, one service each "
        "(default: the service's default)",
    )
    asyncio.run(main(parser.parse_args()))
