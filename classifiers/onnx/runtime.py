"""``detoxify:<model>`` run with ONNX Runtime: exported once, cached, run by a recipe.

The weights, tokenizer and classes come from the same Detoxify loading as the
PyTorch backend (:func:`classifiers.detoxify_backend.load_detoxify`), and
scoring uses the same windows and the same category mapping, so the two
backends report the same name (``detoxify:original`` …) and the guidelines'
per-classifier thresholds apply to both. Only ``runtime`` differs: the recipe
that runs (:mod:`classifiers.onnx.recipes`: ``onnx``, ``onnx-int8``,
``onnx-static-int8`` …), or, asked for ``auto``, the one measured fastest among
those faithful to fp32 on this machine (:attr:`OnnxDetoxifyClassifier.choice`
holds the measurements).

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
)
from classifiers.onnx.export import (
    cache_digest,
    export,
    is_cached,
    load_tokenizer,
    write_atomically,
)
from classifiers.onnx.recipes import (
    AUTO,
    PLAIN_THRESHOLDS,
    RECIPES,
    TIMING_ROUNDS,
    TIMING_SECONDS,
    Choice,
    Corpus,
    Fidelity,
    Recipe,
    Thresholds,
    available_candidates,
    choice_key,
    choose,
    compare,
    cpu_flags,
    read_choice,
    rows_per_second,
    training_corpus,
)
from classifiers.onnx.session import OnnxUnavailable, import_onnxruntime, run_rows

__all__ = ["OnnxDetoxifyClassifier", "OnnxUnavailable"]

log = logging.getLogger(__name__)


class _Runner:
    """One recipe's session over one export folder: length-bucketed sub-batches of at
    most the recipe's rows, run side by side on ``threads`` workers (one session,
    shared: ``InferenceSession.run`` is thread-safe and releases the GIL)."""

    def __init__(
        self,
        ort: Any,
        folder: Path,
        recipe: Recipe,
        *,
        tokenizer: Any,
        window: int,
        columns: list[tuple[int, str]],
        threads: int,
        batch_size: int | None = None,
    ) -> None:
        import numpy

        self.recipe = recipe
        self.path = folder / f"{recipe.graph}.onnx"
        self._numpy = numpy
        self._session = recipe.session(ort, self.path)
        self._tokenizer = tokenizer
        self._window = window
        self._columns = columns
        self.threads = threads
        self._batch_size = max(1, batch_size or recipe.rows)
        self._pad_id = int(tokenizer.pad_token_id or 0)
        self._pool = (
            ThreadPoolExecutor(max_workers=threads, thread_name_prefix="onnx")
            if threads > 1
            else None
        )
        if self._pool is not None:
            weakref.finalize(self, self._pool.shutdown, wait=False)

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

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)


class OnnxDetoxifyClassifier:
    """A Detoxify checkpoint exported to ONNX and run with ONNX Runtime on the CPU.

    ``runtime`` names a recipe (:data:`classifiers.onnx.recipes.RECIPES`) or ``auto``;
    without it, ``quantize`` picks ``onnx-int8`` (True) or ``onnx`` (False).
    ``thresholds`` are the decisions ``auto``'s fidelity check compares (per category
    ``(hold_at, reject_at)``, the guidelines' defaults for this classifier)."""

    def __init__(
        self,
        model: str,
        *,
        cache_dir: Path,
        quantize: bool = False,
        runtime: str | None = None,
        checkpoint: Path | None = None,
        config_dir: Path | None = None,
        threads: int | None = None,
        batch_size: int | None = None,
        download_timeout_s: float = DOWNLOAD_TIMEOUT_S,
        thresholds: Thresholds | None = None,
        timing_seconds: float = TIMING_SECONDS,
        candidates: Sequence[str] | None = None,
    ) -> None:
        name = check_model_name(model)
        runtime = runtime or ("onnx-int8" if quantize else "onnx")
        if runtime != AUTO and runtime not in RECIPES:
            raise ClassifierLoadError(
                f"unknown ONNX runtime {runtime!r}; known: {AUTO}, {', '.join(RECIPES)}"
            )
        ort = import_onnxruntime()
        self._ort = ort
        source = checkpoint_path(model, checkpoint, download_timeout_s)
        folder = cache_dir / f"{model}-{cache_digest(source, config_dir, ort.__version__)}"
        self._folder = folder
        self._model = model
        self._load_args: dict[str, Any] = {
            "checkpoint": checkpoint,
            "config_dir": config_dir,
            "download_timeout_s": download_timeout_s,
        }
        self._loaded: LoadedDetoxify | None = None
        # read from the export folder by the first _open
        self._tokenizer: Any = None
        self._columns: list[tuple[int, str]] = []
        self._categories: tuple[str, ...] = ()
        self.threads = threads or available_cpus()
        #: True when this instance exported (or quantised) rather than reusing the cache.
        self.exported = False
        #: ``auto``'s measurements (None when a recipe was asked for by name).
        self.choice: Choice | None = None
        if runtime == AUTO:
            recipe = self._choose(
                thresholds or PLAIN_THRESHOLDS,
                timing_seconds,
                list(candidates or available_candidates()),
                batch_size,
            )
        else:
            recipe = RECIPES[runtime]
            if not is_cached(folder, recipe.graph):
                self._export({recipe.graph})
        self._loaded = None
        try:
            self._runner = self._open(recipe, batch_size)
        except ClassifierLoadError:
            raise
        except Exception as exc:
            raise OnnxUnavailable(
                f"cannot load the exported model {folder / recipe.graph}.onnx: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self.path = self._runner.path
        #: What runs: the recipe's name (``onnx``, ``onnx-int8``, ``onnx-static-int8`` …).
        self.runtime = recipe.name
        meta = self._meta()
        #: Largest difference from PyTorch on the probe texts, measured at export.
        self.probe_difference = float(meta.get(f"max_abs_diff_{recipe.graph}", float("nan")))
        log.info(
            "%s on %s from %s (%s): scores within %.2g of PyTorch on the probe texts",
            name,
            self.runtime,
            self.path,
            "exported now" if self.exported else "cached export",
            self.probe_difference,
        )
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def categories(self) -> tuple[str, ...]:
        return self._categories

    @property
    def languages(self) -> tuple[str, ...]:
        return model_languages(self._name)

    @property
    def batch_independent(self) -> bool:
        """True when a text's scores do not depend on the texts scored with it in one
        ``predict`` call (static int8, fp32); False for dynamic int8, which therefore
        runs each row alone. A caller may batch more freely when True."""
        return self._runner.recipe.batch_independent

    @property
    def concurrent_calls(self) -> int:
        """``predict`` calls that may usefully run side by side: one per worker thread
        (every recipe runs one intra-op thread per call, on a session safe to share)."""
        return self.threads

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        return self._runner.predict(texts)

    # -- loading -------------------------------------------------------------------

    def _meta(self) -> dict[str, Any]:
        try:
            meta: dict[str, Any] = json.loads(
                (self._folder / "meta.json").read_text(encoding="utf-8")
            )
        except (OSError, ValueError):
            return {}
        return meta

    def _export(self, graphs: set[str], corpus: Corpus | None = None) -> None:
        """Export the fp32 graph (always) and the int8 ones in ``graphs``."""
        if self._loaded is None:
            self._loaded = load_detoxify(self._model, **self._load_args)
        static = "static-int8" in graphs
        if static and corpus is None:
            corpus = training_corpus()
        export(
            self._loaded,
            self._folder,
            quantize="int8" in graphs,
            static=static,
            calibration=corpus.calibration if corpus is not None else (),
        )
        self.exported = True

    def _open(self, recipe: Recipe, batch_size: int | None = None) -> _Runner:
        meta = self._meta()
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(
                self._folder / "tokenizer", str(meta["tokenizer_class"])
            )
            self._columns = score_columns([str(c) for c in meta["classes"]])
            self._categories = tuple(c for _, c in self._columns)
        return _Runner(
            self._ort,
            self._folder,
            recipe,
            tokenizer=self._tokenizer,
            window=int(meta["window"]),
            columns=self._columns,
            threads=self.threads,
            batch_size=batch_size,
        )

    def _choose(
        self,
        thresholds: Thresholds,
        timing_seconds: float,
        candidates: list[str],
        batch_size: int | None,
    ) -> Recipe:
        """``auto``: the cached choice for this machine, or measure the candidates now."""
        try:
            corpus = training_corpus()
        except Exception as exc:  # the training data unreadable: no static int8
            log.warning("no calibration corpus (%s): static int8 is not a candidate", exc)
            corpus = None
            candidates = [c for c in candidates if RECIPES[c].graph != "static-int8"]
        key = choice_key(
            flags=cpu_flags(),
            threads=self.threads,
            ort_version=self._ort.__version__,
            corpus=corpus.digest if corpus is not None else "none",
            candidates=candidates,
        )
        path = self._folder / f"choice-{key}.json"
        cached = read_choice(path)
        if (
            cached is not None
            and cached.recipe in RECIPES
            and is_cached(self._folder, RECIPES[cached.recipe].graph)
        ):
            self.choice = cached
            log.info("%s: the recipe measured on this machine: %s", self._model, cached.summary())
            return RECIPES[cached.recipe]
        graphs = {RECIPES[c].graph for c in candidates}
        missing = {g for g in graphs if not is_cached(self._folder, g)}
        if missing:
            # fp32 and dynamic int8 first: a static graph that fails only leaves its recipes out
            if missing - {"static-int8"}:
                self._export(missing - {"static-int8"}, corpus)
            if "static-int8" in missing and corpus is not None:
                try:
                    self._export({"static-int8"}, corpus)
                except OnnxUnavailable as exc:
                    log.warning("%s: static int8 is not a candidate: %s", self._model, exc)
        check = corpus.check if corpus is not None else []
        short = corpus.short if corpus is not None else []
        if not check:
            choice = Choice(candidates[0])
        else:
            reference_runner = self._open(RECIPES[candidates[0]], batch_size)
            reference = reference_runner.predict(check)
            reference_runner.close()
            runners: dict[str, _Runner] = {}

            def runner(name: str) -> _Runner:
                if name not in runners:
                    if not is_cached(self._folder, RECIPES[name].graph):
                        raise OnnxUnavailable(f"no {RECIPES[name].graph} graph")
                    runners[name] = self._open(RECIPES[name], batch_size)
                return runners[name]

            def fidelity(name: str) -> Fidelity:
                return compare(reference, runner(name).predict(check), thresholds)

            def speed(name: str) -> float:
                return rows_per_second(runner(name).predict, short, timing_seconds / TIMING_ROUNDS)

            choice = choose(candidates, fidelity=fidelity, speed=speed)
            for opened in runners.values():
                opened.close()
        self.choice = choice
        write_atomically(path, json.dumps(choice.to_json(), indent=2).encode())
        log.warning("%s: recipe measured on this machine: %s", self._model, choice.summary())
        return RECIPES[choice.recipe]
