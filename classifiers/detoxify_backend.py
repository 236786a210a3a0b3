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

import logging
import os
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifiers.base import KNOWN_CATEGORIES, ClassifierLoadError, Scores

log = logging.getLogger(__name__)

MODELS: tuple[str, ...] = (
    "original",
    "unbiased",
    "multilingual",
    "original-small",
    "unbiased-small",
)

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
    """A Detoxify checkpoint run with PyTorch on the CPU."""

    def __init__(
        self,
        model: str,
        *,
        checkpoint: Path | None = None,
        config_dir: Path | None = None,
        threads: int | None = None,
        batch_size: int = 32,
        download_timeout_s: float = DOWNLOAD_TIMEOUT_S,
    ) -> None:
        if model not in MODELS:
            raise ClassifierLoadError(
                f"unknown Detoxify model {model!r}; known: {', '.join(MODELS)}"
            )
        self._name = f"detoxify:{model}"
        self._batch_size = batch_size
        detoxify = _import_detoxify()
        import torch

        if threads:
            torch.set_num_threads(threads)
        self._torch = torch
        if checkpoint is not None:
            self._model, self._tokenizer, classes = _load_offline(detoxify, checkpoint, config_dir)
        else:
            _ensure_downloaded(detoxify.MODEL_URLS[model], download_timeout_s)
            try:
                self._model, self._tokenizer, classes = detoxify.load_checkpoint(model_type=model)
            except Exception as exc:
                raise ClassifierLoadError(
                    f"Detoxify could not load {model!r} (its base model's config comes from the "
                    f"Hugging Face hub; offline, use MODERATION_DETOXIFY_CHECKPOINT and "
                    f"MODERATION_DETOXIFY_CONFIG): {type(exc).__name__}: {exc}"
                ) from exc
        self._model.eval()
        self._columns = [(i, c) for i, c in enumerate(classes) if c in KNOWN_CATEGORIES]
        self._categories = tuple(c for _, c in self._columns)
        self._window = _window(self._model.config, self._tokenizer)

    @property
    def name(self) -> str:
        return self._name

    @property
    def categories(self) -> tuple[str, ...]:
        return self._categories

    def predict(self, texts: Sequence[str]) -> list[Scores]:
        if not texts:
            return []
        # Long texts become overlapping windows (a quarter overlaps) instead of being cut.
        encoded = self._tokenizer(
            list(texts),
            truncation=True,
            max_length=self._window,
            stride=self._window // 4,
            return_overflowing_tokens=True,
        )
        pieces = list(zip(encoded["overflow_to_sample_mapping"], encoded["input_ids"], strict=True))
        # Similar lengths together, so a batch wastes little on padding.
        pieces.sort(key=lambda piece: len(piece[1]))
        results: list[Scores] = [{} for _ in texts]
        torch = self._torch
        with torch.inference_mode():
            for begin in range(0, len(pieces), self._batch_size):
                batch = pieces[begin : begin + self._batch_size]
                inputs = self._tokenizer.pad(
                    {"input_ids": [ids for _, ids in batch]}, return_tensors="pt"
                )
                logits = self._model(**inputs)[0]
                probabilities = torch.sigmoid(logits).tolist()
                for (owner, _), row in zip(batch, probabilities, strict=True):
                    scores = results[owner]
                    for column, category in self._columns:
                        value = float(row[column])
                        if value > scores.get(category, -1.0):
                            scores[category] = value
        return results


def _window(config: Any, tokenizer: Any) -> int:
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


def _ensure_downloaded(url: str, timeout_s: float) -> None:
    """Put Detoxify's checkpoint in torch's hub cache, failing fast when offline."""
    import torch.hub

    target = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    if target.is_file():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("downloading Detoxify checkpoint %s", url)
    partial = target.with_name(target.name + ".partial")
    try:
        with (
            urllib.request.urlopen(url, timeout=timeout_s) as response,
            partial.open("wb") as out,
        ):
            while block := response.read(1 << 20):
                out.write(block)
        os.replace(partial, target)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        raise ClassifierLoadError(
            f"cannot download the Detoxify checkpoint ({type(exc).__name__}: {exc}); offline, set "
            f"MODERATION_DETOXIFY_CHECKPOINT and MODERATION_DETOXIFY_CONFIG"
        ) from exc
