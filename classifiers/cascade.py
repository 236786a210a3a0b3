"""A cascade: the fast model decides what it is sure of, the transformer the rest.

A decision must name the classifier whose scores it used (the guidelines hold
per-classifier thresholds, and ``linear``'s scale is not Detoxify's), so
:meth:`Cascade.predict_routed` returns ``(classifier name, scores)`` per text, and the
service's scorer (``moderation.workers.scorer.Scorer.score_named``) passes that name on to
each decision. Off by default; ``MODERATION_CASCADE=linear`` turns it on in front of
the configured transformer. bench/inference_bench.py measures what it saves and what it
costs in agreement (docs/inference.md).

"Sure" means: the fast model's ``toxicity`` is below ``sure_below`` (default 0.05).
Those texts are decided on the fast model's scores, under its own thresholds; everything
else goes to the transformer. Only the benign side is trusted: the fast model's high
scores are often wrong ("damn" scores 0.98 on ``linear``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from classifiers.base import Classifier, Scores, languages_of


@dataclass(slots=True)
class CascadeStats:
    texts: int = 0
    decided_by_fast: int = 0


class Cascade:
    def __init__(self, fast: Classifier, slow: Classifier, *, sure_below: float = 0.05) -> None:
        if not 0.0 <= sure_below <= 1.0:
            raise ValueError("sure_below must be within [0, 1]")
        self.fast = fast
        self.slow = slow
        self.sure_below = sure_below
        self.stats = CascadeStats()

    @property
    def name(self) -> str:
        """What ``/healthz`` reports; each decision names the model that scored it."""
        return f"cascade:{self.fast.name}>{self.slow.name}"

    @property
    def categories(self) -> tuple[str, ...]:
        return self.slow.categories

    @property
    def languages(self) -> tuple[str, ...]:
        """Only what both read: a text the fast model cannot read is not "surely fine"."""
        slow = languages_of(self.slow)
        return tuple(lang for lang in languages_of(self.fast) if lang in slow)

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        return [scores for _, scores in self.predict_routed(texts)]

    def predict_routed(self, texts: Sequence[str]) -> list[tuple[str, Scores]]:
        """``(name of the classifier that scored it, its scores)`` per text, in order."""
        if not texts:
            return []
        fast = self.fast.predict(texts)
        unsure = [
            i for i, scores in enumerate(fast) if scores.get("toxicity", 1.0) >= self.sure_below
        ]
        results: list[tuple[str, Scores]] = [(self.fast.name, scores) for scores in fast]
        if unsure:
            slow = self.slow.predict([texts[i] for i in unsure])
            for i, scores in zip(unsure, slow, strict=True):
                results[i] = (self.slow.name, scores)
        self.stats.texts += len(texts)
        self.stats.decided_by_fast += len(texts) - len(unsure)
        return results
