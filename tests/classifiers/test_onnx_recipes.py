"""Recipes and their choice per machine (classifiers/onnx/recipes.py): the fastest faithful
candidate wins, an unfaithful one is excluded, the cached choice is keyed by what changes
speed, static int8 makes a row's scores independent of its batch partners, and a runtime
asked for by name wins over ``auto``. Timing is faked (no timed unit tests)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from classifiers.detoxify_backend import bf16_linears, can_pack_bf16
from classifiers.loader import (
    ClassifierOptions,
    batch_independent,
    load_preferred,
    runtime_description,
)
from classifiers.onnx import export as onnx_export
from classifiers.onnx import recipes
from classifiers.onnx import runtime as onnx_runtime
from classifiers.onnx.recipes import (
    AUTO,
    BANDS,
    RECIPES,
    Band,
    BandChoice,
    Choice,
    Fidelity,
    Trial,
    band_texts,
    choice_key,
    choose,
    compare,
    cpu_flags,
    decision,
    rows_per_second,
    training_corpus,
)
from classifiers.onnx.runtime import OnnxDetoxifyClassifier
from tests.tiny_detoxify import TinyDetoxify, load_labelled_comments

TEXTS = [c.text for c in load_labelled_comments()][:48]
FAITHFUL = Fidelity(0.005, 1.0)


def _choose(
    fidelities: dict[str, Fidelity | Exception],
    speeds: dict[str, float],
    min_cosine: float | None = None,
) -> tuple[Choice, list[str]]:
    timed: list[str] = []

    def speed(name: str) -> float:
        timed.append(name)
        return speeds[name]

    def fidelity(name: str) -> Fidelity:
        measured = fidelities[name]
        if isinstance(measured, Exception):
            raise measured
        return measured

    return choose(list(fidelities), fidelity=fidelity, speed=speed, min_cosine=min_cosine), timed


def test_the_fastest_faithful_candidate_is_chosen() -> None:
    choice, timed = _choose(
        {"onnx": Fidelity(0.0, 1.0), "a": FAITHFUL, "b": FAITHFUL, "c": FAITHFUL},
        {"onnx": 10.0, "a": 30.0, "b": 50.0, "c": 40.0},
    )
    assert choice.recipe == "b"
    assert timed == ["onnx", "a", "b", "c"] * recipes.TIMING_ROUNDS  # interleaved rounds
    assert [t.recipe for t in choice.trials] == ["onnx", "a", "b", "c"]
    assert all(t.passed for t in choice.trials)
    assert choice.chosen() == Trial("b", FAITHFUL, 50.0, True)


@pytest.mark.parametrize(
    "unfaithful",
    [Fidelity(0.021, 1.0), Fidelity(0.01, 0.994), RuntimeError("no static graph")],
    ids=["score difference", "decisions", "error"],
)
def test_an_unfaithful_candidate_is_excluded_however_fast(
    unfaithful: Fidelity | Exception,
) -> None:
    choice, timed = _choose(
        {"onnx": Fidelity(0.0, 1.0), "fast": unfaithful, "ok": FAITHFUL},
        {"onnx": 10.0, "fast": 1000.0, "ok": 20.0},
    )
    assert choice.recipe == "ok"
    assert "fast" not in timed  # not even timed
    (excluded,) = [t for t in choice.trials if t.recipe == "fast"]
    assert not excluded.passed and excluded.reason


def test_each_candidate_keeps_its_best_round() -> None:
    """Rounds interleave the candidates, so a burst of load elsewhere does not decide."""
    rounds = {"onnx": iter([5.0, 5.0, 5.0]), "int8": iter([1.0, 9.0, 2.0])}
    choice = choose(
        ["onnx", "int8"], fidelity=lambda _: FAITHFUL, speed=lambda name: next(rounds[name])
    )
    assert choice.recipe == "int8" and choice.trials[1].rows_per_s == 9.0


def test_the_limits_are_the_issues_and_inclusive() -> None:
    assert (recipes.MAX_SCORE_DIFF, recipes.MIN_AGREEMENT) == (0.02, 0.995)
    choice, _ = _choose(
        {"onnx": Fidelity(0.0, 1.0), "edge": Fidelity(0.02, 0.995)}, {"onnx": 1.0, "edge": 2.0}
    )
    assert choice.recipe == "edge"


def test_the_cosine_guard_excludes_an_encoder_candidate() -> None:
    choice, _ = _choose(
        {"onnx": Fidelity(0.0, 1.0, 1.0), "int8": Fidelity(0.0, 1.0, 0.963)},
        {"onnx": 10.0, "int8": 25.0},
        min_cosine=0.99,
    )
    assert choice.recipe == "onnx"
    assert "cosine 0.9630 < 0.99" in (choice.trials[1].reason or "")


def test_the_reference_is_kept_when_nothing_else_passes() -> None:
    choice, _ = _choose(
        {"onnx": Fidelity(0.0, 1.0), "int8": Fidelity(0.5, 0.5)}, {"onnx": 1.0, "int8": 9.0}
    )
    assert choice.recipe == "onnx"


def test_a_choice_survives_its_json() -> None:
    choice, _ = _choose(
        {"onnx": Fidelity(0.0, 1.0), "x": Fidelity(0.9, 0.1)}, {"onnx": 3.0, "x": 9.0}
    )
    assert Choice.from_json(json.loads(json.dumps(choice.to_json()))) == choice
    assert "onnx chosen" in choice.summary()


def _by_length(
    short: dict[str, float], medium: dict[str, float], long: dict[str, float]
) -> tuple[Choice, list[tuple[str, str]]]:
    timed: list[tuple[str, str]] = []
    by_band = {"medium": medium, "long": long}

    def speed(name: str) -> float:
        timed.append((name, "short"))
        return short[name]

    def band_speed(name: str, band: Band) -> float:
        timed.append((name, band.name))
        return by_band[band.name][name]

    choice = choose(
        list(short),
        fidelity=lambda name: Fidelity(0.0, 1.0) if name == "onnx" else FAITHFUL,
        speed=speed,
        bands=BANDS,
        band_speed=band_speed,
    )
    return choice, timed


def test_a_longer_band_takes_the_recipe_fastest_there() -> None:
    choice, timed = _by_length(
        {"onnx": 10.0, "static": 50.0, "dynamic": 40.0},
        {"onnx": 8.0, "static": 20.0, "dynamic": 30.0},
        {"onnx": 4.0, "static": 9.0, "dynamic": 12.0},
    )
    assert choice.recipe == "static"
    assert [(b.band, b.up_to, b.recipe, b.rows_per_s) for b in choice.bands] == [
        ("short", 40, "static", 50.0),
        ("medium", 96, "dynamic", 30.0),
        ("long", None, "dynamic", 12.0),
    ]
    # neighbouring bands with one recipe are one route
    assert choice.routes() == [(40, "static"), (None, "dynamic")]
    # every passing candidate is timed in every band, the candidates taking turns
    assert len(timed) == 3 * 3 * recipes.TIMING_ROUNDS
    assert timed[:6] == [(n, "short") for n in ("onnx", "static", "dynamic")] + [
        (n, "medium") for n in ("onnx", "static", "dynamic")
    ]
    dynamic = next(t for t in choice.trials if t.recipe == "dynamic")
    assert dynamic.band_rows_per_s == {"medium": 30.0, "long": 12.0}
    assert Choice.from_json(json.loads(json.dumps(choice.to_json()))) == choice
    assert "chosen by length: static up to 40 tokens, dynamic beyond" in choice.summary()


def test_a_band_keeps_the_short_recipe_unless_clearly_faster() -> None:
    """A second graph costs memory and a session: under MIN_BAND_GAIN it is not loaded."""
    assert recipes.MIN_BAND_GAIN == 1.05
    choice, _ = _by_length(
        {"onnx": 10.0, "static": 50.0, "dynamic": 40.0},
        {"onnx": 8.0, "static": 20.0, "dynamic": 20.9},  # 4.5 % faster: noise
        {"onnx": 4.0, "static": 10.0, "dynamic": 10.5},  # 5 %: taken
    )
    assert [b.recipe for b in choice.bands] == ["static", "static", "dynamic"]
    choice, _ = _by_length(
        {"onnx": 10.0, "static": 50.0},
        {"onnx": 8.0, "static": 20.0},
        {"onnx": 4.0, "static": 10.0},
    )
    assert choice.routes() == [(None, "static")]
    assert "static chosen" in choice.summary()


def _partner_free(
    short: dict[str, float], medium: dict[str, float], long: dict[str, float]
) -> Choice:
    by_band = {"medium": medium, "long": long}
    return choose(
        list(short),
        fidelity=lambda name: Fidelity(0.0, 1.0) if name == "onnx" else FAITHFUL,
        speed=lambda name: short[name],
        bands=BANDS,
        band_speed=lambda name, band: by_band[band.name][name],
        batch_independent=lambda name: not name.startswith("dynamic"),
    )


#: (rows/s on short, medium and long texts, the bands' recipes) for the partner-free rule.
PARTNER_FREE_CASES = {
    # 6.7 % apart everywhere (what an AMD EPYC with VNNI measured): static, everywhere
    "amd-epyc": (
        {"onnx": 36.0, "static": 119.8, "dynamic": 127.8},
        {"onnx": 15.0, "static": 43.0, "dynamic": 46.0},
        {"onnx": 8.0, "static": 20.8, "dynamic": 22.5},
        ["static", "static", "static"],
    ),
    # what an Intel Xeon with AMX measured: 11.7 % apart on short comments, 14 % on
    # medium ones, 28 % on long ones: static on short comments, dynamic beyond
    "intel-xeon": (
        {"onnx": 57.3, "static": 230.3, "dynamic": 257.3},
        {"onnx": 25.4, "static": 96.2, "dynamic": 109.8},
        {"onnx": 12.0, "static": 43.5, "dynamic": 55.8},
        ["static", "dynamic", "dynamic"],
    ),
    # and at its other start: 5.6 % apart on medium texts, within the bands' margin
    "intel-xeon-again": (
        {"onnx": 54.5, "static": 222.1, "dynamic": 219.0},
        {"onnx": 24.6, "static": 92.2, "dynamic": 97.4},
        {"onnx": 11.9, "static": 41.5, "dynamic": 51.3},
        ["static", "static", "dynamic"],
    ),
    # 30 % apart on short comments, 9 % on medium ones: dynamic, and dynamic in the
    # medium band too (the short band's recipe, which static does not beat there)
    "dynamic-far-ahead": (
        {"onnx": 36.0, "static": 100.0, "dynamic": 130.0},
        {"onnx": 15.0, "static": 43.0, "dynamic": 46.9},
        {"onnx": 8.0, "static": 30.0, "dynamic": 22.0},
        ["dynamic", "dynamic", "static"],
    ),
    # the fastest band recipe is dynamic but within the margin of static: static
    "within-the-bands-margin": (
        {"onnx": 36.0, "static": 50.0, "dynamic": 40.0},
        {"onnx": 15.0, "static": 20.0, "dynamic": 21.5},
        {"onnx": 8.0, "static": 10.0, "dynamic": 13.0},
        ["static", "static", "dynamic"],
    ),
    # two batch-dependent recipes and a partner-free one that does not earn a band of its
    # own: the band still takes the clearly faster batch-dependent one
    "two-dependent": (
        {"onnx": 36.0, "static": 50.0, "dynamic": 65.0, "dynamic-nofuse": 64.0},
        {"onnx": 8.0, "static": 10.1, "dynamic": 10.0, "dynamic-nofuse": 11.0},
        {"onnx": 4.0, "static": 5.0, "dynamic": 6.0, "dynamic-nofuse": 6.0},
        ["dynamic", "dynamic-nofuse", "dynamic"],
    ),
}


@pytest.mark.parametrize("case", list(PARTNER_FREE_CASES))
def test_partner_free_scores_win_unless_clearly_slower(case: str) -> None:
    """Static int8's scores do not depend on their batch partners; dynamic int8's do.
    Within PARTNER_FREE_MARGIN on short comments, and BAND_PARTNER_FREE_MARGIN in the
    longer bands, the partner-free recipe is kept."""
    assert recipes.PARTNER_FREE_MARGIN == 1.25 and recipes.BAND_PARTNER_FREE_MARGIN == 1.10
    short, medium, long, expected = PARTNER_FREE_CASES[case]
    choice = _partner_free(short, medium, long)
    assert [b.recipe for b in choice.bands] == expected
    if len(set(expected)) == 1:
        assert choice.routes() == [(None, expected[0])]


def test_without_the_partner_predicate_the_plain_fastest_wins() -> None:
    short, medium, long, _ = PARTNER_FREE_CASES["amd-epyc"]
    choice, _ = _by_length(short, medium, long)
    assert choice.recipe == "dynamic"


def test_an_unfaithful_candidate_runs_in_no_band() -> None:
    choice = choose(
        ["onnx", "bad"],
        fidelity=lambda name: Fidelity(0.0, 1.0) if name == "onnx" else Fidelity(0.5, 0.5),
        speed=lambda name: 1.0 if name == "onnx" else 99.0,
        bands=BANDS,
        band_speed=lambda name, band: 1.0 if name == "onnx" else 99.0,
    )
    assert choice.routes() == [(None, "onnx")]
    assert {b.recipe for b in choice.bands} == {"onnx"}


def test_band_texts_are_about_the_asked_length() -> None:
    def words(text: str) -> int:  # a tokenizer of one token per word
        return len(text.split())

    made = band_texts(TEXTS, words, 64)
    assert made and all(words(text) == 64 for text in made)
    assert band_texts([], words, 64) == []
    assert band_texts(["one two three"], words, 64) == ["one two three"]


def test_a_choice_without_bands_reads_as_one_route() -> None:
    """A choice file written before bands existed still reads (the cache key's version
    makes it measured again anyway)."""
    old = {"recipe": "onnx-int8", "trials": []}
    choice = Choice.from_json(old)
    assert choice.bands == [] and choice.routes() == [(None, "onnx-int8")]


def test_decisions_and_their_agreement() -> None:
    thresholds = {"threat": (0.4, 0.85), "insult": (0.6, None)}
    assert decision({"threat": 0.1, "insult": 0.99}, thresholds) == 1
    assert decision({"threat": 0.9, "insult": 0.0}, thresholds) == 2
    assert decision({"threat": 0.39, "insult": 0.59}, thresholds) == 0
    assert decision({"obscene": 0.5}, thresholds) == 1  # no thresholds: a side of 0.5
    reference = [{"threat": 0.39}, {"threat": 0.1}]
    measured = compare(reference, [{"threat": 0.41}, {"threat": 0.1}], thresholds)
    assert measured.max_abs_diff == pytest.approx(0.02)
    assert measured.agreement == 0.5


def test_the_cache_key_changes_with_what_changes_speed() -> None:
    base = {
        "flags": ("avx512f", "avx512_vnni"),
        "threads": 2,
        "ort_version": "1.32.0",
        "corpus": "abc",
        "candidates": ("onnx", "onnx-int8"),
    }
    key = choice_key(**base)  # type: ignore[arg-type]
    assert key == choice_key(**base)  # type: ignore[arg-type]
    for field, other in [
        ("flags", ("avx512f", "avx512_vnni", "amx_int8")),
        ("threads", 4),
        ("ort_version", "1.33.0"),
        ("corpus", "abd"),
        ("candidates", ("onnx",)),
    ]:
        assert choice_key(**{**base, field: other}) != key, field  # type: ignore[arg-type]


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor: 0\nflags\t\t: fpu avx2 avx512f amx_int8 avx512_bf16 sse\n")
    assert cpu_flags(cpuinfo) == ("avx2", "avx512f", "avx512_bf16", "amx_int8")
    assert cpu_flags(tmp_path / "missing") == ()


def test_rows_per_second_uses_the_clock_it_is_given() -> None:
    ticks = iter([0.0, 1.0, 2.0])
    seen: list[int] = []

    def run(texts: Sequence[str]) -> None:
        seen.append(len(texts))

    assert rows_per_second(run, ["a"] * 5, seconds=2.0, clock=lambda: next(ticks)) == 16.0
    assert seen == [5, 16, 16]


def test_the_corpus_is_training_comments_disjoint_and_fixed() -> None:
    from classifiers.training.data import load_split

    corpus = training_corpus(calibration=20, check=30)
    train = {c.text for c in load_split("train").comments}
    assert len(corpus.calibration) == 20 and len(corpus.check) == 30
    assert set(corpus.calibration) <= train and set(corpus.check) <= train
    assert not set(corpus.calibration) & set(corpus.check)
    assert training_corpus(calibration=20, check=30) == corpus


# -- on the tiny trained checkpoint -------------------------------------------------------


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recipes-cache")


def _model(
    tiny: TinyDetoxify, cache_dir: Path, runtime: str, threads: int = 1, **kwargs: object
) -> Any:
    return OnnxDetoxifyClassifier(
        "original",
        cache_dir=cache_dir,
        runtime=runtime,
        checkpoint=tiny.checkpoint,
        config_dir=tiny.config_dir,
        threads=threads,
        **kwargs,  # type: ignore[arg-type]
    )


def test_on_this_thread_every_sub_batch_runs_on_the_calling_thread(
    tiny_detoxify: TinyDetoxify, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scorer lane runs its batch on its own thread (``on_this_thread``): the runtime's
    workers stay out of it, and the scores are the same."""
    import threading

    from classifiers.base import on_this_thread
    from classifiers.onnx import runtime

    static = _model(tiny_detoxify, cache_dir, "onnx-static-int8", threads=2)
    seen: list[str] = []
    score = runtime._Runner.score

    def spy(self: Any, batch: Any) -> Any:
        seen.append(threading.current_thread().name)
        return score(self, batch)

    monkeypatch.setattr(runtime._Runner, "score", spy)
    texts = TEXTS * 4
    pooled = static.predict(texts)
    assert len(seen) > 1 and threading.current_thread().name not in seen
    seen.clear()
    with on_this_thread():
        here = static.predict(texts)
    assert seen and set(seen) == {threading.current_thread().name}
    assert here == pooled


