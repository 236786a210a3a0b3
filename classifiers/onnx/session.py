"""onnxruntime itself: importing it, the session options, running rows of token ids.

Threads: a session runs on one intra-op thread (:func:`session_options`), and
parallelism comes from running length-bucketed sub-batches side by side on a thread
pool (:meth:`classifiers.onnx.runtime.OnnxDetoxifyClassifier.predict`). On two cores
that gives more than one session with two intra-op threads, whose per-operator
barriers lose much of the second core to synchronisation, and far more when another
process (or the event loop) wants a core.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy
import numpy.typing as npt

from classifiers.base import ClassifierLoadError


class OnnxUnavailable(ClassifierLoadError):
    """ONNX Runtime cannot run this checkpoint (not installed, export or check failed).

    The checkpoint itself may be fine: the loader falls back to the PyTorch runtime."""


def import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except Exception as exc:
        raise OnnxUnavailable(f"onnxruntime is not usable: {exc}") from exc
    return onnxruntime


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


def pad_rows(
    rows: Sequence[Sequence[int]], pad_id: int
) -> tuple[npt.NDArray[numpy.int64], npt.NDArray[numpy.int64]]:
    """Right-padded ``input_ids`` and ``attention_mask`` (int64), as the PyTorch
    backends (and sentence-transformers) pad."""
    width = max(len(ids) for ids in rows)
    input_ids = numpy.full((len(rows), width), pad_id, dtype=numpy.int64)
    attention_mask = numpy.zeros((len(rows), width), dtype=numpy.int64)
    for i, ids in enumerate(rows):
        input_ids[i, : len(ids)] = ids
        attention_mask[i, : len(ids)] = 1
    return input_ids, attention_mask


def run_rows(session: Any, rows: Sequence[Sequence[int]], pad_id: int) -> Any:
    """Sigmoid probabilities (float64) for right-padded ``rows``, as the torch backend pads."""
    input_ids, attention_mask = pad_rows(rows, pad_id)
    (logits,) = session.run(["logits"], {"input_ids": input_ids, "attention_mask": attention_mask})
    return 1.0 / (1.0 + numpy.exp(-logits.astype(numpy.float64)))


def worker_pool(owner: object, threads: int, name: str) -> ThreadPoolExecutor | None:
    """``threads`` workers to run sub-batches side by side, shut down with ``owner``;
    None for one thread (the caller runs its sub-batches itself)."""
    if threads <= 1:
        return None
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
    weakref.finalize(owner, pool.shutdown, wait=False)
    return pool
