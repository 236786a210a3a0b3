"""Model-only speed of each recipe (classifiers/onnx/recipes.py), in process.

For the bert-base-shaped Detoxify checkpoint and for the sentence encoder: rows per
second at three lengths (short training comments, and texts cut to 64 and 128 tokens),
each recipe with the service's threading (sub-batches side by side, one per core),
called with batches of 16 texts as the scorer's micro-batches arrive. The recipes take
turns for several rounds and each keeps its best round, and the load average is
recorded with every figure, because other processes on the machine move these numbers.
``auto``'s own measurement (its fidelity check against fp32 on training comments, and
its choice) is recorded too: on the bert-base model and on the tests' tiny *trained*
model, whose scores mean something.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

LENGTHS: tuple[str, ...] = ("short", "64", "128")


def _texts_of_length(tokenizer: Any, texts: Sequence[str], tokens: int) -> list[str]:
    """Texts re-decoded from their first ``tokens - 2`` word pieces (so each encodes to
    about ``tokens`` tokens with ``[CLS]``/``[SEP]``); only texts long enough."""
    out = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) >= tokens - 2:
            out.append(tokenizer.decode(ids[: tokens - 2]))
    return out


def corpora(tokenizer: Any, news: Sequence[str]) -> dict[str, list[str]]:
    """Short training comments (at most 40 words) and news texts cut to 64/128 tokens."""
    from classifiers.onnx.recipes import training_corpus

    corpus = training_corpus()
    long_texts = [f"{a} {b}" for a, b in itertools.pairwise(news)]
    return {
        "short": corpus.short,
        "64": _texts_of_length(tokenizer, news, 64)[:200],
        "128": _texts_of_length(tokenizer, long_texts, 128)[:200],
    }


def _speeds(
    runners: dict[str, Callable[[Sequence[str]], object]],
    texts: dict[str, list[str]],
    seconds: float,
    rounds: int,
    short_only: Sequence[str] = (),
) -> list[dict[str, Any]]:
    from classifiers.onnx.recipes import rows_per_second

    rows: list[dict[str, Any]] = []
    for length in LENGTHS:
        best: dict[str, float] = {}
        load: dict[str, tuple[float, float]] = {}
        measured = {n: r for n, r in runners.items() if length == "short" or n not in short_only}
        for _ in range(rounds):
            for name, run in measured.items():
                before = os.getloadavg()[0]
                speed = rows_per_second(run, texts[length], seconds / rounds)
                if speed > best.get(name, 0.0):
                    best[name] = speed
                    load[name] = (before, os.getloadavg()[0])
        for name in measured:
            rows.append(
                {"recipe": name, "length": length, "rows_per_s": best[name], "loadavg": load[name]}
            )
            print(f"    {rows[-1]}", flush=True)
    return rows


def detoxify_recipes(
    model: tuple[Path, Path], cache: Path, news: Sequence[str], seconds: float, rounds: int
) -> dict[str, Any]:
    """bert-base: each recipe (and PyTorch fp32/bf16 where the CPU has bf16) per length,
    and ``auto``'s choice on bert-base and on the tiny trained model."""
    import torch

    from classifiers.detoxify_backend import DetoxifyClassifier
    from classifiers.onnx.recipes import RECIPES, cpu_flags
    from classifiers.onnx.runtime import OnnxDetoxifyClassifier
    from tests.tiny_detoxify import build_tiny_detoxify

    checkpoint, config_dir = model
    runners: dict[str, Callable[[Sequence[str]], object]] = {}
    tokenizer = None
    for name in RECIPES:
        classifier = OnnxDetoxifyClassifier(
            "original", cache_dir=cache, runtime=name, checkpoint=checkpoint, config_dir=config_dir
        )
        tokenizer = classifier._tokenizer
        runners[name] = classifier.predict
    torch_model = DetoxifyClassifier(
        "original", checkpoint=checkpoint, config_dir=config_dir, threads=os.cpu_count()
    )
    runners["torch"] = torch_model.predict
    flags = cpu_flags()
    if {"avx512_bf16", "amx_bf16"} & set(flags):

        def bf16(texts: Sequence[str]) -> object:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return torch_model.predict(texts)

        runners["torch-bf16 (autocast)"] = bf16
    texts = corpora(tokenizer, news)
    # PyTorch is measured on short texts only: on a busy 2-core machine one call of 16
    # longer texts takes minutes.
    torch_rows = [n for n in runners if "torch" in n]
    speeds = _speeds(runners, texts, seconds, rounds, short_only=torch_rows)
    choices = {}
    auto = OnnxDetoxifyClassifier(
        "original", cache_dir=cache, runtime="auto", checkpoint=checkpoint, config_dir=config_dir
    )
    assert auto.choice is not None
    choices["bert-base, random weights"] = auto.choice.to_json()
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build_tiny_detoxify(Path(tmp) / "tiny")
        small = OnnxDetoxifyClassifier(
            "original",
            cache_dir=Path(tmp) / "cache",
            runtime="auto",
            checkpoint=tiny.checkpoint,
            config_dir=tiny.config_dir,
        )
        assert small.choice is not None
        choices["tiny trained"] = small.choice.to_json()
    return {"flags": list(flags), "speeds": speeds, "choices": choices}


def encoder_recipes(
    cache: Path, news: Sequence[str], seconds: float, rounds: int
) -> dict[str, Any]:
    """all-MiniLM-L6-v2: each recipe per length, and ``auto``'s measurement with the
    ``minilm`` heads as the judge (cosine to fp32, score differences, decisions)."""
    from classifiers.encoder import SentenceEncoder
    from classifiers.loader import ClassifierOptions, load_one
    from classifiers.onnx.recipes import RECIPES
    from moderation.settings import Settings

    runners: dict[str, Callable[[Sequence[str]], object]] = {}
    tokenizer = None
    for name in RECIPES:
        # the guard off, to time each graph as it is (the choice below applies it)
        encoder = SentenceEncoder(runtime=name, cache_dir=cache, int8_min_cosine=-1.0)
        tokenizer = encoder._tokenizer
        runners[name] = encoder.embed
    texts = corpora(tokenizer, news)
    speeds = _speeds(runners, texts, seconds, rounds)
    options = ClassifierOptions(
        preference="minilm",
        encoder_runtime="auto",
        onnx_cache_dir=cache,
        decision_thresholds=Settings().decision_thresholds,
    )
    classifier: Any = load_one("minilm", options)
    choice = classifier.encoder.choice
    return {"speeds": speeds, "choice": choice.to_json() if choice is not None else None}
