"""Writes docs/mutation.md from the results `mutmut run` left under mutants/.

Run by ``make mutation`` after mutmut, with the same mutant-name patterns (the functions
counted: all of ratelimit.py, engine.py and terms.py, but only ``priority`` of
decisions.py and ``sign`` and ``backoff`` of webhook_sender.py, whose other functions do
I/O). Each surviving mutant is listed with its diff and the reason it is equivalent
(:data:`EQUIVALENT`, reviewed by hand), or marked NOT REVIEWED. Mutant names are
numbered per function: a change to a function renumbers its mutants, and its reasons
below must be reviewed again (the report then shows them as NOT REVIEWED or stale).
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "mutation.md"
COMMAND = "make mutation"

# The mutated modules ([tool.mutmut] only_mutate), in the report's order.
MODULES = [
    "moderation/domain/ratelimit.py",
    "moderation/services/decisions.py",
    "moderation/workers/webhook_sender.py",
    "moderation/domain/engine.py",
    "moderation/textmatch/terms.py",
    "moderation/workers/scorer.py",
]

# Surviving mutants that no test can kill, and why. Key: the mutant's name.
_TRIE_DEPTH = (
    "where the combined pattern stops sharing prefixes and spells out the rest "
    "(`_TRIE_DEPTH`) changes only the pattern's shape and speed, not what it matches: "
    "`find` reports a set (companions recover any term an earlier alternative hides)."
)
EQUIVALENT: dict[str, str] = {
    "moderation.domain.ratelimit.xǁRateLimiterǁcheck__mutmut_40": (
        "`code=None`: ServiceError then keeps the class's code, which is `rate_limited`."
    ),
    "moderation.domain.ratelimit.xǁRateLimiterǁcheck__mutmut_43": (
        "`code=` dropped: the same class default, `rate_limited`."
    ),
    "moderation.workers.webhook_sender.x_sign__mutmut_12": (
        '`"UTF-8"` for `"utf-8"`: codec names are case-insensitive.'
    ),
    "moderation.domain.engine.x_decide__mutmut_174": (
        "`max` without the severity key compares the actions' values as strings, and "
        '"approve" < "hold" < "reject" is also their order of severity.'
    ),
    "moderation.domain.engine.x_decide__mutmut_177": "as _174 (`key=` dropped).",
    "moderation.textmatch.terms.x__trie_pattern__mutmut_1": "depth starts at 1: " + _TRIE_DEPTH,
    "moderation.textmatch.terms.x__trie_pattern__mutmut_2": (
        "`!=`: the root is spelled out flat at once: " + _TRIE_DEPTH
    ),
    "moderation.textmatch.terms.x__trie_pattern__mutmut_18": "depth + 2: " + _TRIE_DEPTH,
    "moderation.textmatch.terms.x__flat_suffixes__mutmut_4": (
        "the root's parent link -2 for -1: the walk stops at any negative link."
    ),
    "moderation.textmatch.terms.x__forms__mutmut_15": (
        "the fast path returns the leet form beside the plain one even when they are "
        "equal: the same text searched twice."
    ),
    "moderation.textmatch.terms.x__forms__mutmut_20": (
        "`spaced_forms(glyphs)` even when `glyphs == folded`: that is `plain` again."
    ),
    "moderation.workers.scorer.xǁScorerǁ_take__mutmut_10": (
        "`remaining < 0` for `<= 0`: at exactly 0 the mutant waits with a timeout of 0, "
        "which times out at once (the waiting coroutine has not run): None either way."
    ),
    "moderation.textmatch.terms.xǁTermMatcherǁfind__mutmut_7": (
        "`lastindex or 1`: every alternative ends in an empty group, so `lastindex` is "
        "never None or 0."
    ),
}

# Survivors not killed and not shown equivalent: listed as such, with what was tried.
UNRESOLVED: dict[str, str] = {
    "moderation.textmatch.terms.x__term_forms__mutmut_16": (
        "keeps a term's unmapped spelling only where it equals the mapped one (a "
        'duplicate) and drops it where leet changed digits ("4chan"). No input tried '
        "tells them apart (10 such terms x 30 texts): the text's leet form carries the "
        "same mapping, so the mapped spelling finds them. Probably equivalent, not shown."
    ),
}

# Hand-written: the tests added to kill survivors.
KILLS = """\
All in `tests/domain/test_mutation_kills.py`:

- ratelimit: a role missing from the rates is unlimited (`rate_of`'s default 0.0); the
  refusal's message, code and `retry_after` rounded to a tenth.
- decisions `priority`: a score counts only on a `threshold` reason with a category; an
  unknown category weighs 0.5.
- webhook `sign`: a known answer (lowercase `sha256=`); `backoff`: the default base and
  cap, and the jitter drawn from [0.5, 1.5] and multiplied.
- engine: every reason's code, action, message, guideline section and terms at once (a
  banned author separately); `unsupported_language = "approve"` adds no reason; a rule
  whose category is missing or below threshold does not stop the next; example reasons
  in full (rule, category, score to 4 places, the reject or hold threshold, nearest
  example), and none without the comment's embedding; `compile_policy` embeds the
  examples; the reader messages (approval, hold, rejection; each cited part once, a
  reason of another action skipped, no section, a capital kept outside thresholds).
- terms: plurals in "es" only after s/x/z/ch/sh/o (and not uppercase); a shared letter
  between words does not end the term; every reading of spaced-out letters is searched,
  in its leet form too; a companion term with two spellings is checked whole, where the
  match starts; a term as one word and as two ("whitepower", "white power") are
  companions.

