"""Turns ``MODERATION_CLASSIFIER`` (an ordered preference list) into one loaded backend."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from classifiers.base import Classifier, ClassifierLoadError

log = logging.getLogger("classifiers")

DEFAULT_PREFERENCE = "detoxify:unbiased,linear"


@dataclass(frozen=True, slots=True)
class ClassifierOptions:
    preference: str = DEFAULT_PREFERENCE
    detoxify_checkpoint: Path | None = None
    detoxify_config: Path | None = None
    torch_threads: int | None = None
    download_timeout_s: float = 10.0


@dataclass(slots=True)
class LoadReport:
    """Which backend runs, and why each one before it did not load."""

    chosen: str
    failures: list[tuple[str, str]] = field(default_factory=list)


def parse_preference(preference: str) -> list[str]:
    names = [part.strip() for part in preference.split(",") if part.strip()]
    if not names:
        raise ClassifierLoadError("MODERATION_CLASSIFIER names no classifier")
    return names


def load_one(name: str, options: ClassifierOptions) -> Classifier:
    """Load the backend called ``name`` or raise :class:`ClassifierLoadError`."""
    if name == "linear":
        from classifiers.linear import LinearClassifier

        return LinearClassifier()
    if name.startswith("detoxify:"):
        from classifiers.detoxify_backend import DetoxifyClassifier

        return DetoxifyClassifier(
            name.split(":", 1)[1],
            checkpoint=options.detoxify_checkpoint,
            config_dir=options.detoxify_config,
            threads=options.torch_threads,
            download_timeout_s=options.download_timeout_s,
        )
    raise ClassifierLoadError(f"unknown classifier {name!r} (detoxify:<model> or linear)")


def load_preferred(options: ClassifierOptions) -> tuple[Classifier, LoadReport]:
    """The first backend of the preference list that loads; logs every fallback loudly."""
    failures: list[tuple[str, str]] = []
    for name in parse_preference(options.preference):
        started = time.monotonic()
        try:
            classifier = load_one(name, options)
        except ClassifierLoadError as exc:
            log.error("classifier %s did not load: %s", name, exc)
            failures.append((name, str(exc)))
            continue
        except Exception as exc:  # a backend's own bug must not stop the fallback
            log.exception("classifier %s failed while loading", name)
            failures.append((name, f"{type(exc).__name__}: {exc}"))
            continue
        if failures:
            log.warning(
                "RUNNING FALLBACK CLASSIFIER %s (loaded in %.1fs); not loaded: %s",
                classifier.name,
                time.monotonic() - started,
                "; ".join(f"{n}: {why}" for n, why in failures),
            )
        else:
            log.warning(
                "running classifier %s (loaded in %.1fs)",
                classifier.name,
                time.monotonic() - started,
            )
        return classifier, LoadReport(chosen=classifier.name, failures=failures)
    raise ClassifierLoadError(
        "no classifier could be loaded: " + "; ".join(f"{n}: {why}" for n, why in failures)
    )
