"""Model recipes (how an exported graph runs) and choosing one per machine by measurement.

A *recipe* is a graph variant (``fp32``, dynamic ``int8``, static ``static-int8``) plus
how it runs: rows per sub-batch, session optimisations switched off, and whether a row's
scores are independent of the rows it is batched with (:attr:`Recipe.batch_independent`).

* ``onnx``: the fp32 graph, batches of up to 8 rows.
* ``onnx-int8``: dynamic int8 (weights int8, activations quantised with one scale per
  run): a row's scores depend on its batch partners, so each row runs alone.
* ``onnx-int8-nofuse``: the same graph with ONNX Runtime's ``SkipLayerNormFusion``
  switched off at load (the fused operator was slower than its parts around int8
  matrix products on the machines measured: docs/inference.md).
* ``onnx-static-int8``: static (calibrated) int8 in QDQ form, per-channel weights,
  activation scales fixed at export from training comments: a row's scores do not
  depend on its partners, so rows are batched again (length-bucketed, up to 8).
* ``onnx-static-int8-nofuse``: the same without ``SkipLayerNormFusion``.
* ``openvino-static-int8``: the static int8 graph run by OpenVINO instead (only when the
  optional ``openvino`` package is installed: ``pip install '.[openvino]'``).

``auto`` (:data:`AUTO`) chooses among them on each machine (:func:`choose`): at export
time every candidate is checked for fidelity against fp32 on a fixed set of training
comments (largest score difference and share of decisions agreeing), the ones that pass
are timed for a few seconds on short comments, and the fastest is kept. Given length
bands (:data:`BANDS`; the Detoxify backend gives them), the passing candidates are also
timed on texts of each band's length, and a band takes its own fastest recipe when that
is at least :data:`MIN_BAND_GAIN` faster there than the short comments' recipe. The
choice is cached beside the export under a key (:func:`choice_key`) that covers the
CPU's feature flags, the cores, onnxruntime's version, the calibration corpus and the
candidates, so another machine (or an upgraded onnxruntime) measures again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Choose the recipe by measurement on this machine.
AUTO = "auto"
#: Bump when recipes, their graphs or the selection change: cached choices are ignored.
RECIPES_VERSION = 6
#: The selection's fidelity limits (issue 16): against fp32 on the check comments.
MAX_SCORE_DIFF = 0.02
MIN_AGREEMENT = 0.995
#: Seconds each passing candidate is timed for at export, in interleaved rounds (each
#: keeps its best round, so a burst of load elsewhere on the machine does not decide).
TIMING_SECONDS = 3.0
TIMING_ROUNDS = 3
#: Training comments used to calibrate static int8, and the (disjoint) ones used to check.
CALIBRATION_TEXTS = 96
CHECK_TEXTS = 200
#: ONNX Runtime's fusion that the ``-nofuse`` recipes switch off.
SKIP_LAYER_NORM_FUSION = "SkipLayerNormFusion"
#: CPU flags that change which recipe is fastest (int8 dot products, bf16, AMX).
RELEVANT_FLAGS: tuple[str, ...] = (
    "avx2",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_bf16",
    "amx_int8",
    "amx_tile",
)

Thresholds = Mapping[str, tuple[float | None, float | None]]
"""Per category ``(hold_at, reject_at)``; ``None`` means never."""

#: Without the guidelines' thresholds, a decision is which side of 0.5 each category is on.
PLAIN_THRESHOLDS: Thresholds = {}


@dataclass(frozen=True, slots=True)
class Recipe:
    """How one graph variant runs."""

    name: str
    #: The graph file's stem in the export folder: ``fp32``, ``int8``, ``static-int8``.
    graph: str
    #: Most rows per length-bucketed sub-batch.
    rows: int
    #: True when a row's scores do not depend on the rows batched with it.
    batch_independent: bool
    #: ONNX Runtime optimisers switched off when the session is created.
    disabled_optimizers: tuple[str, ...] = ()
    #: What runs the graph: ``onnxruntime`` or ``openvino``.
    engine: str = "onnxruntime"
    #: A call's fixed cost in tokens (reading the weights and the like), against which
    #: sub-batches are balanced over the workers and a batch on one thread is cut into
    #: its cheapest calls (``detoxify_backend.balanced_batches``): about 9 for static
    #: int8 bert-base on an AMD EPYC (4.8 ms a call, 0.52 ms a token; 12 on one thread
    #: another day, 6.6 ms and 0.55 ms).
    call_tokens: int = 8

    def available(self) -> bool:
        """Whether this recipe's engine can be imported here."""
        if self.engine == "onnxruntime":
            return True
        try:
            import openvino  # noqa: F401
        except Exception:
            return False
        return True

    def session(self, ort: Any, path: Path) -> Any:
        """A session for ``path`` with this recipe's settings: anything with ONNX
        Runtime's ``run(output_names, feeds)``, safe to call from several threads."""
        from classifiers.onnx.session import session_options

        if self.engine == "openvino":
            return OpenVinoSession(path)
        return ort.InferenceSession(
            str(path),
            session_options(ort),
            providers=["CPUExecutionProvider"],
            disabled_optimizers=list(self.disabled_optimizers),
        )


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("onnx", "fp32", 8, True),
        Recipe("onnx-int8", "int8", 1, False),
        Recipe("onnx-int8-nofuse", "int8", 1, False, (SKIP_LAYER_NORM_FUSION,)),
        Recipe("onnx-static-int8", "static-int8", 8, True),
        Recipe("onnx-static-int8-nofuse", "static-int8", 8, True, (SKIP_LAYER_NORM_FUSION,)),
        Recipe("openvino-static-int8", "static-int8", 8, True, engine="openvino"),
    )
}


