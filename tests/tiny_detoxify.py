"""Tiny, genuinely trained Detoxify checkpoints for offline tests.

The real Detoxify checkpoints are hundreds of megabytes and are downloaded from GitHub
and the Hugging Face hub. Tests must run without network, so this module builds a
miniature stand-in in exactly Detoxify's checkpoint format:

* ``dest/tiny-detoxify.ckpt`` - a ``torch.save``'d dict ``{"config": ..., "state_dict": ...}``
  laid out like the ``original`` model's checkpoint (``model_type`` stays
  ``"bert-base-uncased"``, as in the real file);
* ``dest/hf-config/`` - the local Hugging Face config + tokenizer folder that Detoxify's
  ``huggingface_config_path`` needs for offline loading.

The model is a 2-layer BERT with a 32-wide hidden state whose vocabulary is built from
``tests/data/labelled_comments.csv``. It is trained for a few seconds on that file with a
multi-label BCE loss, so toxic comments really do get high scores and benign ones low
scores. Training is seeded and deterministic.

The module is also a pytest plugin (``pytest_plugins = ["tests.tiny_detoxify"]``) providing
the session-scoped ``tiny_detoxify`` fixture.
"""

from __future__ import annotations

import csv
import os
import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from detoxify.detoxify import get_model_and_tokenizer
from transformers import BertForSequenceClassification, BertTokenizer

from classifiers.checkpoints import ORIGINAL_CLASSES, bert_config, save_checkpoint

LABELLED_CSV = Path(__file__).resolve().parent / "data" / "labelled_comments.csv"
CHECKPOINT_NAME = "tiny-detoxify.ckpt"
CONFIG_DIR_NAME = "hf-config"

#: Class order of Detoxify's ``original`` checkpoint (the CSV's label columns).
#: Class order of Detoxify's ``unbiased`` checkpoint.
UNBIASED_CLASSES: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "identity_attack",
    "insult",
    "threat",
    "sexual_explicit",
)
#: Which CSV column provides the labels of each supported class name.
CLASS_TO_COLUMN: dict[str, str] = {
    **{name: name for name in ORIGINAL_CLASSES},
    "toxicity": "toxic",
    "severe_toxicity": "severe_toxic",
    "identity_attack": "identity_hate",
    "sexual_explicit": "obscene",
}
#: Detoxify's own renaming in ``load_checkpoint`` (original names -> standard names).
DETOXIFY_RENAMES: dict[str, str] = {
    "toxic": "toxicity",
    "identity_hate": "identity_attack",
    "severe_toxic": "severe_toxicity",
}

SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# BERT's pre-tokenizer splits on whitespace and on every punctuation character.
_WORD_RE = re.compile(r"[^\W_]+|[^\w\s]|_")

# Architecture and training schedule. The epoch count is fixed (not time-based) so that a
# given seed always produces the same weights; training takes about 2.5 s. It runs on one
# thread: for matrices this small that is as fast as two, and it keeps the weights
# bit-identical whatever the machine's core count (thread count changes float summation).
HIDDEN_SIZE = 32
NUM_LAYERS = 2
NUM_HEADS = 2
INTERMEDIATE_SIZE = 64
EPOCHS = 40
BATCH_SIZE = 32
LEARNING_RATE = 2e-3
TRAIN_THREADS = 1


@dataclass(frozen=True)
class TinyDetoxify:
    """Paths of a built tiny checkpoint: pass ``checkpoint`` as Detoxify's ``checkpoint``
    and ``config_dir`` as its ``huggingface_config_path``."""

    checkpoint: Path
    config_dir: Path


@dataclass(frozen=True)
class LabelledComment:
    text: str
    labels: dict[str, int]


