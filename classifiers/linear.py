"""``linear``: alt-profanity-check's shipped linear model (offline, microseconds).

It reports a single ``toxicity`` probability. Its scale is not Detoxify's: it
gives 0.98 to "damn", so guidelines carry separate thresholds for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from classifiers.base import ClassifierLoadError, Scores


class LinearClassifier:
    """Wraps ``profanity_check``'s vectorizer + calibrated linear SVM."""

    name = "linear"
    #: Each text is vectorised and scored on its own: batching cannot change a score.
    batch_independent = True
    categories: tuple[str, ...] = ("toxicity",)

    def __init__(self) -> None:
        try:
            # Imported lazily: importing loads the joblib model files.
            import profanity_check.profanity_check as shipped
        except Exception as exc:  # pragma: no cover - depends on the install
            raise ClassifierLoadError(f"alt-profanity-check is not usable: {exc}") from exc
        self._vectorizer: Any = shipped.vectorizer
        self._model: Any = shipped.model

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        if not texts:
            return []
        probabilities = self._model.predict_proba(self._vectorizer.transform(list(texts)))
        return [{"toxicity": float(row[1])} for row in probabilities]
