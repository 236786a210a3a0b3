"""The labelled comments (``data/<split>/*.jsonl``, described in ``data/LABELLING.md``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from classifiers.base import CATEGORIES

DATA_DIR = Path(__file__).resolve().parent / "data"
TOPICS: frozenset[str] = frozenset(
    {
        "war",
        "politics",
        "crime",
        "immigration",
        "religion",
        "health",
        "sport",
        "local",
        "economy",
        "science",
        "culture",
    }
)
EXPECTS: tuple[str, ...] = ("fine", "review", "violating")


class DataError(ValueError):
    """A data file is malformed; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Comment:
    """One labelled comment."""

    text: str
    topic: str
    expect: str
    labels: frozenset[str]
    #: ``<split>/<file name>``, e.g. ``eval/set_a.jsonl``.
    source: str


@dataclass(frozen=True, slots=True)
class Split:
    """The comments of one split (``train`` or ``eval``) and the digest of its files."""

    name: str
    comments: list[Comment]
    #: ``<split>/<file>`` → SHA-256 of the file's bytes.
    files: dict[str, str]

    @property
    def sha256(self) -> str:
        """One digest over the split's file names and contents."""
        digest = hashlib.sha256()
        for name, sha in sorted(self.files.items()):
            digest.update(f"{name}\0{sha}\n".encode())
        return digest.hexdigest()


def load_split(name: str, data_dir: Path = DATA_DIR) -> Split:
    """Every ``*.jsonl`` file under ``data_dir/name``, in file-name order.

    Strict: a malformed line (a file still being written, an unknown topic or label) is a
    :class:`DataError`, so nothing is trained or measured on half a file."""
    folder = data_dir / name
    paths = sorted(folder.glob("*.jsonl"))
    if not paths:
        raise DataError(f"no *.jsonl files in {folder}")
    comments: list[Comment] = []
    files: dict[str, str] = {}
    for path in paths:
        raw = path.read_bytes()
        source = f"{name}/{path.name}"
        files[source] = hashlib.sha256(raw).hexdigest()
        for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            if line.strip():
                comments.append(_parse(line, f"{path}:{number}", source))
    return Split(name, comments, files)


def _parse(line: str, where: str, source: str) -> Comment:
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise DataError(f"{where}: not JSON ({exc})") from exc
    if not isinstance(row, dict):
        raise DataError(f"{where}: not a JSON object")
    text, topic, expect, labels = (row.get(k) for k in ("text", "topic", "expect", "labels"))
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: text must be a non-empty string")
    if topic not in TOPICS:
        raise DataError(f"{where}: unknown topic {topic!r}")
    if expect not in EXPECTS:
        raise DataError(f"{where}: expect must be one of {', '.join(EXPECTS)}, got {expect!r}")
    if not isinstance(labels, list) or not all(label in CATEGORIES for label in labels):
        raise DataError(f"{where}: labels must be a list of categories, got {labels!r}")
    return Comment(text, str(topic), str(expect), frozenset(labels), source)


def label_matrix(comments: Sequence[Comment]) -> list[list[int]]:
    """0/1 per comment and category, in :data:`~classifiers.base.CATEGORIES` order."""
    return [[int(c in comment.labels) for c in CATEGORIES] for comment in comments]
