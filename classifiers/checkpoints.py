"""Detoxify-format checkpoints, built offline: one recipe for the benchmarks and the tests.

Detoxify's real weights need the network, so the benchmarks build a bert-base-sized
checkpoint with random weights (``bench/bert_base_checkpoint.py``) and the tests a
tiny one they train (``tests/tiny_detoxify.py``). Both must be files the real loading
code (:mod:`classifiers.detoxify_backend`) reads exactly as it reads Detoxify's own:
a ``torch.save``'d dict with the training config and the model's ``state_dict``,
beside a local Hugging Face config and tokenizer folder. This module writes that
format, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ORIGINAL_CLASSES: tuple[str, ...] = (
    "toxic",
    "severe_toxic",
    "obscene",
    "threat",
    "insult",
    "identity_hate",
)
"""The class names of Detoxify's ``original`` checkpoint, in its order."""


def bert_config(classes: Sequence[str], **sizes: int) -> Any:
    """A ``BertConfig`` for a sequence classifier over ``classes``; ``sizes`` are the
    model's dimensions (``vocab_size``, ``hidden_size``, ``num_hidden_layers`` …)."""
    from transformers import BertConfig

    build: Any = BertConfig  # its stubs type the keyword arguments too narrowly
    return build(
        **sizes,
        num_labels=len(classes),
        id2label=dict(enumerate(classes)),
        label2id={name: i for i, name in enumerate(classes)},
    )


def save_checkpoint(path: Path, state_dict: Mapping[str, Any], classes: Sequence[str]) -> Path:
    """Write a Detoxify checkpoint of a ``BertForSequenceClassification`` atomically."""
    import torch

    payload: dict[str, Any] = {
        "config": {
            "arch": {
                "args": {
                    # Like the real checkpoints; loaders substitute the local config folder.
                    "model_type": "bert-base-uncased",
                    "model_name": "BertForSequenceClassification",
                    "tokenizer_name": "BertTokenizer",
                    "num_classes": len(classes),
                }
            },
            "dataset": {"args": {"classes": list(classes)}},
        },
        "state_dict": {name: tensor.detach().clone() for name, tensor in state_dict.items()},
    }
    partial = path.with_suffix(".partial")
    torch.save(payload, partial)
    partial.replace(path)
    return path
