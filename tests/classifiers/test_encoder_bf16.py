"""The sentence encoder's ``torch-bf16`` runtime (classifiers/encoder.py): faithful to
fp32, a row's embedding independent of its batch partners, a loud fp32 fallback on a CPU
without native bf16, and a candidate of ``auto`` whose choice is cached and loads PyTorch
only when chosen; with its linear layers' weights plain or packed for oneDNN alike.
Timing is faked (no timed unit tests)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy
import pytest
import torch

from classifiers.detoxify_backend import bf16_linears, can_pack_bf16
from classifiers.encoder import (
    PROBE_TEXTS,
    Embeddings,
    SentenceEncoder,
    bf16_unsupported,
    encoder_candidates,
)
from classifiers.loader import ClassifierOptions, load_preferred, runtime_description
from classifiers.minilm import MiniLMClassifier
from classifiers.onnx.export import trace_bf16
from classifiers.onnx.recipes import TORCH_BF16, Corpus, available_candidates, choice_key
from tests.tiny_detoxify import load_labelled_comments

#: Labelled news comments (polite, critical, violent, threatening) and the probe texts
#: (empty, one word, multilingual with emoji and a URL, longer than the 256-token window).
TEXTS = [c.text for c in load_labelled_comments()][::8] + list(PROBE_TEXTS)
#: Measured on the project's AMD EPYC: >= 0.99997 on 687 reader comments.
MIN_COSINE = 0.999

NATIVE_BF16 = bf16_unsupported() is None
#: Each text embedded alone as well as in batches: in software bf16 (a CPU without it,
#: below) a quarter of the comments, with every probe, keeps the test to seconds.
PARTNER_TEXTS = TEXTS if NATIVE_BF16 else TEXTS[: -len(PROBE_TEXTS)][::4] + list(PROBE_TEXTS)


@pytest.fixture(scope="module", autouse=True)
def _bf16_everywhere() -> Iterator[None]:
    """On a CPU without native bf16, these tests run as if it had it: PyTorch then
    computes the same bfloat16 products in software, only slower, so what is checked
    (fidelity, partner independence, the choice and its cache) holds the same. Where the
    CPU has it, nothing is changed."""
    if NATIVE_BF16:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("classifiers.encoder.cpu_flags", lambda: ("avx2", "avx512f", "avx512_bf16"))
        yield


@pytest.fixture(autouse=True)
def _torch_threads() -> Iterator[None]:
    """torch-bf16 sets PyTorch's intra-op threads to 1 process-wide: restore them."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=[False, True], ids=["plain-weights", "packed-weights"])
def bf16_encoder(request: pytest.FixtureRequest) -> Iterator[SentenceEncoder]:
    """The encoder on torch-bf16 with each form of its linear layers, forced (the services
    keep the faster, measured at start: ``trace_bf16``)."""
    packed: bool = request.param
    with pytest.MonkeyPatch.context() as patch:
        if packed and not can_pack_bf16():
            # The plain bf16 layers stand in for the packed ones where this PyTorch
            # cannot pack: what runs is then the same, the form reported is still checked.
            patch.setattr("classifiers.onnx.export.packed_bf16_linears", bf16_linears)
        forced = functools.partial(trace_bf16, packed=packed)
        patch.setattr("classifiers.encoder.trace_bf16", forced)
        encoder = SentenceEncoder(runtime=TORCH_BF16, threads=2)
    assert encoder.bf16_packed is packed
    weights = runtime_description(MiniLMClassifier(encoder))["bf16_weights"]
    assert weights == ("packed" if packed else "plain")
    yield encoder


def _same_as_plain(encoder: SentenceEncoder) -> None:
    """Skip a numeric test for the stand-in of packed weights: it computes what the plain
    form does, which the test checks with the plain form already."""
    if encoder.bf16_packed and not can_pack_bf16():
        pytest.skip("packed weights stand in for plain ones here (no oneDNN bf16)")


def _min_cosine(a: Embeddings, b: Embeddings) -> float:
    """The smallest cosine between matching rows of two sets of unit vectors."""
    return float((a.astype(numpy.float64) * b.astype(numpy.float64)).sum(axis=1).min())


