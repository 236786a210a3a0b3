"""Exporting a Detoxify checkpoint to ONNX, quantising it, checking it, caching it.

The export cache
----------------
``<cache_dir>/<model>-<digest>/`` where the digest covers the checkpoint file's
SHA-256, the local Hugging Face folder's files, the export format version and
the onnxruntime version. It holds ``fp32.onnx``, ``int8.onnx`` (dynamic) and
``static-int8.onnx`` (calibrated) when asked for, the tokenizer (``tokenizer/``),
``meta.json`` (classes, window, and the differences measured against PyTorch at
export) and, for ``auto``, ``choice-<key>.json`` (:mod:`classifiers.onnx.recipes`).
A later start with the same checkpoint loads straight from it, without loading
PyTorch weights at all. Every file is written under a temporary name and renamed
into place, so two processes starting together at worst both export.

Export: PyTorch's TorchScript-based exporter (``dynamo=False``) with the
attention in its eager form and dynamic batch and sequence axes; onnxruntime
applies its own graph optimisations when it loads the file. (Its offline
transformer optimiser, which fuses whole attention blocks, made the graph
*slower* on our CPUs: docs/inference.md.) Each exported graph is checked
against PyTorch on a few probe texts before it is kept (fp32 within 1e-3, int8
within 0.05: that catches a broken graph or a model that quantises badly); one
that fails raises :class:`~classifiers.onnx.session.OnnxUnavailable`, and the loader then runs the
PyTorch backend, loudly.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import statistics
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifiers.base import ClassifierLoadError
from classifiers.detoxify_backend import (
    LoadedDetoxify,
    available_cpus,
    bf16_linears,
    packed_bf16_linears,
    split_windows,
    window_size,
)
from classifiers.onnx.session import OnnxUnavailable, pad_rows, run_rows, session_options

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


def is_cached(folder: Path, variant: str) -> bool:
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        meta.get("export_version") == EXPORT_VERSION
        and (folder / f"{variant}.onnx").is_file()
        and (folder / "tokenizer").is_dir()
    )


def load_tokenizer(folder: Path, class_name: str) -> Any:
    import transformers

    return getattr(transformers, class_name).from_pretrained(str(folder), local_files_only=True)


def export(
    loaded: LoadedDetoxify,
    folder: Path,
    *,
    quantize: bool,
    static: bool = False,
    calibration: Sequence[str] = (),
) -> None:
    """Export (and quantise) ``loaded`` into ``folder``; :class:`OnnxUnavailable` on failure.

    ``quantize``: also the dynamic int8 graph (``int8.onnx``); ``static``: also the static
    int8 graph (``static-int8.onnx``) calibrated on ``calibration`` texts."""
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
        if static:
            started = time.monotonic()
            window = window_size(loaded.model.config, loaded.tokenizer)
            rows = [ids for _, ids in split_windows(loaded.tokenizer, calibration, window)]
            meta["max_abs_diff_static-int8"] = _quantize_static(
                fp32, folder / "static-int8.onnx", probes, rows
            )
            log.info(
                "quantised %s to static int8 (%d calibration texts) in %.1fs",
                loaded.name,
                len(calibration),
                time.monotonic() - started,
            )
        _save_tokenizer(loaded.tokenizer, folder / "tokenizer")
        meta.update(
            export_version=EXPORT_VERSION,
            name=loaded.name,
            classes=loaded.classes,
            window=window_size(loaded.model.config, loaded.tokenizer),
            tokenizer_class=type(loaded.tokenizer).__name__,
        )
        write_atomically(meta_path, json.dumps(meta, indent=2).encode())
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
        got = run_rows(session, rows, probes.pad_id)
        worst = max(worst, float(numpy.abs(got - reference).max()))
    return worst


def _export_fp32(loaded: LoadedDetoxify, target: Path, probes: Probes) -> dict[str, Any]:

    model = loaded.model
    previous = getattr(model.config, "_attn_implementation", None)
    with contextlib.suppress(Exception):
        # Eager attention exports as plain MatMul/Softmax, which every onnxruntime runs
        # (the SDPA form exports to a longer masked graph of the same cost).
        model.set_attn_implementation("eager")

    temporary = temporary_path(target)
    try:
        trace_to_onnx(logits_module(model), temporary, "logits")
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


def logits_module(model: Any) -> Any:
    """A Detoxify model as a module of ``(input_ids, attention_mask)`` to its logits, in
    eval mode: what is exported to ONNX, and what ``torch-bf16`` traces."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask)[0]

    return Logits(model).eval()


def _quantize(fp32: Path, target: Path, probes: Probes) -> float:
    with quantized(fp32, target) as temporary:
        difference = _difference(temporary, probes)
        if difference > INT8_TOLERANCE:
            raise OnnxUnavailable(
                f"the int8 graph differs from PyTorch by {difference:.2g} on the probe texts"
            )
    return difference


