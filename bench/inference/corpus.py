"""The texts the benchmark posts: news-comment-length (40-80 words), from the labelled set."""

from __future__ import annotations

import csv
import random

from inference import ROOT

LABELLED_CSV = ROOT / "tests" / "data" / "labelled_comments.csv"


def news_texts(count: int, seed: int = 7) -> list[str]:
    """News-comment-length texts (40-80 words) made of the labelled set's sentences."""
    with LABELLED_CSV.open(newline="", encoding="utf-8") as handle:
        rows = [row["text"] for row in csv.DictReader(handle)]
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        target = rng.randint(40, 80)
        words: list[str] = []
        while len(words) < target:
            words.extend(rng.choice(rows).split())
        texts.append(" ".join(words[:target]))
    return texts