def available_candidates() -> tuple[str, ...]:
    """What ``auto`` tries, in this order (fp32 first: it is the reference and the
    fallback): the recipes whose engine is installed here."""
    return tuple(name for name, r in RECIPES.items() if r.available())


class OpenVinoSession:
    """An OpenVINO compiled model behind ONNX Runtime's ``run`` signature: one inference
    thread per call (parallelism comes from sub-batches side by side, as with ONNX
    Runtime), one infer request per calling thread."""

    def __init__(self, path: Path) -> None:
        import threading

        import openvino

        self._compiled = openvino.Core().compile_model(
            str(path),
            "CPU",
            {"INFERENCE_NUM_THREADS": 1, "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1},
        )
        self._local = threading.local()

    def run(self, output_names: Sequence[str], feeds: Mapping[str, Any]) -> list[Any]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        results = request.infer(dict(feeds))
        by_name = {port.get_any_name(): value for port, value in results.items()}
        return [by_name[name].copy() for name in output_names]


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> tuple[str, ...]:
    """The :data:`RELEVANT_FLAGS` this CPU reports (empty when ``cpuinfo`` is unreadable)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    for line in text.splitlines():
        if line.startswith("flags"):
            present = set(line.split(":", 1)[1].split())
            return tuple(flag for flag in RELEVANT_FLAGS if flag in present)
    return ()


#: PyTorch under bfloat16 autocast (CPUs with ``avx512_bf16`` or ``amx_bf16``): the
#: sentence encoder's runtime of that name, and Detoxify's ``auto`` candidate.
TORCH_BF16 = "torch-bf16"
#: A bf16 trace's fixed cost per call in tokens (``Recipe.call_tokens``), for the sentence
#: encoder and Detoxify's candidate alike: measured on the encoder's trace, AMD EPYC
#: without AMX (December), 4.1 ms a call and 0.13 ms a token; not measured for bert-base.
#: On an Intel Xeon with AMX (6 December, one thread, calls of 1-8 rows of 16-48 tokens)
#: the plain trace fitted 5.86 ms and 0.0775 ms (76 tokens), the packed one 3.73 ms and
#: 0.0696 ms (54): the figure differs by CPU, and this one stays the AMD's.
BF16_CALL_TOKENS = 30

#: CPU flags (:func:`cpu_flags`) that make bf16 native, not emulated.
BF16_FLAGS: tuple[str, ...] = ("avx512_bf16", "amx_bf16")


def bf16_missing(flags: Sequence[str]) -> str | None:
    """Why a bf16 runtime (Detoxify's or the sentence encoder's ``torch-bf16``) would not
    run natively on a CPU with ``flags`` (None when it would)."""
    if set(BF16_FLAGS) & set(flags):
        return None
    return "this CPU reports neither avx512_bf16 nor amx_bf16: bf16 would be emulated"


def choice_key(
    *, flags: Sequence[str], threads: int, ort_version: str, corpus: str, candidates: Sequence[str]
) -> str:
    """Names a cached choice: what makes another measurement necessary."""
    key = json.dumps(
        {
            "version": RECIPES_VERSION,
            "flags": sorted(flags),
            "threads": threads,
            "ort": ort_version,
            "corpus": corpus,
            "candidates": list(candidates),
        },
        sort_keys=True,
    )
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Band:
    """Texts (model windows) of at most ``up_to`` tokens (None: any longer), timed on
    texts of about ``timing_tokens`` tokens; the first band is timed on short comments."""

    name: str
    up_to: int | None
    timing_tokens: int


BANDS: tuple[Band, ...] = (
    Band("short", 40, 24),
    Band("medium", 96, 64),
    Band("long", None, 128),
)
"""The length bands a recipe is chosen for: the issue's three measured lengths (short
comments of about 22 tokens, 64 and 128 tokens), split near their geometric midpoints."""

MIN_BAND_GAIN = 1.05
"""A band runs a recipe other than the short comments' only when it measured at least
this much faster there: a second graph costs memory and its session's start, and a
smaller difference is within the timing's noise."""

