"""The load: closed and open loops over aiohttp, the CPU accounting, one measured run.

A run (:class:`Run`) records throughput, latency percentiles and the cores used by the
server, by this client and by everything else on the machine ("foreign" load);
:func:`quietest` repeats a run until the foreign load is low enough.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from inference.servers import Server

HZ = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    config: str
    mode: str  # closed | open
    concurrency: int
    rate: float | None
    seconds: float
    completed: int
    throughput: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    server_cores: float
    client_cores: float
    foreign_cores: float
    #: The server's main threads (its event loops), of ``server_cores``.
    loop_cores: float = 0.0
    #: Texts per classifier batch over the run (the service's ``/metrics``); 0: unknown.
    batch_mean: float = 0.0
    attempts: list[float] = field(default_factory=list)  # foreign cores of each attempt
    start_s: float = 0.0


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def _machine_busy() -> int:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle


def _stat_ticks(stat_file: Path) -> int:
    """utime + stime of a ``/proc/…/stat`` file (0 once the process or thread is gone)."""
    try:
        stat = stat_file.read_text()
    except OSError:
        return 0
    after = stat.rsplit(")", 1)[1].split()
    return int(after[11]) + int(after[12])


def _process_ticks(pid: int) -> int:
    """CPU ticks of ``pid`` (all threads) and its live descendants: a supervisor's
    processes (``MODERATION_PROCESSES``) count as the server's."""
    ticks = _stat_ticks(Path(f"/proc/{pid}/stat"))
    return ticks + sum(_process_ticks(child) for child in _children(pid))


def _loop_ticks(pid: int) -> int:
    """CPU ticks of the main thread (a service's event loop) of ``pid`` and of its live
    descendants' main threads."""
    ticks = _stat_ticks(Path(f"/proc/{pid}/task/{pid}/stat"))
    return ticks + sum(_loop_ticks(child) for child in _children(pid))


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


def _self_ticks() -> int:
    times = os.times()
    return round((times.user + times.system) * HZ)


@dataclass
class CpuWindow:
    pid: int
    started: float = 0.0
    busy: int = 0
    server: int = 0
    client: int = 0
    loop: int = 0

    def start(self) -> None:
        self.started = time.monotonic()
        self.busy, self.server, self.client, self.loop = (
            _machine_busy(),
            _process_ticks(self.pid),
            _self_ticks(),
            _loop_ticks(self.pid),
        )

    def stop(self) -> tuple[float, float, float, float]:
        """(server, client, foreign, the server's event loops) cores over the window."""
        wall = time.monotonic() - self.started
        busy = _machine_busy() - self.busy
        server = _process_ticks(self.pid) - self.server
        client = _self_ticks() - self.client
        loop = _loop_ticks(self.pid) - self.loop
        foreign = max(0, busy - server - client)
        return server / HZ / wall, client / HZ / wall, foreign / HZ / wall, loop / HZ / wall


