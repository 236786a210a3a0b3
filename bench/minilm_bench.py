"""The default offline model end to end: the service on SQLite with ``minilm``.

Starts the service as a real process (``MODERATION_CLASSIFIER=minilm``, SQLite, every
comment committed) and measures, with reader comments from the held-out evaluation set
as the load (each made unique):

1. the maximum rate: closed loop at ``--concurrency`` for ``--seconds``;
2. latency at half that rate: open loop, p50/p99;
3. the cost of rules taught by example: rounds that alternate the guidelines in force
   and the same guidelines with ``--examples`` more examples and counterexamples spread
   over the rules (each ``PUT``, then a short warm-up, then a closed loop of half
   ``--seconds``), so that a machine whose speed drifts from minute to minute drifts
   under both alike; the cost is the ratio of the two sums. The examples are training
   comments, never the load's own texts (a load that repeats its rules' examples would
   be held far more often and measure the queue's writes, not the matching); each run
   reports its share held.

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

DATA = ROOT / "classifiers" / "training" / "data"


def texts(pattern: str = "eval/set_*.jsonl", *expect: str) -> list[str]:
    """Labelled reader comments (``pattern`` under the labelled data; of the ``expect``
    values given, else all): the load is the held-out ones."""
    rows = [json.loads(line) for path in sorted(DATA.glob(pattern)) for line in path.open()]
    return [row["text"] for row in rows if not expect or row["expect"] in expect]


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
) -> tuple[bool, float, bool]:
    """Submit one comment: (created?, seconds it took, held?)."""
    sent = time.monotonic()
    async with session.post(url + "/v1/comments", json=body, headers=headers) as answer:
        payload = await answer.read()
        elapsed = time.monotonic() - sent
        held = answer.status == 201 and json.loads(payload).get("status") == "pending"
        return answer.status == 201, elapsed, held


async def closed_loop(
    url: str, headers: dict[str, str], pool: list[str], seconds: float, concurrency: int, tag: str
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = held = 0
    stop = time.monotonic() + seconds
    counter = iter(range(10**9))

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors, held
        while time.monotonic() < stop:
            created, seconds, pending = await post(
                session, url, headers, comment(tag, next(counter), pool)
            )
            errors += not created
            held += pending
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
        "held_pct": 100 * held / max(1, len(latencies)),
    }


async def open_loop(
    url: str, headers: dict[str, str], pool: list[str], seconds: float, rate: float, tag: str
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        nonlocal errors
        created, seconds, _ = await post(session, url, headers, comment(tag, i, pool))
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


async def get_guidelines(url: str, headers: dict[str, str]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url + "/v1/guidelines", headers=headers) as answer,
    ):
        document: dict[str, Any] = await answer.json()
        return document


async def put_guidelines(url: str, headers: dict[str, str], document: dict[str, Any]) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.put(url + "/v1/guidelines", json=document, headers=headers) as answer,
    ):
        assert answer.status == 200, await answer.text()


def add_examples(document: dict[str, Any], count: int) -> int:
    """Add ``count`` training comments to ``document``'s rules, alternately examples (of
    the comments labelled violating or review) and counterexamples (fine ones); the number
    of examples and counterexamples then in it."""
    pools = {
        "examples": texts("train/*.jsonl", "violating", "review"),
        "counterexamples": texts("train/*.jsonl", "fine"),
    }
    rules = document["rules"]
    for n in range(count):
        rule = rules[n % len(rules)]
        key = "examples" if n % 2 == 0 else "counterexamples"
        rule.setdefault("examples", [])
        if key == "counterexamples" and not rule["examples"]:
            key = "examples"
        pool = pools[key]
        rule.setdefault(key, []).append(f"{pool[(n // 2) % len(pool)]} [{n}]")
    return sum(len(r.get("examples", [])) + len(r.get("counterexamples", [])) for r in rules)


async def put_examples(url: str, headers: dict[str, str], count: int) -> int:
    """:func:`add_examples` to the guidelines in force, put as a new version."""
    document = await get_guidelines(url, headers)
    taught = add_examples(document, count)
    await put_guidelines(url, headers, document)
    return taught


async def matching_cost(count: int) -> dict[str, float]:
    """Microseconds per comment of the engine's example matching (``example_reasons``),
    in process with one BLAS thread as in the service, over the load's embeddings: with
    the default guidelines as shipped and with ``count`` more examples."""
    sys.path.insert(0, str(ROOT))
    from threadpoolctl import threadpool_limits

    from classifiers.encoder import SentenceEncoder
    from moderation.domain.engine import example_reasons
    from moderation.domain.guidelines import from_document
    from moderation.http.guidelines_document import read_toml
    from moderation.services.policies import PolicyCache

    encoder = SentenceEncoder(runtime="torch")

    async def embed(batch: Any) -> Any:
        return encoder.embed(batch)

    vectors = encoder.embed(texts())
    shipped = read_toml(ROOT / "guidelines" / "default.toml")
    taught = json.loads(json.dumps(shipped))
    add_examples(taught, count)
    out = {}
    with threadpool_limits(limits=1):
        for name, document in (("shipped", shipped), ("taught", taught)):
            policy = await PolicyCache(embed).build(from_document(document, 1))
            best = float("inf")
            for _ in range(5):
                started = time.perf_counter()
                for vector in vectors:
                    example_reasons(policy, vector)
                best = min(best, (time.perf_counter() - started) / len(vectors))
            out[name] = 1e6 * best
    return out


def service_env() -> dict[str, str]:
    """A benchmark service's environment: ``minilm``, a fresh SQLite data folder, no rate
    limits, quiet logs, offline; no other ``MODERATION_`` variable of the caller's."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")} | {
        "MODERATION_DATA_DIR": tempfile.mkdtemp(),
        "MODERATION_CLASSIFIER": "minilm",
        "MODERATION_LOG_LEVEL": "WARNING",
        "MODERATION_RATE_LIMIT_SITE": "0",
        "MODERATION_RATE_LIMIT_ADMIN": "0",
        "HF_HUB_OFFLINE": "1",
    }


