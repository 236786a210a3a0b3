"""Inference benchmark: a naive Detoxify wrapper against the service on each runtime.

Builds a bert-base-sized Detoxify checkpoint with random weights (bench/bert_base_checkpoint.py:
the real ``original`` model's shape and compute, offline) and measures, in one run and
side by side, each server running as its own process on 127.0.0.1 while an aiohttp load
generator in this process posts news-comment-length texts (40-80 words):

* ``naive``: bench/naive_server.py, ``Detoxify.predict`` per request in the handler;
* ``torch``, ``onnx``, ``onnx-int8``: the real service (``python service.py serve``:
  SQLite with ``synchronous=FULL``, every comment decided and committed before its 201)
  with ``MODERATION_DETOXIFY_RUNTIME`` set accordingly;
* ``linear``: the service with the linear model, the cost of everything but the model.

Closed loop at concurrency 16 (and 32 for linear) for ``--duration`` seconds after a
warm-up; then open loop (fixed arrival rate, latency counted from each request's
scheduled time) at half the default runtime's measured maximum. Other processes on this
machine distort such numbers, so every run records the CPU time used by processes other
than the server and this client ("foreign" load, in cores); a run with more than
``--max-foreign`` cores of it is repeated (up to ``--attempts`` times) and the quietest
attempt is kept. In-process, it also measures fidelity (ONNX vs PyTorch scores and
decisions, on the bert-base model and on the tests' tiny *trained* model, whose scores
mean something) and the cascade (linear decides what it is sure of).

    .venv/bin/pip install -e '.[bench]'     # matplotlib, and bert-base-uncased's vocabulary
    .venv/bin/python bench/inference_bench.py            # ~8 minutes on 2 cores
    .venv/bin/python bench/inference_bench.py --only int8,linear32 --duration 10

Writes bench/results/inference.md, bench/results/inference.json and bench/results/inference.png.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import logging
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import bert_base_checkpoint  # noqa: E402

RESULTS = ROOT / "bench" / "results"
LABELLED_CSV = ROOT / "tests" / "data" / "labelled_comments.csv"
HZ = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    kind: str  # naive | service
    classifier: str
    runtime: str
    concurrency: int


CONFIGS: tuple[Config, ...] = (
    Config("naive", "naive wrapper (Detoxify.predict in the handler)", "naive", "", "torch", 16),
    Config("torch", "service, PyTorch", "service", "detoxify:original", "torch", 16),
    Config("onnx", "service, ONNX Runtime fp32", "service", "detoxify:original", "onnx", 16),
    Config("int8", "service, ONNX Runtime int8", "service", "detoxify:original", "onnx-int8", 16),
    Config("linear16", "service, linear", "service", "linear", "", 16),
    Config("linear32", "service, linear", "service", "linear", "", 32),
)


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
    attempts: list[float] = field(default_factory=list)  # foreign cores of each attempt
    start_s: float = 0.0


def news_texts(count: int, seed: int = 7) -> list[str]:
    """News-comment-length texts (40-80 words) made of the labelled set's sentences."""
    with LABELLED_CSV.open(newline="", encoding="utf-8") as handle:
        rows = [row["text"] for row in csv.DictReader(handle)]
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        target = rng.randint(40, 80)
        words: list[str] = []
        while len(words) < target:
            words.extend(rng.choice(rows).split())
        texts.append(" ".join(words[:target]))
    return texts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


# --- CPU accounting: who used the cores while we measured -------------------------------


def _machine_busy() -> int:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle


def _process_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    after = stat.rsplit(")", 1)[1].split()
    return int(after[11]) + int(after[12])  # utime + stime (all threads)


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

    def start(self) -> None:
        self.started = time.monotonic()
        self.busy, self.server, self.client = (
            _machine_busy(),
            _process_ticks(self.pid),
            _self_ticks(),
        )

    def stop(self) -> tuple[float, float, float]:
        """(server, client, foreign) cores over the window."""
        wall = time.monotonic() - self.started
        busy = _machine_busy() - self.busy
        server = _process_ticks(self.pid) - self.server
        client = _self_ticks() - self.client
        foreign = max(0, busy - server - client)
        return server / HZ / wall, client / HZ / wall, foreign / HZ / wall


