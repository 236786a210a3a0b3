"""The tiny Detoxify checkpoint: Detoxify's format, offline loading, and real scores."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import torch
from detoxify import Detoxify
from detoxify.detoxify import get_model_and_tokenizer

from classifiers.checkpoints import ORIGINAL_CLASSES
from tests.tiny_detoxify import (
    CHECKPOINT_NAME,
    UNBIASED_CLASSES,
    LabelledComment,
    TinyDetoxify,
    build_tiny_detoxify,
    class_labels,
    load_labelled_comments,
    load_tiny_detoxify,
    predict,
)

TOXIC = (
    "you are an idiot",
    "I will kill you",
    "all of them are animals",
)
BENIGN = (
    "Thank you for this thoughtful article about the war.",
    "The article says the soldiers were shot while retreating.",
)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Offline mode plus a socket layer that records and refuses every connection."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    attempts: list[Any] = []

    def refuse(_sock: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError(f"network access attempted in an offline test: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def _load_raw(tiny: TinyDetoxify) -> dict[str, Any]:
    loaded: dict[str, Any] = torch.load(tiny.checkpoint, map_location="cpu", weights_only=False)
    return loaded


def test_labelled_csv_is_balanced_and_well_formed() -> None:
    comments = load_labelled_comments()
    assert 150 <= len(comments) <= 250
    toxic = sum(c.labels["toxic"] for c in comments)
    assert 0.35 < toxic / len(comments) < 0.65
    for c in comments:
        assert c.text.strip()
        assert set(c.labels.values()) <= {0, 1}
        # every sub-class implies the toxic flag
        assert c.labels["toxic"] >= max(c.labels.values()), c.text
    for name in ORIGINAL_CLASSES[1:]:
        assert any(c.labels[name] for c in comments), name


def test_checkpoint_has_detoxify_format(tiny_detoxify: TinyDetoxify) -> None:
    assert tiny_detoxify.checkpoint.name == CHECKPOINT_NAME
    loaded = _load_raw(tiny_detoxify)
    assert set(loaded) == {"config", "state_dict"}
    assert loaded["config"]["arch"]["args"] == {
        "model_type": "bert-base-uncased",
        "model_name": "BertForSequenceClassification",
        "tokenizer_name": "BertTokenizer",
        "num_classes": 6,
    }
    assert loaded["config"]["dataset"]["args"]["classes"] == list(ORIGINAL_CLASSES)
    state_dict = loaded["state_dict"]
    assert all(isinstance(v, torch.Tensor) for v in state_dict.values())
    assert "bert.embeddings.word_embeddings.weight" in state_dict
    assert state_dict["classifier.weight"].shape[0] == 6
    for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
        assert (tiny_detoxify.config_dir / name).is_file(), name


def test_loads_offline_through_detoxify(tiny_detoxify: TinyDetoxify, no_network: list[Any]) -> None:
    loaded = _load_raw(tiny_detoxify)
    args = {**loaded["config"]["arch"]["args"], "model_type": str(tiny_detoxify.config_dir)}
    model, tokenizer = get_model_and_tokenizer(
        **args,
        state_dict=loaded["state_dict"],
        huggingface_config_path=str(tiny_detoxify.config_dir),
    )
    assert type(model).__name__ == "BertForSequenceClassification"
    assert type(tokenizer).__name__ == "BertTokenizer"
    assert model.config.num_labels == 6
    # the trained weights were loaded, not freshly initialised ones
    for key, value in loaded["state_dict"].items():
        assert torch.equal(model.state_dict()[key], value), key
    # the vocabulary covers arbitrary text without [UNK]
    assert tokenizer.unk_token not in tokenizer.tokenize("Zelenskyy's 2024 résumé: xyzzy!")
    assert no_network == []


def test_detoxify_class_predicts_offline(
    tiny_detoxify: TinyDetoxify, no_network: list[Any], tmp_path: Path
) -> None:
    """End to end through ``Detoxify`` itself, with model_type pointed at the local folder
    (working around ``load_checkpoint`` asking the hub for ``bert-base-uncased``)."""
    loaded = _load_raw(tiny_detoxify)
    loaded["config"]["arch"]["args"]["model_type"] = str(tiny_detoxify.config_dir)
    local = tmp_path / "local.ckpt"
    torch.save(loaded, local)

    detox = Detoxify(checkpoint=str(local), huggingface_config_path=str(tiny_detoxify.config_dir))
    assert detox.class_names == [
        "toxicity",
        "severe_toxicity",
        "obscene",
        "threat",
        "insult",
        "identity_attack",
    ]
    results = detox.predict([*TOXIC, *BENIGN])
    toxicity = results["toxicity"]
    assert min(toxicity[: len(TOXIC)]) > 0.7
    assert max(toxicity[len(TOXIC) :]) < 0.3
    assert no_network == []


@pytest.fixture(scope="module")
def loaded_tiny(
    tiny_detoxify: TinyDetoxify,
) -> tuple[Any, Any, list[str]]:
    return load_tiny_detoxify(tiny_detoxify)


@pytest.mark.parametrize("text", TOXIC)
def test_trained_model_scores_toxic_text_high(
    loaded_tiny: tuple[Any, Any, list[str]], text: str
) -> None:
    model, tokenizer, class_names = loaded_tiny
    scores = predict(model, tokenizer, [text])[0]
    assert scores[class_names.index("toxicity")].item() > 0.7


@pytest.mark.parametrize("text", BENIGN)
def test_trained_model_scores_benign_text_low(
    loaded_tiny: tuple[Any, Any, list[str]], text: str
) -> None:
    model, tokenizer, class_names = loaded_tiny
    scores = predict(model, tokenizer, [text])[0]
    assert scores[class_names.index("toxicity")].item() < 0.3


def test_untrained_checkpoint_is_uninformative(tmp_path: Path) -> None:
    model, tokenizer, _ = load_tiny_detoxify(build_tiny_detoxify(tmp_path, train=False))
    scores = predict(model, tokenizer, [*TOXIC, *BENIGN])
    assert ((scores > 0.3) & (scores < 0.7)).all()


def test_unbiased_style_checkpoint(tmp_path: Path, no_network: list[Any]) -> None:
    tiny = build_tiny_detoxify(tmp_path, train=False, classes=UNBIASED_CLASSES)
    loaded = _load_raw(tiny)
    assert loaded["config"]["arch"]["args"]["num_classes"] == 7
    assert loaded["config"]["dataset"]["args"]["classes"] == list(UNBIASED_CLASSES)
    model, _, class_names = load_tiny_detoxify(tiny)
    assert class_names == list(UNBIASED_CLASSES)
    assert model.config.num_labels == 7
    assert no_network == []


def test_unbiased_labels_come_from_mapped_columns() -> None:
    comment = LabelledComment(
        text="x",
        labels={
            "toxic": 1,
            "severe_toxic": 0,
            "obscene": 1,
            "threat": 0,
            "insult": 1,
            "identity_hate": 0,
        },
    )
    labels = class_labels([comment], UNBIASED_CLASSES)
    # toxicity, severe_toxicity, obscene, identity_attack, insult, threat, sexual_explicit
    assert labels.tolist() == [[1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]]


def test_unknown_class_cannot_be_trained(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no labels"):
        build_tiny_detoxify(tmp_path, train=True, classes=["toxic", "spam"])
