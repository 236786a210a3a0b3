"""In-process measurements: fidelity (ONNX Runtime vs PyTorch) and the cascade.

Both need the repository root on ``sys.path`` (classifiers, moderation, tests).
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inference import ROOT
from inference.load import percentile


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
