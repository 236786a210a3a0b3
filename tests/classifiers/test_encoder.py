"""The sentence encoder: pinned files, fidelity to sentence-transformers on each runtime,
truncation, the export cache and the loud fallbacks, all offline."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy
import pytest

from classifiers.base import ClassifierLoadError
from classifiers.encoder import (
    INT8_MIN_COSINE,
    MAX_TOKENS,
    PACKAGE_CONFIG_SHA256,
    PACKAGE_WEIGHTS_SHA256,
    WEIGHTS_FILE,
    SentenceEncoder,
    check_folder,
    package_folder,
)
from classifiers.minilm import HEADS_PATH, MiniLMClassifier, load_heads
from classifiers.onnx_backend import file_sha256

TEXTS = [
    "Thank you for this thoughtful article about the war.",
    "you are an idiot",
    "  I will kill you  ",
    "",
    "ok",
    "Die Regierung hat gelogen. 政府撒谎了。 😡 @editor http://example.com/a?b=c",
    "The report, which took two years to write, names every unit that was there. " * 12,
]


@pytest.fixture(scope="module")
def reference() -> Any:
    """sentence-transformers' own embeddings of TEXTS, from the package's folder."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(package_folder()), device="cpu", local_files_only=True)
    return model.encode(TEXTS, convert_to_numpy=True, batch_size=4)


@pytest.fixture(scope="module")
def torch_encoder() -> SentenceEncoder:
    return SentenceEncoder(runtime="torch")


def _copy_model(target: Path, *, link_weights: bool) -> Path:
    """A copy of the package's model folder; the weights linked (read only) or copied."""
    source = package_folder()
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(WEIGHTS_FILE))
    if link_weights:
        os.symlink(source / WEIGHTS_FILE, target / WEIGHTS_FILE)
    else:
        shutil.copyfile(source / WEIGHTS_FILE, target / WEIGHTS_FILE)
    return target


def test_the_package_is_pinned(minilm_encoder: SentenceEncoder) -> None:
    weights = package_folder() / WEIGHTS_FILE
    assert minilm_encoder.digest == PACKAGE_WEIGHTS_SHA256 == file_sha256(weights)
    assert minilm_encoder.config_digest == PACKAGE_CONFIG_SHA256
    assert minilm_encoder.files.from_package
    assert (minilm_encoder.dimension, minilm_encoder.max_tokens) == (384, 256)
    assert minilm_encoder.runtime == "onnx" and minilm_encoder.fallback_reason is None


def test_tampered_weights_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tampered = _copy_model(tmp_path / "model", link_weights=False)
    weights = tampered / WEIGHTS_FILE
    with weights.open("r+b") as handle:  # one byte in the middle of the tensors
        handle.seek(weights.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0x01]))
    # the package's folder changed under us: refused, whatever else is asked
    monkeypatch.setattr("classifiers.encoder.package_folder", lambda: tampered)
    with pytest.raises(ClassifierLoadError, match="not the pinned"):
        SentenceEncoder(runtime="torch")
    # a folder given by path: refused when a digest is expected …
    with pytest.raises(ClassifierLoadError, match="expected"):
        check_folder(tampered, expected_sha256=PACKAGE_WEIGHTS_SHA256)
    # … and otherwise accepted, but the committed heads refuse its embeddings
    files = check_folder(tampered)
    assert files.weights_sha256 != PACKAGE_WEIGHTS_SHA256 and not files.from_package
    with pytest.raises(ClassifierLoadError, match="retrain"):
        load_heads(
            HEADS_PATH,
            encoder_sha256=files.weights_sha256,
            encoder_config_sha256=files.config_sha256,
        )


def test_a_changed_tokenizer_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    changed = _copy_model(tmp_path / "model", link_weights=True)
    with (changed / "vocab.txt").open("a", encoding="utf-8") as vocab:
        vocab.write("moderation\n")
    monkeypatch.setattr("classifiers.encoder.package_folder", lambda: changed)
    with pytest.raises(ClassifierLoadError, match="tokenizer or module configs"):
        check_folder()
    # same weights by path: loads (no pin), but the heads see other configs
    files = check_folder(changed, expected_sha256=PACKAGE_WEIGHTS_SHA256)
    with pytest.raises(ClassifierLoadError, match="retrain"):
        load_heads(
            HEADS_PATH,
            encoder_sha256=files.weights_sha256,
            encoder_config_sha256=files.config_sha256,
        )


