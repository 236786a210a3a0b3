"""The service against its own model on short comments, and the linear path's ceiling.

Issue 16's end-to-end figures in one run of at most ~5 minutes, each server its own
process on 127.0.0.1 while the load generator in this process shares the same cores
(the machinery is bench/inference/: servers, closed and open loops, CPU accounting):

1. ``naive``: bench/naive_server.py (``Detoxify.predict`` per request in the handler),
   closed loop at concurrency 16 on short comments (``--words``, ~22 tokens);
2. ``service``: the real service (SQLite, ``synchronous=FULL``, every comment decided
   and committed before its 201) on the bert-base-sized checkpoint
   (bench/bert_base_checkpoint.py) with ``--runtime``, same load; the ratio to naive;
   ``one-lane``: the same with ``MODERATION_CLASSIFIER_LANES=1`` (one batch at a time,
   the default before 6 December; the default runs a lane per model thread:
   workers/scorer.py); ``lanes`` (``MODERATION_CLASSIFIER_LANES=0``) for older runs;
3. ``model``: the same classifier (and sentence encoder, which the service runs beside
   it for rules taught by example) in process, fed batches of 16, and of the service's
   mean batch in its run, and (where the scorer runs lanes) in the scorer's lanes
   without the service (:meth:`ModelAlone.run_lanes`): rows per second, so the service's
   share of its own model is service / model; the report splits that share into four
   factors (:func:`gap_factors`: cores used, the event loop's CPU, the batch size, the
   work off the loop), from the server's cores, its main thread's (the event loop) and
   its ``/metrics``;
4. ``half``: the service in open loop at half its measured maximum: p99;
5. ``linear32``: the service with the linear model at concurrency 32, as it ships (the
   sentence encoder embeds every comment for rules taught by example), and
   ``linear32-bare`` without it (``MODERATION_ENCODER=off``, as the linear figures before
   the encoder were measured): what the service itself costs per comment when the model
   is nearly free, with the server's and the load generator's CPU per comment;
   ``linear32-processes`` the same with ``MODERATION_PROCESSES=2`` (two processes on
   the port and the SQLite file, moderation/supervisor.py; the server's CPU is theirs).

    .venv/bin/python bench/service_bench.py --duration 20 --runtime onnx-static-int8-nofuse
    .venv/bin/python bench/service_bench.py --duration 5 --only service,model   # a quick look
    .venv/bin/python bench/service_bench.py --duration 20 --runtime auto \
        --only service,one-lane,model --name service_gap   # the model share, factor by factor

(``onnx-static-int8-nofuse``: the recipe ``auto`` chose on the machine the committed
results come from; ``make bench`` runs both lengths.)

Writes bench/results/service_short.md (and .json), or ``<--name>.md`` (e.g.
``--words 56-64 --name service_long`` for issue 16's 73-token comments). Each run
records the cores used by other processes on the machine ("foreign") and the load
average; on a shared machine compare ratios measured in the same run, not absolute
figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import bert_base_checkpoint  # noqa: E402
import provenance  # noqa: E402
from inference.corpus import LABELLED_CSV  # noqa: E402
from inference.load import Run, measure, quietest  # noqa: E402
from inference.servers import Config, Server  # noqa: E402

RESULTS = ROOT / "bench" / "results"
KEYS = (
    "naive",
    "service",
    "one-lane",
    "model",
    "half",
    "linear32",
    "linear32-bare",
    "linear32-processes",
)


class BenchServer(Server):
    """A server of bench/inference with extra ``MODERATION_*`` settings (``extra``)."""

    def __init__(self, *args: Any, extra: dict[str, str] | None = None) -> None:
        super().__init__(*args)
        self.extra = extra or {}

    def env(self) -> dict[str, str]:
        return super().env() | self.extra


def short_texts(count: int, words: tuple[int, int], seed: int = 11) -> list[str]:
    """Short reader comments (``words`` words: ~22 tokens at 12-20) from the labelled set."""
    import csv

    with LABELLED_CSV.open(newline="", encoding="utf-8") as handle:
        rows = [row["text"] for row in csv.DictReader(handle)]
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        target = rng.randint(*words)
        chosen: list[str] = []
        while len(chosen) < target:
            chosen.extend(rng.choice(rows).split())
        texts.append(" ".join(chosen[:target]))
    return texts


MODEL_ROUNDS = 4
"""Rounds of :func:`model_only`, each running every batch size in turn."""

LANES = "classifier+encoder in lanes"
""":func:`model_only`'s key for :meth:`ModelAlone.run_lanes` (calls of ``lanes batch``
texts, ``lanes`` of them side by side)."""


class ModelAlone:
    """The classifier the service loads (and its sentence encoder), in this process, fed
    batches as fast as they go: what the service could reach if it cost nothing itself.
    Loaded once, so that rounds of it can alternate with rounds of a service
    (bench/scorer_waves.py ``--model``)."""

    def __init__(
        self,
        model: tuple[Path, Path],
        cache: Path,
        runtime: str,
        texts: list[str],
        encoder_runtime: str = "",
    ) -> None:
        from classifiers.loader import ClassifierOptions, load_one
        from moderation.settings import Settings

        options = ClassifierOptions(
            detoxify_runtime=runtime,
            onnx_cache_dir=cache,
            detoxify_checkpoint=model[0],
            detoxify_config=model[1],
        )
        self.classifier = load_one("detoxify:original", options)
        self.runtime: str = getattr(self.classifier, "runtime", runtime)
        self.encoder: Any = None
        try:
            from classifiers.encoder import SentenceEncoder, default_runtime

            defaults = Settings().classifier_options()
            self.encoder = SentenceEncoder(
                defaults.encoder_path,
                expected_sha256=defaults.encoder_sha256,
                # as the service chooses it (moderation/app.py, load_encoder)
                runtime=encoder_runtime
                or default_runtime(beside_pytorch=str(self.runtime).startswith("torch")),
                cache_dir=cache,
            )
        except Exception as exc:  # the service would run without it, too
            print(f"  no sentence encoder: {type(exc).__name__}: {exc}", flush=True)
        self.texts = texts
        self._index = 0
        self.classifier.predict(texts[:16])  # warm

    def run(self, size: int, with_encoder: bool, seconds: float) -> tuple[int, float, float]:
        """(rows, wall seconds, CPU seconds of this process) of ``seconds`` of batches of
        ``size`` texts: the classifier, then the encoder when ``with_encoder`` (and
        loaded), on each batch."""
        rows = 0
        started, cpu = time.perf_counter(), time.process_time()
        while time.perf_counter() - started < seconds:
            batch = self._batch(self._index, size)
            self._index += size
            self.classifier.predict(batch)
            if with_encoder and self.encoder is not None:
                self.encoder.embed(batch)
            rows += len(batch)
        return rows, time.perf_counter() - started, time.process_time() - cpu

    def _batch(self, position: int, size: int) -> list[str]:
        """``size`` texts from ``position`` on, round the pool."""
        return [self.texts[(position + i) % len(self.texts)] for i in range(size)]

    def lanes(self) -> int:
        """How many calls the service's scorer runs side by side on this classifier."""
        from moderation.workers.scorer import model_lanes

        return model_lanes(self.classifier)

    def run_lanes(self, size: int, seconds: float) -> tuple[int, float, float]:
        """(rows, wall seconds, CPU seconds of this process) of ``seconds`` of the
        service's arrangement without the service: :meth:`lanes` threads side by side,
        each running the classifier and then the encoder on calls of ``size`` texts on
        its own thread only (``on_this_thread``), as the scorer's lanes do. Where the
        lanes run a call of 8 on one core better than a call of 16 split over two, this
        is the faster reference, and the stricter one for the service's share."""
        import threading

        from classifiers.base import on_this_thread

        lanes = self.lanes()
        counts = [0] * lanes
        deadline = time.perf_counter() + seconds

        def lane(index: int) -> None:
            position = index * len(self.texts) // lanes
            with on_this_thread():
                while time.perf_counter() < deadline:
                    batch = self._batch(position, size)
                    position += size
                    self.classifier.predict(batch)
                    if self.encoder is not None:
                        self.encoder.embed(batch)
                    counts[index] += len(batch)

        threads = [threading.Thread(target=lane, args=(i,)) for i in range(lanes)]
        started, cpu = time.perf_counter(), time.process_time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(counts), time.perf_counter() - started, time.process_time() - cpu


