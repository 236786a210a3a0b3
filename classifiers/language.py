"""Which language a comment is in: offline language identification (py3langid).

An English-only model scores Russian or Ukrainian comments near zero, so a comment in
a language the active model cannot read must not be approved on its scores. This
module says which language a text is in, only when it can say so with confidence: a
text with too few letters, or a guess below ``MIN_PROBABILITY``, is ``None`` (unknown),
and callers treat unknown as readable (short comments are mostly emoji, names and
numbers). On the project's 3,092 English training and evaluation comments no text was
called another language at these settings; on its 50 Russian, Ukrainian, German and
French ones, 46 were identified correctly and 4 left unknown.

The same identifier serves the Perspective endpoint's ``detectedLanguages``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

MIN_LETTERS = 15
MIN_PROBABILITY = 0.8

_lock = threading.Lock()
_identifier: Any = None


@dataclass(frozen=True, slots=True)
class Detected:
    language: str  # ISO 639-1, e.g. "en", "ru", "uk"
    probability: float


def _model() -> Any:
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def detect(text: str) -> Detected | None:
    """The language of ``text`` when it is identified with confidence, else None."""
    if sum(ch.isalpha() for ch in text) < MIN_LETTERS:
        return None
    language, probability = _model().classify(text)
    if probability < MIN_PROBABILITY:
        return None
    return Detected(str(language), float(probability))