def test_static_int8_scores_do_not_depend_on_batch_partners(
    tiny_detoxify: TinyDetoxify, cache_dir: Path
) -> None:
    static = _model(tiny_detoxify, cache_dir, "onnx-static-int8")
    assert static.runtime == "onnx-static-int8" and static.batch_independent
    together = static.predict(TEXTS)  # batches of up to 8 padded rows
    for text, scores in zip(TEXTS, together, strict=True):
        assert static.predict([text])[0] == pytest.approx(scores, abs=1e-6)
    # The same comparison bites: dynamic int8 forced to batch does depend on its partners.
    dynamic = _model(tiny_detoxify, cache_dir, "onnx-int8", batch_size=8)
    assert not dynamic.batch_independent
    batched = dynamic.predict(TEXTS)
    alone = [dynamic.predict([t])[0] for t in TEXTS]
    assert max(abs(a[c] - b[c]) for a, b in zip(alone, batched, strict=True) for c in a) > 1e-5


def test_auto_measures_once_and_keeps_a_passing_recipe(
    tiny_detoxify: TinyDetoxify, cache_dir: Path
) -> None:
    first = _model(tiny_detoxify, cache_dir, AUTO, timing_seconds=0.05)
    assert first.choice is not None
    chosen = first.choice.chosen()
    assert chosen is not None and chosen.passed and first.runtime == first.choice.recipe
    assert [t.recipe for t in first.choice.trials] == list(onnx_runtime.detoxify_candidates())
    for trial in first.choice.trials:
        assert trial.fidelity is not None
        if trial.passed:
            assert trial.fidelity.max_abs_diff <= 0.02 and trial.fidelity.agreement >= 0.995
    (choice_file,) = first.path.parent.glob("choice-*.json")
    written = choice_file.stat().st_mtime_ns
    again = _model(tiny_detoxify, cache_dir, AUTO, timing_seconds=0.05)
    assert not again.exported and again.runtime == first.runtime
    assert again.choice == first.choice
    assert choice_file.stat().st_mtime_ns == written  # read back, not measured again
    assert (
        choice_file.stat().st_mtime_ns
        == next(first.path.parent.glob("choice-*")).stat().st_mtime_ns
    )
    description = runtime_description(again)
    assert description["runtime"] == again.runtime
    assert description["chosen_by"] == "measurement"
    assert description["batch_independent"] == _independent(again.runtime)


