"""Decisions, not scores: the default guidelines and the offline model on held-out comments.

Decides every labelled comment the way the service does — the scorer (scores, embedding,
language), the default guidelines compiled with their examples, the engine — and counts
what a newsroom cares about: of the comments that clearly break the guidelines
(``expect=violating``), how many would be published; of the fine ones, how many would be
rejected, and how many held. Reported for ``minilm`` and for ``linear`` (the previous
offline default), on the held-out evaluation set (never trained on; also each of its two
halves) and, for contrast, on
the training set; the non-English comments separately. Then the service's identity-term
audit of the same set-up.

    .venv/bin/python bench/decision_quality.py   # writes bench/results/decision_quality.md
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import provenance  # noqa: E402

from classifiers.encoder import SentenceEncoder  # noqa: E402
from classifiers.linear import LinearClassifier  # noqa: E402
from classifiers.minilm import MiniLMClassifier  # noqa: E402
from moderation.domain.engine import Context, Policy, decide  # noqa: E402
from moderation.domain.guidelines import from_document  # noqa: E402
from moderation.domain.identity_audit import AUDITED, AuditResult  # noqa: E402
from moderation.domain.identity_audit import sentences as audit_sentences  # noqa: E402
from moderation.http.guidelines_document import read_toml  # noqa: E402
from moderation.services.identity_audit import decide_all  # noqa: E402
from moderation.services.policies import PolicyCache  # noqa: E402
from moderation.workers.scorer import Scorer  # noqa: E402

DATA = ROOT / "classifiers" / "training" / "data"
DEFAULT_GUIDELINES = GUIDELINES = ROOT / "guidelines" / "default.toml"


def load(pattern: str) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(DATA.glob(pattern)) for line in path.open()]


@asynccontextmanager
async def scoring(
    classifier: Any, encoder: SentenceEncoder
) -> AsyncIterator[tuple[Scorer, Policy]]:
    """The service's scorer for ``classifier`` and the guidelines compiled with their
    examples, as the service runs them; the scorer is closed on leaving."""
    scorer = Scorer(classifier, embedder=encoder, max_batch=64, queue_limit=100_000, timeout_s=600)
    scorer.start()
    try:
        yield scorer, await PolicyCache(scorer.embed).build(from_document(read_toml(GUIDELINES), 1))
    finally:
        await scorer.close()


async def decisions(
    classifier: Any, encoder: SentenceEncoder, rows: list[dict[str, Any]]
) -> list[str]:
    async with scoring(classifier, encoder) as (scorer, policy):
        tags = frozenset({"war"})
        out = []
        for start in range(0, len(rows), 256):
            chunk = rows[start : start + 256]
            for row, scored in zip(
                chunk, await scorer.score_named([r["text"] for r in chunk]), strict=True
            ):
                context = Context(
                    article_tags=tags if row.get("topic") == "war" else frozenset(),
                    embedding=scored.embedding,
                    language_supported=scored.language_supported,
                    language=scored.language,
                )
                out.append(
                    decide(policy, row["text"], scored.scores, scored.by, context).action.value
                )
        return out


async def identity_audit(classifier: Any, encoder: SentenceEncoder) -> AuditResult:
    """The service's identity-term audit of the guidelines with ``classifier``."""
    async with scoring(classifier, encoder) as (scorer, policy):
        audited = audit_sentences(AUDITED)
        return decide_all(policy, audited, await scorer.score_named([s.text for s in audited]))


def audit_lines(name: str, result: AuditResult) -> list[str]:
    """The audit's row: sentences, held, rejected, the baseline's, the worst terms."""
    held = sum(t.held for t in result.terms)
    rejected = sum(t.rejected for t in result.terms)
    worst = sorted((t for t in result.terms if t.flagged), key=lambda t: (-t.rejected, -t.held))[:5]
    shown = ", ".join(f"{t.term.term} {t.held} held, {t.rejected} rejected" for t in worst)
    baseline = result.baseline
    return [
        f"| {name} | {result.sentences} | {held} | {rejected} | "
        f"{baseline.held + baseline.rejected if baseline else '–'} | {shown or '–'} |"
    ]


def figures(rows: list[dict[str, Any]], actions: list[str]) -> dict[str, Any]:
    by: dict[str, Counter[str]] = {"violating": Counter(), "review": Counter(), "fine": Counter()}
    for row, action in zip(rows, actions, strict=True):
        by[row["expect"]][action] += 1

    def share(expect: str, action: str) -> str:
        total = sum(by[expect].values())
        return (
            f"{100 * by[expect][action] / total:.1f} % ({by[expect][action]}/{total})"
            if total
            else "–"
        )

    return {
        "violating published": share("violating", "approve"),
        "violating rejected": share("violating", "reject"),
        "review published": share("review", "approve"),
        "fine rejected": share("fine", "reject"),
        "fine held": share("fine", "hold"),
    }


async def main(heads: Path | None, write: bool) -> None:
    encoder = SentenceEncoder(runtime="torch")
    models = {"minilm": MiniLMClassifier(encoder, heads_path=heads), "linear": LinearClassifier()}
    sets = {
        "held-out evaluation set": load("eval/set_*.jsonl"),
        "its half `set_a` (chose once between candidate heads: docs/classifiers.md)": load(
            "eval/set_a.jsonl"
        ),
        "its half `set_b` (chose nothing)": load("eval/set_b.jsonl"),
        "training set (learned from: for contrast only)": load("train/*.jsonl"),
        "Russian, Ukrainian, German, French (evaluation)": load("eval/other_languages.jsonl"),
    }
    lines = [
        "# Decisions of the default set-up on labelled news comments",
        "",
        provenance.command(
            "decision_quality.py",
            f"--heads {heads}" if heads else "",
            f"--guidelines {GUIDELINES}" if GUIDELINES != DEFAULT_GUIDELINES else "",
        )
        + "  ",
        f"{provenance.machine()}. Guidelines: `{os.path.relpath(GUIDELINES, ROOT)}` "
        "(with its examples); war-topic comments decided as under an article tagged `war`. "
        "Every decision goes through the service's scorer and engine (scores, examples, "
        "language, terms, links).",
        "",
        "Targets (issue 18): violating published ≤ 5 %, fine rejected ≤ 3 %, fine held ≤ 15 %.",
        "",
    ]
    for title, rows in sets.items():
        lines += [
            f"## {title}",
            "",
            "| classifier | " + " | ".join(figures(rows, ["approve"] * len(rows))) + " |",
        ]
        lines.append("| --- |" + " ---: |" * 5)
        for name, model in models.items():
            shown = figures(rows, await decisions(model, encoder, rows))
            lines.append(f"| {name} | " + " | ".join(shown.values()) + " |")
        lines.append("")
    lines += [
        "## Identity-term audit",
        "",
        "The service's audit (`GET /v1/guidelines/audit`): neutral and warm sentences naming "
        "groups, decided by these guidelines as comments on an untagged article; every "
        "one should be approved. Baseline: the same sentences naming no group.",
        "",
        "| classifier | sentences | held | rejected | baseline held or rejected | "
        "terms flagged (at most 5) |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, model in models.items():
        lines += audit_lines(name, await identity_audit(model, encoder))
    lines.append("")
    if write:
        (ROOT / "bench" / "results" / "decision_quality.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", type=Path, help="other heads than the committed ones")
    parser.add_argument("--guidelines", type=Path, default=GUIDELINES)
    parser.add_argument("--no-write", action="store_true", help="print only (trying things)")
    arguments = parser.parse_args()
    GUIDELINES = arguments.guidelines
    asyncio.run(main(arguments.heads, not arguments.no_write))
