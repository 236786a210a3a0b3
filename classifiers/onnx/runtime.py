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
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from classifiers.base import ClassifierLoadError, Scores, only_this_thread
from classifiers.detoxify_backend import (
    DOWNLOAD_TIMEOUT_S,
    LoadedDetoxify,
    available_cpus,
    balanced_batches,
    call_cost,
    check_model_name,
    checkpoint_path,
    keep_maxima,
    load_detoxify,
    model_languages,
    score_columns,
    set_torch_threads,
    split_windows,
)
from classifiers.onnx.export import (
    cache_digest,
    export,
    is_cached,
    load_tokenizer,
    logits_module,
    trace_bf16,
    write_atomically,
)
from classifiers.onnx.recipes import (
    AUTO,
    BANDS,
    BF16_CALL_TOKENS,
    PLAIN_THRESHOLDS,
    RECIPES,
    TIMING_ROUNDS,
    TIMING_SECONDS,
    TORCH_BF16,
    Band,
    Choice,
    Corpus,
    Fidelity,
    Recipe,
    Thresholds,
    available_candidates,
    band_texts,
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
    run_rows,
    worker_pool,
)

__all__ = ["OnnxDetoxifyClassifier", "OnnxUnavailable"]

log = logging.getLogger(__name__)

#: What ``torch-bf16``'s trace is recorded on: any texts do (the trace is shape-generic).
_TRACE_TEXTS = ("A short comment.", "A somewhat longer comment, to give the trace two lengths.")


#: ``auto``'s PyTorch candidate where the CPU has native bf16: the checkpoint's own model,
#: traced under bfloat16 autocast (:class:`_TorchBf16Session`), rows batched up to 8 (bf16
#: rounding makes a row's scores depend on its partners a little: not batch independent).
_TORCH_BF16_RECIPE = Recipe(
    TORCH_BF16, "fp32", 8, False, engine="torch", call_tokens=BF16_CALL_TOKENS
)


def detoxify_candidates() -> tuple[str, ...]:
    """What ``auto`` tries for a Detoxify model, in this order: the ONNX recipes whose
    engine is installed (:func:`~classifiers.onnx.recipes.available_candidates`, fp32
    first), then ``torch-bf16`` where the CPU has native bf16. The list is part of the
    cached choice's key."""
    candidates = available_candidates()
    return (*candidates, TORCH_BF16) if bf16_missing(cpu_flags()) is None else candidates


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _recipe(name: str) -> Recipe:
    return _TORCH_BF16_RECIPE if name == TORCH_BF16 else RECIPES[name]


class _TorchBf16Session:
    """A Detoxify model traced (TorchScript) under ``torch.autocast("cpu", bfloat16)``,
    behind ONNX Runtime's ``run`` signature (the ``logits`` output): matrix products in
    bf16, the rest as autocast's CPU policy has it. Traced rather than run eagerly so a
    forward pass runs without the GIL, as the sentence encoder's ``torch-bf16`` (an eager
    forward takes the GIL back for each of its operators, which the event loop holds
    often). One intra-op thread per call: sub-batches side by side give the parallelism."""

    def __init__(
        self,
        model: Any,
        example: Sequence[Sequence[int]],
        pad_id: int,
        *,
        packed: bool | None = None,
    ) -> None:
        """``packed``: the form of bf16 weights to run (None: time both, keep the faster;
        see :func:`~classifiers.onnx.export.trace_bf16`)."""
        import contextlib

        import torch

        why = bf16_missing(cpu_flags())
        if why is not None:
            raise OnnxUnavailable(why)
        set_torch_threads(1)
        with contextlib.suppress(Exception):
            model.set_attn_implementation("eager")  # as exported: one graph for all lengths

        traced = trace_bf16(logits_module(model), example, pad_id, packed=packed)
        log.info("Detoxify torch-bf16 runs %s", traced.describe())
        #: Whether the linear layers run oneDNN-packed weights (measured: ``trace_bf16``).
        self.packed = traced.packed
        self._module = traced.module
        self._torch = torch

    def run(self, output_names: Sequence[str], feeds: Mapping[str, Any]) -> list[Any]:
        torch = self._torch
        with torch.inference_mode():
            logits = self._module(
                torch.from_numpy(feeds["input_ids"]), torch.from_numpy(feeds["attention_mask"])
            )
        return [logits.float().numpy()]