def _independent(name: str) -> bool:
    """Whether a recipe's runner gives scores independent of batch partners: its own
    scores are, or it runs each row alone."""
    return RECIPES[name].batch_independent or RECIPES[name].rows == 1


def _with_bands(
    tiny: TinyDetoxify,
    cache_dir: Path,
    auto: Any,
    bands: tuple[str, str, str],
) -> Any:
    """A classifier loaded from ``auto``'s cached choice rewritten to run ``bands``' recipes
    on windows of up to 16 tokens, up to 24 and beyond (the tiny model's windows are at
    most 64 tokens), on as many workers as ``auto``; the measured choice is put back
    afterwards."""
    assert auto.choice is not None
    (choice_file,) = [
        f
        for f in auto.path.parent.glob("choice-*.json")
        if Choice.from_json(json.loads(f.read_text())) == auto.choice
    ]
    measured = choice_file.read_text()
    short, medium, long = bands
    rewritten = [
        BandChoice("short", 16, short, 10.0),
        BandChoice("medium", 24, medium, 9.0),
        BandChoice("long", None, long, 8.0),
    ]
    choice_file.write_text(json.dumps(Choice(short, auto.choice.trials, rewritten).to_json()))
    try:
        return _model(tiny, cache_dir, AUTO, threads=auto.threads, timing_seconds=0.05)
    finally:
        choice_file.write_text(measured)