def model_only(
    model: tuple[Path, Path],
    cache: Path,
    runtime: str,
    texts: list[str],
    seconds: float,
    encoder_runtime: str = "",
    service_batch: int = 0,
) -> dict[str, Any]:
    """Rows/s of :class:`ModelAlone` fed batches of 16 texts, the classifier alone and
    with the encoder. ``service_batch``: also fed batches of that size (the service's
    mean batch in its run; keys ``… in batches of N``), to tell what smaller batches
    cost from what the service adds."""
    alone = ModelAlone(model, cache, runtime, texts, encoder_runtime)
    out: dict[str, Any] = {"runtime": alone.runtime}
    if alone.encoder is not None:
        out["encoder runtime"] = alone.encoder.runtime
    sizes = [16] + ([service_batch] if service_batch and service_batch != 16 else [])
    runs = [
        (size, name, with_encoder)
        for name, with_encoder in (("classifier", False), ("classifier+encoder", True))
        if not with_encoder or alone.encoder is not None
        for size in sizes
    ]
    lanes = alone.lanes()
    if lanes > 1 and alone.encoder is not None:
        # The scorer's arrangement, the model's best on some machines (ModelAlone.run_lanes)
        runs.append((service_batch or 8, LANES, True))
        out["lanes"] = lanes
    # The sizes alternate in rounds: a busy machine's speed drifts within a minute, and
    # the report compares their CPU per row.
    totals = {run: [0, 0.0, 0.0] for run in runs}  # rows, seconds, CPU seconds
    for _ in range(MODEL_ROUNDS):
        for run in runs:
            size, name, with_encoder = run
            measured = (
                alone.run_lanes(size, seconds / MODEL_ROUNDS)
                if name == LANES
                else alone.run(size, with_encoder, seconds / MODEL_ROUNDS)
            )
            for i, value in enumerate(measured):
                totals[run][i] += value
    for (size, name, _), (rows, wall, cpu_s) in totals.items():
        if name == LANES:
            label = LANES
            out["lanes batch"] = size
        else:
            label = name if size == 16 else f"{name} in batches of {size}"
        out[label] = rows / wall
        # CPU per row: what a busy machine distorts least (the server's per comment)
        out[f"{label} CPU ms per row"] = 1000 * cpu_s / rows
        print(f"  model only, {label}: {out[label]:.1f} rows/s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--only", default="", help=f"comma-separated of {','.join(KEYS)}")
    parser.add_argument("--runtime", default="onnx-int8")
    parser.add_argument(
        "--encoder-runtime",
        default="",
        help="MODERATION_ENCODER_RUNTIME for every server and the model-only run "
        "(default: the service's default)",
    )
    parser.add_argument("--words", default="12-20", help="words per comment, min-max")
    parser.add_argument("--max-foreign", type=float, default=0.15)
    parser.add_argument("--attempts", type=int, default=1)
    parser.add_argument("--model-dir", type=Path, default=bert_base_checkpoint.BENCH_MODEL)
    parser.add_argument("--cache", type=Path, default=bert_base_checkpoint.BENCH_CACHE)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the report from <name>.json"
    )
    parser.add_argument("--name", default="service_short", help="results file name, no suffix")
    args = parser.parse_args(argv)
    if args.report_only:
        saved: dict[str, Any] = json.loads((args.out / f"{args.name}.json").read_text())
        for key, value in saved["args"].items():
            setattr(args, key, value)
        measured = {row["config"]: Run(**_run_fields(row)) for row in saved["runs"]}
        (args.out / f"{args.name}.md").write_text(render(saved, measured, args))
        return 0
    only = {k for k in args.only.split(",") if k} or set(KEYS)
    low, high = (int(n) for n in args.words.split("-"))
    model = bert_base_checkpoint.build(args.model_dir)
    texts = short_texts(600, (low, high))
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model[1]))
    tokens = sum(len(tokenizer(t)["input_ids"]) for t in texts) / len(texts)
    configs = {
        "naive": Config("naive", "naive wrapper", "naive", "", "torch", 16),
        "service": Config(
            "service", f"service, {args.runtime}", "service", "detoxify:original", args.runtime, 16
        ),
        "lanes": Config(
            "lanes", f"service, {args.runtime}", "service", "detoxify:original", args.runtime, 16
        ),
        "one-lane": Config(
            "one-lane", f"service, {args.runtime}", "service", "detoxify:original", args.runtime, 16
        ),
        "linear32": Config("linear32", "service, linear", "service", "linear", "", 32),
        "linear32-bare": Config("linear32-bare", "service, linear", "service", "linear", "", 32),
        "linear32-processes": Config(
            "linear32-processes", "service, linear, 2 processes", "service", "linear", "", 32
        ),
    }
    data: dict[str, Any] = {
        "argv": " ".join(argv if argv is not None else sys.argv[1:]),
        "args": {
            k: getattr(args, k)
            for k in ("duration", "warmup", "runtime", "encoder_runtime", "words", "max_foreign")
        },
        "commit": provenance.commit(),
        "loadavg_start": os.getloadavg(),
        "steadiness_start": provenance.steadiness(),
        "tokens_mean": tokens,
        "runs": [],
        "model": None,
    }
    runs: dict[str, Run] = {}

    def run(server: Server, key: str, mode: str, concurrency: int, rate: float | None) -> Run:
        def attempt() -> Run:
            return measure(
                server,
                texts,
                mode=mode,
                concurrency=concurrency,
                rate=rate,
                warmup=args.warmup,
                duration=args.duration,
            )

        result = quietest(attempt, args.attempts, args.max_foreign)
        result.config = key
        runs[key] = result
        data["runs"].append(asdict(result) | {"loadavg": os.getloadavg()[0]})
        return result

    with tempfile.TemporaryDirectory(prefix="service-bench-") as tmp:
        for key in (
            "naive",
            "service",
            "model",
            "lanes",
            "one-lane",
            "linear32",
            "linear32-bare",
            "linear32-processes",
        ):
            if key == "model":
                # Between the two service runs: a busy machine's load drifts over minutes.
                if "model" in only:
                    print("== model only (in process)", flush=True)
                    service_run = runs.get("service")
                    data["model"] = model_only(
                        model,
                        args.cache,
                        args.runtime,
                        texts,
                        args.duration / 2,
                        args.encoder_runtime,
                        round(service_run.batch_mean) if service_run else 0,
                    )
                continue
            wanted = key in only or (key == "service" and "half" in only)
            if not wanted:
                continue
            config = configs[key]
            print(f"== {key}: {config.label}, concurrency {config.concurrency}", flush=True)
            extra = {"MODERATION_ENCODER": "off"} if key.endswith(("-bare", "-processes")) else {}
            if key == "linear32-processes":
                extra["MODERATION_PROCESSES"] = "2"
            if key == "lanes":
                extra = {"MODERATION_CLASSIFIER_LANES": "0"}
            if key == "one-lane":
                extra = {"MODERATION_CLASSIFIER_LANES": "1"}
            if args.encoder_runtime:
                extra["MODERATION_ENCODER_RUNTIME"] = args.encoder_runtime
            server = BenchServer(config, model, args.cache, Path(tmp), extra=extra)
            try:
                server.start()
                if key in only:
                    run(server, key, "closed", config.concurrency, None)
                if key == "service" and "half" in only:
                    rate = runs["service"].throughput / 2 if "service" in runs else 40.0
                    print(f"== half: open loop at {rate:.1f}/s", flush=True)
                    run(server, "half", "open", 0, rate)
            finally:
                server.stop()
                shutil.rmtree(server.work / "data", ignore_errors=True)
    data["loadavg_end"] = os.getloadavg()
    data["steadiness_end"] = provenance.steadiness()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(data, indent=2, default=str))
    report = render(data, runs, args)
    (args.out / f"{args.name}.md").write_text(report)
    print(report)
    return 0