# --- servers ------------------------------------------------------------------------------


class Server:
    def __init__(self, config: Config, model: tuple[Path, Path], cache: Path, work: Path) -> None:
        self.config = config
        self.checkpoint, self.config_dir = model
        self.cache = cache
        self.work = work / config.key
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.key = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.work / "server.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
        env.update(
            MODERATION_HOST="127.0.0.1",
            MODERATION_PORT=str(self.port),
            MODERATION_DATA_DIR=str(self.work / "data"),
            MODERATION_CLASSIFIER=self.config.classifier or "linear",
            MODERATION_DETOXIFY_CHECKPOINT=str(self.checkpoint),
            MODERATION_DETOXIFY_CONFIG=str(self.config_dir),
            MODERATION_DETOXIFY_RUNTIME=self.config.runtime or "torch",
            MODERATION_ONNX_CACHE_DIR=str(self.cache),
            MODERATION_RATE_LIMIT_SITE="0",
            MODERATION_CONFIG_FILE=str(self.work / "none.toml"),
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
        )
        return env

    def start(self, timeout_s: float = 900) -> float:
        self.work.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        if self.config.kind == "naive":
            command = [
                sys.executable,
                str(ROOT / "bench" / "naive_server.py"),
                "--port",
                str(self.port),
                "--checkpoint",
                str(self.checkpoint),
                "--config",
                str(self.config_dir),
            ]
        else:
            created = subprocess.run(
                [sys.executable, "service.py", "keys", "create", "--role", "site", "--name", "b"],
                cwd=ROOT,
                env=self.env(),
                capture_output=True,
                text=True,
                check=True,
            )
            self.key = created.stdout.strip().splitlines()[-1]
            command = [sys.executable, "service.py", "serve"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.config.key} exited: {self.log.read_text()[-3000:]}")
            health = self._health()
            if health is not None:
                self._check(health)
                return time.monotonic() - started
            time.sleep(0.5)
        raise RuntimeError(f"{self.config.key} did not start in {timeout_s}s")

    def _health(self) -> dict[str, Any] | None:
        import urllib.request

        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                body: dict[str, Any] = json.loads(response.read())
                return body
        except OSError:
            return None

    def _check(self, health: dict[str, Any]) -> None:
        if self.config.kind == "naive":
            return
        expected = self.config.classifier
        if health.get("classifier") != expected or health.get("classifier_fallbacks"):
            raise RuntimeError(f"{self.config.key}: not the expected classifier: {health}")
        text = self.log.read_text(errors="replace")
        confirmed = f"on {self.config.runtime} " in text
        if self.config.classifier != "linear" and not confirmed:
            raise RuntimeError(f"{self.config.key}: runtime not confirmed in the log")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- load ----------------------------------------------------------------------------------


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

    async def go() -> tuple[list[float], Counter[str], float]:
        if mode == "closed":
            # warm-up outside the CPU window: the window covers the measured part only
            task = asyncio.create_task(load.closed(concurrency, warmup, duration))
            await asyncio.sleep(warmup)
            cpu.start()
            result = await task
            return result
        assert rate is not None
        task = asyncio.create_task(load.open(rate, warmup, duration))
        await asyncio.sleep(warmup)
        cpu.start()
        return await task

    latencies, statuses, seconds = asyncio.run(go())
    server_cores, client_cores, foreign = cpu.stop()
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


# --- in-process measurements: fidelity and the cascade -------------------------------------


