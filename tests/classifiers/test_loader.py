"""The preference list: first backend that loads, loud fallbacks, fast offline failure."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from classifiers.base import CATEGORIES, ClassifierLoadError
from classifiers.encoder import default_runtime
from classifiers.loader import (
    ClassifierOptions,
    load_one,
    load_preferred,
    one_blas_thread,
    parse_preference,
)
from tests.tiny_detoxify import TinyDetoxify


def test_parse_preference() -> None:
    assert parse_preference(" detoxify:unbiased , linear,") == ["detoxify:unbiased", "linear"]
    with pytest.raises(ClassifierLoadError):
        parse_preference(" , ")


def test_default_falls_back_to_minilm_quickly_and_loudly(
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    encoder_cache: Path,
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no cached checkpoint
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    classifier, report = load_preferred(ClassifierOptions(onnx_cache_dir=encoder_cache))
    assert time.monotonic() - started < 60
    assert classifier.name == "minilm" and report.chosen == "minilm"
    # torch-bf16 where the CPU has native bf16, fp32 ONNX elsewhere
    assert getattr(classifier, "runtime", None) == default_runtime()
    assert [name for name, _ in report.failures] == ["detoxify:unbiased"]
    assert "cannot download" in report.failures[0][1]
    assert f"RUNNING FALLBACK CLASSIFIER minilm on {default_runtime()}" in caplog.text
    assert set(classifier.categories) == set(CATEGORIES)


def test_linear_is_still_available_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    classifier, report = load_preferred(ClassifierOptions(preference="detoxify:unbiased,linear"))
    assert classifier.name == "linear"
    assert [name for name, _ in report.failures] == ["detoxify:unbiased"]


def test_minilm_options(encoder_cache: Path) -> None:
    from classifiers.encoder import PACKAGE_WEIGHTS_SHA256, package_folder

    # a local folder, checked against the digest it must have
    classifier, report = load_preferred(
        ClassifierOptions(
            preference="minilm",
            encoder_path=package_folder(),
            encoder_sha256=PACKAGE_WEIGHTS_SHA256.upper(),
            onnx_cache_dir=encoder_cache,
        )
    )
    assert classifier.name == "minilm" and report.failures == []
    # a wrong digest is a load failure; the preference list moves on
    classifier, report = load_preferred(
        ClassifierOptions(
            preference="minilm,linear",
            encoder_path=package_folder(),
            encoder_sha256="0" * 64,
            onnx_cache_dir=encoder_cache,
        )
    )
    assert classifier.name == "linear"
    assert report.failures[0][0] == "minilm" and "expected" in report.failures[0][1]
    # ONNX asked for with no export cache: it runs on PyTorch, and says so
    classifier, report = load_preferred(
        ClassifierOptions(preference="minilm", encoder_runtime="onnx")
    )
    assert getattr(classifier, "runtime", None) == "torch"
    assert report.failures == [("minilm@onnx", "no ONNX cache folder was given")]
    with pytest.raises(ClassifierLoadError, match="runtime must be one of"):
        load_one("minilm", ClassifierOptions(encoder_runtime="tensorrt"))


def test_unknown_names_and_nothing_loadable() -> None:
    with pytest.raises(ClassifierLoadError, match="no classifier could be loaded"):
        load_preferred(ClassifierOptions(preference="nonsense,detoxify:huge"))


def test_offline_checkpoint_is_preferred(tiny_detoxify: TinyDetoxify) -> None:
    classifier, report = load_preferred(
        ClassifierOptions(
            preference="detoxify:original,linear",
            detoxify_checkpoint=tiny_detoxify.checkpoint,
            detoxify_config=tiny_detoxify.config_dir,
        )
    )
    assert classifier.name == "detoxify:original"
    assert report.failures == []


def test_checkpoint_without_config_fails_clearly(tiny_detoxify: TinyDetoxify) -> None:
    classifier, report = load_preferred(
        ClassifierOptions(
            preference="detoxify:original,linear", detoxify_checkpoint=tiny_detoxify.checkpoint
        )
    )
    assert classifier.name == "linear"
    assert "MODERATION_DETOXIFY_CONFIG" in report.failures[0][1]


def test_bad_checkpoint_files(tmp_path: Path, tiny_detoxify: TinyDetoxify) -> None:
    from classifiers.detoxify_backend import DetoxifyClassifier

    with pytest.raises(ClassifierLoadError, match="does not exist"):
        DetoxifyClassifier(
            "original", checkpoint=tmp_path / "missing.ckpt", config_dir=tiny_detoxify.config_dir
        )
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ClassifierLoadError, match="cannot read"):
        DetoxifyClassifier("original", checkpoint=garbage, config_dir=tiny_detoxify.config_dir)
    import torch

    wrong = tmp_path / "wrong.ckpt"
    torch.save({"weights": {}}, wrong)
    with pytest.raises(ClassifierLoadError, match="Detoxify's format"):
        DetoxifyClassifier("original", checkpoint=wrong, config_dir=tiny_detoxify.config_dir)
    with pytest.raises(ClassifierLoadError, match=r"config\.json"):
        DetoxifyClassifier("original", checkpoint=tiny_detoxify.checkpoint, config_dir=tmp_path)
    with pytest.raises(ClassifierLoadError, match="unknown Detoxify model"):
        DetoxifyClassifier("gigantic", checkpoint=tiny_detoxify.checkpoint)


def test_one_blas_thread_sets_every_blas_library_to_one_thread() -> None:
    import sklearn.linear_model  # noqa: F401  (scipy's OpenBLAS, as the service loads it)
    from threadpoolctl import threadpool_info, threadpool_limits

    before = [i for i in threadpool_info() if i["user_api"] == "blas"]
    try:
        assert one_blas_thread() == len(before) >= 1
        after = [i for i in threadpool_info() if i["user_api"] == "blas"]
        assert [i["num_threads"] for i in after] == [1] * len(before)
    finally:
        for info in before:  # the process's other tests keep what they had
            threadpool_limits(limits={info["prefix"]: info["num_threads"]})


def test_the_encoder_default_is_bf16_only_where_native_and_not_beside_pytorch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import classifiers.encoder as encoder

    monkeypatch.setattr(encoder, "cpu_flags", lambda: ("avx2", "avx512_bf16"))
    assert encoder.default_runtime() == "torch-bf16"
    assert encoder.default_runtime(beside_pytorch=True) == "onnx"
    monkeypatch.setattr(encoder, "cpu_flags", lambda: ("avx2", "avx512f"))
    assert encoder.default_runtime() == "onnx"
