"""Soak test: hold the service (linear classifier) at a fixed rate for minutes.

Starts the service as real processes on loopback — one on SQLite, or three sharing a
PostgreSQL database behind a round-robin client — and sends comments open-loop at
``--rate`` per second for ``--seconds``, recording errors, latency per interval and
each process's resident memory, so a leak shows as a rising line. Reproduce with:

    .venv/bin/python bench/load_test.py --backend sqlite --rate 200 --seconds 300
    .venv/bin/python bench/load_test.py --backend postgresql --processes 3 --rate 200 --seconds 300

Results go to bench/results/load_<backend>.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import aiohttp
import provenance

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [
    "The article says the soldiers were shot while retreating; that is a war crime.",
    "Thank you for this careful report. The prisoners deserve to be heard.",
    "The government lied about the army again, and the press let them.",
    "you are an idiot if you believe this",
    "Read more at example.com about the convention on prisoners of war.",
]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def main(args: argparse.Namespace) -> None:
    tmp = tempfile.mkdtemp()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")} | {
        "MODERATION_DATA_DIR": tmp,
        "MODERATION_CLASSIFIER": "linear",
        "MODERATION_LOG_LEVEL": "WARNING",
        "MODERATION_RATE_LIMIT_SITE": "0",
    }
    admin_db = None
    if args.backend == "postgresql":
        name = "moderation_load_" + uuid.uuid4().hex[:8]
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f'CREATE DATABASE "{name}"'],
            check=True,
            capture_output=True,
        )
        admin_db = name
        env["MODERATION_DATABASE_URL"] = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    key = (
        subprocess.run(
            [sys.executable, "service.py", "keys", "create", "--role", "site", "--name", "load"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    processes, urls = [], []
    for _ in range(args.processes):
        port = free_port()
        processes.append(
            subprocess.Popen(
                [sys.executable, "service.py"],
                cwd=ROOT,
                env=env | {"MODERATION_PORT": str(port)},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    for url in urls:
        for _ in range(300):
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
    latencies: list[tuple[float, float]] = []
    errors: dict[str, int] = {}
    memory: list[tuple[float, list[float]]] = []
    headers = {"Authorization": f"Bearer {key}"}
    started = time.monotonic()
    in_flight: set[asyncio.Task[None]] = set()

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        body = {
            "id": f"c-{i}",
            "article_id": f"a-{i % 50}",
            "author_id": f"u-{i % 3000}",
            "text": TEXTS[i % len(TEXTS)] + f" ({i})",
        }
        sent = time.monotonic()
        try:
            async with session.post(
                urls[i % len(urls)] + "/v1/comments", json=body, headers=headers
            ) as response:
                await response.read()
                if response.status != 201:
                    errors[str(response.status)] = errors.get(str(response.status), 0) + 1
        except Exception as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
        latencies.append((sent - started, time.monotonic() - sent))

    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=30)
    ) as session:
        i = 0
        next_memory = 0.0
        while (now := time.monotonic() - started) < args.seconds:
            due = int(now * args.rate)
            while i < due:
                task = asyncio.create_task(one(session, i))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                i += 1
            if now >= next_memory:
                memory.append((now, [rss_mb(p.pid) for p in processes]))
                next_memory += 10
            await asyncio.sleep(0.002)
        await asyncio.gather(*in_flight)
    elapsed = time.monotonic() - started
    for process in processes:
        process.terminate()
        process.wait(timeout=30)
    if admin_db:
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-c",
                f'DROP DATABASE "{admin_db}" WITH (FORCE)',
            ],
            capture_output=True,
        )
    rows = []
    minutes = int(args.seconds // 60) or 1
    for m in range(minutes):
        window = [lat for at, lat in latencies if m * 60 <= at < (m + 1) * 60]
        rows.append(
            f"| {m + 1} | {len(window)} | {percentile(window, 0.5) * 1000:.1f} | "
            f"{percentile(window, 0.99) * 1000:.1f} |"
        )
    all_latencies = [lat for _, lat in latencies]
    first_mem, last_mem = memory[1][1] if len(memory) > 1 else memory[0][1], memory[-1][1]
    report = "\n".join(
        [
            f"# Load test: {args.backend}, {args.processes} process(es), linear classifier",
            "",
            *provenance.header(
                "load_test.py",
                f"--backend {args.backend} --processes {args.processes}",
                f"--rate {args.rate} --seconds {args.seconds}",
            ),
            "",
            f"Sent {len(latencies):,} comments in {elapsed:.0f} s "
            f"({len(latencies) / elapsed:.0f}/s); "
            f"errors: {json.dumps(errors) if errors else 'none'}; "
            f"p50 {percentile(all_latencies, 0.5) * 1000:.1f} ms, "
            f"p99 {percentile(all_latencies, 0.99) * 1000:.1f} ms, "
            f"mean {statistics.fmean(all_latencies) * 1000:.1f} ms.",
            "",
            "| minute | comments | p50 ms | p99 ms |",
            "| ---: | ---: | ---: | ---: |",
            *rows,
            "",
            "Resident memory per process (MB), after warm-up and at the end: "
            + ", ".join(f"{a:.0f} → {b:.0f}" for a, b in zip(first_mem, last_mem, strict=True)),
            "",
            "Memory samples every 10 s: "
            + "; ".join("/".join(f"{v:.0f}" for v in values) for _, values in memory),
            "",
        ]
    )
    print(report)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"load_{args.backend}.md").write_text(report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=300.0)
    asyncio.run(main(parser.parse_args()))
