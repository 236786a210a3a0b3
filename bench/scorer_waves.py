"""Where the model's idle time goes: the service under a closed loop, settings against
the default in alternating rounds.

One service process per setting (``MODERATION_…`` variables; the first is the default),
started side by side on SQLite; then ``--rounds`` rounds that each run a closed loop of
``--seconds`` at ``--concurrency`` against every process in turn, so that a machine whose
speed drifts drifts under all alike (docs/inference.md, "Measuring on a shared machine").
Per run: comments per second, p99, and from the service's own ``/metrics`` the share of
the time its model's thread was busy, the mean batch size and the model's time per text;
the server's and the load generator's CPU from the kernel.

    .venv/bin/python bench/scorer_waves.py --seconds 10 --rounds 3 --concurrency 32 \\
        --settings MODERATION_BATCH_MAX_WAIT_MS=0,MODERATION_BATCH_MAX_SIZE=8
    .venv/bin/python bench/scorer_waves.py --classifier detoxify --concurrency 16 \\
        --rounds 6 --settings MODERATION_BATCH_WAIT=always --name scorer_waves_detoxify

``minilm`` (the default) runs on the held-out evaluation comments; ``detoxify`` is the
bert-base-sized checkpoint of bench/service_bench.py (random weights, real compute) with
``--runtime``, on its short comments (12-20 words). Results go to
bench/results/<--name>.md.

``--model`` (``detoxify`` only) adds the model alone to every round: the classifier and
the sentence encoder the services load, in this process, fed batches of 16 for half a
round while the services idle. Each setting's share of it (issue 16's target: 80 %) is
then measured round against round, so that the machine's drift, which moves single runs
of bench/service_bench.py by a tenth, cancels out:

    .venv/bin/python bench/scorer_waves.py --classifier detoxify --runtime auto \
        --rounds 8 --concurrency 16 --settings MODERATION_CLASSIFIER_LANES=1 --model \
        --name scorer_waves_lanes

``--model-lanes`` runs the model alone as the scorer's lanes run it instead (calls of 8,
one per core side by side: bench/service_bench.py's ``ModelAlone.run_lanes``), the
stricter reference where that arrangement is the model's faster one.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import bert_base_checkpoint  # noqa: E402
import provenance  # noqa: E402
from inference.load import HZ, _stat_ticks  # noqa: E402
from inference.servers import detoxify_env, read_metrics  # noqa: E402
from load_test import free_port  # noqa: E402
from minilm_bench import cli, closed_loop, comment, service_env, texts  # noqa: E402
from service_bench import ModelAlone, short_texts  # noqa: E402

DEFAULT = "default"
METRICS = (
    "moderation_classifier_batch_seconds_sum",
    "moderation_classifier_batch_size_sum",
    "moderation_classifier_batch_size_count",
)


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user and system) process ``pid`` has used."""
    return _stat_ticks(Path(f"/proc/{pid}/stat")) / HZ


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def classifier_env(classifier: str, runtime: str) -> dict[str, str]:
    """The variables that choose the classifier: ``minilm`` is service_env's own;
    ``detoxify`` the bench's bert-base-sized checkpoint, run by ``runtime``."""
    if classifier == "minilm":
        return {}
    model = bert_base_checkpoint.build(bert_base_checkpoint.BENCH_MODEL)
    return {
        "MODERATION_CLASSIFIER": "detoxify:original",
        **detoxify_env(model, runtime, bert_base_checkpoint.BENCH_CACHE),
        "TRANSFORMERS_OFFLINE": "1",
    }


class Server:
    """One service process with ``setting`` (``NAME=value``, or the default)."""

    def __init__(self, setting: str, classifier: dict[str, str]) -> None:
        self.setting = setting
        self.env = service_env() | classifier
        if setting != DEFAULT:
            name, _, value = setting.partition("=")
            self.env[name] = value
        site = cli(self.env, "keys", "create", "--role", "site", "--name", "bench")
        admin = cli(self.env, "keys", "create", "--role", "admin", "--name", "bench-admin")
        self.site = {"Authorization": f"Bearer {site}"}
        self.admin = {"Authorization": f"Bearer {admin}"}
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "service.py"],
            cwd=ROOT,
            env=self.env | {"MODERATION_PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self) -> None:
        for _ in range(1500):
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.setting}: the service did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    async def run(
        self, pool: list[str], seconds: float, concurrency: int, tag: str
    ) -> dict[str, Any]:
        before = read_metrics(self.url, self.admin, METRICS)
        started, server, client = time.monotonic(), process_cpu(self.process.pid), own_cpu()
        result = await closed_loop(self.url, self.site, pool, seconds, concurrency, tag)
        wall = time.monotonic() - started
        server = process_cpu(self.process.pid) - server
        client = own_cpu() - client
        after = read_metrics(self.url, self.admin, METRICS)
        busy, rows, batches = (after[name] - before[name] for name in METRICS)
        return result | {
            "busy_s": busy,
            "rows": rows,
            "batches": batches,
            "wall_s": wall,
            "server_cpu_s": server,
            "client_cpu_s": client,
        }


