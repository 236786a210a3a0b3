"""Benchmark results say what they measured, and the README quotes only what they hold.

1. Every results file (bench/results/*.md) names the command that reproduces it (a
   script under bench/ that exists, run by ``make bench``), the commit it ran on and the
   CPU (``bench/provenance.py`` writes both lines; an unknown is written "not recorded",
   never guessed).
2. The README's figures have a source. Checked: every number in the README's
   "Benchmarks" section, and in any other paragraph that links to bench/results/.
   Not checked: numbers inside `code`, and link targets. A figure passes when the same
   number, as written (thousands separators aside), occurs in some results file: a
   rounded or remembered figure fails; quote the file's own.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = sorted((ROOT / "bench" / "results").glob("*.md"))
COMMAND = re.compile(
    r"^Command: `\.venv/bin/python (?P<script>bench/[\w/]+\.py)(?P<args>[^`]*)`", re.M
)
PROVENANCE = re.compile(
    r"^Commit: (?P<commit>[^;\n]+); CPU: (?P<cpu>[^;,\n]+?)(?:, (?P<cores>\d+) cores)?(?:[;.]|$)",
    re.M,
)
KNOWN_COMMIT = re.compile(r"[0-9a-f]{7,40}(\+changes)?")
NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?(?!\w)")


def make_bench_commands() -> set[str]:
    """The commands ``make bench`` runs, as a results file writes them."""
    recipe = (ROOT / "Makefile").read_text().split("\nbench:", 1)[1].split("\n\n", 1)[0]
    return {
        line.strip().replace("$(PY)", ".venv/bin/python")
        for line in recipe.splitlines()
        if line.strip().startswith("$(PY) bench/")
    }


def test_there_are_results() -> None:
    assert len(RESULTS) >= 8


@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.name)
def test_a_results_file_names_its_command_commit_and_cpu(path: Path) -> None:
    text = path.read_text()
    command = COMMAND.search(text)
    assert command, f"{path.name}: no `Command: .venv/bin/python bench/<script>.py …` line"
    assert (ROOT / command["script"]).is_file(), f"{path.name}: {command['script']} is not there"
    line = f".venv/bin/python {command['script']}{command['args']}"
    assert line in make_bench_commands(), f"{path.name}: `make bench` does not run {line}"
    provenance = PROVENANCE.search(text)
    assert provenance, f"{path.name}: no `Commit: …; CPU: …` line"
    commit, cpu = provenance["commit"].strip(), provenance["cpu"].strip()
    assert KNOWN_COMMIT.fullmatch(commit) or commit.startswith("not recorded"), commit
    assert cpu, path.name
    if not cpu.startswith("not recorded"):
        assert provenance["cores"], f"{path.name}: the CPU without its number of cores"


def test_every_results_file_is_one_make_bench_writes() -> None:
    written = {
        f".venv/bin/python {m['script']}{m['args']}"
        for path in RESULTS
        if (m := COMMAND.search(path.read_text()))
    }
    assert make_bench_commands() == written


def numbers(text: str) -> list[str]:
    """The numbers in Markdown prose, thousands separators dropped; code spans, fenced
    blocks and link targets left out."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return [n.replace(",", "") for n in NUMBER.findall(text)]


def quoting_benchmarks(readme: str) -> str:
    """The README's text held to the results: the Benchmarks section, and each other
    paragraph that links to bench/results/."""
    section = re.search(r"^## Benchmarks\n(.*?)(?=^## |\Z)", readme, flags=re.M | re.S)
    assert section, "README.md has no '## Benchmarks' section"
    rest = readme.replace(section[0], "")
    linked = [p for p in re.split(r"\n\s*\n", rest) if "bench/results/" in p]
    return "\n\n".join([section[1], *linked])


def test_the_rule_reads_figures_as_meant() -> None:
    text = (
        "141.5 comments/s, p99 67 ms, 1,025 examples, 40-80 words, 3.3× naive, "
        "`bench/x.py --seconds 30` [file](bench/results/a2.md) int8 p50 L6"
    )
    assert numbers(text) == ["141.5", "67", "1025", "40", "80", "3.3"]


def test_readme_quotes_only_figures_a_results_file_holds() -> None:
    held = {n for path in RESULTS for n in numbers(path.read_text())}
    quoted = quoting_benchmarks((ROOT / "README.md").read_text())
    unsourced = sorted(set(numbers(quoted)) - held, key=float)
    assert unsourced == [], (
        "README.md quotes benchmark figures that no bench/results/*.md holds "
        "(quote the file's own figure, or drop the claim)"
    )


def test_steadiness_reads_the_same_work_and_says_how_far_apart_it_ran() -> None:
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    import provenance

    low, high = provenance.steadiness(samples=3)
    assert 0 < low <= high
    line = provenance.steadiness_line((2.0, 3.0), (1.5, 2.5))
    assert "1.5-3.0 ms" in line and "(2.00x)" in line
