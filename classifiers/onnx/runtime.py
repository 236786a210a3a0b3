"""``detoxify:<model>`` run with ONNX Runtime: exported once, cached, optionally int8.

The weights, tokenizer and classes come from the same Detoxify loading as the
PyTorch backend (:func:`classifiers.detoxify_backend.load_detoxify`), and
scoring uses the same windows and the same category mapping, so the two
backends report the same name (``detoxify:original`` …) and the guidelines'
per-classifier thresholds apply to both. Only ``runtime`` differs: ``onnx``
(fp32) or ``onnx-int8`` (dynamic int8 quantisation of the weights, activations
quantised per batch at run time).

The export and its cache are :mod:`classifiers.onnx.export`'s; the session options
and the threading, :mod:`classifiers.onnx.session`'s.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from classifiers.base import ClassifierLoadError, Scores
from classifiers.detoxify_backend import (
    DOWNLOAD_TIMEOUT_S,
    available_cpus,
    check_model_name,
    checkpoint_path,
    keep_maxima,
    load_detoxify,
    model_languages,
    score_columns,
    split_windows,
    sub_batches,
)
from classifiers.onnx.export import cache_digest, export, is_cached, load_tokenizer
from classifiers.onnx.session import (
    OnnxUnavailable,
    import_onnxruntime,
    run_rows,
    session_options,
)

__all__ = ["OnnxDetoxifyClassifier", "OnnxUnavailable"]

log = logging.getLogger(__name__)


class OnnxDetoxifyClassifier:
    """A Detoxify checkpoint exported to ONNX and run with ONNX Runtime on the CPU."""

    def __init__(
        self,
        model: str,
        *,
        cache_dir: Path,
        quantize: bool = False,
        checkpoint: Path | None = None,
        config_dir: Path | None = None,
        threads: int | None = None,
        batch_size: int | None = None,
        download_timeout_s: float = DOWNLOAD_TIMEOUT_S,
    ) -> None:
        name = check_model_name(model)
        ort = import_onnxruntime()
        import numpy

        self._numpy = numpy
        self.runtime = "onnx-int8" if quantize else "onnx"
        variant = "int8" if quantize else "fp32"
        source = checkpoint_path(model, checkpoint, download_timeout_s)
        folder = cache_dir / f"{model}-{cache_digest(source, config_dir, ort.__version__)}"
        #: True when this instance exported (or quantised) rather than reusing the cache.
        self.exported = False
        if not is_cached(folder, variant):
            loaded = load_detoxify(
                model,
                checkpoint=checkpoint,
                config_dir=config_dir,
                download_timeout_s=download_timeout_s,
            )
            export(loaded, folder, quantize=quantize)
            del loaded
            self.exported = True
        self.path = folder / f"{variant}.onnx"
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            self._tokenizer = load_tokenizer(folder / "tokenizer", str(meta["tokenizer_class"]))
            self._window = int(meta["window"])
            classes = [str(c) for c in meta["classes"]]
            self.threads = threads or available_cpus()
            self._session = ort.InferenceSession(
                str(self.path),
                session_options(ort),
                providers=["CPUExecutionProvider"],
            )
        except ClassifierLoadError:
            raise
        except Exception as exc:
            raise OnnxUnavailable(
                f"cannot load the exported model {self.path}: {type(exc).__name__}: {exc}"
            ) from exc
        #: Largest difference from PyTorch on the probe texts, measured at export.
        self.probe_difference = float(meta.get(f"max_abs_diff_{variant}", float("nan")))
        log.info(
            "%s on %s from %s (%s): scores within %.2g of PyTorch on the probe texts",
            name,
            self.runtime,
            self.path,
            "exported now" if self.exported else "cached export",
            self.probe_difference,
        )
        self._name = name
        # int8 activations are quantised with one scale per batch, so a row's scores would
        # depend on its batch partners (and on their padding): int8 runs each row alone.
        # Rows of a batch still run side by side, one per core. fp32 batches up to 8 rows
        # (beyond 4 a batch gains little on a CPU).
        self._batch_size = max(1, batch_size or (1 if quantize else 8))
        # Sub-batches run side by side, one per core (the session is safe to share).
        self._pool = (
            ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="onnx")
            if self.threads > 1
            else None
        )
        if self._pool is not None:
            weakref.finalize(self, self._pool.shutdown, wait=False)
        self._pad_id = int(self._tokenizer.pad_token_id or 0)
        self._columns = score_columns(classes)
        self._categories = tuple(c for _, c in self._columns)

    @property
    def name(self) -> str:
        return self._name

    @property
    def categories(self) -> tuple[str, ...]:
        return self._categories

    @property
    def languages(self) -> tuple[str, ...]:
        return model_languages(self._name)

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        if not texts:
            return []
        pieces = split_windows(self._tokenizer, texts, self._window)
        batches = sub_batches(pieces, self._batch_size, min_batches=self.threads)
        if self._pool is None or len(batches) == 1:
            outputs = [self._score(batch) for batch in batches]
        else:
            outputs = list(self._pool.map(self._score, batches))
        results: list[Scores] = [{} for _ in texts]
        for batch, probabilities in zip(batches, outputs, strict=True):
            keep_maxima(results, [owner for owner, _ in batch], probabilities, self._columns)
        return results

    def _score(self, batch: list[tuple[int, list[int]]]) -> list[list[float]]:
        rows = [ids for _, ids in batch]
        probabilities: list[list[float]] = run_rows(
            self._session, self._numpy, rows, self._pad_id
        ).tolist()
        return probabilities