class Load:
    def __init__(self, server: Server, texts: Sequence[str]) -> None:
        self.server = server
        self.texts = texts
        self.headers = {"Content-Type": "application/json"}
        if server.key:
            self.headers["Authorization"] = f"Bearer {server.key}"
        self.counter = 0

    def body(self) -> bytes:
        self.counter += 1
        text = self.texts[self.counter % len(self.texts)]
        payload = {
            "id": f"b-{uuid.uuid4().hex[:16]}",
            "article_id": "a-1",
            "author_id": f"u-{self.counter % 500}",
            "text": text,
        }
        return json.dumps(payload).encode()

    async def post(self, session: aiohttp.ClientSession) -> int:
        async with session.post(
            self.server.url + "/v1/comments", data=self.body(), headers=self.headers
        ) as response:
            await response.read()
            return response.status

    async def closed(
        self, concurrency: int, warmup: float, duration: float
    ) -> tuple[list[float], Counter[str], float]:
        latencies: list[float] = []
        statuses: Counter[str] = Counter()
        connector = aiohttp.TCPConnector(limit=concurrency)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            loop = asyncio.get_running_loop()
            begin = loop.time()
            measure_from, end = begin + warmup, begin + warmup + duration

            async def worker() -> None:
                while (now := loop.time()) < end:
                    status: int | str
                    try:
                        status = await self.post(session)
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        status = type(exc).__name__
                    done = loop.time()
                    if now >= measure_from and done <= end:
                        statuses[str(status)] += 1
                        if status in (200, 201):
                            latencies.append(done - now)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, statuses, duration

    async def open(
        self, rate: float, warmup: float, duration: float
    ) -> tuple[list[float], Counter[str], float]:
        latencies: list[float] = []
        statuses: Counter[str] = Counter()
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            loop = asyncio.get_running_loop()
            begin = loop.time() + 0.05
            total = int(rate * (warmup + duration))
            measure_from = begin + warmup

            async def one(scheduled: float) -> None:
                try:
                    status: int | str = await self.post(session)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status = type(exc).__name__
                if scheduled >= measure_from:
                    statuses[str(status)] += 1
                    if status in (200, 201):
                        latencies.append(loop.time() - scheduled)

            tasks = []
            for i in range(total):
                scheduled = begin + i / rate
                delay = scheduled - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(scheduled)))
            await asyncio.gather(*tasks)
        return latencies, statuses, duration


def measure(
    server: Server,
    texts: Sequence[str],
    *,
    mode: str,
    concurrency: int,
    rate: float | None,
    warmup: float,
    duration: float,
) -> Run:
    assert server.process is not None
    load = Load(server, texts)
    cpu = CpuWindow(server.process.pid)

    batches: list[tuple[float, float] | None] = []

    async def go() -> tuple[list[float], Counter[str], float]:
        if mode == "closed":
            task = asyncio.create_task(load.closed(concurrency, warmup, duration))
        else:
            assert rate is not None
            task = asyncio.create_task(load.open(rate, warmup, duration))
        # warm-up outside the CPU window: the window covers the measured part only
        await asyncio.sleep(warmup)
        cpu.start()
        batches.append(await asyncio.to_thread(server.batch_counters))
        result = await task
        batches.append(await asyncio.to_thread(server.batch_counters))
        return result

    latencies, statuses, seconds = asyncio.run(go())
    server_cores, client_cores, foreign, loop_cores = cpu.stop()
    first, last = batches
    batch_mean = 0.0
    if first is not None and last is not None and last[1] > first[1]:
        batch_mean = (last[0] - first[0]) / (last[1] - first[1])
    ok = sum(v for k, v in statuses.items() if k in ("200", "201"))
    return Run(
        config=server.config.key,
        mode=mode,
        concurrency=concurrency,
        rate=rate,
        seconds=seconds,
        completed=ok,
        throughput=ok / seconds,
        p50_ms=percentile(latencies, 0.5) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        statuses=dict(statuses),
        server_cores=server_cores,
        client_cores=client_cores,
        foreign_cores=foreign,
        loop_cores=loop_cores,
        batch_mean=batch_mean,
    )


def quietest(attempt: Any, attempts: int, max_foreign: float) -> Run:
    """Run ``attempt()`` until foreign load stays under ``max_foreign``; keep the quietest."""
    runs: list[Run] = []
    for i in range(attempts):
        run: Run = attempt()
        runs.append(run)
        print(
            f"    attempt {i + 1}: {run.throughput:.1f}/s p50 {run.p50_ms:.0f} ms "
            f"p99 {run.p99_ms:.0f} ms, server {run.server_cores:.2f} cores, "
            f"foreign {run.foreign_cores:.2f} cores, {run.statuses}",
            flush=True,
        )
        if run.foreign_cores <= max_foreign:
            break
    best = min(runs, key=lambda r: r.foreign_cores)
    best.attempts = [round(r.foreign_cores, 2) for r in runs]
    return best
