"""The Detoxify backend through Detoxify's own loading code, offline, with tiny checkpoints."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from classifiers.detoxify_backend import (
    DetoxifyClassifier,
    balanced_batches,
    call_cost,
    cheapest_calls,
    finish_time,
    sub_batches,
)
from tests.tiny_detoxify import UNBIASED_CLASSES, TinyDetoxify, build_tiny_detoxify


@pytest.fixture(scope="module")
def model(tiny_detoxify: TinyDetoxify) -> DetoxifyClassifier:
    return DetoxifyClassifier(
        "original", checkpoint=tiny_detoxify.checkpoint, config_dir=tiny_detoxify.config_dir
    )


def test_loads_without_touching_the_network(
    tiny_detoxify: TinyDetoxify, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the network was touched")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    classifier = DetoxifyClassifier(
        "unbiased", checkpoint=tiny_detoxify.checkpoint, config_dir=tiny_detoxify.config_dir
    )
    assert classifier.name == "detoxify:unbiased"
    # The checkpoint's own trained weights score, each head under its own name. Fails
    # when the weights are not loaded (random heads), the probabilities are not sigmoids
    # of the logits, or the heads are named in the wrong order.
    insult, threat, benign = classifier.predict(
        ["you are an idiot", "I will kill you", "Thank you for this thoughtful article."]
    )
    assert set(insult) == set(threat) == set(benign) == set(classifier.categories)
    for scores in (insult, threat, benign):
        assert all(0.0 <= value <= 1.0 for value in scores.values()), scores
    assert insult["toxicity"] > 0.7 and insult["insult"] > 0.5
    assert insult["insult"] > threat["insult"]
    assert threat["toxicity"] > 0.7 and threat["threat"] > 0.5
    assert threat["threat"] > insult["threat"]
    assert max(benign.values()) < 0.3, benign


def test_reports_detoxify_category_names(model: DetoxifyClassifier) -> None:
    # the original checkpoint's toxic/severe_toxic/identity_hate, renamed as Detoxify does
    assert set(model.categories) == {
        "toxicity",
        "severe_toxicity",
        "obscene",
        "threat",
        "insult",
        "identity_attack",
    }


def test_trained_model_separates_toxic_from_benign(model: DetoxifyClassifier) -> None:
    toxic, benign = model.predict(["you are an idiot", "Thank you for this thoughtful article."])
    assert toxic["toxicity"] > 0.7 > 0.3 > benign["toxicity"]


def test_long_text_is_scored_in_windows_not_truncated(model: DetoxifyClassifier) -> None:
    """Abuse after the model's window is still seen: windows overlap, the maximum is kept."""
    filler = "Thank you for this thoughtful article about the war. " * 30
    assert len(filler.split()) > 200  # far beyond the tiny model's 64-token window
    abuse = "you are an idiot. " * 16  # fills the last window on its own
    (benign,) = model.predict([filler])
    (tail,) = model.predict([filler + abuse])
    assert benign["toxicity"] < 0.3
    assert tail["toxicity"] > 0.7
    # a truncating scorer would see only the filler: the same text cut to one window is benign
    (cut,) = model.predict([" ".join((filler + abuse).split()[:40])])
    assert cut["toxicity"] < 0.3


def test_batch_results_match_single_results(model: DetoxifyClassifier) -> None:
    texts = ["short", "a much longer comment about the soldiers and the war " * 3, "you idiot"]
    together = model.predict(texts)
    for text, scores in zip(texts, together, strict=True):
        assert model.predict([text])[0] == pytest.approx(scores, abs=1e-4)


def test_unbiased_style_checkpoint_keeps_contract_categories(tmp_path: Path) -> None:
    tiny = build_tiny_detoxify(tmp_path, train=False, classes=[*UNBIASED_CLASSES, "male", "female"])
    classifier = DetoxifyClassifier(
        "unbiased", checkpoint=tiny.checkpoint, config_dir=tiny.config_dir
    )
    assert "sexual_explicit" in classifier.categories
    assert "male" not in classifier.categories  # identity subgroup outputs are not categories
    assert set(classifier.predict(["x"])[0]) == set(classifier.categories)