async def measure(args: argparse.Namespace, runtime: str, concurrency: int) -> dict[str, Any]:
    """One service process with encoder runtime ``runtime`` ("" = the default): the three
    runs, the closed loops at ``concurrency``."""
    env = service_env()
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
        admin_headers = {"Authorization": f"Bearer {admin}"}
        plain = await get_guidelines(url, admin_headers)
        taught = await put_examples(url, admin_headers, args.examples)
        with_examples = await get_guidelines(url, admin_headers)
        rounds: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
        for n in range(args.rounds):
            for name, document in (("without", plain), ("with", with_examples)):
                await put_guidelines(url, admin_headers, document)
                await closed_loop(url, site_headers, pool, 2, concurrency, f"warm-{name}{n}")
                rounds[name].append(
                    await closed_loop(
                        url, site_headers, pool, args.seconds / 2, concurrency, f"{name}{n}"
                    )
                )
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
        "without": combined(rounds["without"]),
        "examples": combined(rounds["with"]),
    }


def combined(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several closed loops as one: total comments over total time, the worst p99, the
    median of the p50s, the held share of all."""
    requests = sum(run["requests"] for run in runs)
    seconds = sum(run["requests"] / run["rate"] for run in runs if run["rate"])
    return {
        "rate": requests / seconds if seconds else 0.0,
        "p50_ms": sorted(run["p50_ms"] for run in runs)[len(runs) // 2],
        "p99_ms": max(run["p99_ms"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
        "requests": requests,
        "held_pct": sum(run["held_pct"] * run["requests"] for run in runs) / max(1, requests),
        "rates": [round(run["rate"], 1) for run in runs],
    }


async def main(args: argparse.Namespace) -> None:
    runtimes = [r.strip() for r in args.encoder_runtimes.split(",")]
    concurrencies = [int(c) for c in str(args.concurrency).split(",")]
    steady_before = provenance.steadiness()
    measured = [
        await measure(args, runtime, concurrency)
        for concurrency in concurrencies
        for runtime in runtimes
    ]
    matching = await matching_cost(args.examples)
    steady = provenance.steadiness_line(steady_before, provenance.steadiness())
    lines = [
        "# The default offline model (`minilm`), end to end on SQLite",
        "",
        provenance.command(
            "minilm_bench.py",
            f"--seconds {args.seconds:g} --concurrency {args.concurrency}",
            f"--examples {args.examples}",
            f"--rounds {args.rounds}" if args.rounds != 4 else "",
            f"--encoder-runtimes {args.encoder_runtimes}" if args.encoder_runtimes else "",
        )
        + "  ",
        f"{provenance.machine()}; classifier: {measured[0]['classifier']}; "
        "load: the held-out evaluation comments (each made unique with a number); "
        "the load generator shares the cores.",
        "",
        steady,
        "",
        "| encoder runtime (asked / ran) | run | comments/s | p50 ms | p99 ms | errors "
        "| held | load avg before |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in measured:
        name = f"{m['asked']} / {m['ran']}"
        runs = [
            (f"closed loop, concurrency {m['concurrency']}", m["best"], f"{m['load']:.2f}"),
            ("open loop at half that rate", m["half"], ""),
            (f"{args.rounds} rounds: the same guidelines …", m["without"], ""),
            (f"… alternating with the same plus {m['taught']} examples", m["examples"], ""),
        ]
        lines += [
            f"| {name} | {title} | {run['rate']:.1f} | {run['p50_ms']:.0f} | "
            f"{run['p99_ms']:.0f} | {run['errors']} | "
            + (f"{run['held_pct']:.1f} %" if "held_pct" in run else "")
            + f" | {load} |"
            for title, run, load in runs
        ]
    lines.append("")
    for m in measured:
        without, examples = m["without"]["rate"], m["examples"]["rate"]
        overhead = 100 * (without / examples - 1) if examples else float("nan")
        lines.append(
            f"{m['asked']} / {m['ran']}, concurrency {m['concurrency']}: rules taught by "
            f"example cost {overhead:.1f} % per comment at {m['taught']} examples "
            f"(rounds without: {m['without']['rates']}/s; with: {m['examples']['rates']}/s)."
        )
    fastest = max(m["best"]["rate"] for m in measured)
    lines += [
        "",
        "The matching alone, in process (the engine's `example_reasons`, one BLAS thread, "
        f"best of 5 passes over the load's embeddings): {matching['shipped']:.0f} µs per "
        f"comment with the default guidelines, {matching['taught']:.0f} µs with "
        f"{args.examples} more examples; at the fastest rate above ({fastest:.0f}/s on 2 "
        f"cores, {2e6 / fastest:.0f} µs of the machine per comment) the examples' "
        f"{matching['taught'] - matching['shipped']:.0f} µs are "
        f"{100 * (matching['taught'] - matching['shipped']) * fastest / 2e6:.1f} %.",
    ]
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
        "--rounds", type=int, default=4, help="alternations without and with the examples"
    )
    parser.add_argument(
        "--encoder-runtimes",
        default="",
        help="comma-separated MODERATION_ENCODER_RUNTIME values, one service each "
        "(default: the service's default)",
    )
    asyncio.run(main(parser.parse_args()))
