"""Where a benchmark's numbers came from, in the words every results file uses.

Each file under bench/results/ opens with the command that reproduces it, the code that
ran and the machine it ran on (tests/test_bench_results.py holds them to it)::

    Command: `.venv/bin/python bench/minilm_bench.py --seconds 30`
    Commit: fa16220; CPU: AMD EPYC 7B13 [avx2], 2 cores

``make bench`` re-runs every one of those commands.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def commit() -> str:
    """The short commit, with ``+changes`` when the tree differs from it (the results
    files themselves aside: ``make bench`` rewrites them one after another)."""
    head = _git("rev-parse", "--short", "HEAD")
    if not head:
        return "not recorded (no git checkout)"
    dirty = _git("status", "--porcelain", "--", ".", ":(exclude)bench/results")
    return head + ("+changes" if dirty else "")


def cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what the platform says, followed
    by the instruction sets that decide which recipe is fastest (the ``RELEVANT_FLAGS``
    of classifiers/onnx/recipes.py it reports), e.g. ``AMD EPYC [avx2]``: one model
    name covers machines with and without AVX-512, VNNI, BF16 or AMX, and their figures
    differ by up to fifteen times."""
    from classifiers.onnx.recipes import cpu_flags

    name = ""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "not recorded"
    flags = cpu_flags(cpuinfo)
    return f"{name} [{' '.join(flags)}]" if flags else name


def cores() -> int:
    """The cores this process may run on (a container's share, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def command(script: str, *args: object) -> str:
    """The ``Command:`` line for ``bench/<script>`` run with ``args``."""
    words = [str(a) for a in args if str(a)]
    line = " ".join([".venv/bin/python", f"bench/{script}", *words])
    return f"Command: `{line}`"


def machine() -> str:
    """The ``Commit: …; CPU: …, N cores`` line (callers may append more after a ``;``)."""
    return f"Commit: {commit()}; CPU: {cpu()}, {cores()} cores"


def header(script: str, *args: object) -> list[str]:
    """Both lines, the first ending in a Markdown line break."""
    return [command(script, *args) + "  ", machine()]


def steadiness(samples: int = 10) -> tuple[float, float]:
    """How fast one core runs a fixed workload now: the fastest and slowest of ``samples``
    timings of the same small matrix products, in milliseconds of CPU time.

    On a shared virtual machine the same work can take twice as long from one second to
    the next (a neighbour on the sibling hyperthread, the host's frequency); a results
    file that records this beside its figures says how far apart two runs may be for
    that reason alone."""
    import time

    import numpy
    from threadpoolctl import threadpool_limits

    matrix = numpy.random.default_rng(0).random((192, 192), dtype=numpy.float32)
    timings = []
    with threadpool_limits(limits=1):
        matrix @ matrix  # the first product pays for BLAS's set-up
        for _ in range(samples):
            started = time.thread_time()
            for _ in range(100):
                matrix @ matrix
            timings.append(1000 * (time.thread_time() - started))
            time.sleep(0.2)
    return min(timings), max(timings)


def steadiness_line(before: tuple[float, float], after: tuple[float, float]) -> str:
    """The results files' sentence for :func:`steadiness` measured before and after."""
    low, high = min(before[0], after[0]), max(before[1], after[1])
    return (
        f"Machine steadiness: a fixed workload took {low:.1f}-{high:.1f} ms of CPU "
        f"({high / low:.2f}x) in samples before and after the run (bench/provenance.py, "
        "`steadiness`); figures of separate runs differ by up to that for this reason alone."
    )
