"""One conformance test, run over every classifier backend."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from classifiers.base import KNOWN_CATEGORIES, Classifier
from classifiers.detoxify_backend import DetoxifyClassifier
from classifiers.linear import LinearClassifier
from classifiers.onnx_backend import OnnxDetoxifyClassifier
from tests.tiny_detoxify import TinyDetoxify

TOXIC = ["you are an idiot", "I will kill you"]
BENIGN = [
    "Thank you for this thoughtful article about the war.",
    "The article says the soldiers were shot while retreating.",
]


def _linear(_: TinyDetoxify) -> Classifier:
    return LinearClassifier()


def _detoxify(tiny: TinyDetoxify) -> Classifier:
    return DetoxifyClassifier("original", checkpoint=tiny.checkpoint, config_dir=tiny.config_dir)


def _onnx(quantize: bool) -> Callable[[TinyDetoxify], Classifier]:
    def make(tiny: TinyDetoxify) -> Classifier:
        return OnnxDetoxifyClassifier(
            "original",
            cache_dir=tiny.checkpoint.parent / "onnx-cache",
            quantize=quantize,
            checkpoint=tiny.checkpoint,
            config_dir=tiny.config_dir,
        )

    return make


# "<name>@<runtime>": runtimes of one model report the same name.
BACKENDS: dict[str, Callable[[TinyDetoxify], Classifier]] = {
    "linear": _linear,
    "detoxify:original": _detoxify,
    "detoxify:original@onnx": _onnx(quantize=False),
    "detoxify:original@onnx-int8": _onnx(quantize=True),
}


@pytest.fixture(params=[*sorted(BACKENDS), "minilm"])
def backend(request: pytest.FixtureRequest, tiny_detoxify: TinyDetoxify) -> Classifier:
    if request.param == "minilm":  # the real model, loaded once (tests/classifiers/conftest.py)
        minilm: Classifier = request.getfixturevalue("minilm")
        return minilm
    return BACKENDS[request.param](tiny_detoxify)


def test_backend_conforms(backend: Classifier) -> None:
    assert isinstance(backend, Classifier)
    assert backend.name in {key.split("@")[0] for key in BACKENDS} | {"minilm"}
    assert backend.categories and set(backend.categories) <= KNOWN_CATEGORIES
    assert "toxicity" in backend.categories
    assert backend.predict([]) == []
    texts = [*TOXIC, *BENIGN, "", "é" * 3000, "<script>alert(1)</script>"]
    results = backend.predict(texts)
    assert len(results) == len(texts)
    for scores in results:
        assert set(scores) == set(backend.categories)
        for value in scores.values():
            assert isinstance(value, float) and 0.0 <= value <= 1.0 and not math.isnan(value)
    # deterministic, and a batch scores each text as it would alone
    assert backend.predict(texts[:1])[0] == pytest.approx(results[0], abs=1e-5)
    toxic = [r["toxicity"] for r in results[: len(TOXIC)]]
    benign = [r["toxicity"] for r in results[len(TOXIC) : len(TOXIC) + len(BENIGN)]]
    assert min(toxic) > max(benign)
