"""``minilm``: calibrated heads over all-MiniLM-L6-v2 sentence embeddings (offline).

Each of the seven categories has one logistic head over the comment's features: its
embedding (:class:`classifiers.encoder.SentenceEncoder`), optionally ``linear``'s profanity
probability as one extra feature (its logit), and (heads format 2) the units of one small
hidden layer (ReLU) that all categories share. Each head is calibrated on out-of-fold
predictions so that a score reads as a probability. The heads are a small committed file
(``classifiers/heads/minilm.json``) written by
``python -m classifiers.training.train_heads``; it names the encoder digests it was
trained on, and it is refused for any other encoder: different weights (or tokenizer)
give different embeddings, on which the heads' scores would mean nothing.

:meth:`MiniLMClassifier.embed_and_predict` returns the embeddings with the scores, so a
caller can store each comment's embedding from the same pass.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy
import numpy.typing as npt

from classifiers.base import CATEGORIES, ClassifierLoadError, Scores
from classifiers.encoder import DIMENSION, Embeddings, SentenceEncoder

HEADS_PATH = Path(__file__).resolve().parent / "heads" / "minilm.json"
#: The format written: 2 adds the shared hidden layer. Format 1 files (no hidden layer)
#: are still read.
HEADS_FORMAT = 2
READABLE_FORMATS = (1, 2)
#: The optional extra feature: logit of ``linear``'s probability, clipped to
#: [LINEAR_CLIP, 1 - LINEAR_CLIP] (its probabilities reach 0 and 1 exactly).
LINEAR_FEATURE = "linear_toxicity_logit"
LINEAR_CLIP = 1e-4
EMBEDDING_FEATURE = "embedding"

Matrix = npt.NDArray[numpy.float64]


@dataclass(frozen=True, slots=True)
class Hidden:
    """The shared hidden layer: ``relu(features @ weights.T + bias)``."""

    #: ``(units, features)``, the input standardisation folded in.
    weights: Matrix
    bias: Matrix

    def __call__(self, features: Matrix) -> Matrix:
        """``(n, units)`` activations for ``(n, features)``."""
        units: Matrix = numpy.maximum(features @ self.weights.T + self.bias, 0.0)
        return units


@dataclass(frozen=True, slots=True)
class Heads:
    """One logistic head per category: ``sigmoid(inputs @ weights[i] + bias[i])``, where
    ``inputs`` is the hidden layer's units (when there is one) followed by the features."""

    categories: tuple[str, ...]
    #: ``(categories, units + features)``: the calibrated weights.
    weights: Matrix
    bias: Matrix
    #: Feature blocks in order: ``embedding`` (384 values), then optionally
    #: :data:`LINEAR_FEATURE` (1 value).
    features: tuple[str, ...]
    encoder_sha256: str
    encoder_config_sha256: str
    #: The whole file, for provenance (training data digest, suggested thresholds …).
    document: dict[str, Any]
    hidden: Hidden | None = None

    @property
    def uses_linear(self) -> bool:
        """Whether the heads need ``linear``'s score as a feature."""
        return LINEAR_FEATURE in self.features

    def probabilities(self, features: Matrix) -> Matrix:
        """``(n, categories)`` probabilities for an ``(n, features)`` matrix."""
        inputs = features
        if self.hidden is not None:
            inputs = numpy.hstack([self.hidden(features), features])
        logits = inputs @ self.weights.T + self.bias
        # exp overflows to inf for very negative logits, which still gives 0.0 here
        with numpy.errstate(over="ignore"):
            result: Matrix = 1.0 / (1.0 + numpy.exp(-logits))
        return result