def _short(data: dict[str, Any]) -> bool:
    """Short comments (issue 16's 6x target) rather than long ones (its 4x target)."""
    return float(data["tokens_mean"]) < 40


def _kind(data: dict[str, Any]) -> str:
    return "short comments" if _short(data) else f"{data['tokens_mean']:.0f}-token comments"


def _classifier_ran(data: dict[str, Any], asked: str) -> str:
    """What ``auto`` chose (its recipes by length joined by ``+``), when it was asked for."""
    ran = (data.get("model") or {}).get("runtime")
    return f" (ran: `{ran}`)" if ran and ran != asked else ""


def _encoder_ran(data: dict[str, Any]) -> str:
    ran = (data.get("model") or {}).get("encoder runtime")
    return f" (ran: `{ran}`)" if ran else ""


def _run_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "loadavg"}


def render(data: dict[str, Any], runs: dict[str, Run], args: argparse.Namespace) -> str:
    lines = [
        f"# The service on {_kind(data)}, against the naive wrapper and its own model",
        "",
        provenance.command("service_bench.py", data.get("argv") or f"--duration {args.duration:g}")
        + "  ",
        f"Commit: {data.get('commit') or provenance.commit()}; CPU: {provenance.cpu()}, "
        f"{provenance.cores()} cores; load average at the start {data['loadavg_start'][0]:.2f}, "
        f"at the end {data['loadavg_end'][0]:.2f}.",
        "",
        *(
            [
                provenance.steadiness_line(data["steadiness_start"], data["steadiness_end"]),
                "",
            ]
            if "steadiness_end" in data
            else []
        ),
        f"Model: bert-base-sized Detoxify `original` with random weights, runtime "
        f"`{args.runtime}`{_classifier_ran(data, args.runtime)}; sentence encoder runtime "
        f"`{getattr(args, 'encoder_runtime', '') or 'the default'}`"
        f"{_encoder_ran(data)}. Texts: 600 comments of {args.words} words "
        f"({data['tokens_mean']:.1f} tokens on average). Closed loops: {args.warmup:g} s "
        f"warm-up, {args.duration:g} s measured; the load generator shares the 2 cores.",
        "",
        "| run | comments/s | p50 ms | p99 ms | server cores | of which event loop "
        "| client cores | foreign cores | server CPU ms per comment | texts per batch "
        "| load avg | responses |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    labels = {
        "naive": "naive wrapper, concurrency 16",
        "service": f"service ({args.runtime}), concurrency 16",
        "lanes": f"service ({args.runtime}, MODERATION_CLASSIFIER_LANES=0), concurrency 16",
        "one-lane": f"service ({args.runtime}, MODERATION_CLASSIFIER_LANES=1), concurrency 16",
        "half": "service, open loop at half its maximum",
        "linear32": "service (linear, with the sentence encoder), concurrency 32",
        "linear32-bare": "service (linear, MODERATION_ENCODER=off), concurrency 32",
        "linear32-processes": (
            "service (linear, MODERATION_ENCODER=off, MODERATION_PROCESSES=2), concurrency 32"
        ),
    }
    for row in data["runs"]:
        r = Run(**_run_fields(row))
        per = 1000 * r.server_cores / r.throughput if r.throughput else float("nan")
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r.statuses.items()))
        loop = f"{r.loop_cores:.2f}" if r.loop_cores else "-"
        batch = f"{r.batch_mean:.1f}" if r.batch_mean else "-"
        lines.append(
            f"| {labels[r.config]} | {r.throughput:,.1f} | {r.p50_ms:,.0f} | {r.p99_ms:,.0f} "
            f"| {r.server_cores:.2f} | {loop} | {r.client_cores:.2f} | {r.foreign_cores:.2f} "
            f"| {per:.2f} | {batch} | {row['loadavg']:.2f} | {statuses} |"
        )
    model = data.get("model") or {}
    lines += [
        "",
        "Model alone, in process, between the two service runs (batches of 16 unless said): ",
    ]
    in_lanes = (
        f"classifier+encoder in {model['lanes']} lanes of {model['lanes batch']}, each "
        "on one core as the service's scorer runs them"
        if "lanes" in model
        else LANES
    )
    lines[-1] += (
        "; ".join(
            f"{k.replace(LANES, in_lanes)} {v:.1f}" + ("" if "CPU" in k else " rows/s")
            for k, v in model.items()
            if isinstance(v, float)
        )
        or "not measured"
    )
    lines.append(
        "The model's CPU per row against the server's CPU per comment is the share of the "
        "server's work that is model work, the figure a busy machine distorts least."
    )
    foreign = max((row["foreign_cores"] for row in data["runs"]), default=0.0)
    if foreign > args.max_foreign:
        lines += [
            "",
            f"**Indicative only**: other processes used up to {foreign:.2f} cores during "
            f"these runs (above {args.max_foreign:g}); compare ratios from one run, and "
            "re-run on a quiet machine for absolute figures.",
        ]
    lines += ["", "## Against the targets (issue 16)", ""]
    service, naive, half = runs.get("service"), runs.get("naive"), runs.get("half")
    if service and naive and naive.throughput:
        ratio = service.throughput / naive.throughput
        lines.append(
            f"* service vs naive wrapper, {_kind(data)}, concurrency 16: {ratio:.2f}× "
            f"(target ≥ {6 if _short(data) else 4}×)"
        )
    lanes = runs.get("lanes")
    if lanes and naive and naive.throughput:
        lines.append(
            f"* the same with lanes: {lanes.throughput / naive.throughput:.2f}× the naive wrapper"
        )
    one_lane = runs.get("one-lane")
    if one_lane and naive and naive.throughput:
        lines.append(
            f"* the same with one lane (the default before 6 December): "
            f"{one_lane.throughput / naive.throughput:.2f}× the naive wrapper"
        )
    for label, key in (
        ("classifier alone", "classifier"),
        ("classifier and sentence encoder", "classifier+encoder"),
        (in_lanes.replace("classifier+encoder", "classifier and sentence encoder"), LANES),
    ):
        rate, cpu = model.get(key), model.get(f"{key} CPU ms per row")
        for run in (service, lanes, one_lane):
            if run and rate and run.throughput:
                per = 1000 * run.server_cores / run.throughput
                share = f", {cpu / per:.0%} by CPU per comment" if cpu else ""
                lines.append(
                    f"* {labels[run.config]}: {run.throughput / rate:.0%} of the model's "
                    f"throughput ({label}) in process{share} "
                    f"(target ≥ 80 % of the chosen recipe's)"
                )
    for run in (service, one_lane):
        if run:
            lines += gap_lines(run, model, labels[run.config])
    if half:
        lines.append(
            f"* p99 at half the maximum rate ({half.rate:.1f}/s): {half.p99_ms:.0f} ms "
            f"(target ≤ 250 ms)"
        )
    for key in ("linear32", "linear32-bare", "linear32-processes"):
        linear = runs.get(key)
        if not linear or not linear.throughput:
            continue
        per = 1000 * (linear.server_cores + linear.client_cores) / linear.throughput
        lines.append(
            f"* {labels[key]}: {linear.throughput:,.0f}/s, p99 {linear.p99_ms:.0f} ms "
            f"(target 1,500/s, p99 < 50 ms); server and load generator together "
            f"{per:.2f} ms of CPU per comment, so 2 cores allow at most "
            f"{2000 / per:,.0f}/s"
        )
    lines.append("")
    return "\n".join(lines)


