"""The classifier protocol shared by every backend."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

Scores = dict[str, float]
"""Per-category probabilities for one text, keyed by Detoxify's category names."""

CATEGORIES: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
    "sexual_explicit",
)
"""Score categories, with Detoxify's names (the contract's list), in a stable order."""

KNOWN_CATEGORIES: frozenset[str] = frozenset(CATEGORIES)


DEFAULT_LANGUAGES: tuple[str, ...] = ("en",)
"""What a backend that does not say otherwise is taken to read (ISO 639-1 codes)."""


def languages_of(classifier: object) -> tuple[str, ...]:
    """The languages a classifier reads: its ``languages`` attribute, else English only."""
    languages = getattr(classifier, "languages", None)
    return tuple(languages) if languages else DEFAULT_LANGUAGES


_caller = threading.local()


@contextlib.contextmanager
def on_this_thread() -> Iterator[None]:
    """Inside, a backend that would hand parts of a call to its own worker threads runs
    them all on the calling thread instead: the caller runs several calls side by side
    itself, one per core (the scorer's lanes, moderation/workers/scorer.py), and a call
    split over the cores again would only make each wait for the others."""
    before = getattr(_caller, "only", False)
    _caller.only = True
    try:
        yield
    finally:
        _caller.only = before


def only_this_thread() -> bool:
    """Whether this thread runs inside :func:`on_this_thread`."""
    return bool(getattr(_caller, "only", False))


class ClassifierLoadError(RuntimeError):
    """A backend could not be loaded (missing weights, no network, bad files)."""


@runtime_checkable
class Classifier(Protocol):
    """Scores texts. Implementations are called from a worker thread, never the event loop."""

    @property
    def name(self) -> str:
        """The name decisions and ``/healthz`` report, e.g. ``detoxify:unbiased``."""
        ...

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories this backend reports (a subset of the contract's list)."""
        ...

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        """Score a batch; one mapping per text, in order."""
        ...