def fidelity(model: tuple[Path, Path], cache: Path, texts: Sequence[str]) -> list[dict[str, Any]]:
    from classifiers.detoxify_backend import DetoxifyClassifier
    from classifiers.onnx_backend import OnnxDetoxifyClassifier
    from moderation.domain.engine import compile_policy, decide
    from moderation.http.guidelines_document import load_toml
    from tests.tiny_detoxify import build_tiny_detoxify, load_labelled_comments

    policy = compile_policy(load_toml(ROOT / "guidelines" / "default.toml").to_domain(0))
    rows: list[dict[str, Any]] = []
    labelled = [c.text for c in load_labelled_comments()]
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build_tiny_detoxify(Path(tmp) / "tiny")
        subjects = [
            ("bert-base, random weights", model, list(texts)),
            ("tiny trained", (tiny.checkpoint, tiny.config_dir), [*labelled, *texts]),
        ]
        for subject, (checkpoint, config_dir), corpus in subjects:
            reference_model = DetoxifyClassifier(
                "original", checkpoint=checkpoint, config_dir=config_dir
            )
            started = time.perf_counter()
            reference = reference_model.predict(corpus)
            torch_rate = len(corpus) / (time.perf_counter() - started)
            del reference_model
            for quantize in (False, True):
                onnx = OnnxDetoxifyClassifier(
                    "original",
                    cache_dir=cache if subject.startswith("bert") else Path(tmp) / "cache",
                    quantize=quantize,
                    checkpoint=checkpoint,
                    config_dir=config_dir,
                )
                started = time.perf_counter()
                scores = onnx.predict(corpus)
                rate = len(corpus) / (time.perf_counter() - started)
                differences = sorted(
                    abs(a[c] - b[c]) for a, b in zip(scores, reference, strict=True) for c in a
                )
                actions = [
                    (
                        decide(policy, text, a, onnx.name).action,
                        decide(policy, text, b, onnx.name).action,
                    )
                    for text, a, b in zip(corpus, scores, reference, strict=True)
                ]
                rows.append(
                    {
                        "model": subject,
                        "runtime": onnx.runtime,
                        "texts": len(corpus),
                        "max_abs_diff": differences[-1],
                        "p99_abs_diff": percentile(differences, 0.99),
                        "agreement": sum(x == y for x, y in actions) / len(actions),
                        "torch_actions": dict(Counter(y.value for _, y in actions)),
                        "texts_per_s_in_process": rate,
                        "torch_texts_per_s_in_process": torch_rate,
                    }
                )
                print(f"    {rows[-1]}", flush=True)
    return rows


def cascade(
    model: tuple[Path, Path], cache: Path, texts: Sequence[str], sure_below: float
) -> list[dict[str, Any]]:
    from classifiers.cascade import Cascade
    from classifiers.detoxify_backend import DetoxifyClassifier
    from classifiers.linear import LinearClassifier
    from classifiers.onnx_backend import OnnxDetoxifyClassifier
    from moderation.domain.engine import compile_policy, decide
    from moderation.http.guidelines_document import load_toml
    from tests.tiny_detoxify import build_tiny_detoxify, load_labelled_comments

    policy = compile_policy(load_toml(ROOT / "guidelines" / "default.toml").to_domain(0))
    linear = LinearClassifier()
    comments = load_labelled_comments()
    benign = [c.text for c in comments if not any(c.labels.values())]
    corpora = {
        "labelled comments (half toxic)": [c.text for c in comments],
        "news-length texts (bench)": list(texts),
        "benign labelled comments": benign,
    }
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build_tiny_detoxify(Path(tmp) / "tiny")
        transformer = DetoxifyClassifier(
            "original", checkpoint=tiny.checkpoint, config_dir=tiny.config_dir
        )
        heavy = OnnxDetoxifyClassifier(
            "original", cache_dir=cache, quantize=True, checkpoint=model[0], config_dir=model[1]
        )
        for corpus_name, corpus in corpora.items():
            routed = Cascade(linear, transformer, sure_below=sure_below).predict_routed(corpus)
            alone = transformer.predict(corpus)
            agree = sum(
                decide(policy, text, scores, name).action
                == decide(policy, text, full, transformer.name).action
                for text, (name, scores), full in zip(corpus, routed, alone, strict=True)
            )
            to_linear = sum(name == "linear" for name, _ in routed)
            # what it saves on the bert-base model, in process (routing is linear's alone)
            started = time.perf_counter()
            heavy.predict(corpus)
            alone_s = time.perf_counter() - started
            started = time.perf_counter()
            Cascade(linear, heavy, sure_below=sure_below).predict_routed(corpus)
            cascade_s = time.perf_counter() - started
            sweep = {}
            for threshold in (0.01, 0.02, 0.05, 0.1):
                routed_at = Cascade(linear, transformer, sure_below=threshold).predict_routed(
                    corpus
                )
                same = sum(
                    decide(policy, text, scores, name).action
                    == decide(policy, text, full, transformer.name).action
                    for text, (name, scores), full in zip(corpus, routed_at, alone, strict=True)
                )
                by_linear = sum(name == "linear" for name, _ in routed_at)
                sweep[str(threshold)] = (by_linear / len(corpus), same / len(corpus))
            rows.append(
                {
                    "corpus": corpus_name,
                    "texts": len(corpus),
                    "sweep": sweep,
                    "sure_below": sure_below,
                    "decided_by_linear": to_linear / len(corpus),
                    "agreement_with_transformer": agree / len(corpus),
                    "bert_base_int8_texts_per_s": len(corpus) / alone_s,
                    "cascade_texts_per_s": len(corpus) / cascade_s,
                }
            )
            print(f"    {rows[-1]}", flush=True)
    return rows


