"""Where the service's CPU goes per comment: py-spy on the server while it is under load.

Starts the service (as bench/service_bench.py does: SQLite, every comment committed),
drives it in closed loop with short comments, samples every thread of the server with
py-spy (``pip install py-spy``: a development tool, not a dependency) and sorts the
samples into the stages of a request: HTTP, JSON, pydantic, auth, middleware and
logging, the scorer's hand-offs, tokenisation, the model, the sentence encoder, language
identification, the decision and the storage work, SQLite's commits, the event loop's
own bookkeeping. It prints the share of the server's CPU samples of each stage and the
server's CPU time per comment, measured over the same window. CPU samples, not wall
time, so a busy machine distorts the shares less than it does throughput.

    .venv/bin/python bench/service_profile.py --classifier detoxify --seconds 15
    .venv/bin/python bench/service_profile.py --classifier linear --concurrency 32

Prints a table; ``--raw FILE`` keeps py-spy's collapsed stacks for a closer look.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import bert_base_checkpoint  # noqa: E402
from inference.load import HZ, Load, _process_ticks  # noqa: E402
from inference.servers import Config  # noqa: E402
from minilm_bench import texts as eval_texts  # noqa: E402
from service_bench import BenchServer, short_texts  # noqa: E402

# (stage, substrings of a frame): a sample belongs to the innermost frame that names a
# stage (the first stage listed, among several matching that frame).
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("model: tokenisation", ("split_windows", "tokenization_utils", "tokenizers", "_token_ids")),
    ("model: ONNX Runtime / PyTorch", ("onnxruntime", "run_rows", "torch/")),
    ("language identification", ("classifiers/language.py",)),
    ("model: other (linear model, batching)", ("classifiers/",)),
    ("SQLite commit (WAL sync)", ("sqlite_inline.py:1", "sqlite_inline.py:2")),
    ("logging", ("logging/", "moderation/logs.py")),
    ("JSON", ("json/", "orjson", "json_response", "contract.py")),
    ("pydantic", ("pydantic", "parsing.py", "schemas.py")),
    ("auth and rate limit", ("access.py", "keys.py", "ratelimit.py")),
    ("storage (SQLAlchemy, sqlite3)", ("sqlalchemy", "storage/", "aiosqlite")),
    ("decision (engine, shadow, record)", ("domain/", "textmatch/", "shadow.py", "decisions.py",
                                           "webhooks.py", "policies.py", "numpy")),
    ("group commit", ("group_commit.py",)),
    ("service (comments.py)", ("services/comments.py",)),
    ("scorer and thread hand-offs", ("scorer.py", "concurrent/futures", "threading.py",
                                     "call_soon_threadsafe", "_write_to_self")),
    ("middleware and metrics", ("middleware.py", "metrics.py", "prometheus")),
    ("HTTP (aiohttp)", ("aiohttp/", "multidict", "yarl", "web_protocol")),
    ("event loop", ("asyncio/", "selectors.py")),
)  # fmt: skip


def stage_of(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for stage, needles in STAGES:
            if any(needle in frame for needle in needles):
                if stage.startswith("model") and ("encoder" in stack):
                    return "sentence encoder"
                return stage
    return "other"


def summarise(raw: Path) -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if stack and number.isdigit():
            counts[stage_of(stack)] += int(number)
    return counts


METRICS = (
    "moderation_classifier_batch_seconds_sum",
    "moderation_classifier_batch_size_sum",
    "moderation_classifier_batch_size_count",
    "moderation_commit_group_size_sum",
    "moderation_commit_group_size_count",
)


def metrics(url: str) -> dict[str, float]:
    """The service's own counters that say how it batches (``/metrics``, open by default)."""
    import urllib.request

    with urllib.request.urlopen(url + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    values = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in METRICS:
            values[name] = float(value)
    return values


def describe_batching(before: dict[str, float], after: dict[str, float], wall: float) -> str:
    delta = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in METRICS}
    batches = delta["moderation_classifier_batch_size_count"] or 1
    groups = delta["moderation_commit_group_size_count"] or 1
    busy = delta["moderation_classifier_batch_seconds_sum"] / wall
    return (
        f"classifier batches: {delta['moderation_classifier_batch_size_sum'] / batches:.1f} "
        f"texts on average, the model busy {busy:.2f} "
        f"lane-seconds per second; commit groups: "
        f"{delta['moderation_commit_group_size_sum'] / groups:.1f} comments on average"
    )