def gap_lines(run: Run, model: dict[str, Any], label: str = "service") -> list[str]:
    """The report's line for :func:`gap_factors` (none when they cannot be computed)."""
    factors = gap_factors(run, model)
    if not factors:
        return []
    share = run.throughput / model["classifier+encoder"]
    return [
        f"* {label}: where the {share:.0%} of the classifier and encoder goes (four factors whose "
        "product it is): "
        + "; ".join(f"{text} (×{factor:.2f})" for text, factor in factors)
        + ". The model's batch sizes ran alternately, the service before them: the first "
        "and last factors also carry the machine's drift between the two (the steadiness "
        "line above)"
    ]


def gap_factors(run: Run, model: dict[str, Any]) -> list[tuple[str, float]]:
    """Where the service's share of its classifier and encoder goes, as four factors
    whose product is that share (service rows/s over the model's in batches of 16):

    * cores: the server's cores against the model alone's (rows/s × CPU per row);
    * the event loop: the CPU per comment off the loop against all of it;
    * batch size: the model's CPU per row in batches of 16 against in the service's
      mean batch;
    * off the loop: the model's CPU per row alone in the service's batch against the
      server's CPU per comment off the loop (the model's threads sharing the cores with
      the loop, the scorer's thread, language identification, the commit thread)."""
    key = "classifier+encoder"
    rate, per_row = model.get(key), model.get(f"{key} CPU ms per row")
    size = round(run.batch_mean)
    small = model.get(f"{key} in batches of {size} CPU ms per row") if size != 16 else per_row
    if not (rate and per_row and small and run.throughput and run.loop_cores):
        return []
    model_cores = rate * per_row / 1000
    loop = 1000 * run.loop_cores / run.throughput
    off = 1000 * (run.server_cores - run.loop_cores) / run.throughput
    return [
        (
            f"the server used {run.server_cores:.2f} cores against the model alone's "
            f"{model_cores:.2f}",
            run.server_cores / model_cores,
        ),
        (
            f"its event loop took {loop:.2f} ms of CPU per comment beside {off:.2f} off it",
            off / (off + loop),
        ),
        (
            f"its batches held {run.batch_mean:.1f} texts on average, and the model alone "
            f"took {small:.2f} ms of CPU per row in batches of {size} against {per_row:.2f} "
            "in 16",
            per_row / small,
        ),
        (
            f"off the loop it took {off:.2f} ms per comment against the model's {small:.2f} "
            f"alone in batches of {size}",
            small / off,
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