def _quantize_static(
    fp32: Path, target: Path, probes: Probes, calibration: Sequence[Sequence[int]]
) -> float:
    with static_quantized(fp32, target, calibration, probes.pad_id) as temporary:
        difference = _difference(temporary, probes)
        if difference > INT8_TOLERANCE:
            raise OnnxUnavailable(
                f"the static int8 graph differs from PyTorch by {difference:.2g} on the probes"
            )
    return difference


@contextlib.contextmanager
def static_quantized(
    fp32: Path,
    target: Path,
    calibration: Sequence[Sequence[int]],
    pad_id: int,
    input_names: tuple[str, str] = ("input_ids", "attention_mask"),
) -> Iterator[Path]:
    """``fp32`` quantised to static int8 (QDQ) under a temporary name, renamed to
    ``target`` when the block returns, removed when it raises.

    Activation scales are fixed here, from the ranges seen on ``calibration`` (token id
    rows, each run alone: min-max, which keeps the outliers a transformer's activations
    carry; percentile clipping measured far worse). So a row's result no longer depends
    on what it is batched with. Weight matrices only (``MatMulConstBOnly``: the attention
    products of two activations stay float), a scale per output channel, 7-bit weights
    as for dynamic int8 (no u8*s8 saturation on CPUs without VNNI)."""
    import numpy
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    rows = [list(r) for r in calibration if r]
    if not rows:
        raise OnnxUnavailable("static int8 needs calibration texts")

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.position = 0

        def get_next(self) -> dict[str, Any] | None:
            if self.position >= len(rows):
                return None
            row = rows[self.position]
            self.position += 1
            ids = numpy.asarray([row], dtype=numpy.int64)
            return {input_names[0]: ids, input_names[1]: numpy.ones_like(ids)}

    with _quantizing(target) as temporary:
        quantize_static(
            str(fp32),
            str(temporary),
            Reader(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"MatMulConstBOnly": True},
        )
        yield temporary