class _Runner:
    """One recipe's session over one export folder: length-bucketed sub-batches of at
    most the recipe's rows, run side by side on ``threads`` workers (one session,
    shared: ``InferenceSession.run`` is thread-safe and releases the GIL). ``pool``
    False: no workers of its own (a :class:`_Routed` runs its batches). ``session``:
    one already made (``torch-bf16``'s), instead of the recipe's from the graph file."""

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
        pool: bool = True,
        session: Any = None,
    ) -> None:
        self.recipe = recipe
        self.path = folder / f"{recipe.graph}.onnx"
        self._session = session if session is not None else recipe.session(ort, self.path)
        self.tokenizer = tokenizer
        self.window = window
        self.columns = columns
        self.threads = threads
        self._batch_size = max(1, batch_size or recipe.rows)
        self._pad_id = int(tokenizer.pad_token_id or 0)
        self._pool = worker_pool(self, threads if pool else 1, "onnx")

    @property
    def batch_independent(self) -> bool:
        # A recipe whose scores depend on batch partners, run one row per call, has none.
        return self.recipe.batch_independent or self._batch_size == 1

    @property
    def bf16_packed(self) -> bool | None:
        """A ``torch-bf16`` session's form of weights; None for an ONNX session."""
        session = self._session
        return session.packed if isinstance(session, _TorchBf16Session) else None

    @property
    def name(self) -> str:
        return self.recipe.name

    def batches(self, pieces: Sequence[tuple[int, list[int]]]) -> list[list[tuple[int, list[int]]]]:
        """Length-sorted windows cut into this recipe's sub-batches for its workers,
        costliest first, so that the workers finish together (``balanced_batches``)."""
        return balanced_batches(
            pieces, self._batch_size, self.threads, call_tokens=self.recipe.call_tokens
        )

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        if not texts:
            return []
        pieces = split_windows(self.tokenizer, texts, self.window)
        jobs = [(self, batch) for batch in self.batches(pieces)]
        return _scores(len(texts), jobs, self._pool, self.columns)

    def score(self, batch: list[tuple[int, list[int]]]) -> list[list[float]]:
        rows = [ids for _, ids in batch]
        probabilities: list[list[float]] = run_rows(self._session, rows, self._pad_id).tolist()
        return probabilities

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)


class _Routed:
    """Several recipes, each for the windows of its length band (``routes``: ``(up_to
    tokens or None, runner)``, shortest first): ``auto`` found a different recipe
    fastest at another length (:attr:`Choice.bands`). The windows of one ``predict``
    call are split by length, each band's cut into its recipe's sub-batches, and all
    of them run side by side on ``threads`` workers. Which recipe scores a window
    depends on its own length only, never on its partners."""

    def __init__(self, routes: list[tuple[int | None, _Runner]], threads: int) -> None:
        self.routes = routes
        first = routes[0][1]
        self.path = first.path
        self._pool = worker_pool(self, threads, "onnx")

    @property
    def batch_independent(self) -> bool:
        return all(runner.batch_independent for _, runner in self.routes)

    @property
    def bf16_packed(self) -> bool | None:
        """The form of weights of a ``torch-bf16`` band, if one runs (bands that share a
        recipe share its session, so there is one form)."""
        forms = (runner.bf16_packed for _, runner in self.routes)
        return next((form for form in forms if form is not None), None)

    @property
    def name(self) -> str:
        return "+".join(runner.name for _, runner in self.routes)

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        if not texts:
            return []
        first = self.routes[0][1]
        pieces = split_windows(first.tokenizer, texts, first.window)
        groups: list[list[tuple[int, list[int]]]] = [[] for _ in self.routes]
        for piece in pieces:  # sorted by length, so each group stays sorted
            band = next(
                i
                for i, (up_to, _) in enumerate(self.routes)
                if up_to is None or len(piece[1]) <= up_to or i == len(self.routes) - 1
            )
            groups[band].append(piece)
        jobs = [
            (runner, batch)
            for (_, runner), group in zip(self.routes, groups, strict=True)
            for batch in runner.batches(group)
        ]
        if len(self.routes) > 1:  # the bands' calls share the workers: costliest first
            jobs.sort(key=lambda job: call_cost(job[1], job[0].recipe.call_tokens), reverse=True)
        return _scores(len(texts), jobs, self._pool, first.columns)

    def close(self) -> None:
        for runner in {id(runner): runner for _, runner in self.routes}.values():
            runner.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)