# --- report --------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    import onnxruntime
    import torch

    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no"):
        commit += " with uncommitted changes"
    return {
        "commit": commit,
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "loadavg_start": os.getloadavg(),
    }


def write_report(data: dict[str, Any], path: Path) -> None:
    runs = [Run(**r) for r in data["runs"]]
    by = {(r.config, r.mode): r for r in runs}
    labels = {c.key: c.label for c in CONFIGS}
    naive = by.get(("naive", "closed"))
    env = data["environment"]
    lines = [
        "# Inference benchmark",
        "",
        "Command: `"
        + " ".join(filter(None, [".venv/bin/python bench/inference_bench.py", data["argv"]]))
        + "`",
        "",
        f"Code: {env.get('commit', 'unknown')}.",
        "",
        f"Machine: {env['cpu']}, {env['cores']} cores; Python {env['python']}, "
        f"torch {env['torch']}, onnxruntime {env['onnxruntime']}. Load average at the start "
        f"{env['loadavg_start'][0]:.2f}, at the end {env['loadavg_end'][0]:.2f}.",
        "",
        f"Model: a bert-base-sized Detoxify `original` checkpoint with random weights "
        f"(bench/bert_base_checkpoint.py). Texts: {data['texts']} news-comment-length texts "
        f"(40-80 words, {data['tokens_mean']:.0f} tokens on average) from "
        f"tests/data/labelled_comments.csv. Each server is its own process on 127.0.0.1; "
        f"the load generator (aiohttp, this process) shares the same cores. "
        f"Closed loop: {data['warmup']:.0f} s warm-up, then {data['duration']:.0f} s measured. "
        f"The service stores every comment on SQLite (`synchronous=FULL`) before its 201; "
        f"the naive wrapper stores nothing.",
        "",
        "| server | mode | comments/s | p50 ms | p99 ms | × naive | server CPU (cores) "
        "| client CPU | foreign CPU | responses |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in runs:
        mode = (
            f"closed, concurrency {r.concurrency}"
            if r.mode == "closed"
            else f"open, {r.rate:.1f}/s (half of max)"
        )
        ratio = f"{r.throughput / naive.throughput:.1f}" if naive and r.mode == "closed" else ""
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r.statuses.items()))
        lines.append(
            f"| {labels[r.config]} | {mode} | {r.throughput:,.1f} | {r.p50_ms:,.0f} | "
            f"{r.p99_ms:,.0f} | {ratio} | {r.server_cores:.2f} | {r.client_cores:.2f} | "
            f"{r.foreign_cores:.2f} | {statuses} |"
        )
    lines += [
        "",
        "Foreign CPU: cores used by other processes on the machine during the measured "
        "window (runs above the limit were repeated; the quietest attempt is shown). "
        "Start-up times (s, cache warm): "
        + ", ".join(f"{k} {v:.1f}" for k, v in data["startup_s"].items())
        + ".",
        "",
        "## Fidelity (in process, same checkpoint, ONNX Runtime vs PyTorch)",
        "",
        "| model | runtime | texts | max abs diff | p99 abs diff | decisions agree "
        "| PyTorch decisions |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for f in data["fidelity"]:
        lines.append(
            f"| {f['model']} | {f['runtime']} | {f['texts']} | {f['max_abs_diff']:.2g} | "
            f"{f['p99_abs_diff']:.2g} | {f['agreement']:.2%} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(f["torch_actions"].items()))
            + " |"
        )
    lines += [
        "",
        "Decisions: `moderation.domain.engine.decide` with guidelines/default.toml. The random "
        "bert-base model scores everything near 0.5, so its agreement says little; the tiny "
        "trained model's (tests/tiny_detoxify.py) does.",
        "",
        "## Cascade (benchmark only; off in the service)",
        "",
        "| corpus | texts | linear decides (toxicity < "
        f"{data['cascade'][0]['sure_below'] if data['cascade'] else ''}) | decisions agree with "
        "the transformer alone | bert-base int8 alone, texts/s | cascade, texts/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in data["cascade"]:
        lines.append(
            f"| {c['corpus']} | {c['texts']} | {c['decided_by_linear']:.1%} | "
            f"{c['agreement_with_transformer']:.1%} | {c['bert_base_int8_texts_per_s']:.1f} | "
            f"{c['cascade_texts_per_s']:.1f} |"
        )
    if data["cascade"]:
        thresholds = list(data["cascade"][0]["sweep"])
        lines += [
            "",
            "Other thresholds (share decided by linear / decisions agreeing):",
            "",
            "| corpus | " + " | ".join(f"toxicity < {t}" for t in thresholds) + " |",
            "| --- |" + " ---: |" * len(thresholds),
        ]
        for c in data["cascade"]:
            cells = [f"{c['sweep'][t][0]:.0%} / {c['sweep'][t][1]:.1%}" for t in thresholds]
            lines.append(f"| {c['corpus']} | " + " | ".join(cells) + " |")
    lines += ["", "## Targets", ""]
    lines += [f"* {t}" for t in data["targets"]]
    lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def targets(data: dict[str, Any], default_key: str) -> list[str]:
    runs = {(r["config"], r["mode"]): r for r in data["runs"]}
    out = []

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    naive, best = runs.get(("naive", "closed")), runs.get((default_key, "closed"))
    if naive and best:
        ratio = best["throughput"] / naive["throughput"]
        out.append(
            f"default runtime ({default_key}) ≥ 4× the naive wrapper: {ratio:.2f}× "
            f"({best['throughput']:.1f} vs {naive['throughput']:.1f}/s) — {verdict(ratio >= 4)}"
        )
    fid = [
        f
        for f in data["fidelity"]
        if f["model"] == "tiny trained" and f["runtime"] == runs_runtime(default_key)
    ]
    for f in fid:
        ok = f["max_abs_diff"] <= 0.02 and f["agreement"] >= 0.995
        out.append(
            f"scores within 0.02 of PyTorch, decisions ≥ 99.5% (tiny trained model, "
            f"{f['texts']} texts): max {f['max_abs_diff']:.3f}, agreement "
            f"{f['agreement']:.2%} — {verdict(ok)}"
        )
    half = runs.get((default_key, "open"))
    if half:
        out.append(
            f"p99 at half the maximum throughput ({half['rate']:.1f}/s) ≤ 250 ms: "
            f"{half['p99_ms']:.0f} ms — {verdict(half['p99_ms'] <= 250)}"
        )
    linear = runs.get(("linear32", "closed"))
    if linear:
        out.append(
            f"linear: ≥ 1,500 comments/s persisted on SQLite by one process: "
            f"{linear['throughput']:,.0f}/s — {verdict(linear['throughput'] >= 1500)}; "
            f"p99 < 50 ms at concurrency 32: {linear['p99_ms']:.1f} ms — "
            f"{verdict(linear['p99_ms'] < 50)}"
        )
    return out


def runs_runtime(key: str) -> str:
    return {c.key: c.runtime for c in CONFIGS}[key]


def plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in data["runs"] if r["mode"] == "closed"]
    labels = [
        {
            "naive": "naive\nDetoxify",
            "torch": "service\nPyTorch",
            "onnx": "service\nORT fp32",
            "int8": "service\nORT int8",
            "linear16": "service\nlinear c16",
            "linear32": "service\nlinear c32",
        }[r["config"]]
        for r in runs
    ]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    bars = left.bar(labels, [r["throughput"] for r in runs], color="#4c72b0")
    left.set_yscale("log")
    left.set_ylabel("comments / second (log)")
    left.set_title("Throughput, closed loop (2 CPU cores)")
    for bar, r in zip(bars, runs, strict=True):
        left.annotate(
            f"{r['throughput']:,.0f}" if r["throughput"] >= 100 else f"{r['throughput']:.1f}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    x = range(len(runs))
    right.bar([i - 0.2 for i in x], [r["p50_ms"] for r in runs], 0.4, label="p50")
    right.bar([i + 0.2 for i in x], [r["p99_ms"] for r in runs], 0.4, label="p99")
    right.set_xticks(list(x), labels)
    right.set_yscale("log")
    right.set_ylabel("latency, ms (log)")
    right.set_title("Latency at that load")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--only", default="", help="comma-separated config keys")
    parser.add_argument("--default", default="int8", help="the default runtime's config key")
    parser.add_argument("--max-foreign", type=float, default=0.15)
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--sure-below", type=float, default=0.05)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "data" / "bench-model")
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "bench-onnx-cache")
    parser.add_argument("--skip-inprocess", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the report from inference.json"
    )
    args = parser.parse_args(argv)
    if args.report_only:
        saved: dict[str, Any] = json.loads((args.out / "inference.json").read_text())
        write_report(saved, args.out / "inference.md")
        with contextlib.suppress(ImportError):
            plot(saved, args.out / "inference.png")
        return 0
    logging.basicConfig(level=logging.WARNING)

    model = bert_base_checkpoint.build(args.model_dir)
    texts = news_texts(600)
    from transformers import BertTokenizer

    tokenizer = BertTokenizer.from_pretrained(str(model[1]))
    tokens_mean = sum(len(tokenizer(t)["input_ids"]) for t in texts) / len(texts)
    only = {k for k in args.only.split(",") if k}
    configs = [c for c in CONFIGS if not only or c.key in only]
    data: dict[str, Any] = {
        "argv": " ".join(argv if argv is not None else sys.argv[1:]),
        "environment": environment(),
        "texts": len(texts),
        "tokens_mean": tokens_mean,
        "warmup": args.warmup,
        "duration": args.duration,
        "runs": [],
        "startup_s": {},
        "fidelity": [],
        "cascade": [],
    }
    with tempfile.TemporaryDirectory(prefix="inference-bench-") as tmp:
        for config in configs:
            print(f"== {config.key}: {config.label}, concurrency {config.concurrency}", flush=True)
            server = Server(config, model, args.cache, Path(tmp))
            try:
                data["startup_s"][config.key] = server.start()

                def closed(server: Server = server, config: Config = config) -> Run:
                    return measure(
                        server,
                        texts,
                        mode="closed",
                        concurrency=config.concurrency,
                        rate=None,
                        warmup=args.warmup,
                        duration=args.duration,
                    )

                run = quietest(closed, args.attempts, args.max_foreign)
                data["runs"].append(asdict(run))
                if config.key == args.default:
                    rate = run.throughput / 2
                    print(f"  open loop at {rate:.1f}/s (half the maximum)", flush=True)

                    def opened(server: Server = server, rate: float = rate) -> Run:
                        return measure(
                            server,
                            texts,
                            mode="open",
                            concurrency=0,
                            rate=rate,
                            warmup=args.warmup,
                            duration=args.duration,
                        )

                    data["runs"].append(asdict(quietest(opened, args.attempts, args.max_foreign)))
            finally:
                server.stop()
                if server.process is not None and server.process.returncode not in (0, -15):
                    print(server.log.read_text()[-2000:])
                shutil.rmtree(server.work / "data", ignore_errors=True)
        if not args.skip_inprocess:
            print("== fidelity (in process)", flush=True)
            data["fidelity"] = fidelity(model, args.cache, texts[:120])
            print("== cascade (in process)", flush=True)
            data["cascade"] = cascade(model, args.cache, texts[:120], args.sure_below)
    data["environment"]["loadavg_end"] = os.getloadavg()
    data["targets"] = targets(data, args.default)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "inference.json").write_text(json.dumps(data, indent=2, default=str))
    write_report(data, args.out / "inference.md")
    with contextlib.suppress(ImportError):
        plot(data, args.out / "inference.png")
    print((args.out / "inference.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
