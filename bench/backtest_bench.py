"""Benchmark: backtest() and suggest() on 100,000 synthetic stored comments.

Run from the repository root: ``.venv/bin/python bench/backtest_bench.py [N]``.
Prints a markdown table of best-of-3 timings (wall clock, and CPU time, which
other processes on the machine do not inflate), and the engine's own per-comment
cost for comparison (measured on a slice, extrapolated to N), and writes it to
``bench/results/backtest.md``. One row re-decides the cases under guidelines that
teach their rules by 1,000 examples, from each case's stored embedding.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import provenance  # noqa: E402

from moderation.backtest import Case, backtest, decide_many, suggest  # noqa: E402
from moderation.domain.engine import Context, Policy, compile_policy, decide  # noqa: E402
from moderation.domain.examples import Vectors  # noqa: E402
from moderation.domain.guidelines import CATEGORIES  # noqa: E402
from moderation.domain.models import Action, ArticleMode, AuthorStatus  # noqa: E402
from moderation.http.guidelines_document import load_toml  # noqa: E402

PROSE = (
    "the a of to and in that is was for on it with as his they be at one have this from "
    "or had by but what some we can out other were all there when up use your how said "
    "an each she which do their time if will way about many then them would write like "
    "so these her long make thing see him two has look more day could go come did number "
    "government army soldiers war article report minister election vote policy people "
    "country city village civilians troops attack peace court trial law crime police "
    "really think agree disagree nonsense brilliant terrible shameful honest journalism "
    "damn hell stupid idiot liar corrupt coward"
)
WORDS = PROSE.split()
# Rare on purpose: real comments seldom carry terms or links, and the benchmark
# should pay for the ones that do.
SPICE = [
    "vermin",
    "scum",
    "v3rm1n",
    "example.com",
    "https://news.example.org/a/1",
    "www.site.net",
    "U.S.",
    "3.5%",
    "e.g.",
    "gook",
]
WIDE = ["\u201cquoted\u201d", "it\u2019s", "caf\u00e9", "\U0001f600", "na\u00efve"]
TAG_SETS = [(), ("war",), ("politics",), ("war", "military"), ("sports",), ("culture",)]


def synthetic_cases(n: int, seed: int = 1) -> list[Case]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    cases: list[Case] = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(5, 60))]
        if rng.random() < 0.04:
            words.insert(rng.randrange(len(words)), rng.choice(SPICE))
        if rng.random() < 0.10:
            words.insert(rng.randrange(len(words)), rng.choice(WIDE))
        text: str | None = " ".join(words).capitalize() + rng.choice([".", "!", "?", ""])
        if rng.random() < 0.02:
            text = None
        classifier = "linear" if rng.random() < 0.2 else "detoxify:unbiased"
        scores: dict[str, float] | None
        if rng.random() < 0.03:
            scores = None
        elif classifier == "linear":
            scores = {"toxicity": rng.random()}
        else:
            scores = {category: rng.random() ** 4 for category in CATEGORIES}
        decided = rng.choice([Action.approve] * 8 + [Action.hold, Action.reject])
        moderator: Action | None = None
        if rng.random() < 0.2:
            toxic = scores is not None and max(scores.values()) > 0.6
            moderator = Action.reject if toxic ^ (rng.random() < 0.05) else Action.approve
        cases.append(
            Case(
                comment_id=f"c-{i}",
                text=text,
                scores=scores,
                classifier=classifier,
                # A fresh frozenset per row, as rows loaded from a database would be.
                article_tags=frozenset(rng.choice(TAG_SETS)),
                article_mode=ArticleMode.premoderate if rng.random() < 0.02 else ArticleMode.auto,
                author_status=rng.choice(
                    [AuthorStatus.active] * 48 + [AuthorStatus.premoderated, AuthorStatus.banned]
                ),
                decided=decided,
                moderator=moderator,
                created_at=start + timedelta(seconds=i),
            )
        )
    return cases


def best_of(runs: int, action: Callable[[], object]) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds of ``runs`` calls (CPU time is what one
    core spends, unaffected by other processes competing for it)."""
    wall = cpu = float("inf")
    for _ in range(runs):
        began, began_cpu = time.perf_counter(), time.process_time()
        action()
        wall = min(wall, time.perf_counter() - began)
        cpu = min(cpu, time.process_time() - began_cpu)
    return wall, cpu


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    document = load_toml(ROOT / "guidelines" / "default.toml")
    proposed = compile_policy(document.to_domain(2))
    data = document.to_json()
    data["rules"][0]["hold_at"] = 0.7  # a tweak, as an admin would try
    current = compile_policy(type(document).model_validate(data).to_domain(1))
    # Stored decisions as the current guidelines made them, with a little drift
    # (decisions taken under older versions).
    rng = random.Random(2)
    cases = synthetic_cases(n)
    cases = [
        replace(case, decided=rng.choice(list(Action)) if rng.random() < 0.03 else action)
        for case, action in zip(cases, decide_many(current, cases), strict=True)
    ]

    result = backtest(proposed, cases)
    timings = {
        "backtest(proposed)": best_of(3, lambda: backtest(proposed, cases)),
        "backtest(proposed, current=...)": best_of(
            3, lambda: backtest(proposed, cases, current=current)
        ),
        "suggest(classifier='detoxify:unbiased')": best_of(
            3, lambda: suggest(cases, classifier="detoxify:unbiased")
        ),
        "BacktestResult.to_json()": best_of(3, result.to_json),
    }
    probe = cases[: min(n, 5000)]
    engine = best_of(
        1,
        lambda: [
            decide(
                proposed,
                c.text or "",
                c.scores,
                c.classifier,
                Context(c.article_mode, c.article_tags, c.author_status),
            )
            for c in probe
        ],
    )
    timings[f"engine.decide per case x {n:,} (extrapolated)"] = (
        engine[0] / len(probe) * n,
        engine[1] / len(probe) * n,
    )

    taught = with_examples(document, 1000)
    embedded = embed_cases(cases)
    timings["backtest(proposed with 1,000 examples), stored embeddings"] = best_of(
        3, lambda: backtest(taught, embedded)
    )

    body = result.to_json()
    wide = sum(1 for c in cases if c.text is not None and not c.text.isascii())
    lines = [
        "# Backtest and suggestions over synthetic stored comments",
        "",
        *provenance.header("backtest_bench.py", n),
        "",
        f"{n:,} cases ({wide:,} with non-ASCII text); changed {body['changed']:,}; "
        f"moderated {body['moderators']['evidence']:,}",
        "",
        "| step | wall s | CPU s | µs / case (CPU) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, (wall, cpu) in timings.items():
        lines.append(f"| {name} | {wall:.3f} | {cpu:.3f} | {cpu / n * 1e6:.2f} |")
    (ROOT / "bench" / "results" / "backtest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def with_examples(document: Any, count: int) -> Policy:
    """The default guidelines with ``count`` more examples spread over the rules,
    embedded as random unit vectors (what matters here is the arithmetic)."""
    rng = np.random.default_rng(3)
    data = document.to_json()
    vectors: dict[str, Vectors] = {}
    for i in range(count):
        rule = data["rules"][i % len(data["rules"])]
        text = f"example {i}"
        vector = rng.standard_normal(384).astype(np.float32)
        vectors[text] = vector / np.linalg.norm(vector)
        rule.setdefault("examples", []).append(text)

    def embed(texts: Sequence[str]) -> Vectors:
        for text in texts:  # the default guidelines' own examples too
            if text not in vectors:
                vector = rng.standard_normal(384).astype(np.float32)
                vectors[text] = vector / np.linalg.norm(vector)
        return np.stack([vectors[t] for t in texts])

    return compile_policy(type(document).model_validate(data).to_domain(3), embed)


def embed_cases(cases: list[Case]) -> list[Case]:
    rng = np.random.default_rng(4)
    vectors = rng.standard_normal((len(cases), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    packed = vectors.astype(np.float16)
    return [replace(c, embedding=packed[i].tobytes()) for i, c in enumerate(cases)]


if __name__ == "__main__":
    main()