def test_bf16_stores_the_linear_weights_in_bf16_with_autocasts_results(
    tiny_detoxify: TinyDetoxify, model: DetoxifyClassifier
) -> None:
    """``torch-bf16`` by name: the linear layers' weights are cast to bf16 once, at load,
    rather than by autocast on every call; the scores are exactly autocast's over the
    float32 weights. (Emulated on a CPU without native bf16: slower, the same arithmetic.)"""
    import torch

    texts = ["you are an idiot", "I will kill you", "Thank you for this thoughtful article."]
    bf16 = DetoxifyClassifier(
        "original",
        checkpoint=tiny_detoxify.checkpoint,
        config_dir=tiny_detoxify.config_dir,
        bf16=True,
    )
    linears = [m for m in bf16._model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(m.weight.dtype == torch.bfloat16 for m in linears)
    assert all(p.dtype == torch.float32 for p in model._model.parameters())
    model._bf16 = True  # the float32 model under autocast: the reference
    try:
        expected = model.predict(texts)
    finally:
        model._bf16 = False
    assert bf16.predict(texts) == expected
    assert model.predict(texts) != expected  # and bf16 is not float32's arithmetic


# -- sub-batches and their balance over the workers ---------------------------------------


def _windows(*lengths: int) -> list[tuple[int, list[int]]]:
    """Length-sorted windows of these token counts, owned by texts 0, 1, …"""
    return [(owner, [7] * length) for owner, length in enumerate(sorted(lengths))]


def _shape(batches: list[list[tuple[int, list[int]]]]) -> list[list[int]]:
    return [[len(ids) for _, ids in batch] for batch in batches]


def test_sub_batches_cut_where_padding_would_pass_a_fifth() -> None:
    windows = _windows(15, 16, 18, 20, 22, 24, 26, 28)
    # 15+16+18+20 padded to 20 is 80 for 69 tokens; adding 22 would pad 91 to 110 (> 1.2×).
    assert _shape(sub_batches(windows, 8)) == [[15, 16, 18, 20], [22, 24, 26, 28]]
    assert _shape(sub_batches(windows, 3)) == [[15, 16, 18], [20, 22, 24], [26, 28]]
    assert sub_batches([], 8) == []


def test_finish_time_is_a_pool_taking_calls_in_order() -> None:
    assert finish_time([10, 10, 10], 2) == 20
    assert finish_time([12, 5, 4, 4], 2) == 13  # 12 | 5+4+4
    assert finish_time([4, 4, 5, 12], 2) == 16  # 4+5 | 4+12: the long call last waits
    assert finish_time([3], 4) == 3
    assert call_cost(_windows(10, 14), 8) == 2 * 14 + 8


def test_balanced_batches_even_out_short_comments_on_two_workers() -> None:
    """The case that cost the service 10-25 % of every batch: one run per worker hands
    the second worker every longer window (120 against its partner's 88, in tokens)."""
    windows = _windows(15, 16, 18, 20, 22, 24, 26, 28)
    one_run_each = sub_batches(windows, 8, min_batches=2)
    assert finish_time([call_cost(b, 8) for b in one_run_each], 2) == 120
    balanced = balanced_batches(windows, 8, 2, call_tokens=8)
    assert finish_time([call_cost(b, 8) for b in balanced], 2) == 104
    assert _shape(balanced) == [[26, 28], [22, 24], [18, 20], [15, 16]]


def test_balanced_batches_weigh_the_cost_of_a_call() -> None:
    """A call's fixed cost buys fewer, larger calls: where it outweighs the padding saved,
    the windows stay in one call per worker."""
    windows = _windows(15, 16, 18, 20, 22, 24, 26, 28)
    assert len(balanced_batches(windows, 8, 2, call_tokens=200)) == 2


@pytest.mark.parametrize("seed", range(40))
def test_balanced_batches_keep_every_window_once_and_never_finish_later(seed: int) -> None:
    import random

    rng = random.Random(seed)
    windows = _windows(*(rng.randint(6, 140) for _ in range(rng.randint(1, 32))))
    workers = rng.choice([2, 3, 4, 8])
    rows = rng.choice([1, 4, 8, 16])
    calls = rng.choice([0, 8, 30])
    balanced = balanced_batches(windows, rows, workers, call_tokens=calls)
    assert sorted(piece for batch in balanced for piece in batch) == sorted(windows)
    assert all(0 < len(batch) <= rows for batch in balanced)
    # each call keeps the windows' length order; the calls go costliest first
    assert all(_shape([b])[0] == sorted(_shape([b])[0]) for b in balanced)
    costs = [call_cost(b, calls) for b in balanced]
    assert costs == sorted(costs, reverse=True)
    # never later than one run per worker (the cut before balancing), costliest first
    one_run_each = sub_batches(windows, rows, min_batches=workers)
    before = sorted((call_cost(b, calls) for b in one_run_each), reverse=True)
    assert finish_time(costs, workers) <= finish_time(before, workers)


def test_cheapest_calls_weigh_a_call_against_its_padding() -> None:
    # 10 and 20 in one call: 40 padded tokens and one call (30) against 30 and two calls;
    # the padding cut splits them (40 > 1.2 × 30) whatever a call costs.
    assert _shape(cheapest_calls(_windows(10, 20), 8, 30)) == [[10, 20]]
    assert _shape(sub_batches(_windows(10, 20), 8)) == [[10], [20]]
    # with calls free, padding decides alone
    assert _shape(cheapest_calls(_windows(5, 50), 8, 0)) == [[5], [50]]
    assert _shape(cheapest_calls(_windows(9, 9, 9, 9, 9), 2, 100)) == [[9], [9, 9], [9, 9]]
    assert cheapest_calls([], 8, 8) == []


def _partitions(n: int) -> list[list[tuple[int, int]]]:
    """Every way to cut ``range(n)`` into consecutive runs, as (start, end) pairs."""
    if n == 0:
        return [[]]
    return [[*rest, (first, n)] for first in range(n) for rest in _partitions(first)]


@pytest.mark.parametrize("seed", range(30))
def test_cheapest_calls_cost_no_more_than_any_other_cut(seed: int) -> None:
    import random

    rng = random.Random(seed)
    windows = _windows(*(rng.randint(6, 60) for _ in range(rng.randint(1, 8))))
    rows = rng.choice([1, 2, 3, 8])
    calls = rng.choice([0, 8, 30])
    chosen = cheapest_calls(windows, rows, calls)
    assert [piece for batch in chosen for piece in batch] == windows
    assert all(0 < len(batch) <= rows for batch in chosen)
    least = min(
        sum(call_cost(windows[a:b], calls) for a, b in cut)
        for cut in _partitions(len(windows))
        if all(b - a <= rows for a, b in cut)
    )
    assert sum(call_cost(batch, calls) for batch in chosen) == least


def test_balanced_batches_on_one_worker_are_the_cheapest_calls() -> None:
    windows = _windows(15, 16, 18, 20, 22, 24, 26, 28)
    assert balanced_batches(windows, 8, 1, call_tokens=8) == cheapest_calls(windows, 8, 8)
    assert balanced_batches([], 8, 2, call_tokens=8) == []


def test_on_this_thread_a_batch_is_cut_for_one_worker() -> None:
    """A lane runs its batch on its own thread: cutting it for the workers again would
    only make more, smaller calls."""
    from classifiers.base import on_this_thread

    windows = _windows(15, 16, 18, 20, 22, 24, 26, 28)
    alone = cheapest_calls(windows, 8, 8)
    assert balanced_batches(windows, 8, 2, call_tokens=8) != alone
    with on_this_thread():
        assert balanced_batches(windows, 8, 2, call_tokens=8) == alone
    assert balanced_batches(windows, 8, 2, call_tokens=8) != alone


def test_rows_alone_go_longest_first() -> None:
    """Dynamic int8 runs each row alone: the longest rows go first, so no worker is left
    with a long row at the end of a batch."""
    windows = _windows(9, 40, 12, 33, 20)
    assert _shape(balanced_batches(windows, 1, 2, call_tokens=8)) == [[40], [33], [20], [12], [9]]
