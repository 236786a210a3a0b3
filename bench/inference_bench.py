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
    .venv/bin/python bench/inference_bench.py --recipes-only   # model-only recipes, ~10 min

The model-only recipe measurements (classifiers/onnx/recipes.py: each recipe's rows/s
at short, 64- and 128-token texts on the bert-base model and the sentence encoder, with
the load average at each figure, and ``auto``'s choice) run as part of the full
benchmark, or alone with ``--recipes-only``, which replaces only that section of the
saved results.

Writes bench/results/inference.md, bench/results/inference.json and bench/results/inference.png.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import bert_base_checkpoint  # noqa: E402
from inference.corpus import news_texts  # noqa: E402
from inference.inprocess import cascade, fidelity  # noqa: E402
from inference.load import Run, measure, quietest  # noqa: E402
from inference.recipes import detoxify_recipes, encoder_recipes  # noqa: E402
from inference.report import environment, plot, targets, write_report  # noqa: E402
from inference.servers import CONFIGS, Config, Server  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--only", default="", help="comma-separated config keys")
    parser.add_argument("--default", default="int8", help="the default runtime's config key")
    parser.add_argument("--max-foreign", type=float, default=0.15)
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--sure-below", type=float, default=0.05)
    parser.add_argument("--model-dir", type=Path, default=bert_base_checkpoint.BENCH_MODEL)
    parser.add_argument("--cache", type=Path, default=bert_base_checkpoint.BENCH_CACHE)
    parser.add_argument("--skip-inprocess", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the report from inference.json"
    )
    parser.add_argument(
        "--recipes-only",
        action="store_true",
        help="measure only the model recipes and replace that section of inference.json",
    )
    parser.add_argument("--recipe-seconds", type=float, default=6.0)
    parser.add_argument("--recipe-rounds", type=int, default=3)
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
    if args.recipes_only:
        saved = json.loads((args.out / "inference.json").read_text())
        saved["recipes"] = recipes(model, args, texts, argv)
        (args.out / "inference.json").write_text(json.dumps(saved, indent=2, default=str))
        write_report(saved, args.out / "inference.md")
        print((args.out / "inference.md").read_text())
        return 0
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
            data["recipes"] = recipes(model, args, texts, argv)
    data["environment"]["loadavg_end"] = os.getloadavg()
    data["targets"] = targets(data, args.default)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "inference.json").write_text(json.dumps(data, indent=2, default=str))
    write_report(data, args.out / "inference.md")
    with contextlib.suppress(ImportError):
        plot(data, args.out / "inference.png")
    print((args.out / "inference.md").read_text())
    return 0


def recipes(
    model: tuple[Path, Path], args: argparse.Namespace, texts: list[str], argv: list[str] | None
) -> dict[str, Any]:
    """The model-only recipe section, with its own provenance (it may run alone)."""
    print("== recipes (in process, model only)", flush=True)
    result: dict[str, Any] = {
        "argv": " ".join(argv if argv is not None else sys.argv[1:]),
        "environment": environment(),
        "seconds": args.recipe_seconds,
        "rounds": args.recipe_rounds,
    }
    result["detoxify"] = detoxify_recipes(
        model, args.cache, texts, args.recipe_seconds, args.recipe_rounds
    )
    result["encoder"] = encoder_recipes(args.cache, texts, args.recipe_seconds, args.recipe_rounds)
    result["environment"]["loadavg_end"] = os.getloadavg()
    return result


if __name__ == "__main__":
    sys.exit(main())
