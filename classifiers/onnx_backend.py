"""``detoxify:<model>`` run with ONNX Runtime: exported once, cached, optionally int8.

The weights, tokenizer and classes come from the same Detoxify loading as the
PyTorch backend (:func:`classifiers.detoxify_backend.load_detoxify`), and
scoring uses the same windows and the same category mapping, so the two
backends report the same name (``detoxify:original`` …) and the guidelines'
per-classifier thresholds apply to both. Only ``runtime`` differs: ``onnx``
(fp32) or ``onnx-int8`` (dynamic int8 quantisation of the weights, activations
quantised per batch at run time).

The export cache
----------------
``<cache_dir>/<model>-<digest>/`` where the digest covers the checkpoint file's
SHA-256, the local Hugging Face folder's files, the export format version and
the onnxruntime version. It holds ``fp32.onnx``, ``int8.onnx`` (when asked
for), the tokenizer (``tokenizer/``) and ``meta.json`` (classes, window, and the
differences measured against PyTorch at export). A later start with the same
checkpoint loads straight from it, without loading PyTorch weights at all.
Every file is written under a temporary name and renamed into place, so two
processes starting together at worst both export.

Export: PyTorch's TorchScript-based exporter (``dynamo=False``) with the
attention in its eager form and dynamic batch and sequence axes; onnxruntime
applies its own graph optimisations when it loads the file. (Its offline
transformer optimiser, which fuses whole attention blocks, made the graph
*slower* on our CPUs: docs/inference.md.) Each exported graph is checked
against PyTorch on a few probe texts before it is kept (fp32 within 1e-3, int8
within 0.05: that catches a broken graph or a model that quantises badly); one
that fails raises :class:`OnnxUnavailable`, and the loader then runs the
PyTorch backend, loudly.

Threads: the session runs on one intra-op thread, and a batch is cut into
length-bucketed sub-batches that ``threads`` workers run side by side
(:meth:`OnnxDetoxifyClassifier.predict`). On two cores that gives more than
one session with two intra-op threads, whose per-operator barriers lose much
of the second core to synchronisation, and far more when another process (or
the event loop) wants a core.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
import warnings
import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifiers.base import ClassifierLoadError, Scores
from classifiers.detoxify_backend import (
    DOWNLOAD_TIMEOUT_S,
    LoadedDetoxify,
    available_cpus,
    check_model_name,
    checkpoint_path,
    keep_maxima,
    load_detoxify,
    model_languages,
    score_columns,
    split_windows,
    sub_batches,
    window_size,
)

log = logging.getLogger(__name__)

#: Bump when the exported graph or the cache layout changes: old cache entries are ignored.
EXPORT_VERSION = 1
OPSET = 17
#: A graph further than this from PyTorch on the probe texts is broken, not merely rounded.
FP32_TOLERANCE = 1e-3
INT8_TOLERANCE = 0.05
PROBE_TEXTS: tuple[str, ...] = (
    "Thank you for this thoughtful article about the war.",
    "you are an idiot",
    "I will kill you",
    "The article says the soldiers were shot while retreating, and the report, which took "
    "two years to write, names every unit that was there. It is careful and fair.",
    "ok",
    "What a load of rubbish. The author should be ashamed; the government lied again.",
)


class OnnxUnavailable(ClassifierLoadError):
    """ONNX Runtime cannot run this checkpoint (not installed, export or check failed).

    The checkpoint itself may be fine: the loader falls back to the PyTorch runtime."""


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except Exception as exc:
        raise OnnxUnavailable(f"onnxruntime is not usable: {exc}") from exc
    return onnxruntime


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
        ort = _import_onnxruntime()
        import numpy

        self._numpy = numpy
        self.runtime = "onnx-int8" if quantize else "onnx"
        variant = "int8" if quantize else "fp32"
        source = checkpoint_path(model, checkpoint, download_timeout_s)
        folder = cache_dir / f"{model}-{cache_digest(source, config_dir, ort.__version__)}"
        #: True when this instance exported (or quantised) rather than reusing the cache.
        self.exported = False
        if not _cached(folder, variant):
            loaded = load_detoxify(
                model,
                checkpoint=checkpoint,
                config_dir=config_dir,
                download_timeout_s=download_timeout_s,
            )
            _export(loaded, folder, quantize=quantize)
            del loaded
            self.exported = True
        self.path = folder / f"{variant}.onnx"
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            self._tokenizer = _load_tokenizer(folder / "tokenizer", str(meta["tokenizer_class"]))
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
        probabilities: list[list[float]] = _run(
            self._session, self._numpy, rows, self._pad_id
        ).tolist()
        return probabilities


def session_options(ort: Any, threads: int = 1) -> Any:
    """Deliberate threading: ``threads`` intra-op threads (the caller's thread is one of
    them; 1 here, parallelism comes from running sub-batches side by side), one inter-op
    thread (a BERT graph is a chain), no spinning (idle threads must not take a core from
    the event loop), sequential execution, every graph optimisation."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initialisers are noise here
    return options