def test_recipes_chosen_by_length_score_each_window_with_its_bands_recipe(
    tiny_detoxify: TinyDetoxify, cache_dir: Path
) -> None:
    """A cached choice that gives longer texts another recipe: each text gets the scores
    of the recipe its length routes to, whatever it is batched with, and ``/healthz``
    says which recipe runs where."""
    # two workers: the bands' sub-batches run side by side on one pool
    auto = _model(tiny_detoxify, cache_dir, AUTO, threads=2, timing_seconds=0.05)
    assert auto._loaded is None  # the PyTorch model measuring used is not kept
    mixed = _with_bands(tiny_detoxify, cache_dir, auto, ("onnx", "onnx-static-int8", "onnx-int8"))
    assert mixed.runtime == "onnx+onnx-static-int8+onnx-int8"
    # dynamic int8 depends on its partners, but this band runs each row alone
    assert mixed.batch_independent
    alone = {
        name: _model(tiny_detoxify, cache_dir, name)
        for name in ("onnx", "onnx-static-int8", "onnx-int8")
    }
    tokenizer = mixed._runner.routes[0][1].tokenizer
    words = [w for t in TEXTS for w in t.split()]
    texts = [*TEXTS[:6], " ".join(words[:5]), " ".join(words[5:40]), " ".join(words[40:52])]
    lengths = [len(tokenizer(t)["input_ids"]) for t in texts]
    # every band has texts; none is long enough to be cut into windows (64 tokens)
    assert min(lengths) <= 16 and any(16 < n <= 24 for n in lengths)
    assert 24 < max(lengths) <= 64
    got = mixed.predict(texts)
    for text, length, scores in zip(texts, lengths, got, strict=True):
        recipe = "onnx" if length <= 16 else "onnx-static-int8" if length <= 24 else "onnx-int8"
        assert scores == pytest.approx(alone[recipe].predict([text])[0], abs=1e-6), (
            length,
            recipe,
        )
    description = runtime_description(mixed)
    assert description["runtime"] == "onnx+onnx-static-int8+onnx-int8"
    fidelity = {t.recipe: t.fidelity for t in auto.choice.trials}
    assert description["by_length"] == [
        {
            "band": band,
            "up_to_tokens": up_to,
            "runtime": recipe,
            "rows_per_s": rows,
            # each band's own recipe against fp32, not only the short comments' recipe
            "max_abs_diff": round(fidelity[recipe].max_abs_diff, 5),
            "agreement": round(fidelity[recipe].agreement, 5),
        }
        for band, up_to, recipe, rows in [
            ("short", 16, "onnx", 10.0),
            ("medium", 24, "onnx-static-int8", 9.0),
            ("long", None, "onnx-int8", 8.0),
        ]
    ]
    assert description["by_length"][2]["max_abs_diff"] > 0  # int8's, not fp32's 0
    assert "by_length" not in runtime_description(auto)