def load_labelled_comments(path: Path = LABELLED_CSV) -> list[LabelledComment]:
    """Read the labelled CSV (``text`` + one 0/1 column per original class)."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return [
            LabelledComment(
                text=row["text"],
                labels={name: int(row[name]) for name in ORIGINAL_CLASSES},
            )
            for row in reader
        ]


def build_vocab(texts: Sequence[str]) -> list[str]:
    """Special tokens, the lower-cased words of ``texts``, then single characters.

    Single letters/digits/punctuation (and their ``##`` continuations) guarantee that any
    ASCII text tokenises into known word pieces rather than ``[UNK]``.
    """
    words = sorted({w for text in texts for w in _WORD_RE.findall(text.lower())})
    chars = string.ascii_lowercase + string.digits
    pieces = [*chars, *string.punctuation, *(f"##{c}" for c in chars)]
    vocab: list[str] = list(SPECIAL_TOKENS)
    seen = set(vocab)
    for token in [*words, *pieces]:
        if token not in seen:
            seen.add(token)
            vocab.append(token)
    return vocab


def class_labels(comments: Sequence[LabelledComment], classes: Sequence[str]) -> torch.Tensor:
    """0/1 targets, shape ``(len(comments), len(classes))``, via :data:`CLASS_TO_COLUMN`."""
    unknown = [name for name in classes if name not in CLASS_TO_COLUMN]
    if unknown:
        raise ValueError(f"no labels for classes {unknown}; known: {sorted(CLASS_TO_COLUMN)}")
    return torch.tensor(
        [[c.labels[CLASS_TO_COLUMN[name]] for name in classes] for c in comments],
        dtype=torch.float32,
    )


def _with_context(comments: Sequence[LabelledComment], seed: int) -> list[LabelledComment]:
    """The labelled rows plus long, mixed ones: benign context around each toxic row.

    Real readers bury an insult inside a paragraph; without these rows the tiny model
    learns that any long text is benign, and long-comment tests could not tell a window
    that sees the insult from one that does not.
    """
    rng = random.Random(seed)
    benign = [c for c in comments if not any(c.labels.values())]
    mixed: list[LabelledComment] = []
    for comment in comments:
        context = " ".join(rng.choice(benign).text for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.5:
            mixed.append(LabelledComment(f"{context} {comment.text}", comment.labels))
        else:
            mixed.append(LabelledComment(f"{comment.text} {context}", comment.labels))
    return [*comments, *mixed]


def _train(
    model: BertForSequenceClassification,
    tokenizer: BertTokenizer,
    comments: Sequence[LabelledComment],
    classes: Sequence[str],
    *,
    seed: int,
    max_length: int,
) -> None:
    encoded = tokenizer(
        [c.text for c in comments],
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    targets = class_labels(comments, classes)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(comments), generator=generator)
        for start in range(0, len(order), BATCH_SIZE):
            idx = order[start : start + BATCH_SIZE]
            # trim the batch to its longest comment: padding is on the right
            width = int(encoded["attention_mask"][idx].sum(dim=1).max())
            logits = model(
                input_ids=encoded["input_ids"][idx, :width],
                attention_mask=encoded["attention_mask"][idx, :width],
                token_type_ids=encoded["token_type_ids"][idx, :width],
            ).logits
            loss = loss_fn(logits, targets[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()  # type: ignore[no-untyped-call]


def build_tiny_detoxify(
    dest: Path,
    *,
    train: bool = True,
    seed: int = 0,
    classes: Sequence[str] = ORIGINAL_CLASSES,
    max_length: int = 64,
) -> TinyDetoxify:
    """Build (and by default train) a tiny Detoxify checkpoint under ``dest``.

    Writes ``dest/tiny-detoxify.ckpt`` and ``dest/hf-config/``. ``classes`` sets the class
    names stored in the checkpoint (e.g. :data:`UNBIASED_CLASSES`); their labels come from
    the CSV columns via :data:`CLASS_TO_COLUMN`. With ``train=False`` the weights are the
    seeded random initialisation.
    """
    classes = list(classes)
    comments = load_labelled_comments()
    if train:
        class_labels(comments[:1], classes)  # fail fast on unknown class names

    dest.mkdir(parents=True, exist_ok=True)
    config_dir = dest / CONFIG_DIR_NAME
    config_dir.mkdir(exist_ok=True)

    vocab_file = config_dir / "vocab.txt"
    vocab = build_vocab([c.text for c in comments])
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # transformers 5's BertTokenizer takes the vocabulary itself (``vocab``); a
    # ``vocab_file=`` keyword would be silently ignored, leaving only the special tokens.
    tokenizer = BertTokenizer(
        vocab={token: i for i, token in enumerate(vocab)},
        do_lower_case=True,
        model_max_length=max_length,
    )
    tokenizer.save_pretrained(str(config_dir))

    config = bert_config(
        classes,
        vocab_size=len(vocab),
        hidden_size=HIDDEN_SIZE,
        num_hidden_layers=NUM_LAYERS,
        num_attention_heads=NUM_HEADS,
        intermediate_size=INTERMEDIATE_SIZE,
        max_position_embeddings=max_length,
    )
    config.save_pretrained(str(config_dir))

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(min(TRAIN_THREADS, os.cpu_count() or 1))
    try:
        torch.manual_seed(seed)
        model = BertForSequenceClassification(config)
        if train:
            _train(
                model,
                tokenizer,
                _with_context(comments, seed),
                classes,
                seed=seed,
                max_length=max_length,
            )
    finally:
        torch.set_num_threads(previous_threads)

    checkpoint_path = save_checkpoint(dest / CHECKPOINT_NAME, model.state_dict(), classes)
    return TinyDetoxify(checkpoint=checkpoint_path, config_dir=config_dir)


def load_tiny_detoxify(
    tiny: TinyDetoxify,
) -> tuple[BertForSequenceClassification, BertTokenizer, list[str]]:
    """Load a tiny checkpoint through Detoxify's ``get_model_and_tokenizer``, offline.

    Mirrors ``detoxify.detoxify.load_checkpoint`` but passes the local config folder as
    ``model_type`` too (``load_checkpoint`` would ask the hub for ``bert-base-uncased``).
    Returns the model, the tokenizer and the class names standardised as Detoxify does.
    """
    loaded = torch.load(tiny.checkpoint, map_location="cpu", weights_only=False)
    args = dict(loaded["config"]["arch"]["args"])
    args["model_type"] = str(tiny.config_dir)
    model, tokenizer = get_model_and_tokenizer(
        **args,
        state_dict=loaded["state_dict"],
        huggingface_config_path=str(tiny.config_dir),
    )
    model.eval()
    class_names = [
        DETOXIFY_RENAMES.get(name, name) for name in loaded["config"]["dataset"]["args"]["classes"]
    ]
    return model, tokenizer, class_names


@torch.no_grad()
def predict(
    model: BertForSequenceClassification, tokenizer: BertTokenizer, texts: Sequence[str]
) -> torch.Tensor:
    """Sigmoid scores, shape ``(len(texts), num_classes)``, as ``Detoxify.predict`` does."""
    inputs = tokenizer(list(texts), return_tensors="pt", truncation=True, padding=True)
    return torch.sigmoid(model(**inputs).logits)


@pytest.fixture(scope="session")
def tiny_detoxify(tmp_path_factory: pytest.TempPathFactory) -> TinyDetoxify:
    """A trained tiny ``original``-layout Detoxify checkpoint, built once per session."""
    return build_tiny_detoxify(tmp_path_factory.mktemp("tiny-detoxify"))
