"""How fast the encoder embeds short comments: ``python -m classifiers.training.speed``.

Each runtime is measured in a process of its own (PyTorch's OpenMP pool and ONNX
Runtime's threads in one process slowed PyTorch several-fold in our measurements), on
comments of at most :data:`SHORT_TOKENS` tokens from the eval split, in calls of 16 texts
and of 1 text, after a warm-up; the best of :data:`REPEATS` passes is kept, so a burst
from another process counts less. int8 is measured even though the service does not
run it for this model (its guard is off here).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from classifiers.encoder import MAX_TOKENS, SentenceEncoder, package_folder
from classifiers.training.data import DATA_DIR, load_split

SHORT_TOKENS = 48
TEXTS = 320
REPEATS = 3
BATCHES: tuple[int, ...] = (16, 1)


@dataclass(frozen=True, slots=True)
class Speed:
    """Texts per second for one runtime and thread count."""

    runtime: str
    threads: int
    texts: int
    mean_tokens: float
    #: batch size → texts per second
    per_second: dict[int, float]


def short_comments(data_dir: Path = DATA_DIR) -> list[str]:
    """The eval split's texts of at most :data:`SHORT_TOKENS` tokens (first :data:`TEXTS`)."""
    from transformers import AutoTokenizer

    texts = [c.text for c in load_split("eval", data_dir).comments]
    tokenizer = AutoTokenizer.from_pretrained(str(package_folder()), local_files_only=True)
    lengths = [
        len(ids) for ids in tokenizer(texts, truncation=True, max_length=MAX_TOKENS)["input_ids"]
    ]
    return [t for t, n in zip(texts, lengths, strict=True) if n <= SHORT_TOKENS][:TEXTS]


def measure(runtime: str, threads: int | None, cache_dir: Path, data_dir: Path = DATA_DIR) -> Speed:
    """Measure in this process (see :func:`measure_apart` for one process per runtime)."""
    encoder = SentenceEncoder(
        runtime=runtime, cache_dir=cache_dir, threads=threads, int8_min_cosine=0.0
    )
    texts = short_comments(data_dir)
    tokens = [len(ids) for ids in encoder.token_ids(texts)]
    encoder.embed(texts[:32])  # warm-up
    per_second = {}
    for batch in BATCHES:
        best = float("inf")
        for _ in range(REPEATS):
            started = time.perf_counter()
            for i in range(0, len(texts), batch):
                encoder.embed(texts[i : i + batch])
            best = min(best, time.perf_counter() - started)
        per_second[batch] = len(texts) / best
    return Speed(
        encoder.runtime, encoder.threads, len(texts), sum(tokens) / len(tokens), per_second
    )


def measure_apart(
    runs: Sequence[tuple[str, int | None]], cache_dir: Path, data_dir: Path = DATA_DIR
) -> list[Speed]:
    """Each ``(runtime, threads)`` measured in a fresh Python process, one after another."""
    results = []
    for runtime, threads in runs:
        command = [
            sys.executable,
            "-m",
            "classifiers.training.speed",
            "--runtime",
            runtime,
            "--cache-dir",
            str(cache_dir),
            "--data",
            str(data_dir),
            "--json",
        ]
        if threads:
            command += ["--threads", str(threads)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(
            Speed(
                row["runtime"],
                row["threads"],
                row["texts"],
                row["mean_tokens"],
                {int(k): float(v) for k, v in row["per_second"].items()},
            )
        )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: one runtime in this process, or all of them apart (the default)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtime", default=None, help="torch, onnx or onnx-int8; all if unset")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--data", type=Path, default=DATA_DIR)
    parser.add_argument("--json", action="store_true", help="one JSON line (for measure_apart)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="minilm-speed-") as scratch:
        cache = args.cache_dir or Path(scratch)
        if args.runtime is not None:
            speeds = [measure(args.runtime, args.threads, cache, args.data)]
        else:
            runs = [("torch", None), ("onnx", None), ("onnx-int8", None), ("onnx", 1)]
            speeds = measure_apart(runs, cache, args.data)
    for speed in speeds:
        if args.json:
            print(json.dumps(_as_dict(speed)))
        else:
            figures = ", ".join(f"batch {b}: {v:.0f}/s" for b, v in speed.per_second.items())
            print(f"{speed.runtime} ({speed.threads} threads): {figures}")
    return 0


def _as_dict(speed: Speed) -> dict[str, object]:
    return {
        "runtime": speed.runtime,
        "threads": speed.threads,
        "texts": speed.texts,
        "mean_tokens": speed.mean_tokens,
        "per_second": speed.per_second,
    }


if __name__ == "__main__":
    sys.exit(main())