`tests/domain/test_examples.py` joined the mutation test selection: it is what reaches
`example_reasons` and `example_action` (their mutants had no tests before).

`tests/workers/test_scorer_mutation_kills.py`: the scorer's batching window: a batch
waits for company when the window is under a second (`_take`'s `remaining <= 1`); a
long text's first chunk (rank SOON) never rides along with a comment's batch (`_pop`'s
slice of queues); and the `_run` survivors below.
"""

# Hand-written: what the run does not cover, and why.
NOT_COVERED = """\
- **The backtest** (`moderation/backtest/`, about 800 lines): not run yet; its mutants
  would need their own review (no time in the first pass).
- **The scorer's batching loop** (`moderation/workers/scorer.py`, `_run`; its deadline,
  `_take`, and `_pop` are counted): configured (`only_mutate`, its tests in the
  selection) but not counted by `make mutation`. Its tests are asynchronous and many of
  its mutants loop until mutmut's timeout: a trial got through 29 of `_run`'s 131
  mutants in 3 minutes (25 killed, 4 survived). The 4 survivors (`_run__mutmut_12`, `_13`: the
  character cap of a comments' batch taken from `max_later_chars`; `_15`: the wait
  window subtracted, so no batch waits for company; `_18`: `<=` for `<` at the cap) are
  killed by `tests/workers/test_scorer_mutation_kills.py`, confirmed by running those 4
  mutants again. To run the rest:
  `.venv/bin/mutmut run 'moderation.workers.scorer.xǁScorerǁ_run__*'` (expect well over
  10 minutes on 2 cores).
- In `decisions.py` and `webhook_sender.py` only `priority`, `sign` and `backoff`
  count; their other functions do I/O (the store, HTTP) and belong to slower tests.

Caveat: some tests in the selection measure time (`tests/textmatch/test_textmatch.py`'s
linear-work checks, the scorer's batching windows), so on a loaded machine a mutant can
be counted killed by a slow run: `_term_forms__mutmut_16` was killed in one run and
survived the next. Counts may move by one or two between runs.
"""


def _git_head() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    head = result.stdout.strip() or "not recorded"
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--", *MODULES, "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{head} (with uncommitted changes to the modules or tests)" if changed else head


def _changed_lines(name: str, path: str) -> list[str]:
    diff = get_diff_for_mutant(name, path=path)
    return [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def main(patterns: list[str]) -> None:
    rows = []
    survivors: list[tuple[str, str, str]] = []
    totals: Counter[str] = Counter()
    for path in MODULES:
        meta = ROOT / "mutants" / (path + ".meta")
        if not meta.exists():
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts: Counter[str] = Counter()
        for name, code in sorted(codes.items()):
            if not any(fnmatch.fnmatch(name, p) for p in patterns):
                continue
            status = "not checked" if code is None else status_by_exit_code[code]
            counts[status] += 1
            if status not in ("killed", "timeout", "caught by type check"):
                survivors.append((name, path, status))
        if not counts:
            continue
        totals.update(counts)
        rows.append((path, counts))

    lines = [
        "# Mutation testing of the pure core",
        "",
        "Written by `bench/mutation_report.py`; do not edit by hand (edit its",
        "`EQUIVALENT` and `KILLS` and run it again).",
        "",
        f"Command: `{COMMAND}`",
        f"Commit: {_git_head()}",
        "",
        "Tool: mutmut (pinned in pyproject's `test` extra; configured in `[tool.mutmut]`).",
        "Each mutant runs against only the tests that reach its function, from the fast",
        "selection in `[tool.mutmut] pytest_add_cli_args_test_selection`.",
        "Counted: " + ", ".join(f"`{p}`" for p in patterns) + ".",
        "",
        "Killed includes timeouts (a mutant that loops is caught). Score: killed / total;",
        "adjusted: killed / (total − equivalent survivors).",
        "",
        "| module | killed | survived | equivalent | no tests | not run | total | score "
        "| adjusted |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def row(label: str, counts: Counter[str], equivalent: int) -> str:
        killed = counts["killed"] + counts["timeout"] + counts["caught by type check"]
        total = sum(counts.values())
        score = 100 * killed / total if total else 0.0
        adjusted = 100 * killed / (total - equivalent) if total > equivalent else 100.0
        return (
            f"| {label} | {killed} | {counts['survived']} | {equivalent} "
            f"| {counts['no tests']} | {counts['not checked']} | {total} "
            f"| {score:.1f} % | {adjusted:.1f} % |"
        )

    all_equivalent = 0
    for path, counts in rows:
        equivalent = sum(1 for n, p, s in survivors if p == path and n in EQUIVALENT)
        all_equivalent += equivalent
        lines.append(row(f"`{path}`", counts, equivalent))
    lines.append(row("**all**", totals, all_equivalent))
    lines += ["", "## Tests added", "", KILLS, "## Not covered", "", NOT_COVERED]
    lines += ["## Surviving mutants", ""]
    if not survivors:
        lines.append("None.")
    for name, path, status in survivors:
        if name in EQUIVALENT:
            verdict = f"equivalent: {EQUIVALENT[name]}"
        elif name in UNRESOLVED:
            verdict = f"**not killed, not shown equivalent** ({status}): {UNRESOLVED[name]}"
        else:
            verdict = f"**NOT REVIEWED** ({status})"
        lines.append(f"- `{name}`: {verdict}")
        lines.append("")
        lines.append("  ```diff")
        lines += [f"  {line}" for line in _changed_lines(name, path)]
        lines.append("  ```")
        lines.append("")
    REPORT.write_text("\n".join(lines).rstrip() + "\n")
    print(f"wrote {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