PARTNER_FREE_MARGIN = 1.25
"""How much faster a recipe whose scores depend on their batch partners (dynamic int8)
must measure to be chosen over one whose scores do not. Partner-free scores make a
comment's decision the same whatever arrived with it (what a backtest or an appeal
replays), and let the service batch rows, which the timing (one quiet process, fixed
calls) does not show: on an AMD EPYC with VNNI, timing put dynamic int8 6.7 % ahead of
static int8 on short comments and the service ran 6 % faster on static int8; on an
Intel Xeon with AMX, timing put it 11.7 % ahead and the service ran 12-19 % faster on
static int8 (docs/inference.md, "How auto chooses"). On short comments; longer bands
use :data:`BAND_PARTNER_FREE_MARGIN`."""

BAND_PARTNER_FREE_MARGIN = 1.10
""":data:`PARTNER_FREE_MARGIN` for the bands after the first (longer texts). What the
timing misses is a per-call cost, which weighs less on longer rows: on the Intel Xeon
with AMX, where timing put dynamic int8 5.6-14 % ahead at 64 tokens and 24-28 % at 128,
the service ran it 3-6 % faster on 73-token comments and 11-17 % faster on 115-token
ones, where on short comments it ran 12-19 % slower."""


@dataclass(frozen=True, slots=True)
class BandChoice:
    """The recipe a length band runs, and its speed there (rows per second)."""

    band: str
    up_to: int | None
    recipe: str
    rows_per_s: float | None


@dataclass(frozen=True, slots=True)
class Fidelity:
    """A candidate against fp32 on the check comments."""

    max_abs_diff: float
    #: Share of the check comments whose decision is fp32's.
    agreement: float
    #: Extra measure a runtime reports (the encoder: smallest cosine to fp32).
    min_cosine: float | None = None


