"""The Detoxify backend through Detoxify's own loading code, offline, with tiny checkpoints."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from classifiers.detoxify_backend import DetoxifyClassifier
from tests.tiny_detoxify import UNBIASED_CLASSES, TinyDetoxify, build_tiny_detoxify


@pytest.fixture(scope="module")
def model(tiny_detoxify: TinyDetoxify) -> DetoxifyClassifier:
    return DetoxifyClassifier(
        "original", checkpoint=tiny_detoxify.checkpoint, config_dir=tiny_detoxify.config_dir
    )


def test_loads_without_touching_the_network(
    tiny_detoxify: TinyDetoxify, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the network was touched")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    classifier = DetoxifyClassifier(
        "unbiased", checkpoint=tiny_detoxify.checkpoint, config_dir=tiny_detoxify.config_dir
    )
    assert classifier.name == "detoxify:unbiased"
    # The checkpoint's own trained weights score, each head under its own name. Fails
    # when the weights are not loaded (random heads), the probabilities are not sigmoids
    # of the logits, or the heads are named in the wrong order.
    insult, threat, benign = classifier.predict(
        ["you are an idiot", "I will kill you", "Thank you for this thoughtful article."]
    )
    assert set(insult) == set(threat) == set(benign) == set(classifier.categories)
    for scores in (insult, threat, benign):
        assert all(0.0 <= value <= 1.0 for value in scores.values()), scores
    assert insult["toxicity"] > 0.7 and insult["insult"] > 0.5
    assert insult["insult"] > threat["insult"]
    assert threat["toxicity"] > 0.7 and threat["threat"] > 0.5
    assert threat["threat"] > insult["threat"]
    assert max(benign.values()) < 0.3, benign


def test_reports_detoxify_category_names(model: DetoxifyClassifier) -> None:
    # the original checkpoint's toxic/severe_toxic/identity_hate, renamed as Detoxify does
    assert set(model.categories) == {
        "toxicity",
        "severe_toxicity",
        "obscene",
        "threat",
        "insult",
        "identity_attack",
    }


def test_trained_model_separates_toxic_from_benign(model: DetoxifyClassifier) -> None:
    toxic, benign = model.predict(["you are an idiot", "Thank you for this thoughtful article."])
    assert toxic["toxicity"] > 0.7 > 0.3 > benign["toxicity"]


def test_long_text_is_scored_in_windows_not_truncated(model: DetoxifyClassifier) -> None:
    """Abuse after the model's window is still seen: windows overlap, the maximum is kept."""
    filler = "Thank you for this thoughtful article about the war. " * 30
    assert len(filler.split()) > 200  # far beyond the tiny model's 64-token window
    abuse = "you are an idiot. " * 16  # fills the last window on its own
    (benign,) = model.predict([filler])
    (tail,) = model.predict([filler + abuse])
    assert benign["toxicity"] < 0.3
    assert tail["toxicity"] > 0.7
    # a truncating scorer would see only the filler: the same text cut to one window is benign
    (cut,) = model.predict([" ".join((filler + abuse).split()[:40])])
    assert cut["toxicity"] < 0.3


def test_batch_results_match_single_results(model: DetoxifyClassifier) -> None:
    texts = ["short", "a much longer comment about the soldiers and the war " * 3, "you idiot"]
    together = model.predict(texts)
    for text, scores in zip(texts, together, strict=True):
        assert model.predict([text])[0] == pytest.approx(scores, abs=1e-4)


def test_unbiased_style_checkpoint_keeps_contract_categories(tmp_path: Path) -> None:
    tiny = build_tiny_detoxify(tmp_path, train=False, classes=[*UNBIASED_CLASSES, "male", "female"])
    classifier = DetoxifyClassifier(
        "unbiased", checkpoint=tiny.checkpoint, config_dir=tiny.config_dir
    )
    assert "sexual_explicit" in classifier.categories
    assert "male" not in classifier.categories  # identity subgroup outputs are not categories
    assert set(classifier.predict(["x"])[0]) == set(classifier.categories)


def test_bf16_stores_the_linear_weights_in_bf16_with_autocasts_results(
    tiny_detoxify: TinyDetoxify, model: DetoxifyClassifier
) -> None:
    """``torch-bf16`` by name: the linear layers' weights are cast to bf16 once, at load,
    rather than by autocast on every call; the scores are exactly autocast's over the
    float32 weights. (Emulated on a CPU without native bf16: slower, the same arithmetic.)"""
    import torch

    texts = ["you are an idiot", "I will kill you", "Thank you for this thoughtful article."]
    bf16 = DetoxifyClassifier(
        "original",
        checkpoint=tiny_detoxify.checkpoint,
        config_dir=tiny_detoxify.config_dir,
        bf16=True,
    )
    linears = [m for m in bf16._model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(m.weight.dtype == torch.bfloat16 for m in linears)
    assert all(p.dtype == torch.float32 for p in model._model.parameters())
    model._bf16 = True  # the float32 model under autocast: the reference
    try:
        expected = model.predict(texts)
    finally:
        model._bf16 = False
    assert bf16.predict(texts) == expected
    assert model.predict(texts) != expected  # and bf16 is not float32's arithmetic
