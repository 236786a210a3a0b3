"""Sub-batches balanced over the workers against one run per worker, in process.

The service's models run a micro-batch's length-sorted windows as sub-batches side by
side on their worker threads, and a batch ends when its slowest worker does. This times
the bert-base-sized Detoxify checkpoint of bench/service_bench.py (random weights, real
compute; ``--runtime``, ``auto`` by default) and the sentence encoder (the service's
default runtime on this machine) on short comments (12-20 words), batch by batch, with
the cut as shipped (``detoxify_backend.balanced_batches``) and with the cut before it
(one length-sorted run per worker, ``sub_batches(…, min_batches=workers)``, in length
order), alternating call by call so that a machine whose speed drifts drifts under both
alike. Per batch size: rows per second of each, and the time the shipped cut saves.

Reproduce with (results go to bench/results/balance.md):

    .venv/bin/python bench/balance_bench.py --calls 60
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bert_base_checkpoint  # noqa: E402
import provenance  # noqa: E402
from service_bench import short_texts  # noqa: E402

import classifiers.encoder as encoder_module  # noqa: E402
import classifiers.onnx.runtime as runtime_module  # noqa: E402
from classifiers.detoxify_backend import balanced_batches, sub_batches  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SIZES = (4, 8, 12, 16, 24)
WARM_CALLS = 8

Pieces = Sequence[tuple[int, list[int]]]


def one_run_per_worker(
    pieces: Pieces, max_rows: int, workers: int, *, call_tokens: int
) -> list[list[tuple[int, list[int]]]]:
    """The cut before December's balancing: at least one length-sorted run per worker."""
    del call_tokens
    return sub_batches(pieces, max_rows, min_batches=workers)


CUTS: dict[str, Callable[..., list[list[tuple[int, list[int]]]]]] = {
    "balanced (shipped)": balanced_batches,
    "one run per worker (before)": one_run_per_worker,
}


def use(cut: Callable[..., Any]) -> None:
    """Make both models cut their sub-batches with ``cut``."""
    runtime_module.balanced_batches = cut  # type: ignore[attr-defined]
    encoder_module.balanced_batches = cut  # type: ignore[attr-defined]


def alternate(run: Callable[[list[str]], object], texts: list[str], calls: int) -> list[str]:
    rows = []
    for size in SIZES:
        seconds = dict.fromkeys(CUTS, 0.0)
        # Warm both: TorchScript specialises a trace to the shapes of its first calls.
        for warm in range(WARM_CALLS):
            for cut in CUTS.values():
                use(cut)
                run([texts[(warm * size + i) % len(texts)] for i in range(size)])
        for call in range(calls):
            batch = [texts[(call * size + i) % len(texts)] for i in range(size)]
            for name, cut in CUTS.items():
                use(cut)
                started = time.perf_counter()
                run(batch)
                seconds[name] += time.perf_counter() - started
        shipped, before = seconds.values()
        rows.append(
            f"| {size} | {size * calls / shipped:.1f} | {size * calls / before:.1f} "
            f"| {100 * (1 - shipped / before):.1f} % |"
        )
        print(rows[-1], flush=True)
    use(balanced_batches)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=40, help="calls per batch size and cut")
    parser.add_argument("--runtime", default="auto", help="MODERATION_DETOXIFY_RUNTIME")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from classifiers.encoder import SentenceEncoder, default_runtime
    from classifiers.loader import ClassifierOptions, load_one
    from moderation.settings import Settings

    before = provenance.steadiness()
    checkpoint, config = bert_base_checkpoint.build(bert_base_checkpoint.BENCH_MODEL)
    options = ClassifierOptions(
        detoxify_runtime=args.runtime,
        onnx_cache_dir=bert_base_checkpoint.BENCH_CACHE,
        detoxify_checkpoint=checkpoint,
        detoxify_config=config,
    )
    classifier: Any = load_one("detoxify:original", options)
    defaults = Settings().classifier_options()
    encoder = SentenceEncoder(
        defaults.encoder_path,
        expected_sha256=defaults.encoder_sha256,
        runtime=default_runtime(beside_pytorch=False),
        cache_dir=bert_base_checkpoint.BENCH_CACHE,
    )
    texts = short_texts(600, (12, 20))
    header = [
        "| texts per batch | balanced (shipped), rows/s | one run per worker (before), "
        "rows/s | time saved |",
        "| ---: | ---: | ---: | ---: |",
    ]
    print(f"classifier {classifier.runtime}, {classifier.threads} workers", flush=True)
    detoxify = alternate(classifier.predict, texts, args.calls)
    print(f"encoder {encoder.runtime}, {encoder.threads} workers", flush=True)
    minilm = alternate(encoder.embed, texts, args.calls)
    after = provenance.steadiness()
    lines = [
        "# Sub-batches balanced over the workers, in process",
        "",
        *provenance.header("balance_bench.py", "--calls", args.calls),
        "",
        provenance.steadiness_line(before, after),
        "",
        f"Texts: short comments of 12-20 words (bench/service_bench.py's); {args.calls} "
        f"calls per batch size and cut after {WARM_CALLS} to warm up, the two cuts "
        "alternating call by call.",
        "",
        f"## bert-base-sized Detoxify, `{classifier.runtime}`, {classifier.threads} workers",
        "",
        *header,
        *detoxify,
        "",
        f"## Sentence encoder, `{encoder.runtime}`, {encoder.threads} workers",
        "",
        *header,
        *minilm,
        "",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "balance.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