def summary(runs: list[dict[str, Any]]) -> dict[str, float]:
    """The rounds of one setting together: sums, then ratios."""
    wall = sum(r["wall_s"] for r in runs)
    rows = sum(r["rows"] for r in runs)
    return {
        "rate": sum(r["requests"] for r in runs) / wall,
        "p99_ms": max(r["p99_ms"] for r in runs),
        "busy": sum(r["busy_s"] for r in runs) / wall,
        "batch": rows / max(1.0, sum(r["batches"] for r in runs)),
        "ms_per_text": 1000 * sum(r["busy_s"] for r in runs) / max(1.0, rows),
        "server_cores": sum(r["server_cpu_s"] for r in runs) / wall,
        "client_cores": sum(r["client_cpu_s"] for r in runs) / wall,
        "errors": sum(r["errors"] for r in runs),
    }


MODEL_BATCH = 16
"""The model alone's batch size: the one issue 16's share is measured against."""

LANE_BATCH = 8
"""The model alone's calls with ``--model-lanes``: the scorer's waves at concurrency 16."""


def shares(runs: list[dict[str, Any]], model: list[tuple[int, float, float]]) -> dict[str, float]:
    """One setting's rounds (``runs``) against the model alone's rounds (``model``: rows,
    wall seconds, CPU seconds, run right after them): the share of the model's rows per
    second the service served, over all rounds (``rate``), round by round (``median``,
    ``low``, ``high``), and by CPU (``cpu``: the model's CPU per row over the server's
    CPU per comment, what a busy machine distorts least)."""
    if len(runs) != len(model) or not runs:
        raise ValueError("one model round per service round")
    rows = sum(m[0] for m in model)
    per_round = [
        r["requests"] / r["wall_s"] / (m[0] / m[1]) for r, m in zip(runs, model, strict=True)
    ]
    requests = sum(r["requests"] for r in runs)
    return {
        "rate": (requests / sum(r["wall_s"] for r in runs)) / (rows / sum(m[1] for m in model)),
        "median": statistics.median(per_round),
        "low": min(per_round),
        "high": max(per_round),
        "cpu": (sum(m[2] for m in model) / rows)
        / (sum(r["server_cpu_s"] for r in runs) / max(1, requests)),
    }


def model_lines(
    settings: list[str],
    runs: dict[str, list[dict[str, Any]]],
    model: list[tuple[int, float, float]],
    runtimes: str,
    seconds: float,
    lanes: int = 0,
) -> list[str]:
    """The report's paragraph on the model alone and each setting's share of it.
    ``lanes``: the model alone ran in that many of the scorer's lanes (``--model-lanes``)
    rather than in batches of :data:`MODEL_BATCH`."""
    rows, wall, cpu = (sum(m[i] for m in model) for i in range(3))
    how = (
        f"in {lanes} lanes of {LANE_BATCH} side by side, each on one core as the scorer runs them"
        if lanes
        else f"batches of {MODEL_BATCH}"
    )
    lines = [
        f"Model alone ({runtimes}; the classifier and the sentence encoder, {how}, "
        f"in the benchmark's process, {seconds:g} s after each round's "
        f"services while they idled): {rows / wall:.1f} rows/s, {1000 * cpu / rows:.2f} ms "
        "of CPU per row; per round " + ", ".join(f"{m[0] / m[1]:.1f}" for m in model) + ".",
        "",
        "Each setting's share of the model alone (issue 16's target: 80 %), its rounds "
        "against the model's rounds beside them:",
        "",
    ]
    for setting in settings:
        share = shares(runs[setting], model)
        lines.append(
            f"* {setting}: {100 * share['rate']:.0f} % over all rounds (round by round: "
            f"median {100 * share['median']:.0f} %, {100 * share['low']:.0f}-"
            f"{100 * share['high']:.0f} %); {100 * share['cpu']:.0f} % by CPU per comment"
        )
    return [*lines, ""]