def _scores(
    count: int,
    jobs: list[tuple[_Runner, list[tuple[int, list[int]]]]],
    pool: ThreadPoolExecutor | None,
    columns: list[tuple[int, str]],
) -> list[Scores]:
    """Run each ``(runner, sub-batch)`` (side by side on ``pool`` when there are several)
    and keep each text's maximum per category over its windows."""
    if pool is None or len(jobs) <= 1 or only_this_thread():
        outputs = [runner.score(batch) for runner, batch in jobs]
    else:
        outputs = list(pool.map(lambda job: job[0].score(job[1]), jobs))
    results: list[Scores] = [{} for _ in range(count)]
    for (_, batch), probabilities in zip(jobs, outputs, strict=True):
        keep_maxima(results, [owner for owner, _ in batch], probabilities, columns)
    return results


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
        #: The form of bf16 weights the first ``torch-bf16`` session measured faster.
        self._bf16_form: bool | None = None
        # read from the export folder by the first _open
        self._tokenizer: Any = None
        self._columns: list[tuple[int, str]] = []
        self._categories: tuple[str, ...] = ()
        self.threads = threads or available_cpus()
        #: True when this instance exported (or quantised) rather than reusing the cache.
        self.exported = False
        #: ``auto``'s measurements (None when a recipe was asked for by name).
        self.choice: Choice | None = None
        routes: list[tuple[int | None, Recipe]]
        if runtime == AUTO:
            choice = self._choose(
                thresholds or PLAIN_THRESHOLDS,
                timing_seconds,
                list(candidates or detoxify_candidates()),
                batch_size,
            )
            routes = [(up_to, _recipe(name)) for up_to, name in choice.routes()]
        else:
            routes = [(None, RECIPES[runtime])]
            if not is_cached(folder, RECIPES[runtime].graph):
                self._export({RECIPES[runtime].graph})
        recipe = routes[0][1]
        if all(r.engine != "torch" for _, r in routes):
            self._loaded = None  # measured or exported with it: not needed to run
        try:
            self._runner: _Runner | _Routed = self._open_routes(routes, batch_size)
        except Exception as exc:
            if len(routes) == 1 or recipe.engine == "torch":
                if isinstance(exc, ClassifierLoadError):
                    raise
                raise OnnxUnavailable(
                    f"cannot load the exported model {folder / recipe.graph}.onnx: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            # A longer band's recipe failed to load (a torch-bf16 trace, a graph gone):
            # the short comments' recipe, which was faithful and measured, runs them all.
            log.error(
                "%s: the recipes chosen by length did not load (%s: %s); %s runs at every length",
                name,
                type(exc).__name__,
                exc,
                recipe.name,
            )
            self._runner = self._open(recipe, batch_size)
            if self.choice is not None:  # /healthz shows what runs
                self.choice = Choice(self.choice.recipe, self.choice.trials)
        finally:
            self._loaded = None  # a torch-bf16 route's trace keeps the weights it needs
        self.path = self._runner.path
        #: What runs: the recipe's name (``onnx``, ``onnx-int8``, ``onnx-static-int8`` …),
        #: or, when ``auto`` chose recipes by length, theirs joined by ``+``, shortest
        #: texts' first.
        self.runtime = self._runner.name
        meta = self._meta()
        #: Largest difference from PyTorch on the probe texts, measured at export.
        self.probe_difference = (
            float("nan")  # a PyTorch route is checked against fp32 by auto, not at export
            if recipe.engine == "torch"
            else float(meta.get(f"max_abs_diff_{recipe.graph}", float("nan")))
        )
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
        return self._runner.batch_independent

    @property
    def bf16_packed(self) -> bool | None:
        """Whether a ``torch-bf16`` recipe among those running runs oneDNN-packed weights
        (measured per machine: :func:`~classifiers.onnx.export.trace_bf16`); None when no
        ``torch-bf16`` runs."""
        return self._runner.bf16_packed

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

    def _open_routes(
        self, routes: list[tuple[int | None, Recipe]], batch_size: int | None
    ) -> _Runner | _Routed:
        if len(routes) == 1:
            return self._open(routes[0][1], batch_size)
        opened: dict[str, _Runner] = {}  # a recipe in two bands (A, B, A) runs one session
        for _, recipe in routes:
            if recipe.name not in opened:
                opened[recipe.name] = self._open(recipe, batch_size, pool=False)
        return _Routed([(up_to, opened[recipe.name]) for up_to, recipe in routes], self.threads)

    def _open(self, recipe: Recipe, batch_size: int | None = None, *, pool: bool = True) -> _Runner:
        meta = self._meta()
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(
                self._folder / "tokenizer", str(meta["tokenizer_class"])
            )
            self._columns = score_columns([str(c) for c in meta["classes"]])
            self._categories = tuple(c for _, c in self._columns)
        session = None
        if recipe.engine == "torch":
            if self._loaded is None:
                self._loaded = load_detoxify(self._model, **self._load_args)
            pad_id = int(self._tokenizer.pad_token_id or 0)
            example = split_windows(self._tokenizer, list(_TRACE_TEXTS), int(meta["window"]))
            # auto measured a session before it opens the chosen one: the same form again,
            # without timing the two a second time
            session = _TorchBf16Session(
                self._loaded.model,
                [ids for _, ids in example],
                pad_id,
                packed=self._bf16_form,
            )
            self._bf16_form = session.packed
        return _Runner(
            self._ort,
            self._folder,
            recipe,
            tokenizer=self._tokenizer,
            window=int(meta["window"]),
            columns=self._columns,
            threads=self.threads,
            batch_size=batch_size,
            pool=pool,
            session=session,
        )

    def _choose(
        self,
        thresholds: Thresholds,
        timing_seconds: float,
        candidates: list[str],
        batch_size: int | None,
    ) -> Choice:
        """``auto``: the cached choice for this machine, or measure the candidates now
        (on short comments, and per length band: :data:`BANDS`)."""
        try:
            corpus = training_corpus()
        except Exception as exc:  # the training data unreadable: no static int8
            log.warning("no calibration corpus (%s): static int8 is not a candidate", exc)
            corpus = None
            candidates = [c for c in candidates if _recipe(c).graph != "static-int8"]
        key = choice_key(
            flags=cpu_flags(),
            threads=self.threads,
            ort_version=self._ort.__version__,
            corpus=corpus.digest if corpus is not None else "none",
            candidates=candidates,
        )
        path = self._folder / f"choice-{key}.json"
        cached = read_choice(path)
        if cached is not None and all(
            (name in RECIPES or (name == TORCH_BF16 and name in candidates))
            and is_cached(self._folder, _recipe(name).graph)
            for _, name in cached.routes()
        ):
            self.choice = cached
            log.info("%s: the recipe measured on this machine: %s", self._model, cached.summary())
            return cached
        graphs = {_recipe(c).graph for c in candidates}
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
            reference_runner = self._open(_recipe(candidates[0]), batch_size)
            reference = reference_runner.predict(check)
            reference_runner.close()
            runners: dict[str, _Runner] = {}
            tokens = reference_runner.tokenizer

            def count(text: str) -> int:  # whole, not windows: no model-length warning
                return len(tokens(text, truncation=False, verbose=False)["input_ids"])

            timed = {band.name: band_texts(check, count, band.timing_tokens) for band in BANDS[1:]}

            def runner(name: str) -> _Runner:
                if name not in runners:
                    if not is_cached(self._folder, _recipe(name).graph):
                        raise OnnxUnavailable(f"no {_recipe(name).graph} graph")
                    runners[name] = self._open(_recipe(name), batch_size)
                return runners[name]

            def fidelity(name: str) -> Fidelity:
                return compare(reference, runner(name).predict(check), thresholds)

            def speed(name: str) -> float:
                return rows_per_second(runner(name).predict, short, timing_seconds / TIMING_ROUNDS)

            def band_speed(name: str, band: Band) -> float:
                # calls of 8: at 128 tokens a call of 16 alone outlasts a round on a slow CPU
                return rows_per_second(
                    runner(name).predict, timed[band.name], timing_seconds / TIMING_ROUNDS, batch=8
                )

            threads_before = _torch_threads() if TORCH_BF16 in candidates else None
            kept = False
            try:
                choice = choose(
                    candidates,
                    fidelity=fidelity,
                    speed=speed,
                    bands=BANDS,
                    band_speed=band_speed,
                    batch_independent=lambda name: _recipe(name).batch_independent,
                )
                kept = TORCH_BF16 in dict(choice.routes()).values()
            finally:
                for opened in runners.values():
                    opened.close()
                if threads_before is not None and not kept:
                    # measured, not kept: PyTorch's threads are the process's again
                    set_torch_threads(threads_before)
        self.choice = choice
        write_atomically(path, json.dumps(choice.to_json(), indent=2).encode())
        log.warning("%s: recipe measured on this machine: %s", self._model, choice.summary())
        return choice
