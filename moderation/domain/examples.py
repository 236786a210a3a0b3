"""Rules taught by example: does a comment resemble a rule's examples more than its
counterexamples?

Every text is a unit vector from the sentence encoder (``classifiers/encoder.py``), so
a dot product is the cosine similarity. A comment's *resemblance* to a set of texts is
the mean similarity of its ``TOP_K`` nearest members (one lucky near-duplicate does not
carry a rule, and a set of one still works). A rule then holds the comment when its
resemblance to the rule's examples reaches its ``example_hold_at`` (the rule's own, else
the guidelines': ``Guidelines.example_hold_for``) *and*
exceeds its resemblance to the rule's counterexamples by ``example_margin``, and rejects
it from ``example_reject_at`` on (same condition). The floor is low (0.3) because
readers rephrase: an unseen accusation scores 0.3–0.5 against learned ones, where
unrelated comments score under 0.3; the margin over the counterexamples is what keeps
near misses on the same topic out. Counterexamples are how a site draws the line
next to a rule: "the article says the soldiers were shot" next to "someone should shoot
him".

Pure and vectorised: the engine asks about one comment, the backtest about 100,000 at
once, through the same :func:`resemblance`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
"""Unit vectors, one row per text."""

TOP_K = 3
#: Resemblance when a set is empty: below any similarity, so it never wins.
NONE = -2.0

Embed = Callable[[Sequence[str]], Vectors]
"""Texts -> unit vectors (the sentence encoder, run off the event loop)."""


@dataclass(frozen=True, slots=True)
class ExampleSet:
    """One rule's examples and counterexamples, with their vectors."""

    rule_id: str
    examples: tuple[str, ...]
    counterexamples: tuple[str, ...]
    example_vectors: Vectors
    counter_vectors: Vectors


@dataclass(frozen=True, slots=True)
class Resemblance:
    """How much a comment resembles one rule's examples, and its counterexamples."""

    rule_id: str
    similarity: float
    counter_similarity: float
    nearest: str


def resemblance(
    vectors: Vectors, rows: Vectors
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.intp]]:
    """For each of ``vectors``: the mean similarity of its ``TOP_K`` nearest ``rows``, and
    the index of the nearest one (``NONE`` and -1 when there are no rows)."""
    count = len(vectors)
    if len(rows) == 0 or count == 0:
        return np.full(count, NONE, dtype=np.float32), np.full(count, -1, dtype=np.intp)
    similarities = vectors @ rows.T
    k = min(TOP_K, rows.shape[0])
    top = np.partition(similarities, rows.shape[0] - k, axis=1)[:, rows.shape[0] - k :]
    return top.mean(axis=1).astype(np.float32), similarities.argmax(axis=1)


def compile_examples(
    rules: Sequence[tuple[str, Sequence[str], Sequence[str]]], embed: Embed | None
) -> Mapping[str, ExampleSet]:
    """The example sets of ``rules`` ((id, examples, counterexamples)), embedded in one
    call; empty without an encoder (examples then decide nothing, which the service logs)."""
    taught = [(rule_id, tuple(ex), tuple(cx)) for rule_id, ex, cx in rules if ex]
    if embed is None or not taught:
        return {}
    texts = [text for _, ex, cx in taught for text in (*ex, *cx)]
    vectors = embed(texts) if texts else np.zeros((0, 0), dtype=np.float32)
    sets: dict[str, ExampleSet] = {}
    start = 0
    for rule_id, ex, cx in taught:
        middle, end = start + len(ex), start + len(ex) + len(cx)
        sets[rule_id] = ExampleSet(rule_id, ex, cx, vectors[start:middle], vectors[middle:end])
        start = end
    return sets


def resemblances(sets: Sequence[ExampleSet], vector: Vectors) -> list[Resemblance]:
    """One comment's resemblance to each set."""
    row = vector.reshape(1, -1)
    found = []
    for taught in sets:
        similarity, nearest = resemblance(row, taught.example_vectors)
        counter, _ = resemblance(row, taught.counter_vectors)
        found.append(
            Resemblance(
                taught.rule_id,
                float(similarity[0]),
                float(counter[0]),
                taught.examples[int(nearest[0])],
            )
        )
    return found