def test_bf16_is_faithful_to_fp32(
    bf16_encoder: SentenceEncoder, minilm_encoder: SentenceEncoder
) -> None:
    _same_as_plain(bf16_encoder)
    assert bf16_encoder.runtime == TORCH_BF16 and bf16_encoder.fallback_reason is None
    assert bf16_encoder.batch_independent and bf16_encoder.path is None
    got = bf16_encoder.embed(TEXTS)
    assert got.shape == (len(TEXTS), 384) and got.dtype == numpy.float32
    assert numpy.allclose(numpy.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    assert _min_cosine(got, minilm_encoder.embed(TEXTS)) >= MIN_COSINE
    # the probes alone and in one padded batch, against PyTorch fp32
    assert MIN_COSINE <= bf16_encoder.probe_cosine < 1.0
    # sub-batches side by side on the pool, one intra-op thread each
    assert bf16_encoder._pool is not None and torch.get_num_threads() == 1


def test_bf16_rows_do_not_depend_on_their_batch_partners(bf16_encoder: SentenceEncoder) -> None:
    _same_as_plain(bf16_encoder)
    texts = PARTNER_TEXTS
    alone = numpy.concatenate([bf16_encoder.embed([text]) for text in texts])
    assert _min_cosine(bf16_encoder.embed(texts), alone) >= MIN_COSINE
    assert _min_cosine(bf16_encoder.embed(texts[::-1])[::-1], alone) >= MIN_COSINE
    # every text in one padded batch (embed buckets by length; this is the worst case)
    rows = list(enumerate(bf16_encoder.token_ids(texts)))
    assert _min_cosine(bf16_encoder._run(rows), alone) >= MIN_COSINE


def test_without_native_bf16_it_runs_fp32_loudly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("classifiers.encoder.cpu_flags", lambda: ("avx2", "avx512f"))
    caplog.set_level(logging.ERROR)
    classifier, report = load_preferred(
        ClassifierOptions(preference="minilm", encoder_runtime=TORCH_BF16)
    )
    assert getattr(classifier, "runtime", None) == "torch"
    encoder = getattr(classifier, "encoder")  # noqa: B009 - Classifier has no encoder
    assert encoder.fallback_reason and "avx512_bf16" in encoder.fallback_reason
    assert report.failures == [("minilm@torch-bf16", encoder.fallback_reason)]
    assert "RUNNING THE SENTENCE ENCODER ON PYTORCH FP32" in caplog.text
    assert encoder._pool is None  # plain torch: one batch on PyTorch's own threads
    assert TORCH_BF16 not in encoder_candidates()
    monkeypatch.setattr("classifiers.encoder.cpu_flags", lambda: ("avx512_bf16",))
    assert encoder_candidates() == (*available_candidates(), TORCH_BF16)


def test_auto_measures_bf16_and_loads_pytorch_only_when_chosen(
    encoder_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a choice cached before torch-bf16 was a candidate has another key: measured again
    def key(candidates: Sequence[str]) -> str:
        return choice_key(
            flags=["avx512_bf16"], threads=2, ort_version="x", corpus="c", candidates=candidates
        )

    assert encoder_candidates()[-1] == TORCH_BF16
    assert key(encoder_candidates()) != key(available_candidates())

    fastest = {"value": TORCH_BF16}

    def fake_speed(run: object, texts: Sequence[str], seconds: float) -> float:
        runtime = getattr(run, "__self__").runtime  # noqa: B009 - the encoder's embed
        return 300.0 if runtime == fastest["value"] else 200.0

    torch.set_num_threads(2)
    monkeypatch.setattr("classifiers.encoder.rows_per_second", fake_speed)
    # fixed check comments: the training split may change under a running test
    corpus = Corpus([], [c.text for c in load_labelled_comments()][:96], "bf16-test")
    monkeypatch.setattr("classifiers.encoder.training_corpus", lambda: corpus)
    candidates = ["onnx", TORCH_BF16]  # fp32 is the reference; no int8 to quantise
    encoder = SentenceEncoder(runtime="onnx", cache_dir=encoder_cache, threads=2)
    classifier = MiniLMClassifier(encoder)
    reference = encoder.embed(TEXTS)
    choice = encoder.choose_recipe(classifier.scores, judge_key="bf16-test", candidates=candidates)
    assert choice.recipe == TORCH_BF16 == encoder.runtime == classifier.runtime
    trial = choice.chosen()
    assert trial is not None and trial.passed and trial.fidelity is not None
    assert trial.fidelity.max_abs_diff <= 0.02 and trial.fidelity.agreement >= 0.995
    assert (trial.fidelity.min_cosine or 0.0) >= MIN_COSINE
    assert encoder.path is None and encoder._session is None
    assert torch.get_num_threads() == 1
    assert _min_cosine(encoder.embed(TEXTS), reference) >= MIN_COSINE
    description = runtime_description(classifier)
    assert description["runtime"] == TORCH_BF16 and description["chosen_by"] == "measurement"
    assert description["batch_independent"] is True
    assert description["bf16_weights"] == ("packed" if encoder.bf16_packed else "plain")

    # ONNX faster: the PyTorch module loaded for the measurement is dropped, and PyTorch's
    # (process-wide) threads are put back
    fastest["value"] = "onnx"
    choice = encoder.choose_recipe(classifier.scores, judge_key="onnx-test", candidates=candidates)
    assert choice.recipe == "onnx" == encoder.runtime and encoder._torch_module is None
    assert torch.get_num_threads() == 2
    assert encoder.bf16_packed is None and "bf16_weights" not in runtime_description(classifier)

    # from the cache: no measurement, and PyTorch's module only for the torch-bf16 choice
    def refuse(*_: object) -> float:
        raise AssertionError("measured again")

    monkeypatch.setattr("classifiers.encoder.rows_per_second", refuse)
    again = SentenceEncoder(runtime="onnx", cache_dir=encoder_cache, threads=2)
    assert again._torch_module is None
    with monkeypatch.context() as patch:
        patch.setattr("classifiers.encoder._load_torch", refuse)
        assert again.choose_recipe(judge_key="onnx-test", candidates=candidates).recipe == "onnx"
    assert again.runtime == "onnx" and again._torch_module is None
    assert again.choose_recipe(judge_key="bf16-test", candidates=candidates).recipe == TORCH_BF16
    assert again.runtime == TORCH_BF16 and again._torch_module is not None
    assert _min_cosine(again.embed(TEXTS), reference) >= MIN_COSINE
