"""The ONNX Runtime backend: fidelity to PyTorch on the same checkpoint, the export cache,
long texts, and the loader's runtime choice with its loud fallback to PyTorch."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from classifiers.base import ClassifierLoadError, Scores
from classifiers.detoxify_backend import DetoxifyClassifier
from classifiers.loader import ClassifierOptions, load_preferred
from classifiers.onnx_backend import OnnxDetoxifyClassifier, cache_digest
from moderation.domain.engine import Policy, compile_policy, decide
from moderation.http.guidelines_document import load_toml
from tests.tiny_detoxify import TinyDetoxify, build_tiny_detoxify, load_labelled_comments

ROOT = Path(__file__).resolve().parents[2]
NAME = "detoxify:original"


def _corpus() -> list[str]:
    texts = [c.text for c in load_labelled_comments()]
    # news-comment-length texts too: several labelled rows run together
    joined = [" ".join(texts[i : i + 4]) for i in range(0, len(texts), 4)]
    return [*texts, *joined]


CORPUS = _corpus()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def torch_model(tiny_detoxify: TinyDetoxify) -> DetoxifyClassifier:
    return DetoxifyClassifier(
        "original", checkpoint=tiny_detoxify.checkpoint, config_dir=tiny_detoxify.config_dir
    )


def _onnx(tiny: TinyDetoxify, cache_dir: Path, *, quantize: bool) -> OnnxDetoxifyClassifier:
    return OnnxDetoxifyClassifier(
        "original",
        cache_dir=cache_dir,
        quantize=quantize,
        checkpoint=tiny.checkpoint,
        config_dir=tiny.config_dir,
    )


@pytest.fixture(scope="module")
def onnx_fp32(tiny_detoxify: TinyDetoxify, cache_dir: Path) -> OnnxDetoxifyClassifier:
    return _onnx(tiny_detoxify, cache_dir, quantize=False)


@pytest.fixture(scope="module")
def onnx_int8(tiny_detoxify: TinyDetoxify, cache_dir: Path) -> OnnxDetoxifyClassifier:
    return _onnx(tiny_detoxify, cache_dir, quantize=True)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return compile_policy(load_toml(ROOT / "guidelines" / "default.toml").to_domain(0))


@pytest.fixture(scope="module")
def reference(torch_model: DetoxifyClassifier) -> list[Scores]:
    return torch_model.predict(CORPUS)


def _max_difference(left: list[Scores], right: list[Scores]) -> float:
    assert len(left) == len(right)
    worst = 0.0
    for a, b in zip(left, right, strict=True):
        assert set(a) == set(b)
        worst = max(worst, *(abs(a[c] - b[c]) for c in a))
    return worst


def _agreement(policy: Policy, left: list[Scores], right: list[Scores]) -> float:
    same = sum(
        decide(policy, text, a, NAME).action == decide(policy, text, b, NAME).action
        for text, a, b in zip(CORPUS, left, right, strict=True)
    )
    return same / len(CORPUS)


def test_same_name_categories_and_a_runtime(
    torch_model: DetoxifyClassifier,
    onnx_fp32: OnnxDetoxifyClassifier,
    onnx_int8: OnnxDetoxifyClassifier,
) -> None:
    assert onnx_fp32.name == onnx_int8.name == torch_model.name == NAME
    assert onnx_fp32.categories == onnx_int8.categories == torch_model.categories
    assert (torch_model.runtime, onnx_fp32.runtime, onnx_int8.runtime) == (
        "torch",
        "onnx",
        "onnx-int8",
    )
    assert onnx_fp32.path.name == "fp32.onnx" and onnx_int8.path.name == "int8.onnx"


def test_fp32_matches_pytorch(
    onnx_fp32: OnnxDetoxifyClassifier, reference: list[Scores], policy: Policy
) -> None:
    scores = onnx_fp32.predict(CORPUS)
    assert _max_difference(scores, reference) <= 1e-4
    assert _agreement(policy, scores, reference) == 1.0


def test_int8_close_to_pytorch_and_decisions_agree(
    onnx_int8: OnnxDetoxifyClassifier, reference: list[Scores], policy: Policy
) -> None:
    scores = onnx_int8.predict(CORPUS)
    assert _max_difference(scores, reference) <= 0.02
    assert _agreement(policy, scores, reference) >= 0.995
    # and the model still separates what it was trained to separate
    toxic, benign = onnx_int8.predict(
        ["you are an idiot", "Thank you for this thoughtful article."]
    )
    assert toxic["toxicity"] > 0.7 > 0.3 > benign["toxicity"]


def test_scores_do_not_depend_on_batch_partners(onnx_int8: OnnxDetoxifyClassifier) -> None:
    """Dynamic int8 quantises activations per batch; rows run alone, so a comment's scores
    (and so its decision) never depend on what else was in the micro-batch."""
    assert onnx_int8.batch_independent  # so the scorer may batch its texts freely
    texts = CORPUS[:40]
    together = onnx_int8.predict(texts)
    for text, scores in zip(texts[:8], together, strict=False):
        assert onnx_int8.predict([text])[0] == pytest.approx(scores, abs=1e-6)


def test_export_is_cached_by_checkpoint_digest(
    tiny_detoxify: TinyDetoxify, cache_dir: Path, onnx_int8: OnnxDetoxifyClassifier
) -> None:
    before = onnx_int8.path.stat().st_mtime_ns
    again = _onnx(tiny_detoxify, cache_dir, quantize=True)
    assert not again.exported
    assert again.path == onnx_int8.path
    assert again.path.stat().st_mtime_ns == before
    assert again.predict(CORPUS[:3]) == onnx_int8.predict(CORPUS[:3])
    # the folder is named by the checkpoint's content, not its path
    digest = cache_digest(tiny_detoxify.checkpoint, tiny_detoxify.config_dir, "x")
    assert digest != cache_digest(tiny_detoxify.checkpoint, None, "x")
    assert digest == cache_digest(tiny_detoxify.checkpoint, tiny_detoxify.config_dir, "x")


def test_another_checkpoint_gets_its_own_export(tmp_path: Path, cache_dir: Path) -> None:
    other = build_tiny_detoxify(tmp_path, train=False, seed=3)
    model = _onnx(other, cache_dir, quantize=False)
    assert model.exported
    assert len({p.name for p in cache_dir.iterdir() if p.is_dir()}) >= 2


def test_long_text_is_scored_in_windows(onnx_int8: OnnxDetoxifyClassifier) -> None:
    filler = "Thank you for this thoughtful article about the war. " * 30
    abuse = "you are an idiot. " * 16
    (benign,) = onnx_int8.predict([filler])
    (tail,) = onnx_int8.predict([filler + abuse])
    assert benign["toxicity"] < 0.3
    assert tail["toxicity"] > 0.7


def test_loader_picks_the_runtime(tiny_detoxify: TinyDetoxify, cache_dir: Path) -> None:
    options = ClassifierOptions(
        preference="detoxify:original,linear",
        detoxify_checkpoint=tiny_detoxify.checkpoint,
        detoxify_config=tiny_detoxify.config_dir,
        detoxify_runtime="onnx-int8",
        onnx_cache_dir=cache_dir,
    )
    classifier, report = load_preferred(options)
    assert classifier.name == NAME
    assert getattr(classifier, "runtime", None) == "onnx-int8"
    assert report.failures == []
    with pytest.raises(ClassifierLoadError, match="MODERATION_DETOXIFY_RUNTIME"):
        load_preferred(ClassifierOptions(preference="linear", detoxify_runtime="tensorrt"))


def test_failed_export_falls_back_to_pytorch_loudly(
    tiny_detoxify: TinyDetoxify,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import classifiers.onnx.export as backend

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(backend, "_export_fp32", broken)
    caplog.set_level(logging.WARNING)
    classifier, report = load_preferred(
        ClassifierOptions(
            preference="detoxify:original,linear",
            detoxify_checkpoint=tiny_detoxify.checkpoint,
            detoxify_config=tiny_detoxify.config_dir,
            detoxify_runtime="onnx",
            onnx_cache_dir=tmp_path / "cache",
        )
    )
    assert classifier.name == NAME
    assert getattr(classifier, "runtime", None) == "torch"
    assert [name for name, _ in report.failures] == ["detoxify:original@onnx"]
    assert "exporter exploded" in report.failures[0][1]
    assert "RUNNING detoxify:original ON PYTORCH" in caplog.text


def test_a_bad_checkpoint_is_not_retried_on_pytorch(tmp_path: Path) -> None:
    classifier, report = load_preferred(
        ClassifierOptions(
            preference="detoxify:original,linear",
            detoxify_checkpoint=tmp_path / "missing.ckpt",
            detoxify_config=tmp_path,
            detoxify_runtime="onnx-int8",
            onnx_cache_dir=tmp_path / "cache",
        )
    )
    assert classifier.name == "linear"
    assert [name for name, _ in report.failures] == ["detoxify:original"]
    assert "does not exist" in report.failures[0][1]