@contextlib.contextmanager
def quantized(fp32: Path, target: Path) -> Iterator[Path]:
    """``fp32`` quantised to int8 under a temporary name, for the block to check; renamed
    to ``target`` when the block returns, removed when it raises."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quantizing(target) as temporary:
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
        yield temporary


@contextlib.contextmanager
def _quantizing(target: Path) -> Iterator[Path]:
    """A temporary name beside ``target`` for a quantiser to write, with its log noise
    filtered: renamed to ``target`` when the block returns, removed when it raises."""
    temporary = temporary_path(target)
    root = logging.getLogger()
    root.addFilter(quiet_quantizer)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        root.removeFilter(quiet_quantizer)
        temporary.unlink(missing_ok=True)


#: How :func:`trace_bf16` times the two forms: calls of this many rows (the examples
#: repeated), each form's first calls discarded (TorchScript optimises a trace on its
#: first runs), then rounds of one call each, in alternating order.
TIMING_ROWS = 8
TIMING_WARMUP = 2
TIMING_ROUNDS = 5


@dataclass(frozen=True, slots=True)
class Bf16Trace:
    """What :func:`trace_bf16` made: the module to run and how its linear layers run."""

    module: Any
    #: True: oneDNN-packed weights (``detoxify_backend.packed_bf16_linears``); False:
    #: bfloat16 weights for PyTorch's ``linear`` (``detoxify_backend.bf16_linears``).
    packed: bool
    #: Median seconds per timing call of the plain and the packed form, when both were timed.
    seconds: tuple[float, float] | None = None

    def describe(self) -> str:
        """One line for the log: which form runs, and why."""
        form = "packed weights" if self.packed else "plain bf16 weights"
        if self.seconds is None:
            return form
        plain, packed = self.seconds
        return (
            f"{form} (a call of {TIMING_ROWS} rows: plain {plain * 1e3:.1f} ms,"
            f" packed {packed * 1e3:.1f} ms)"
        )


def trace_bf16(
    module: Any, examples: Sequence[Sequence[int]], pad_id: int, *, packed: bool | None = None
) -> Bf16Trace:
    """``module`` traced (TorchScript) under ``torch.autocast("cpu", bfloat16)``: matrix
    products in bfloat16, layer norms (so the token states), pooling and normalisation in
    float32, as autocast's CPU policy has it; the casts are recorded in the graph.

    The trace runs a copy of ``module`` whose ``Linear`` layers hold their weights in
    bfloat16 once, so nothing is cast per call: either for PyTorch's ``linear``
    (:func:`~classifiers.detoxify_backend.bf16_linears`; the results are exactly
    autocast's over the float32 weights, tested) or laid out once for oneDNN's kernels
    (:func:`~classifiers.detoxify_backend.packed_bf16_linears`; the same products, equal to
    rounding). Every other tensor is shared with ``module``, which is left as it was.
    Autocast casts a linear layer's operands to bfloat16 on every call: with float32
    weights that is a fresh copy of every weight matrix per forward pass, which took 44 %
    of the sentence encoder's CPU time on 4-row calls (December, Intel Xeon with AMX);
    with bfloat16 weights oneDNN still rearranges each matrix on every call, which packing
    saves. ``packed`` None (the services' choice): both forms are traced and timed here,
    on calls of :data:`TIMING_ROWS` rows, and the faster is kept, since which wins depends
    on the CPU (docs/inference.md, "Packed bf16 weights"); True or False forces one. While
    they are timed both forms exist (bert-base: about 340 MB of bfloat16 weights). Once
    the caller drops ``module``, bert-base's trace holds its linear weights in bfloat16
    (about 170 MB) rather than float32 (about 340 MB).

    Traced rather than run eagerly because an eager forward takes the GIL back for each of
    its few hundred operators: with the event loop busy in another thread, two encoder
    threads on two cores managed 8-16 rows/s eagerly and 108-112 traced (a TorchScript
    forward runs without the GIL). The trace is shape-generic for this module (every
    caller passes an attention mask, the one branch the tracer warns about); the probe
    check (:meth:`SentenceEncoder._bf16_probe_cosine`) covers other lengths and batches.
    ``examples``: the token rows traced on, right-padded with ``pad_id``. The sentence
    encoder and Detoxify's ``torch-bf16`` candidate both run their module this way."""
    import torch

    inputs = tuple(torch.from_numpy(a) for a in pad_rows(examples, pad_id))
    plain = None if packed else _trace(bf16_linears(module), inputs)
    if packed is False:
        return Bf16Trace(plain, False)
    if packed:
        return Bf16Trace(_trace(packed_bf16_linears(module), inputs), True)
    rows = [examples[i % len(examples)] for i in range(TIMING_ROWS)]
    timing = tuple(torch.from_numpy(a) for a in pad_rows(rows, pad_id))
    try:
        packing = _trace(packed_bf16_linears(module), inputs)
        seconds = time_pair(plain, packing, timing)
    except Exception as exc:  # the packed form is an option: any failure leaves the plain
        log.warning("bf16 weights stay plain: the packed form failed: %r", exc)
        return Bf16Trace(plain, False)
    faster = seconds[1] < seconds[0]
    return Bf16Trace(packing if faster else plain, faster, seconds)


def time_pair(first: Any, second: Any, inputs: tuple[Any, ...]) -> tuple[float, float]:
    """The median seconds per call of ``first(*inputs)`` and ``second(*inputs)``, timed
    in alternating order after :data:`TIMING_WARMUP` calls each: a burst of other work
    on the machine then slows both, rather than deciding between them. On one intra-op
    thread, as the services run a trace (side by side on their own threads)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        times = _time_rounds(first, second, inputs)
    finally:
        torch.set_num_threads(threads)
    return statistics.median(times[0]), statistics.median(times[1])


def _time_rounds(
    first: Any, second: Any, inputs: tuple[Any, ...]
) -> tuple[list[float], list[float]]:
    import torch

    times: tuple[list[float], list[float]] = ([], [])
    with torch.inference_mode():
        for module in (first, second):
            for _ in range(TIMING_WARMUP):
                module(*inputs)
        for round_ in range(TIMING_ROUNDS):
            order = (0, 1) if round_ % 2 == 0 else (1, 0)
            for index in order:
                started = time.perf_counter()
                (first, second)[index](*inputs)
                times[index].append(time.perf_counter() - started)
    return times


def _trace(module: Any, inputs: tuple[Any, ...]) -> Any:
    import torch

    with (
        torch.inference_mode(),
        torch.autocast("cpu", dtype=torch.bfloat16),
        warnings.catch_warnings(),
    ):
        # The tracer's warnings: "converting a tensor to a Python boolean" (the causal-mask
        # branch, constant here) and its deprecation in favour of torch.export, whose
        # programs run operator by operator from Python again (what tracing avoids).
        warnings.simplefilter("ignore")
        trace: Any = torch.jit.trace
        return trace(module, inputs, check_trace=False, strict=False)


def trace_to_onnx(module: Any, target: Path, output: str) -> None:
    """Export a transformer taking ``(input_ids, attention_mask)`` to ONNX at ``target``,
    with dynamic batch and sequence axes: PyTorch's TorchScript-based exporter
    (``dynamo=False``), constant folding on. The caller checks the graph on probes."""
    import torch

    example = torch.ones((2, 8), dtype=torch.long)
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer's warnings concern shapes it freezes; the probe check covers them.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example, torch.ones_like(example)),
            str(target),
            input_names=["input_ids", "attention_mask"],
            output_names=[output],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "sequence"},
                "attention_mask": {0: "batch", 1: "sequence"},
                output: {0: "batch"},
            },
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def quiet_quantizer(record: logging.LogRecord) -> bool:
    """onnxruntime's quantiser logs a line per tensor (and advice) on the root logger."""
    return record.levelno >= logging.ERROR or "quantization" not in record.pathname


def _save_tokenizer(tokenizer: Any, target: Path) -> None:
    if target.is_dir():
        return
    temporary = temporary_path(target)
    tokenizer.save_pretrained(str(temporary))
    try:
        temporary.rename(target)
    except OSError:  # another process saved it first
        shutil.rmtree(temporary, ignore_errors=True)


def write_atomically(target: Path, data: bytes) -> None:
    temporary = temporary_path(target)
    temporary.write_bytes(data)
    os.replace(temporary, target)


def temporary_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