async def main(args: argparse.Namespace) -> None:
    settings = [DEFAULT, *[s for s in args.settings.split(",") if s]]
    before = provenance.steadiness()
    servers: list[Server] = []
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in settings}
    model: list[tuple[int, float, float]] = []
    alone: ModelAlone | None = None
    try:
        chosen = classifier_env(args.classifier, args.runtime)
        for setting in settings:
            servers.append(Server(setting, chosen))
        for server in servers:
            server.wait_ready()
        pool = texts() if args.classifier == "minilm" else short_texts(600, (12, 20))
        if args.model:
            alone = ModelAlone(
                bert_base_checkpoint.build(bert_base_checkpoint.BENCH_MODEL),
                bert_base_checkpoint.BENCH_CACHE,
                args.runtime,
                # The texts as the services see them: made unique, a few tokens longer.
                [comment("model", i, pool)["text"] for i in range(len(pool))],
            )
            alone.run(MODEL_BATCH, True, 2)  # warm
        lanes = alone.lanes() if alone is not None and args.model_lanes else 0
        for server in servers:
            await server.run(pool, 4, args.concurrency, f"warm-{server.setting}")
        for n in range(args.rounds):
            for server in servers:
                runs[server.setting].append(
                    await server.run(pool, args.seconds, args.concurrency, f"r{n}")
                )
            if alone is not None:
                model.append(
                    alone.run_lanes(LANE_BATCH, args.seconds / 2)
                    if lanes
                    else alone.run(MODEL_BATCH, True, args.seconds / 2)
                )
    finally:
        for server in servers:
            server.stop()
    after = provenance.steadiness()
    if args.classifier == "minilm":
        label, load = "minilm", "the held-out evaluation comments"
    else:
        label = f"detoxify:original ({args.runtime}, bert-base-sized)"
        load = "short comments of 12-20 words (bench/service_bench.py's)"
    lines = [
        f"# Where the model's idle time goes: `{label}` under a closed loop",
        "",
        *provenance.header(
            "scorer_waves.py",
            *(
                [f"--classifier {args.classifier}", f"--runtime {args.runtime}"]
                if args.classifier != "minilm"
                else []
            ),
            f"--seconds {args.seconds:g}",
            f"--rounds {args.rounds}",
            f"--concurrency {args.concurrency}",
            f"--settings {args.settings}" if args.settings else "",
            "--model" if args.model else "",
            "--model-lanes" if args.model_lanes else "",
            f"--name {args.name}" if args.name != "scorer_waves" else "",
        ),
        "",
        provenance.steadiness_line(before, after),
        "",
        "Each setting's service ran on SQLite, every comment committed, all processes "
        "started before the rounds and only one under load at a time; "
        f"{args.rounds} rounds of {args.seconds:g} s per setting, alternating. The load "
        f"is {load}, each made unique. p99: the worst round's.",
        "",
        "| setting | comments/s | p99 ms | model's thread busy | texts per batch | "
        "model ms per text | server cores | load generator cores | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for setting in settings:
        s = summary(runs[setting])
        lines.append(
            f"| {setting} | {s['rate']:.1f} | {s['p99_ms']:.0f} | {100 * s['busy']:.0f} % | "
            f"{s['batch']:.1f} | {s['ms_per_text']:.2f} | {s['server_cores']:.2f} | "
            f"{s['client_cores']:.2f} | {s['errors']:.0f} |"
        )
    lines += [
        "",
        "Per round (comments/s): "
        + "; ".join(
            f"{setting} " + ", ".join(f"{r['rate']:.1f}" for r in runs[setting])
            for setting in settings
        ),
        "",
    ]
    if alone is not None:
        encoder = alone.encoder.runtime if alone.encoder is not None else "no encoder"
        lines += model_lines(
            settings,
            runs,
            model,
            f"ran: `{alone.runtime}`, encoder `{encoder}`",
            args.seconds / 2,
            lanes,
        )
    text = "\n".join(lines)
    (ROOT / "bench" / "results" / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--settings", default="", help="comma-separated NAME=value, each against the default"
    )
    parser.add_argument("--classifier", choices=["minilm", "detoxify"], default="minilm")
    parser.add_argument(
        "--runtime", default="onnx-static-int8-nofuse", help="MODERATION_DETOXIFY_RUNTIME"
    )
    parser.add_argument(
        "--model",
        action="store_true",
        help="detoxify only: the model alone in every round, and each setting's share of it",
    )
    parser.add_argument(
        "--model-lanes",
        action="store_true",
        help="with --model: run the model alone in the scorer's lanes (calls of 8, one per "
        "core side by side) rather than in batches of 16",
    )
    parser.add_argument("--name", default="scorer_waves", help="results file name, no suffix")
    arguments = parser.parse_args()
    if arguments.model and arguments.classifier != "detoxify":
        parser.error("--model needs --classifier detoxify")
    if arguments.model_lanes and not arguments.model:
        parser.error("--model-lanes needs --model")
    asyncio.run(main(arguments))