@dataclass(frozen=True, slots=True)
class Trial:
    """One candidate's measurement."""

    recipe: str
    fidelity: Fidelity | None
    #: Rows per second on short comments (None: not timed, it failed before).
    rows_per_s: float | None
    passed: bool
    #: Why it was excluded (None when it passed).
    reason: str | None = None
    #: Rows per second per length band beyond the first (:class:`Band`'s name), when
    #: bands were timed.
    band_rows_per_s: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Choice:
    """The recipe kept (for short comments, and for every length unless ``bands`` says
    otherwise) and every candidate's measurement."""

    recipe: str
    trials: list[Trial] = field(default_factory=list)
    #: The recipe per length band, shortest first (empty: ``recipe`` at every length).
    bands: list[BandChoice] = field(default_factory=list)

    def chosen(self) -> Trial | None:
        return next((t for t in self.trials if t.recipe == self.recipe), None)

    def routes(self) -> list[tuple[int | None, str]]:
        """``(up_to tokens, recipe)`` per band, shortest first; one route (``None``,
        :attr:`recipe`) when every length runs the same recipe."""
        routes: list[tuple[int | None, str]] = []
        for band in self.bands:
            if routes and routes[-1][1] == band.recipe:
                routes[-1] = (band.up_to, band.recipe)
            else:
                routes.append((band.up_to, band.recipe))
        if len(routes) <= 1:
            return [(None, self.recipe)]
        return routes

    def to_json(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "trials": [asdict(t) for t in self.trials],
            "bands": [asdict(b) for b in self.bands],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Choice:
        trials = [
            Trial(
                recipe=str(t["recipe"]),
                fidelity=Fidelity(**t["fidelity"]) if t.get("fidelity") else None,
                rows_per_s=t.get("rows_per_s"),
                passed=bool(t["passed"]),
                reason=t.get("reason"),
                band_rows_per_s={
                    str(k): float(v) for k, v in (t.get("band_rows_per_s") or {}).items()
                },
            )
            for t in data.get("trials", [])
        ]
        bands = [
            BandChoice(
                band=str(b["band"]),
                up_to=None if b.get("up_to") is None else int(b["up_to"]),
                recipe=str(b["recipe"]),
                rows_per_s=b.get("rows_per_s"),
            )
            for b in data.get("bands", [])
        ]
        return cls(recipe=str(data["recipe"]), trials=trials, bands=bands)

    def summary(self) -> str:
        """One line for the log: the choice, then each candidate."""
        parts = []
        for t in self.trials:
            speed = f"{t.rows_per_s:.1f} rows/s" if t.rows_per_s is not None else "not timed"
            fid = (
                f"max diff {t.fidelity.max_abs_diff:.3g}, agreement {t.fidelity.agreement:.2%}"
                + (
                    f", cosine {t.fidelity.min_cosine:.4f}"
                    if t.fidelity.min_cosine is not None
                    else ""
                )
                if t.fidelity
                else "no fidelity"
            )
            if t.band_rows_per_s:
                speed += (
                    " ("
                    + ", ".join(f"{band} {rows:.1f}" for band, rows in t.band_rows_per_s.items())
                    + ")"
                )
            parts.append(f"{t.recipe}: {speed}, {fid}" + (f" ({t.reason})" if t.reason else ""))
        routes = self.routes()
        head = f"{self.recipe} chosen"
        if len(routes) > 1:
            head = "chosen by length: " + ", ".join(
                f"{recipe} up to {up_to} tokens" if up_to is not None else f"{recipe} beyond"
                for up_to, recipe in routes
            )
        return f"{head}; " + "; ".join(parts)


def choose(
    candidates: Sequence[str],
    *,
    fidelity: Callable[[str], Fidelity],
    speed: Callable[[str], float],
    max_abs_diff: float = MAX_SCORE_DIFF,
    min_agreement: float = MIN_AGREEMENT,
    min_cosine: float | None = None,
    rounds: int = TIMING_ROUNDS,
    bands: Sequence[Band] = (),
    band_speed: Callable[[str, Band], float] | None = None,
    batch_independent: Callable[[str], bool] | None = None,
) -> Choice:
    """The fastest candidate whose fidelity passes; every candidate's :class:`Trial`.

    ``fidelity(recipe)`` measures a candidate against the reference (it may raise: the
    candidate is then excluded with the error as the reason); ``speed(recipe)`` times
    one that passed on short comments, :data:`TIMING_ROUNDS` times, the candidates
    taking turns, and its best round counts. The first candidate is the reference (fp32)
    and is kept when no other passes, so there is always a choice.

    With ``bands`` (the first is the short comments') and ``band_speed(recipe, band)``,
    the passing candidates are timed the same way in every further band, and each band
    keeps its fastest recipe when that beats the short comments' recipe there by
    :data:`MIN_BAND_GAIN` (:attr:`Choice.bands`).

    With ``batch_independent(recipe)``, a recipe whose scores do not depend on their
    batch partners is kept over a faster one whose scores do, unless that one is more
    than :data:`PARTNER_FREE_MARGIN` faster: on short comments among all that passed, in
    a further band (by :data:`BAND_PARTNER_FREE_MARGIN`) among the short comments'
    recipe and those :data:`MIN_BAND_GAIN` faster than it there."""
    if not candidates:
        raise ValueError("no candidate recipes")
    faithful: list[tuple[str, Fidelity]] = []
    trials: list[Trial] = []
    for recipe in candidates:
        try:
            measured = fidelity(recipe)
        except Exception as exc:
            trials.append(Trial(recipe, None, None, False, f"{type(exc).__name__}: {exc}"))
            continue
        failures = []
        if measured.max_abs_diff > max_abs_diff:
            failures.append(f"max diff {measured.max_abs_diff:.3g} > {max_abs_diff}")
        if measured.agreement < min_agreement:
            failures.append(f"agreement {measured.agreement:.2%} < {min_agreement:.1%}")
        if min_cosine is not None and (measured.min_cosine or 0.0) < min_cosine:
            failures.append(f"cosine {measured.min_cosine or 0.0:.4f} < {min_cosine}")
        if failures and recipe != candidates[0]:
            trials.append(Trial(recipe, measured, None, False, "; ".join(failures)))
            continue
        faithful.append((recipe, measured))
    later = list(bands[1:]) if band_speed is not None else []
    fastest: dict[str, float] = {}
    by_band: dict[str, dict[str, float]] = {recipe: {} for recipe, _ in faithful}
    failed: dict[str, str] = {}

    def timed(recipe: str, band: Band | None) -> None:
        """One timing; a candidate whose timing raises is out (the reference's error
        is raised: without it there is nothing to fall back to)."""
        if recipe in failed:
            return
        try:
            if band is None:
                fastest[recipe] = max(fastest.get(recipe, 0.0), speed(recipe))
            else:
                assert band_speed is not None
                rows = band_speed(recipe, band)
                by_band[recipe][band.name] = max(by_band[recipe].get(band.name, 0.0), rows)
        except Exception as exc:
            if recipe == candidates[0]:
                raise
            failed[recipe] = f"timing failed: {type(exc).__name__}: {exc}"

    for _ in range(rounds):
        for band in [None, *later]:
            for recipe, _measured in faithful:
                timed(recipe, band)
    trials += [
        Trial(recipe, measured, None, False, failed[recipe])
        if recipe in failed
        else Trial(recipe, measured, fastest[recipe], True, band_rows_per_s=by_band[recipe])
        for recipe, measured in faithful
    ]
    trials.sort(key=lambda t: list(candidates).index(t.recipe))
    passed = [t for t in trials if t.passed and t.rows_per_s is not None]
    if not passed:
        return Choice(candidates[0], trials)
    best = _fastest(passed, lambda t: t.rows_per_s or 0.0, batch_independent)
    if not later:
        return Choice(best.recipe, trials)
    chosen = [BandChoice(bands[0].name, bands[0].up_to, best.recipe, best.rows_per_s)]
    for band in later:
        in_band = partial(_band_speed, band.name)
        # Another recipe than the short comments' must earn its graph and session first.
        eligible = [t for t in passed if t is best or in_band(t) >= in_band(best) * MIN_BAND_GAIN]
        top = _fastest(eligible, in_band, batch_independent, BAND_PARTNER_FREE_MARGIN)
        chosen.append(
            BandChoice(band.name, band.up_to, top.recipe, top.band_rows_per_s.get(band.name))
        )
    return Choice(best.recipe, trials, chosen)


def _band_speed(band: str, trial: Trial) -> float:
    return trial.band_rows_per_s.get(band, 0.0)


def _fastest(
    trials: Sequence[Trial],
    speed: Callable[[Trial], float],
    batch_independent: Callable[[str], bool] | None,
    margin: float = PARTNER_FREE_MARGIN,
) -> Trial:
    """The fastest of ``trials``, or the fastest partner-free one within ``margin`` of it
    (see :func:`choose`)."""
    best = max(trials, key=speed)
    if batch_independent is None or batch_independent(best.recipe):
        return best
    free = [t for t in trials if batch_independent(t.recipe)]
    if free:
        alternative = max(free, key=speed)
        if speed(alternative) * margin >= speed(best):
            return alternative
    return best


def band_texts(texts: Sequence[str], count_tokens: Callable[[str], int], tokens: int) -> list[str]:
    """Texts of about ``tokens`` tokens (by ``count_tokens``, special tokens included),
    made by joining ``texts``' words in order: what a band's timing runs on. Speed
    depends on length, not on what the words say, so reader comments joined will do."""
    words = [word for text in texts for word in text.split()]
    if not words:
        return []
    per_word = max(1.0, count_tokens(" ".join(words[:400])) / min(len(words), 400))
    size = max(1, round(tokens / per_word))
    made = [" ".join(words[i : i + size]) for i in range(0, len(words) - size + 1, size)]
    return made or [" ".join(words)]


def decision(scores: Mapping[str, float], thresholds: Thresholds) -> int:
    """0 approve, 1 hold, 2 reject: the most severe over the categories. A category
    without thresholds counts as hold at 0.5 (a side of the middle)."""
    worst = 0
    for category, score in scores.items():
        hold_at, reject_at = thresholds.get(category, (0.5, None))
        if reject_at is not None and score >= reject_at:
            return 2
        if hold_at is not None and score >= hold_at:
            worst = 1
    return worst


def compare(
    reference: Sequence[Mapping[str, float]],
    got: Sequence[Mapping[str, float]],
    thresholds: Thresholds = PLAIN_THRESHOLDS,
) -> Fidelity:
    """Largest score difference and decision agreement of ``got`` against ``reference``."""
    worst = 0.0
    agree = 0
    for a, b in zip(reference, got, strict=True):
        worst = max([worst, *(abs(a[c] - b.get(c, float("inf"))) for c in a)])
        agree += decision(a, thresholds) == decision(b, thresholds)
    return Fidelity(worst, agree / max(1, len(reference)))


def rows_per_second(
    run: Callable[[Sequence[str]], object],
    texts: Sequence[str],
    seconds: float = TIMING_SECONDS,
    clock: Callable[[], float] = time.perf_counter,
    batch: int = 16,
) -> float:
    """Texts per second through ``run`` (called with ``batch`` texts at a time, cycling
    through ``texts``) over about ``seconds``, after one warm-up call."""
    run(list(texts[:batch]))
    done = 0
    started = clock()
    position = 0
    while True:
        chunk = [texts[(position + i) % len(texts)] for i in range(batch)]
        position += batch
        run(chunk)
        done += batch
        elapsed = clock() - started
        if elapsed >= seconds:
            return done / elapsed


@dataclass(frozen=True, slots=True)
class Corpus:
    """Training comments for calibration and checks, and a digest naming them."""

    calibration: list[str]
    check: list[str]
    digest: str

    @property
    def short(self) -> list[str]:
        """The check comments of at most 40 words: what the timing runs on."""
        return [t for t in self.check if len(t.split()) <= 40] or self.check


def training_corpus(
    calibration: int = CALIBRATION_TEXTS, check: int = CHECK_TEXTS, seed: int = 16
) -> Corpus:
    """Disjoint calibration and check sets drawn (seeded) from the project's *training*
    comments (classifiers/training/data/train; never the eval split)."""
    from classifiers.training.data import load_split

    split = load_split("train")
    texts = sorted({c.text for c in split.comments})
    random.Random(seed).shuffle(texts)
    chosen = texts[: calibration + check]
    digest = hashlib.sha256(json.dumps([calibration, check, seed, chosen]).encode()).hexdigest()[
        :16
    ]
    return Corpus(chosen[:calibration], chosen[calibration:], digest)


def read_choice(path: Path) -> Choice | None:
    try:
        return Choice.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