def _run(session: Any, numpy: Any, rows: Sequence[Sequence[int]], pad_id: int) -> Any:
    """Sigmoid probabilities (float64) for right-padded ``rows``, as the torch backend pads."""
    width = max(len(ids) for ids in rows)
    input_ids = numpy.full((len(rows), width), pad_id, dtype=numpy.int64)
    attention_mask = numpy.zeros((len(rows), width), dtype=numpy.int64)
    for i, ids in enumerate(rows):
        input_ids[i, : len(ids)] = ids
        attention_mask[i, : len(ids)] = 1
    (logits,) = session.run(["logits"], {"input_ids": input_ids, "attention_mask": attention_mask})
    return 1.0 / (1.0 + numpy.exp(-logits.astype(numpy.float64)))


def cache_digest(checkpoint: Path, config_dir: Path | None, ort_version: str) -> str:
    """Names an export: the checkpoint's SHA-256, the local config folder's files, the
    export format and the onnxruntime version (quantised operators are onnxruntime's)."""
    digest = hashlib.sha256(f"export-v{EXPORT_VERSION};ort-{ort_version};".encode())
    digest.update(file_sha256(checkpoint).encode())
    if config_dir is not None and config_dir.is_dir():
        for path in sorted(p for p in config_dir.iterdir() if p.is_file()):
            digest.update(path.name.encode() + b"\0" + file_sha256(path).encode())
    return digest.hexdigest()[:32]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _cached(folder: Path, variant: str) -> bool:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        meta.get("export_version") == EXPORT_VERSION
        and (folder / f"{variant}.onnx").is_file()
        and (folder / "tokenizer").is_dir()
    )


def _load_tokenizer(folder: Path, class_name: str) -> Any:
    import transformers

    return getattr(transformers, class_name).from_pretrained(str(folder), local_files_only=True)


def _export(loaded: LoadedDetoxify, folder: Path, *, quantize: bool) -> None:
    """Export (and quantise) ``loaded`` into ``folder``; :class:`OnnxUnavailable` on failure."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        meta_path = folder / "meta.json"
        try:
            meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta.get("export_version") != EXPORT_VERSION:
                meta = {}
        except (OSError, ValueError):
            meta = {}
        probes = _probes(loaded)
        fp32 = folder / "fp32.onnx"
        if not fp32.is_file() or not meta:
            started = time.monotonic()
            meta.update(_export_fp32(loaded, fp32, probes))
            log.info("exported %s to %s in %.1fs", loaded.name, fp32, time.monotonic() - started)
        if quantize:
            started = time.monotonic()
            meta["max_abs_diff_int8"] = _quantize(fp32, folder / "int8.onnx", probes)
            log.info("quantised %s to int8 in %.1fs", loaded.name, time.monotonic() - started)
        _save_tokenizer(loaded.tokenizer, folder / "tokenizer")
        meta.update(
            export_version=EXPORT_VERSION,
            name=loaded.name,
            classes=loaded.classes,
            window=window_size(loaded.model.config, loaded.tokenizer),
            tokenizer_class=type(loaded.tokenizer).__name__,
        )
        _write_atomically(meta_path, json.dumps(meta, indent=2).encode())
    except ClassifierLoadError:
        raise
    except Exception as exc:
        raise OnnxUnavailable(
            f"exporting {loaded.name} to ONNX failed: {type(exc).__name__}: {exc}"
        ) from exc


@dataclass(frozen=True, slots=True)
class Probes:
    """The probe texts as token id rows (each alone, then all in one padded batch) and
    PyTorch's probabilities for each batch."""

    batches: list[list[list[int]]]
    expected: list[Any]
    pad_id: int