def print_threads(raw: Path) -> None:
    """Per thread: the share of its samples in each stage, idle included (``--idle``)."""
    threads: dict[str, Counter[str]] = {}
    for line in raw.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if not (stack and number.isdigit()):
            continue
        frames = stack.split(";")
        name = frames[0].split(":", 1)[-1].strip().rstrip("0123456789_")
        leaf = frames[-1]
        idle = any(w in leaf for w in ("wait", "select", "acquire", "_worker (concurrent"))
        stage = "waiting" if idle else stage_of(stack)
        threads.setdefault(name, Counter())[stage] += int(number)
    for name, stages in sorted(threads.items()):
        total = sum(stages.values())
        shares = ", ".join(f"{s} {c / total:.0%}" for s, c in stages.most_common(6))
        print(f"* {name} ({total} samples): {shares}")


async def drive(load: Load, concurrency: int, seconds: float) -> int:
    import aiohttp

    done = 0
    end = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < end:
                if await load.post(s) in (200, 201):
                    done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--classifier", choices=["detoxify", "linear", "minilm"], default="detoxify"
    )
    parser.add_argument(
        "--texts",
        choices=["short", "eval"],
        default="short",
        help="short: 12-20 word comments; eval: the held-out reader comments (minilm_bench's load)",
    )
    parser.add_argument("--runtime", default="onnx-int8")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--raw", type=Path, default=None)
    parser.add_argument(
        "--encoder", default="minilm", help="MODERATION_ENCODER (off: no sentence encoder)"
    )
    parser.add_argument(
        "--encoder-runtime", default="", help="MODERATION_ENCODER_RUNTIME (default: the service's)"
    )
    parser.add_argument(
        "--idle", action="store_true", help="also sample idle threads: how busy each thread is"
    )
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    model = bert_base_checkpoint.build(bert_base_checkpoint.BENCH_MODEL)
    detoxify = args.classifier == "detoxify"
    config = Config(
        "profile",
        "profile",
        "service",
        "detoxify:original" if detoxify else args.classifier,
        args.runtime if detoxify else "",
        args.concurrency,
    )
    texts = short_texts(600, (12, 20)) if args.texts == "short" else eval_texts()
    with tempfile.TemporaryDirectory(prefix="service-profile-") as tmp:
        server = BenchServer(
            config,
            model,
            bert_base_checkpoint.BENCH_CACHE,
            Path(tmp),
            extra={"MODERATION_ENCODER": args.encoder}
            | (
                {"MODERATION_ENCODER_RUNTIME": args.encoder_runtime} if args.encoder_runtime else {}
            ),
        )
        raw = args.raw or Path(tmp) / "stacks.txt"
        try:
            server.start()
            assert server.process is not None
            load = Load(server, texts)
            asyncio.run(drive(load, args.concurrency, 3))  # warm-up
            loadavg = os.getloadavg()[0]
            ticks = _process_ticks(server.process.pid)
            counters = metrics(server.url)
            spying = subprocess.Popen(
                [spy, "record", "--pid", str(server.process.pid), "--duration",
                 str(int(args.seconds)), "--rate", str(args.rate), "--threads",
                 "--format", "raw", "--output", str(raw), "--nonblocking",
                 *(["--idle"] if args.idle else [])],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            started = time.monotonic()
            done = asyncio.run(drive(load, args.concurrency, args.seconds))
            wall = time.monotonic() - started
            cpu_s = (_process_ticks(server.process.pid) - ticks) / HZ
            batching = describe_batching(counters, metrics(server.url), wall)
            spying.wait(timeout=60)
        finally:
            server.stop()
        counts = summarise(raw)
        if args.idle:
            print_threads(raw)
    total = sum(counts.values()) or 1
    print(
        f"{args.classifier} ({args.runtime if detoxify else args.classifier}), concurrency "
        f"{args.concurrency}: {done / wall:.1f} comments/s, server {cpu_s / wall:.2f} cores, "
        f"{1000 * cpu_s / max(done, 1):.2f} ms of server CPU per comment; "
        f"load average {loadavg:.2f}; {total} samples"
    )
    print(batching)
    print("| stage | share of server CPU samples | ms per comment |")
    print("| --- | ---: | ---: |")
    for stage, count in counts.most_common():
        share = count / total
        print(f"| {stage} | {share:.1%} | {share * 1000 * cpu_s / max(done, 1):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