def test_a_folder_must_hold_this_pipeline(tmp_path: Path) -> None:
    folder = _copy_model(tmp_path / "model", link_weights=True)
    pooling = folder / "1_Pooling" / "config.json"
    pooling.write_text(
        pooling.read_text().replace(
            '"pooling_mode_cls_token": false', '"pooling_mode_cls_token": true'
        )
    )
    with pytest.raises(ClassifierLoadError, match="mean pooling"):
        check_folder(folder)
    (folder / WEIGHTS_FILE).unlink()
    with pytest.raises(ClassifierLoadError, match="safetensors"):
        check_folder(folder)
    with pytest.raises(ClassifierLoadError, match="does not exist"):
        check_folder(tmp_path / "nowhere")


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_embeddings_are_sentence_transformers(
    runtime: str,
    minilm_encoder: SentenceEncoder,
    torch_encoder: SentenceEncoder,
    reference: Any,
) -> None:
    encoder = minilm_encoder if runtime == "onnx" else torch_encoder
    assert encoder.runtime == runtime
    got = encoder.embed(TEXTS)
    assert got.shape == (len(TEXTS), 384) and got.dtype == numpy.float32
    assert float(numpy.abs(got - reference).max()) < 1e-5
    assert numpy.allclose(numpy.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_batches_and_order_do_not_change_an_embedding(minilm_encoder: SentenceEncoder) -> None:
    together = minilm_encoder.embed(TEXTS)
    alone = numpy.concatenate([minilm_encoder.embed([text]) for text in TEXTS])
    assert float(numpy.abs(together - alone).max()) < 1e-5
    reversed_ = minilm_encoder.embed(TEXTS[::-1])[::-1]
    assert float(numpy.abs(together - reversed_).max()) < 1e-5
    assert minilm_encoder.embed([]).shape == (0, 384)


def test_sub_batches_go_to_the_workers_costliest_first(
    minilm_encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``embed`` balances its calls over the workers (``balanced_batches``) and hands them
    over costliest first, so that no worker is left with the longest texts at the end."""
    import classifiers.encoder as encoder_module
    from classifiers.detoxify_backend import balanced_batches as balance

    handed: list[tuple[int, list[list[int]]]] = []

    def spy(pieces: Any, rows: int, workers: int, *, call_tokens: int) -> Any:
        batches = balance(pieces, rows, workers, call_tokens=call_tokens)
        handed.append((workers, [[len(ids) for _, ids in batch] for batch in batches]))
        return batches

    pool = ThreadPoolExecutor(max_workers=2)
    monkeypatch.setattr(encoder_module, "balanced_batches", spy)
    monkeypatch.setattr(minilm_encoder, "_pool", pool)
    monkeypatch.setattr(minilm_encoder, "threads", 2)
    texts = [" ".join(["word"] * words) for words in (3, 30, 5, 26, 8, 22, 11, 18)]
    try:
        got = minilm_encoder.embed(texts)
    finally:
        pool.shutdown()
    alone = numpy.concatenate([minilm_encoder.embed([text]) for text in texts])
    assert float(numpy.abs(got - alone).max()) < 1e-5
    workers, calls = handed[0]
    tokens = minilm_encoder._call_tokens()
    costs = [len(call) * max(call) + tokens for call in calls]
    assert workers == 2 and len(calls) >= 2 and costs == sorted(costs, reverse=True)


def test_on_this_thread_the_workers_are_not_used(
    minilm_encoder: SentenceEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside ``on_this_thread`` (a scorer lane) every call runs on the calling thread."""
    from classifiers.base import on_this_thread

    class Pool:
        def map(self, *args: Any) -> Any:
            raise AssertionError("the pool was used")

    texts = [" ".join(["word"] * words) for words in (3, 30, 5, 26, 8, 22, 11, 18)]
    expected = minilm_encoder.embed(texts)
    monkeypatch.setattr(minilm_encoder, "_pool", Pool())
    monkeypatch.setattr(minilm_encoder, "threads", 2)
    with pytest.raises(AssertionError, match="the pool was used"):
        minilm_encoder.embed(texts)  # the check bites: outside, the workers get the calls
    with on_this_thread():
        got = minilm_encoder.embed(texts)
    assert float(numpy.abs(got - expected).max()) < 1e-5


def test_long_texts_are_truncated_to_256_tokens(minilm_encoder: SentenceEncoder) -> None:
    long = "The council met again on Tuesday to discuss the budget. " * 40
    (ids,) = minilm_encoder.token_ids([long])
    assert len(ids) == MAX_TOKENS
    # what follows the 256th token is not seen
    cut, extended = minilm_encoder.embed([long, long + " I will kill you all."])
    assert float(numpy.abs(cut - extended).max()) < 1e-6


def test_the_export_is_cached_and_a_damaged_one_redone(
    encoder_cache: Path, minilm_encoder: SentenceEncoder, tmp_path: Path
) -> None:
    again = SentenceEncoder(runtime="onnx", cache_dir=encoder_cache)
    assert not again.exported and again.path == minilm_encoder.path
    assert numpy.array_equal(again.embed(TEXTS[:3]), minilm_encoder.embed(TEXTS[:3]))
    damaged_cache = tmp_path / "cache"
    shutil.copytree(encoder_cache, damaged_cache)
    (graph,) = damaged_cache.glob("minilm-*/fp32.onnx")
    graph.write_bytes(graph.read_bytes()[:1000])
    redone = SentenceEncoder(runtime="onnx", cache_dir=damaged_cache)
    assert redone.exported and redone.runtime == "onnx"
    assert float(numpy.abs(redone.embed(TEXTS[:3]) - again.embed(TEXTS[:3])).max()) < 1e-6


def test_without_onnxruntime_it_runs_pytorch_loudly(
    encoder_cache: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    caplog.set_level(logging.ERROR)
    encoder = SentenceEncoder(runtime="onnx", cache_dir=encoder_cache)
    assert encoder.runtime == "torch"
    assert encoder.fallback_reason and "onnxruntime" in encoder.fallback_reason
    assert "RUNNING THE SENTENCE ENCODER ON PYTORCH" in caplog.text
    assert encoder.embed(["ok"]).shape == (1, 384)


def test_int8_runs_only_when_faithful(
    encoder_cache: Path, minilm_encoder: SentenceEncoder, caplog: pytest.LogCaptureFixture
) -> None:
    """Dynamic int8 moves this model's embeddings too far (docs/classifiers.md): asked for,
    it runs fp32, loudly. With the guard off it runs, and each row alone, so a text's
    embedding does not depend on the rest of its batch."""
    caplog.set_level(logging.ERROR)
    guarded = SentenceEncoder(runtime="onnx-int8", cache_dir=encoder_cache)
    if guarded.runtime == "onnx-int8":  # another onnxruntime may quantise better
        assert guarded.probe_cosine >= INT8_MIN_COSINE
    else:
        assert guarded.runtime == "onnx"
        assert guarded.fallback_reason and "int8" in guarded.fallback_reason
        assert "RUNNING THE SENTENCE ENCODER ON ONNX FP32" in caplog.text
    forced = SentenceEncoder(runtime="onnx-int8", cache_dir=encoder_cache, int8_min_cosine=0.0)
    assert forced.runtime == "onnx-int8" and not forced.exported  # quantised once, above
    together = forced.embed(TEXTS)
    alone = numpy.concatenate([forced.embed([text]) for text in TEXTS])
    assert numpy.array_equal(together, alone)
    cosine = (together.astype(numpy.float64) * minilm_encoder.embed(TEXTS)).sum(axis=1)
    assert cosine.min() > 0.9


def test_loads_without_touching_the_network(
    encoder_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the network was touched")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # offline by construction, not by env
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    classifier = MiniLMClassifier(SentenceEncoder(runtime="onnx", cache_dir=encoder_cache))
    assert classifier.predict(["hello"])[0]["threat"] >= 0.0