def _probes(loaded: LoadedDetoxify) -> Probes:
    import torch

    window = window_size(loaded.model.config, loaded.tokenizer)
    rows = [ids for _, ids in split_windows(loaded.tokenizer, PROBE_TEXTS, window)]
    batches = [*([row] for row in rows), rows]
    expected = []
    with torch.inference_mode():
        for batch in batches:
            inputs = loaded.tokenizer.pad({"input_ids": batch}, return_tensors="pt")
            expected.append(torch.sigmoid(loaded.model(**inputs)[0]).double().numpy())
    return Probes(batches, expected, int(loaded.tokenizer.pad_token_id or 0))


def _difference(path: Path, probes: Probes) -> float:
    """Largest absolute difference between ``path``'s probabilities and PyTorch's."""
    import numpy
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(path),
        session_options(onnxruntime, available_cpus()),
        providers=["CPUExecutionProvider"],
    )
    worst = 0.0
    for rows, reference in zip(probes.batches, probes.expected, strict=True):
        got = _run(session, numpy, rows, probes.pad_id)
        worst = max(worst, float(numpy.abs(got - reference).max()))
    return worst


def _export_fp32(loaded: LoadedDetoxify, target: Path, probes: Probes) -> dict[str, Any]:
    import torch

    model = loaded.model
    previous = getattr(model.config, "_attn_implementation", None)
    with contextlib.suppress(Exception):
        # Eager attention exports as plain MatMul/Softmax, which every onnxruntime runs
        # (the SDPA form exports to a longer masked graph of the same cost).
        model.set_attn_implementation("eager")

    class Logits(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]

    temporary = _temporary(target)
    try:
        example = torch.ones((2, 8), dtype=torch.long)
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer's warnings concern shapes it freezes; the probe check covers them.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Logits(model).eval(),
                (example, torch.ones_like(example)),
                str(temporary),
                input_names=["input_ids", "attention_mask"],
                output_names=["logits"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "logits": {0: "batch"},
                },
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
        if previous is not None:
            with contextlib.suppress(Exception):
                model.set_attn_implementation(previous)
        difference = _difference(temporary, probes)
        if difference > FP32_TOLERANCE:
            raise OnnxUnavailable(
                f"the exported graph differs from PyTorch by {difference:.2g} on the probes"
            )
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return {"max_abs_diff_fp32": difference}


def _quantize(fp32: Path, target: Path, probes: Probes) -> float:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    temporary = _temporary(target)
    root = logging.getLogger()
    root.addFilter(_quiet_quantizer)
    try:
        quantize_dynamic(
            str(fp32),
            str(temporary),
            weight_type=QuantType.QInt8,
            # The weight matrices only: quantising the embeddings (Gather) and the tiny
            # classifier head doubled the error for no measurable speed.
            op_types_to_quantize=["MatMul"],
            # A scale per output channel, 7-bit weights (no u8*s8 saturation on CPUs
            # without VNNI): the smallest errors of the settings measured, same speed.
            per_channel=True,
            reduce_range=True,
        )
        difference = _difference(temporary, probes)
        if difference > INT8_TOLERANCE:
            raise OnnxUnavailable(
                f"the int8 graph differs from PyTorch by {difference:.2g} on the probe texts"
            )
        os.replace(temporary, target)
    finally:
        root.removeFilter(_quiet_quantizer)
        temporary.unlink(missing_ok=True)
    return difference


def _quiet_quantizer(record: logging.LogRecord) -> bool:
    """onnxruntime's quantiser logs a line per tensor (and advice) on the root logger."""
    return record.levelno >= logging.ERROR or "quantization" not in record.pathname


def _save_tokenizer(tokenizer: Any, target: Path) -> None:
    if target.is_dir():
        return
    temporary = _temporary(target)
    tokenizer.save_pretrained(str(temporary))
    try:
        temporary.rename(target)
    except OSError:  # another process saved it first
        shutil.rmtree(temporary, ignore_errors=True)


def _write_atomically(target: Path, data: bytes) -> None:
    temporary = _temporary(target)
    temporary.write_bytes(data)
    os.replace(temporary, target)


def _temporary(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