def load_heads(
    path: Path = HEADS_PATH, *, encoder_sha256: str, encoder_config_sha256: str
) -> Heads:
    """Read a heads file; :class:`ClassifierLoadError` when it is malformed or was trained
    on another encoder (weights or tokenizer/configs digests differ)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ClassifierLoadError(f"cannot read the minilm heads {path}: {exc}") from exc
    try:
        if document["format"] not in READABLE_FORMATS:
            raise ClassifierLoadError(
                f"{path} has heads format {document['format']!r}, this code reads "
                f"{', '.join(map(str, READABLE_FORMATS))}"
            )
        encoder = document["encoder"]
        trained_on = (str(encoder["weights_sha256"]), str(encoder["config_sha256"]))
        features = tuple(str(block["name"]) for block in document["features"])
        width = sum(int(block["size"]) for block in document["features"])
        hidden = _hidden(document.get("hidden"), width, path)
        inputs = width + (0 if hidden is None else len(hidden.bias))
        heads = document["heads"]
        categories = tuple(c for c in CATEGORIES if c in heads)
        rows = [list(heads[c]["weights"]) for c in categories]
        if any(len(row) != inputs for row in rows):
            raise ClassifierLoadError(
                f"{path}: heads do not fit their inputs ({features}, {inputs} values; "
                f"weights of {sorted({len(row) for row in rows})} values)"
            )
        weights = numpy.array(rows, dtype=numpy.float64).reshape(len(categories), inputs)
        bias = numpy.array([heads[c]["bias"] for c in categories], dtype=numpy.float64)
    except ClassifierLoadError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ClassifierLoadError(f"{path} is not a minilm heads file: {exc!r}") from exc
    if trained_on != (encoder_sha256, encoder_config_sha256):
        raise ClassifierLoadError(
            f"the minilm heads {path} were trained on encoder weights {trained_on[0][:16]}… "
            f"(configs {trained_on[1][:16]}…), not on the loaded encoder's "
            f"{encoder_sha256[:16]}… ({encoder_config_sha256[:16]}…): retrain them "
            f"(python -m classifiers.training.train_heads)"
        )
    if (
        features[:1] != (EMBEDDING_FEATURE,)
        or not set(features) <= {EMBEDDING_FEATURE, LINEAR_FEATURE}
        or width != DIMENSION + (LINEAR_FEATURE in features)
        or set(heads) - set(CATEGORIES)
        or not categories
        or weights.shape != (len(categories), inputs)
        or not numpy.isfinite(weights).all()
        or not numpy.isfinite(bias).all()
    ):
        raise ClassifierLoadError(
            f"{path}: heads do not fit their features ({features}, {width} values; weights "
            f"{weights.shape}; categories {sorted(heads)})"
        )
    return Heads(categories, weights, bias, features, *trained_on, document, hidden)


def _hidden(block: Any, width: int, path: Path) -> Hidden | None:
    """The file's hidden layer (``{"weights": [[...] per unit], "bias": [...]}``), if any."""
    if block is None:
        return None
    weights = numpy.array(block["weights"], dtype=numpy.float64)
    bias = numpy.array(block["bias"], dtype=numpy.float64)
    if (
        weights.ndim != 2
        or weights.shape != (len(bias), width)
        or not len(bias)
        or not numpy.isfinite(weights).all()
        or not numpy.isfinite(bias).all()
    ):
        raise ClassifierLoadError(
            f"{path}: the hidden layer does not fit the features ({width} values; weights "
            f"{weights.shape}, {len(bias)} units)"
        )
    return Hidden(weights, bias)


def linear_feature(probabilities: Sequence[float]) -> Matrix:
    """``(n, 1)``: the logit of ``linear``'s probability, clipped so 0 and 1 stay finite."""
    p = numpy.clip(numpy.asarray(probabilities, dtype=numpy.float64), LINEAR_CLIP, 1 - LINEAR_CLIP)
    column: Matrix = numpy.log(p / (1.0 - p)).reshape(-1, 1)
    return column


def feature_matrix(embeddings: Embeddings, linear_probabilities: Sequence[float] | None) -> Matrix:
    """The heads' input: the embeddings, then the linear feature when given."""
    blocks = [embeddings.astype(numpy.float64)]
    if linear_probabilities is not None:
        blocks.append(linear_feature(linear_probabilities))
    return numpy.hstack(blocks)


class MiniLMClassifier:
    """The ``minilm`` classifier: a :class:`SentenceEncoder` and its calibrated heads."""

    def __init__(
        self,
        encoder: SentenceEncoder,
        *,
        heads_path: Path | None = None,
        linear: Any = None,
    ) -> None:
        """``heads_path`` defaults to the committed heads; ``linear`` (a
        :class:`~classifiers.linear.LinearClassifier`) is loaded when the heads use it."""
        self.encoder = encoder
        self.heads = load_heads(
            heads_path or HEADS_PATH,
            encoder_sha256=encoder.digest,
            encoder_config_sha256=encoder.config_digest,
        )
        self._linear = None
        if self.heads.uses_linear:
            if linear is None:
                from classifiers.linear import LinearClassifier

                linear = LinearClassifier()
            self._linear = linear

    @property
    def name(self) -> str:
        """``minilm`` on every runtime: the runtimes agree (docs/classifiers.md)."""
        return "minilm"

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories the heads score (all seven for the committed heads)."""
        return self.heads.categories

    @property
    def runtime(self) -> str:
        """The encoder's runtime, as it runs (``auto``'s choice included): ``onnx``, an
        int8 recipe (``onnx-int8`` …), ``torch`` or ``torch-bf16``."""
        return self.encoder.runtime

    @property
    def languages(self) -> tuple[str, ...]:
        """English only: all-MiniLM-L6-v2 was trained on English, and on the eval split's
        Russian and Ukrainian comments the heads approve every violating one (REPORT.md)."""
        return ("en",)

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        """Score a batch; one mapping per text, in order."""
        return self.embed_and_predict(texts)[1]

    def embed_and_predict(self, texts: Sequence[str]) -> tuple[Embeddings, list[Scores]]:
        """The texts' embeddings (``(n, 384)`` float32) and their scores, from one pass."""
        embeddings = self.encoder.embed(texts)
        if not texts:
            return embeddings, []
        return embeddings, self.scores(embeddings, texts)

    def scores(self, embeddings: Embeddings, texts: Sequence[str]) -> list[Scores]:
        """Scores for already computed embeddings of ``texts``."""
        probabilities = self.probabilities(embeddings, texts)
        categories = self.heads.categories
        return [dict(zip(categories, row, strict=True)) for row in probabilities.tolist()]

    def probabilities(self, embeddings: Embeddings, texts: Sequence[str]) -> Matrix:
        """``(n, categories)`` probabilities for already computed embeddings of ``texts``."""
        linear = None
        if self._linear is not None:
            linear = [s["toxicity"] for s in self._linear.predict(texts)]
        return self.heads.probabilities(feature_matrix(embeddings, linear))
