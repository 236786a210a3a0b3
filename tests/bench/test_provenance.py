"""bench/provenance.py: the machine line every results file opens with."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import provenance

from tests.test_bench_results import PROVENANCE

AVX512 = "fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 sha_ni"


def cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(
        f"processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: {flags}\n\n"
        f"processor\t: 1\nmodel name\t: AMD EPYC 7B13\nflags\t\t: {flags}\n"
    )
    return path


def test_the_cpu_is_named_with_the_instructions_that_decide_the_recipe(tmp_path: Path) -> None:
    assert provenance.cpu(cpuinfo(tmp_path, "fpu sse2 avx avx2 fma")) == "AMD EPYC 7B13 [avx2]"
    assert provenance.cpu(cpuinfo(tmp_path, AVX512)) == (
        "AMD EPYC 7B13 [avx2 avx512f avx512bw avx512_vnni avx512_bf16]"
    )


def test_a_cpu_without_those_instructions_is_its_name_alone(tmp_path: Path) -> None:
    assert provenance.cpu(cpuinfo(tmp_path, "fpu sse2")) == "AMD EPYC 7B13"


def test_the_line_is_one_the_results_check_reads() -> None:
    match = PROVENANCE.search(provenance.machine() + "; more")
    assert match is not None
    assert match["cpu"] == provenance.cpu()
    assert match["cores"] == str(provenance.cores())


def test_a_cpu_with_those_instructions_is_read_whole(tmp_path: Path) -> None:
    line = f"Commit: 82ec7ef; CPU: {provenance.cpu(cpuinfo(tmp_path, AVX512))}, 2 cores"
    match = PROVENANCE.search(line)
    assert match is not None
    assert match["cpu"] == "AMD EPYC 7B13 [avx2 avx512f avx512bw avx512_vnni avx512_bf16]"