def test_a_runtime_asked_for_by_name_wins_over_the_measured_choice(
    tiny_detoxify: TinyDetoxify, cache_dir: Path
) -> None:
    auto = _model(tiny_detoxify, cache_dir, AUTO, timing_seconds=0.05)
    forced = "onnx-int8-nofuse" if auto.runtime != "onnx-int8-nofuse" else "onnx"
    classifier, report = load_preferred(
        ClassifierOptions(
            preference="detoxify:original",
            detoxify_checkpoint=tiny_detoxify.checkpoint,
            detoxify_config=tiny_detoxify.config_dir,
            detoxify_runtime=forced,
            onnx_cache_dir=cache_dir,
        )
    )
    assert report.failures == []
    assert getattr(classifier, "runtime", None) == forced
    assert getattr(classifier, "choice", "absent") is None
    assert runtime_description(classifier)["chosen_by"] == "setting"
    assert batch_independent(classifier) == _independent(forced)


def test_batch_independence_defaults_to_false() -> None:
    class Plain:
        pass

    class WithEncoder:
        encoder = type("E", (), {"batch_independent": True})()

    assert batch_independent(Plain()) is False
    assert batch_independent(WithEncoder()) is True


def test_bf16_needs_the_cpu_flags_or_runs_fp32_loudly(
    tiny_detoxify: TinyDetoxify, monkeypatch: pytest.MonkeyPatch
) -> None:
    import classifiers.loader as loader

    options = ClassifierOptions(
        preference="detoxify:original",
        detoxify_checkpoint=tiny_detoxify.checkpoint,
        detoxify_config=tiny_detoxify.config_dir,
        detoxify_runtime="torch-bf16",
    )
    monkeypatch.setattr(loader, "cpu_flags", lambda: ("avx512f", "avx512_bf16"))
    classifier, report = load_preferred(options)
    assert getattr(classifier, "runtime", None) == "torch-bf16" and report.failures == []
    scores = classifier.predict(TEXTS[:4])
    monkeypatch.setattr(loader, "cpu_flags", lambda: ("avx512f",))
    emulated, report = load_preferred(options)
    assert getattr(emulated, "runtime", None) == "torch"
    assert [name for name, _ in report.failures] == ["detoxify:original@torch-bf16"]
    exact = emulated.predict(TEXTS[:4])
    # bf16 rounds the matrix products: close to fp32, not equal
    assert max(abs(a[c] - b[c]) for a, b in zip(scores, exact, strict=True) for c in a) < 0.05


