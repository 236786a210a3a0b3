"""Downloading model weights: progress in the log, and a failed download remembered.

A checkpoint of hundreds of megabytes takes minutes on a slow link, so :func:`fetch`
logs its progress (percent, rate, what is left) at most every ``every_s`` seconds and
publishes it to :func:`in_progress` (the start-up ``/healthz`` shows it).

An offline machine fails a download only after its timeout, and trying again on every
start and every ``service.py score`` costs that timeout each time. So a failure is
remembered in a small marker file beside the target (``<file>.failed``: when, which
URL, why) and the download is not tried again until :data:`retry_after_s` has passed
(deleting the marker retries at once); the error says so, and the preference list
falls back to the next classifier as with any other failure.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from classifiers.base import ClassifierLoadError

log = logging.getLogger(__name__)

#: How long a failed download is not tried again (``MODERATION_MODEL_DOWNLOAD_RETRY_S``).
RETRY_AFTER_S = 3600.0
#: The shortest interval between two progress lines of one download.
PROGRESS_EVERY_S = 5.0
_BLOCK = 1 << 20

#: Seconds a failed download is remembered, for the loads of the current context
#: (``classifiers.loader.load_one`` sets it from its options); 0 remembers nothing.
retry_after_s: ContextVar[float] = ContextVar("retry_after_s", default=RETRY_AFTER_S)

Opener = Callable[..., Any]


@dataclass(slots=True)
class Progress:
    """One download under way."""

    label: str
    url: str
    total: int | None
    started: float
    done: int = 0
    reported: float = field(default=0.0)

    def percent(self) -> float | None:
        return 100.0 * self.done / self.total if self.total else None

    def rate(self, now: float) -> float:
        """Bytes per second since the download started."""
        return self.done / max(now - self.started, 1e-6)

    def as_dict(self, now: float) -> dict[str, object]:
        percent = self.percent()
        return {
            "what": self.label,
            "url": self.url,
            "bytes": self.done,
            "total_bytes": self.total,
            "percent": None if percent is None else round(percent, 1),
            "bytes_per_s": round(self.rate(now)),
        }


_lock = threading.Lock()
_current: dict[int, Progress] = {}


def in_progress(clock: Callable[[], float] = time.monotonic) -> list[dict[str, object]]:
    """The downloads under way in this process, as plain data (for ``/healthz``)."""
    now = clock()
    with _lock:
        return [p.as_dict(now) for p in _current.values()]


@contextmanager
def _published(progress: Progress) -> Iterator[None]:
    with _lock:
        _current[id(progress)] = progress
    try:
        yield
    finally:
        with _lock:
            _current.pop(id(progress), None)


def size(count: float) -> str:
    """``count`` bytes in words: ``512 B``, ``3.4 MB``, ``1.1 GB``."""
    for unit in ("B", "kB", "MB"):
        if count < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


def marker_path(target: Path) -> Path:
    """Where a failed download of ``target`` is remembered."""
    return target.with_name(target.name + ".failed")


def recent_failure(target: Path, *, now: datetime | None = None) -> str | None:
    """Why ``target`` is not downloaded again yet (a failure within
    :data:`retry_after_s`), or None when it may be tried."""
    window = retry_after_s.get()
    marker = marker_path(target)
    if window <= 0 or not marker.is_file():
        return None
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        failed_at = datetime.fromisoformat(recorded["failed_at"])
        reason = str(recorded["reason"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: try again, and write a good one if it fails
    now = now or datetime.now(UTC)
    age = now - failed_at
    if age < timedelta(0) or age >= timedelta(seconds=window):
        return None
    until = failed_at + timedelta(seconds=window)
    return (
        f"the download failed {age.total_seconds() / 60:.0f} min ago ({reason}); not retrying "
        f"until {until:%Y-%m-%d %H:%M} UTC (MODERATION_MODEL_DOWNLOAD_RETRY_S; delete "
        f"{marker} to retry now)"
    )


def remember_failure(target: Path, url: str, reason: str, *, now: datetime | None = None) -> None:
    """Write the marker that stops retries for :data:`retry_after_s`."""
    if retry_after_s.get() <= 0:
        return
    record = {"url": url, "failed_at": (now or datetime.now(UTC)).isoformat(), "reason": reason}
    try:
        marker_path(target).write_text(json.dumps(record), encoding="utf-8")
    except OSError as exc:  # a read-only cache: every start tries again, as before
        log.warning("cannot remember the failed download in %s: %s", target.parent, exc)


def fetch(
    url: str,
    target: Path,
    *,
    timeout_s: float,
    label: str,
    hint: str = "",
    opener: Opener = urllib.request.urlopen,
    clock: Callable[[], float] = time.monotonic,
    every_s: float = PROGRESS_EVERY_S,
) -> Path:
    """Download ``url`` to ``target`` (through ``<target>.partial``, renamed when whole),
    logging progress; :class:`ClassifierLoadError` when it fails or failed recently.
    ``hint`` ends the error message (what to do offline)."""
    suffix = f"; {hint}" if hint else ""
    recent = recent_failure(target)
    if recent is not None:
        raise ClassifierLoadError(f"{label}: {recent}{suffix}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    log.info("downloading %s from %s", label, url)
    try:
        with opener(url, timeout=timeout_s) as response, partial.open("wb") as out:
            _copy(response, out, label, url, clock, every_s)
        os.replace(partial, target)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        reason = f"{type(exc).__name__}: {exc}"
        remember_failure(target, url, reason)
        raise ClassifierLoadError(f"cannot download the {label} ({reason}){suffix}") from exc
    marker_path(target).unlink(missing_ok=True)
    return target


def _copy(
    response: Any,
    out: BinaryIO,
    label: str,
    url: str,
    clock: Callable[[], float],
    every_s: float,
) -> None:
    length = response.headers.get("Content-Length") if response.headers else None
    total = int(length) if length and str(length).isdigit() else None
    progress = Progress(label=label, url=url, total=total, started=clock())
    progress.reported = progress.started
    with _published(progress):
        while block := response.read(_BLOCK):
            out.write(block)
            progress.done += len(block)
            now = clock()
            if now - progress.reported >= every_s:
                progress.reported = now
                _log_progress(progress, now)
        now = clock()
        log.info(
            "downloaded %s: %s in %.1f s (%s/s)",
            label,
            size(progress.done),
            now - progress.started,
            size(progress.rate(now)),
            extra={"bytes": progress.done},
        )


def _log_progress(progress: Progress, now: float) -> None:
    rate = progress.rate(now)
    percent = progress.percent()
    if percent is None or progress.total is None:
        log.info(
            "downloading %s: %s at %s/s",
            progress.label,
            size(progress.done),
            size(rate),
            extra={"bytes": progress.done, "bytes_per_s": round(rate)},
        )
        return
    left = (progress.total - progress.done) / rate if rate > 0 else None
    log.info(
        "downloading %s: %.0f%% of %s at %s/s%s",
        progress.label,
        percent,
        size(progress.total),
        size(rate),
        f", about {left:.0f} s left" if left is not None else "",
        extra={
            "bytes": progress.done,
            "total_bytes": progress.total,
            "percent": round(percent, 1),
            "bytes_per_s": round(rate),
        },
    )
