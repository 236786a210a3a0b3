"""The ``minilm`` encoder and classifier, loaded once for the whole session.

Loading checks a 90 MB weights digest and, on the first start, exports the ONNX graph
(a few seconds); every test that needs the real model shares these."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.encoder import SentenceEncoder
from classifiers.minilm import MiniLMClassifier


@pytest.fixture(scope="session")
def encoder_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX export cache shared by the session's encoders."""
    return tmp_path_factory.mktemp("encoder-cache")


@pytest.fixture(scope="session")
def minilm_encoder(encoder_cache: Path) -> SentenceEncoder:
    """The pinned encoder on ONNX Runtime fp32 (the default runtime)."""
    return SentenceEncoder(runtime="onnx", cache_dir=encoder_cache)


@pytest.fixture(scope="session")
def minilm(minilm_encoder: SentenceEncoder) -> MiniLMClassifier:
    """The ``minilm`` classifier with the committed heads."""
    return MiniLMClassifier(minilm_encoder)