def test_torch_bf16_is_a_candidate_only_where_the_cpu_has_bf16(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(onnx_runtime, "cpu_flags", lambda: ("avx512f",))
    assert "torch-bf16" not in onnx_runtime.detoxify_candidates()
    monkeypatch.setattr(onnx_runtime, "cpu_flags", lambda: ("avx512f", "avx512_bf16"))
    assert onnx_runtime.detoxify_candidates()[-1] == "torch-bf16"
    assert onnx_runtime.detoxify_candidates()[0] == "onnx"  # the reference stays first


def test_a_torch_bf16_band_runs_the_checkpoints_own_model_in_bf16(
    tiny_detoxify: TinyDetoxify, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the CPU has native bf16 (faked here: this one's bf16 is emulated, slower but
    the same arithmetic), ``auto`` measures PyTorch bf16 beside the ONNX recipes, and a
    band that chose it runs the checkpoint's model traced under bf16 autocast."""
    import torch

    monkeypatch.setattr(onnx_runtime, "cpu_flags", lambda: ("avx512f", "avx512_bf16"))

    def timed(run: Any, texts: Sequence[str], seconds: float, batch: int = 16) -> float:
        return 10.0 if run.__self__.name == "torch-bf16" else 100.0  # bf16 the slowest

    monkeypatch.setattr(onnx_runtime, "rows_per_second", timed)
    threads = torch.get_num_threads()
    torch.set_num_threads(3)  # not PyTorch's default anywhere: its restoring shows
    try:
        auto = _model(tiny_detoxify, cache_dir, AUTO, timing_seconds=0.05)
        # measured, not kept: PyTorch's threads (one per call while measured) are back
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)
    assert auto.choice is not None
    (bf16,) = [t for t in auto.choice.trials if t.recipe == "torch-bf16"]
    assert bf16.fidelity is not None  # measured against fp32 like every candidate
    assert "torch-bf16" not in auto.runtime
    mixed = _with_bands(tiny_detoxify, cache_dir, auto, ("onnx", "torch-bf16", "torch-bf16"))
    assert mixed.runtime == "onnx+torch-bf16" and not mixed.batch_independent
    fp32 = _model(tiny_detoxify, cache_dir, "onnx")
    tokenizer = mixed._runner.routes[0][1].tokenizer
    words = [w for t in TEXTS for w in t.split()]
    short, long = " ".join(words[:5]), " ".join(words[5:40])
    assert len(tokenizer(short)["input_ids"]) <= 16 < len(tokenizer(long)["input_ids"]) <= 64
    got = mixed.predict([short, long])
    expected = fp32.predict([short, long])
    assert got[0] == pytest.approx(expected[0], abs=1e-6)  # fp32 ONNX, as the band says
    differences = [abs(got[1][c] - expected[1][c]) for c in expected[1]]
    assert 0 < max(differences) < 0.05  # bf16's rounding: close to fp32, not equal
    bf16_only = _with_bands(tiny_detoxify, cache_dir, auto, ("torch-bf16",) * 3)
    assert bf16_only.runtime == "torch-bf16"
    assert got[1] == pytest.approx(bf16_only.predict([long])[0], abs=1e-6)  # bf16's own
    # which form of bf16 weights runs (measured at load: trace_bf16) is in /healthz
    assert auto.bf16_packed is None and "bf16_weights" not in runtime_description(auto)
    assert mixed.bf16_packed is not None
    weights = runtime_description(mixed)["bf16_weights"]
    assert weights == ("packed" if mixed.bf16_packed else "plain")
    # each form, forced, gives bf16's scores
    for packed in (False, True) if can_pack_bf16() else (False,):

        def forced_trace(*args: Any, forced: bool = packed, **kwargs: Any) -> Any:
            return onnx_export.trace_bf16(*args, **{**kwargs, "packed": forced})

        monkeypatch.setattr(onnx_runtime, "trace_bf16", forced_trace)
        forced = _with_bands(tiny_detoxify, cache_dir, auto, ("torch-bf16",) * 3)
        assert forced.bf16_packed is packed
        scores = forced.predict([long])[0]
        assert scores == pytest.approx(got[1], abs=0.01)


def test_a_chosen_torch_bf16_runs_the_form_of_weights_its_measurement_timed(
    tiny_detoxify: TinyDetoxify, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The candidate's session times plain against packed bf16 weights once; the session
    ``auto`` then opens for the chosen recipe runs that form without timing them again."""
    import torch

    monkeypatch.setattr(onnx_runtime, "cpu_flags", lambda: ("avx512f", "avx512_bf16"))

    def timed(run: Any, texts: Sequence[str], seconds: float, batch: int = 16) -> float:
        return 1000.0 if run.__self__.name == "torch-bf16" else 10.0  # bf16 far ahead

    monkeypatch.setattr(onnx_runtime, "rows_per_second", timed)
    pairs: list[bool] = []
    # What is tested is which form runs, not oneDNN's packing (the test above runs the
    # real packed form): the plain bf16 layers stand in for the packed ones everywhere.
    # With the real packing, this test once died of a segmentation fault inside PyTorch
    # on an AMD EPYC with AVX512-BF16, in a full run of the suite; it did not recur in
    # nine runs of its own, and 5,000 rows of the packed sentence encoder on that machine
    # ran clean (docs/inference.md, "Packed bf16 weights").
    monkeypatch.setattr(onnx_export, "packed_bf16_linears", bf16_linears)

    def time_pair(first: Any, second: Any, inputs: tuple[Any, ...]) -> tuple[float, float]:
        pairs.append(True)
        return (2.0, 1.0)  # the packed form faster

    monkeypatch.setattr(onnx_export, "time_pair", time_pair)
    threads = torch.get_num_threads()
    try:
        auto = _model(tiny_detoxify, tmp_path, AUTO, timing_seconds=0.05)  # no cached choice
    finally:
        torch.set_num_threads(threads)
    assert auto.runtime == "torch-bf16"
    assert pairs == [True]  # measured once, for the candidate
    assert auto.bf16_packed is True
    assert runtime_description(auto)["bf16_weights"] == "packed"


def test_a_candidate_whose_timing_fails_is_left_out_and_the_service_starts(
    tiny_detoxify: TinyDetoxify, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Longer texts are first run while timing: a candidate failing there is excluded
    with the reason, not the start-up."""
    monkeypatch.setattr(onnx_runtime, "compare", lambda *_: Fidelity(0.0, 1.0))  # all pass

    def timed(run: Any, texts: Sequence[str], seconds: float, batch: int = 16) -> float:
        if run.__self__.name == "onnx-int8" and batch == 8:
            raise RuntimeError("out of memory at 128 tokens")
        return {"onnx": 10.0, "onnx-int8": 50.0}.get(run.__self__.name, 20.0)

    monkeypatch.setattr(onnx_runtime, "rows_per_second", timed)
    classifier = _model(tiny_detoxify, tmp_path, AUTO, timing_seconds=0.05)
    assert classifier.choice is not None
    (failed,) = [t for t in classifier.choice.trials if t.recipe == "onnx-int8"]
    assert not failed.passed and failed.rows_per_s is None
    assert failed.reason == "timing failed: RuntimeError: out of memory at 128 tokens"
    assert classifier.runtime != "onnx-int8" and "onnx-int8+" not in classifier.runtime
    assert all(t.passed for t in classifier.choice.trials if t.recipe != "onnx-int8")


def test_a_recipe_in_two_bands_runs_one_session(
    tiny_detoxify: TinyDetoxify, cache_dir: Path
) -> None:
    auto = _model(tiny_detoxify, cache_dir, AUTO, timing_seconds=0.05)
    mixed = _with_bands(tiny_detoxify, cache_dir, auto, ("onnx", "onnx-int8", "onnx"))
    assert mixed.runtime == "onnx+onnx-int8+onnx"
    (short, _), _, (long, _) = [(runner, up_to) for up_to, runner in mixed._runner.routes]
    assert short is long


def test_a_longer_bands_recipe_that_does_not_load_leaves_the_short_ones_running(
    tiny_detoxify: TinyDetoxify,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A cached choice whose longer band's recipe fails at load (here torch-bf16's trace):
    the short comments' recipe, faithful and measured, runs every length, loudly; the
    classifier does not fall back to PyTorch fp32 altogether."""
    monkeypatch.setattr(onnx_runtime, "cpu_flags", lambda: ("avx512f", "avx512_bf16"))
    monkeypatch.setattr(onnx_runtime, "rows_per_second", lambda *_a, **_k: 10.0)
    auto = _model(tiny_detoxify, cache_dir, AUTO, timing_seconds=0.05)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the trace failed")

    monkeypatch.setattr(onnx_runtime._TorchBf16Session, "__init__", broken)
    with caplog.at_level("ERROR"):
        classifier = _with_bands(
            tiny_detoxify, cache_dir, auto, ("onnx", "onnx-int8", "torch-bf16")
        )
    assert classifier.runtime == "onnx"
    assert "by_length" not in runtime_description(classifier)  # what runs, not what was chosen
    assert classifier.predict(TEXTS[:2]) == auto.predict(TEXTS[:2])
    assert "did not load (RuntimeError: the trace failed); onnx runs at every length" in caplog.text
