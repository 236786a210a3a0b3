"""``detoxify:<model>``: the Detoxify transformer models, through Detoxify's own code.

Two ways to load:

* **Named** (``detoxify:original`` …): Detoxify's normal download. The
  checkpoint is fetched with a short timeout into torch's hub cache before
  Detoxify is asked to load it, so an offline machine fails in seconds with a
  clear error instead of hanging start-up.
* **Offline** (``MODERATION_DETOXIFY_CHECKPOINT`` + ``MODERATION_DETOXIFY_CONFIG``):
  the checkpoint file (Detoxify's format: ``{"config": …, "state_dict": …}``)
  and a local Hugging Face config + tokenizer folder. Detoxify's
  ``load_checkpoint`` asks the hub for the base model's config even when given
  a local folder, so we read the checkpoint ourselves and hand Detoxify's
  ``get_model_and_tokenizer`` the local folder as the model type: no network.

Texts longer than the model's window are scored in overlapping windows and the
maximum per category is kept, so a long comment is never silently truncated.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classifiers import downloads
from classifiers.base import KNOWN_CATEGORIES, ClassifierLoadError, Scores, only_this_thread

log = logging.getLogger(__name__)

MODELS: tuple[str, ...] = (
    "original",
    "unbiased",
    "multilingual",
    "original-small",
    "unbiased-small",
)

#: The languages each model was trained on (Detoxify's README); the rest read English.
MULTILINGUAL_LANGUAGES: tuple[str, ...] = ("en", "fr", "es", "it", "pt", "tr", "ru")


def model_languages(name: str) -> tuple[str, ...]:
    """What ``detoxify:<model>`` reads."""
    return MULTILINGUAL_LANGUAGES if name.endswith(":multilingual") else ("en",)


# Detoxify's own renaming, so every checkpoint reports the contract's names.
_CLASS_NAMES = {
    "toxic": "toxicity",
    "identity_hate": "identity_attack",
    "severe_toxic": "severe_toxicity",
}

DOWNLOAD_TIMEOUT_S = 10.0


def _import_detoxify() -> Any:
    # Bound the hub's own network calls before transformers reads these at import.
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", str(int(DOWNLOAD_TIMEOUT_S)))
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", str(int(DOWNLOAD_TIMEOUT_S)))
    try:
        from detoxify import detoxify as module
    except Exception as exc:  # pragma: no cover - depends on the install
        raise ClassifierLoadError(f"the detoxify package is not usable: {exc}") from exc
    return module


class DetoxifyClassifier:
    """A Detoxify checkpoint run with PyTorch on the CPU; with ``bf16`` its matrix
    products run in bfloat16 (``torch.autocast``, the linear weights stored in bfloat16:
    :func:`bf16_linears`), worth it only on CPUs with AVX512-BF16 or AMX
    (docs/inference.md, "AMX and BF16")."""

    runtime = "torch"

    def __init__(
        self,
        model: str,
        *,
        checkpoint: Path | None = None,
        config_dir: Path | None = None,
        threads: int | None = None,
        batch_size: int = 32,
        download_timeout_s: float = DOWNLOAD_TIMEOUT_S,
        bf16: bool = False,
    ) -> None:
        import torch

        #: ``torch`` or ``torch-bf16``.
        self.runtime = "torch-bf16" if bf16 else "torch"
        self._bf16 = bf16
        loaded = load_detoxify(
            model,
            checkpoint=checkpoint,
            config_dir=config_dir,
            download_timeout_s=download_timeout_s,
        )
        set_torch_threads(threads)
        self._name = loaded.name
        self._batch_size = max(1, batch_size)
        self._torch = torch
        # bf16: the linear weights stored in bf16 once, not cast by autocast on every call
        self._model = bf16_linears(loaded.model) if bf16 else loaded.model
        self._tokenizer = loaded.tokenizer
        self._model.eval()
        self._columns = score_columns(loaded.classes)
        self._categories = tuple(c for _, c in self._columns)
        self._window = window_size(self._model.config, self._tokenizer)

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
        results: list[Scores] = [{} for _ in texts]
        torch = self._torch
        with (
            torch.inference_mode(),
            torch.autocast("cpu", dtype=torch.bfloat16, enabled=self._bf16),
        ):
            for batch in sub_batches(pieces, self._batch_size):
                inputs = self._tokenizer.pad(
                    {"input_ids": [ids for _, ids in batch]}, return_tensors="pt"
                )
                logits = self._model(**inputs)[0]
                probabilities = torch.sigmoid(logits.float()).tolist()
                keep_maxima(results, [owner for owner, _ in batch], probabilities, self._columns)
        return results


def bf16_linears(module: Any) -> Any:
    """A copy of ``module`` whose ``torch.nn.Linear`` weights and biases are bfloat16
    tensors; every other parameter and buffer is the same tensor as in ``module`` (not
    copied), and ``module`` itself is unchanged.

    For running under ``torch.autocast("cpu", bfloat16)``: autocast casts a linear
    layer's operands to bfloat16 each time (a traced module on every call), so stored
    this way the same values enter the same products without a copy of every weight
    matrix per forward pass (docs/inference.md, "AMX and BF16")."""
    import copy

    import torch

    # deepcopy's memo maps an object to what its copy should be: the tensors themselves
    # (shared), except the linear layers' (cast once, here).
    memo: dict[int, Any] = {id(t): t for t in [*module.parameters(), *module.buffers()]}
    for layer in module.modules():
        if isinstance(layer, torch.nn.Linear):
            for tensor in layer.parameters(recurse=False):
                memo[id(tensor)] = torch.nn.Parameter(
                    tensor.detach().to(torch.bfloat16), requires_grad=False
                )
    return copy.deepcopy(module, memo)


#: The rows (tokens of every text in a call together) oneDNN is told to expect when it
#: lays out a packed weight. Measured on an Intel Xeon with AMX, calls of 3-8 texts of
#: 16-140 tokens: with hints of 64-256 rows packing beat the plain form in 17 of 18
#: rounds on short texts, no hint clearly ahead; without one (0) it lost 1 of 6 there.
PACKED_ROWS_HINT = 64

_PACKED_LINEAR_SOURCE = """
def packed_linear(x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
"""


def can_pack_bf16() -> bool:
    """Whether this PyTorch has oneDNN with bf16 kernels, which :func:`packed_bf16_linears`
    needs (where it does not, that raises and the plain form runs)."""
    import torch

    mkldnn: Any = torch.backends.mkldnn
    return bool(mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def packed_bf16_linears(module: Any) -> Any:
    """A copy of ``module`` whose ``torch.nn.Linear`` layers run oneDNN's bf16 product
    with the weight laid out once for it (packed), not at every call; every other
    parameter and buffer is shared with ``module``, which is unchanged.

    PyTorch's bfloat16 ``linear`` hands oneDNN's matrix product a plain weight matrix,
    which its kernel copies into the blocked layout it reads (AMX tiles among them) on
    every call; laid out once, the sentence encoder ran 1.15-1.44x as fast in calls of
    3-8 short texts on one thread (Intel Xeon with AMX). The products are the same (bf16
    operands, float32 accumulation), so results agree with :func:`bf16_linears`' to
    rounding. Raises ``RuntimeError`` where PyTorch has no oneDNN bf16 (``trace_bf16``
    then keeps the plain form). For tracing under ``torch.autocast("cpu", bfloat16)``, as
    :func:`bf16_linears`; the choice between the two is measured per machine
    (:func:`classifiers.onnx.export.trace_bf16`)."""
    import copy

    import torch

    if not can_pack_bf16():
        raise RuntimeError("this PyTorch has no oneDNN bf16 to pack weights for")
    # A TorchScript function compiled from source: its empty ``scalars`` list gets the
    # operator's type there, which neither the tracer nor an annotation can give it.
    product = torch.jit.CompilationUnit(_PACKED_LINEAR_SOURCE).packed_linear

    class PackedLinear(torch.nn.Module):
        def __init__(self, layer: torch.nn.Linear) -> None:
            super().__init__()
            weight = layer.weight.detach().to(torch.bfloat16)
            self.register_buffer(
                "weight", torch.ops.mkldnn._reorder_linear_weight(weight, PACKED_ROWS_HINT)
            )
            bias = layer.bias
            self.register_buffer("bias", None if bias is None else bias.detach().to(torch.bfloat16))

        def forward(self, x: Any) -> Any:
            return product(x.to(torch.bfloat16), self.weight, self.bias)

    memo: dict[int, Any] = {id(t): t for t in [*module.parameters(), *module.buffers()]}
    packed = copy.deepcopy(module, memo)
    for parent in list(packed.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(parent, name, PackedLinear(child))
    return packed


@dataclass(frozen=True, slots=True)
class LoadedDetoxify:
    """A Detoxify checkpoint loaded through Detoxify's own code (PyTorch model + tokenizer)."""

    name: str
    model: Any
    tokenizer: Any
    classes: list[str]


def check_model_name(model: str) -> str:
    """``detoxify:<model>``, or :class:`ClassifierLoadError` for an unknown model."""
    if model not in MODELS:
        raise ClassifierLoadError(f"unknown Detoxify model {model!r}; known: {', '.join(MODELS)}")
    return f"detoxify:{model}"


def load_detoxify(
    model: str,
    *,
    checkpoint: Path | None = None,
    config_dir: Path | None = None,
    download_timeout_s: float = DOWNLOAD_TIMEOUT_S,
) -> LoadedDetoxify:
    """Load a named model (download, then Detoxify's ``load_checkpoint``) or, offline, the
    ``checkpoint`` file with the local Hugging Face folder ``config_dir``. Shared by every
    Detoxify runtime, so all of them score with the same weights, tokenizer and classes."""
    name = check_model_name(model)
    detoxify = _import_detoxify()
    if checkpoint is not None:
        network, tokenizer, classes = _load_offline(detoxify, checkpoint, config_dir)
    else:
        _ensure_downloaded(detoxify.MODEL_URLS[model], download_timeout_s)
        try:
            network, tokenizer, classes = detoxify.load_checkpoint(model_type=model)
        except Exception as exc:
            raise ClassifierLoadError(
                f"Detoxify could not load {model!r} (its base model's config comes from the "
                f"Hugging Face hub; offline, use MODERATION_DETOXIFY_CHECKPOINT and "
                f"MODERATION_DETOXIFY_CONFIG): {type(exc).__name__}: {exc}"
            ) from exc
    network.eval()
    return LoadedDetoxify(name=name, model=network, tokenizer=tokenizer, classes=list(classes))


def checkpoint_path(
    model: str, checkpoint: Path | None, download_timeout_s: float = DOWNLOAD_TIMEOUT_S
) -> Path:
    """The file holding the weights: ``checkpoint``, or the named model's cached download
    (fetched first when missing). Exported runtimes key their caches on its digest."""
    check_model_name(model)
    if checkpoint is not None:
        if not checkpoint.is_file():
            raise ClassifierLoadError(f"Detoxify checkpoint {checkpoint} does not exist")
        return checkpoint
    detoxify = _import_detoxify()
    return _ensure_downloaded(detoxify.MODEL_URLS[model], download_timeout_s)


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def set_torch_threads(threads: int | None) -> None:
    """PyTorch's intra-op pool (the one a forward pass uses) to ``threads``; inter-op
    parallelism (only used by TorchScript forks) to 1, so no idle pool competes for cores.
    ``None`` or ``0`` leaves PyTorch's own choice."""
    if not threads:
        return
    import torch

    torch.set_num_threads(threads)
    # Raises when already set or once inter-op work has run: harmless, keep going.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


def score_columns(classes: Sequence[str]) -> list[tuple[int, str]]:
    """(output column, contract category) for each output that is a contract category."""
    return [(i, c) for i, c in enumerate(classes) if c in KNOWN_CATEGORIES]


def split_windows(tokenizer: Any, texts: Sequence[str], window: int) -> list[tuple[int, list[int]]]:
    """(text index, token ids) per window, shortest first.

    Long texts become overlapping windows (a quarter of each overlaps the next) instead of
    being cut; sorting puts similar lengths in one batch, so padding wastes little."""
    encoded = tokenizer(
        list(texts),
        truncation=True,
        max_length=window,
        stride=window // 4,
        return_overflowing_tokens=True,
    )
    pieces = [
        (int(owner), list(ids))
        for owner, ids in zip(
            encoded["overflow_to_sample_mapping"], encoded["input_ids"], strict=True
        )
    ]
    pieces.sort(key=lambda piece: len(piece[1]))
    return pieces


def sub_batches(
    pieces: Sequence[tuple[int, list[int]]],
    max_rows: int,
    *,
    min_batches: int = 1,
    max_padding: float = 0.2,
) -> list[list[tuple[int, list[int]]]]:
    """Cut length-sorted windows into batches of at most ``max_rows`` rows whose padding
    stays within ``max_padding`` of their real tokens, and into at least ``min_batches``
    batches when there are that many windows (one for each worker).

    On a CPU a bigger batch buys little (a few percent beyond 4 rows) while padding costs
    in proportion, so a batch is cut where the next, longer window would pad it too much.
    """
    if not pieces:
        return []
    rows = max(1, min(max_rows, -(-len(pieces) // max(1, min_batches))))
    batches: list[list[tuple[int, list[int]]]] = []
    current: list[tuple[int, list[int]]] = []
    tokens = 0
    for piece in pieces:
        length = len(piece[1])
        padded = length * (len(current) + 1)  # sorted: this window is the longest so far
        if current and (len(current) >= rows or padded > (1 + max_padding) * (tokens + length)):
            batches.append(current)
            current, tokens = [], 0
        current.append(piece)
        tokens += length
    batches.append(current)
    return batches


Piece = tuple[int, list[int]]


def call_cost(batch: Sequence[Piece], call_tokens: int) -> int:
    """What running ``batch`` in one call costs, in tokens: every row padded to the
    longest, plus ``call_tokens`` for the call itself (reading the weights and the like)."""
    return len(batch) * max(len(ids) for _, ids in batch) + call_tokens


def cheapest_calls(pieces: Sequence[Piece], max_rows: int, call_tokens: int) -> list[list[Piece]]:
    """Length-sorted windows cut into consecutive calls of at most ``max_rows`` rows whose
    costs (:func:`call_cost`) add up to the least: on one thread a batch takes as long as
    all its calls together, so what counts is the padding and the calls' fixed cost, not
    their balance.

    The padding cut (:func:`sub_batches`) splits wherever padding would pass a fifth,
    whatever a call costs: on batches of 8-16 short comments on one thread, this cut ran
    the sentence encoder 3.5-6.3 % and the classifier 0.1-2.2 % faster
    (docs/inference.md, "Balanced sub-batches"). Dynamic programming over the cut
    points, at most ``len(pieces) * max_rows`` steps; a tie keeps the larger last call."""
    rows = max(1, max_rows)
    best = [0] * (len(pieces) + 1)
    start = [0] * (len(pieces) + 1)
    for end in range(1, len(pieces) + 1):
        # call_cost of pieces[first:end] without slicing: sorted, the last is the longest
        longest = len(pieces[end - 1][1])
        best[end], start[end] = min(
            (best[first] + (end - first) * longest + call_tokens, first)
            for first in range(max(0, end - rows), end)
        )
    calls: list[list[Piece]] = []
    end = len(pieces)
    while end:
        calls.append(list(pieces[start[end] : end]))
        end = start[end]
    calls.reverse()
    return calls


def finish_time(costs: Sequence[int], workers: int) -> int:
    """When the last of ``workers`` threads finishes ``costs``, each thread taking the
    next call in this order as soon as it is free (what a thread pool's ``map`` does)."""
    free = [0] * max(1, workers)
    for cost in costs:
        heapq.heapreplace(free, free[0] + cost)
    return max(free)


def _even_cut(pieces: Sequence[Piece], max_rows: int, parts: int, call_tokens: int) -> list[int]:
    """Where to cut length-sorted ``pieces`` into at most ``parts`` runs of at most
    ``max_rows`` rows so that the costliest run (:func:`call_cost`) costs least: the
    smallest capacity the greedy cut fits into ``parts`` runs (a binary search)."""

    def cut(capacity: int) -> list[int] | None:
        ends: list[int] = []
        start = 0
        while start < len(pieces):
            end = start + 1
            while (
                end < len(pieces)
                and end - start < max_rows
                and (end + 1 - start) * len(pieces[end][1]) + call_tokens <= capacity
            ):
                end += 1
            ends.append(end)
            start = end
        return ends if len(ends) <= parts else None

    if len(pieces) > parts * max_rows:  # no capacity fits: the row cap decides
        return [min(len(pieces), end) for end in range(max_rows, len(pieces) + max_rows, max_rows)]
    low = max(len(ids) for _, ids in pieces) + call_tokens
    high = call_cost(pieces, call_tokens)
    best = cut(high)
    assert best is not None  # one run per max_rows rows fits within parts
    while low < high:
        middle = (low + high) // 2
        found = cut(middle)
        if found is None:
            low = middle + 1
        else:
            best, high = found, middle
    return best


def balanced_batches(
    pieces: Sequence[Piece],
    max_rows: int,
    workers: int,
    *,
    call_tokens: int,
    max_padding: float = 0.2,
) -> list[list[Piece]]:
    """Length-sorted windows cut into calls for ``workers`` threads, costliest first, so
    that the threads finish together.

    Cutting the sorted windows into one run per thread gives one thread all the longer
    windows, and the others wait for it at the end of every batch: with short comments
    on 2 threads, 12-25 ms of a 60-120 ms batch (docs/inference.md, "Balanced
    sub-batches"). So several cuts are costed (:func:`call_cost`: padded tokens plus
    ``call_tokens`` per call, which prices smaller calls against better balance), each
    scheduled as a pool runs it, costliest call first (:func:`finish_time`), and the one
    that finishes first wins (the fewer calls on a tie): :func:`sub_batches` with a
    thread's, half a thread's and a third of a thread's share of the rows, and the
    cuts into ``workers`` and twice as many runs whose costliest run costs least. On one
    worker, or on the calling thread alone (:func:`~classifiers.base.on_this_thread`),
    :func:`cheapest_calls`.
    Which windows share a call changes, never a window's tokens. Choosing takes 0.1-0.3 ms
    of Python for 8-32 windows (measured), against 50-300 ms for the calls themselves."""
    if not pieces:
        return []
    if workers <= 1 or only_this_thread():
        return cheapest_calls(pieces, max_rows, call_tokens)
    candidates = [
        sub_batches(
            pieces,
            max(1, min(max_rows, -(-len(pieces) // (share * workers)))),
            max_padding=max_padding,
        )
        for share in (1, 2, 3)
    ]
    for parts in (workers, 2 * workers):
        ends = _even_cut(pieces, max(1, max_rows), parts, call_tokens)
        candidates.append([list(pieces[a:b]) for a, b in zip([0, *ends], ends, strict=False)])
    best: tuple[int, int, list[list[Piece]]] | None = None
    for batches in candidates:
        costed = sorted(
            ((call_cost(b, call_tokens), b) for b in batches), key=lambda c: c[0], reverse=True
        )
        span = finish_time([cost for cost, _ in costed], workers)
        if best is None or (span, len(costed)) < best[:2]:
            best = (span, len(costed), [b for _, b in costed])
    assert best is not None
    return best[2]


def keep_maxima(
    results: list[Scores],
    owners: Sequence[int],
    probabilities: Sequence[Sequence[float]],
    columns: Sequence[tuple[int, str]],
) -> None:
    """Fold one batch of window probabilities into per-text scores (maximum per category)."""
    for owner, row in zip(owners, probabilities, strict=True):
        scores = results[owner]
        for column, category in columns:
            value = float(row[column])
            if value > scores.get(category, -1.0):
                scores[category] = value


def window_size(config: Any, tokenizer: Any) -> int:
    """Tokens per window: the tokenizer's limit, at most 512 and the model's positions."""
    limit = min(int(getattr(tokenizer, "model_max_length", 512) or 512), 512)
    positions = int(getattr(config, "max_position_embeddings", 512) or 512)
    if getattr(config, "model_type", "") in {"roberta", "xlm-roberta", "camembert"}:
        positions -= 2  # RoBERTa offsets positions by the padding index
    return max(8, min(limit, positions))


def _load_offline(
    detoxify: Any, checkpoint: Path, config_dir: Path | None
) -> tuple[Any, Any, list[str]]:
    import torch

    if not checkpoint.is_file():
        raise ClassifierLoadError(f"Detoxify checkpoint {checkpoint} does not exist")
    if config_dir is None:
        raise ClassifierLoadError(
            "MODERATION_DETOXIFY_CHECKPOINT needs MODERATION_DETOXIFY_CONFIG (a local Hugging Face "
            "config + tokenizer folder): without it Detoxify asks the network for the config"
        )
    if not (config_dir / "config.json").is_file():
        raise ClassifierLoadError(f"{config_dir} has no config.json (MODERATION_DETOXIFY_CONFIG)")
    try:
        # Detoxify's checkpoints pickle their training config, as Detoxify itself loads them.
        loaded = torch.load(checkpoint, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ClassifierLoadError(f"cannot read checkpoint {checkpoint}: {exc}") from exc
    try:
        arch = dict(loaded["config"]["arch"]["args"])
        classes = [_CLASS_NAMES.get(c, c) for c in loaded["config"]["dataset"]["args"]["classes"]]
        state_dict = loaded["state_dict"]
    except (KeyError, TypeError) as exc:
        raise ClassifierLoadError(
            f"{checkpoint} is not in Detoxify's format (needs config.arch.args, "
            f"config.dataset.args.classes and state_dict)"
        ) from exc
    arch["model_type"] = str(config_dir)
    try:
        model, tokenizer = detoxify.get_model_and_tokenizer(
            **arch, state_dict=state_dict, huggingface_config_path=str(config_dir)
        )
    except Exception as exc:
        raise ClassifierLoadError(
            f"Detoxify could not build the model from {checkpoint}: {exc}"
        ) from exc
    return model, tokenizer, classes


def _ensure_downloaded(url: str, timeout_s: float) -> Path:
    """Put Detoxify's checkpoint in torch's hub cache, failing fast when offline (and, for a
    while after a failure, without trying: classifiers/downloads.py); its path."""
    import torch.hub

    target = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if target.is_file():
        return target
    return downloads.fetch(
        url,
        target,
        timeout_s=timeout_s,
        label="Detoxify checkpoint",
        hint="offline, set MODERATION_DETOXIFY_CHECKPOINT and MODERATION_DETOXIFY_CONFIG",
    )
