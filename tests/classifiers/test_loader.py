"""The preference list: first backend that loads, loud fallbacks, fast offline failure."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from classifiers.base import ClassifierLoadError
from classifiers.loader import ClassifierOptions, load_preferred, parse_preference
from tests.tiny_detoxify import TinyDetoxify


def test_parse_preference() -> None:
    assert parse_preference(" detoxify:unbiased , linear,") == ["detoxify:unbiased", "linear"]
    with pytest.raises(ClassifierLoadError):
        parse_preference(" , ")


def test_default_falls_back_to_linear_quickly_and_loudly(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no cached checkpoint
    caplog.set_level(logging.INFO)
    started = time.monotonic()
    classifier, report = load_preferred(ClassifierOptions())
    assert time.monotonic() - started < 30
    assert classifier.name == "linear"
    assert report.chosen == "linear"
    assert [name for name, _ in report.failures] == ["detoxify:unbiased"]
    assert "cannot download" in report.failures[0][1]
    assert "RUNNING FALLBACK CLASSIFIER linear" in caplog.text


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
