"""The results: the environment, the targets, the Markdown report and the plot."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import provenance

from inference.load import Run
from inference.servers import CONFIGS


def environment() -> dict[str, Any]:
    import onnxruntime
    import torch

    return {
        "commit": provenance.commit(),
        "cpu": provenance.cpu(),
        "cores": provenance.cores(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "loadavg_start": os.getloadavg(),
    }


def write_report(data: dict[str, Any], path: Path) -> None:
    runs = [Run(**r) for r in data["runs"]]
    by = {(r.config, r.mode): r for r in runs}
    labels = {c.key: c.label for c in CONFIGS}
    naive = by.get(("naive", "closed"))
    env = data["environment"]
    lines = [
        "# Inference benchmark",
        "",
        provenance.command("inference_bench.py", data["argv"]) + "  ",
        f"Commit: {env.get('commit', 'not recorded')}; CPU: {env['cpu']}, {env['cores']} cores; "
        f"Python {env['python']}, torch {env['torch']}, onnxruntime {env['onnxruntime']}. "
        "Load average at the start "
        f"{env['loadavg_start'][0]:.2f}, at the end {env['loadavg_end'][0]:.2f}.",
        "",
        f"Model: a bert-base-sized Detoxify `original` checkpoint with random weights "
        f"(bench/bert_base_checkpoint.py). Texts: {data['texts']} news-comment-length texts "
        f"(40-80 words, {data['tokens_mean']:.0f} tokens on average) from "
        f"tests/data/labelled_comments.csv. Each server is its own process on 127.0.0.1; "
        f"the load generator (aiohttp, this process) shares the same cores. "
        f"Closed loop: {data['warmup']:.0f} s warm-up, then {data['duration']:.0f} s measured. "
        f"The service stores every comment on SQLite (`synchronous=FULL`) before its 201; "
        f"the naive wrapper stores nothing.",
        "",
        "| server | mode | comments/s | p50 ms | p99 ms | × naive | server CPU (cores) "
        "| client CPU | foreign CPU | responses |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in runs:
        mode = (
            f"closed, concurrency {r.concurrency}"
            if r.mode == "closed"
            else f"open, {r.rate:.1f}/s (half of max)"
        )
        ratio = f"{r.throughput / naive.throughput:.1f}" if naive and r.mode == "closed" else ""
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r.statuses.items()))
        lines.append(
            f"| {labels[r.config]} | {mode} | {r.throughput:,.1f} | {r.p50_ms:,.0f} | "
            f"{r.p99_ms:,.0f} | {ratio} | {r.server_cores:.2f} | {r.client_cores:.2f} | "
            f"{r.foreign_cores:.2f} | {statuses} |"
        )
    lines += [
        "",
        "Foreign CPU: cores used by other processes on the machine during the measured "
        "window (runs above the limit were repeated; the quietest attempt is shown). "
        "Start-up times (s, cache warm): "
        + ", ".join(f"{k} {v:.1f}" for k, v in data["startup_s"].items())
        + ".",
        "",
        "## Fidelity (in process, same checkpoint, ONNX Runtime vs PyTorch)",
        "",
        "| model | runtime | texts | max abs diff | p99 abs diff | decisions agree "
        "| PyTorch decisions |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for f in data["fidelity"]:
        lines.append(
            f"| {f['model']} | {f['runtime']} | {f['texts']} | {f['max_abs_diff']:.2g} | "
            f"{f['p99_abs_diff']:.2g} | {f['agreement']:.2%} | "
            + ", ".join(f"{k} {v}" for k, v in sorted(f["torch_actions"].items()))
            + " |"
        )
    lines += [
        "",
        "Decisions: `moderation.domain.engine.decide` with guidelines/default.toml. The random "
        "bert-base model scores everything near 0.5, so its agreement says little; the tiny "
        "trained model's (tests/tiny_detoxify.py) does.",
        "",
        "## Cascade (benchmark only; off in the service)",
        "",
        "| corpus | texts | linear decides (toxicity < "
        f"{data['cascade'][0]['sure_below'] if data['cascade'] else ''}) | decisions agree with "
        "the transformer alone | bert-base int8 alone, texts/s | cascade, texts/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in data["cascade"]:
        lines.append(
            f"| {c['corpus']} | {c['texts']} | {c['decided_by_linear']:.1%} | "
            f"{c['agreement_with_transformer']:.1%} | {c['bert_base_int8_texts_per_s']:.1f} | "
            f"{c['cascade_texts_per_s']:.1f} |"
        )
    if data["cascade"]:
        thresholds = list(data["cascade"][0]["sweep"])
        lines += [
            "",
            "Other thresholds (share decided by linear / decisions agreeing):",
            "",
            "| corpus | " + " | ".join(f"toxicity < {t}" for t in thresholds) + " |",
            "| --- |" + " ---: |" * len(thresholds),
        ]
        for c in data["cascade"]:
            cells = [f"{c['sweep'][t][0]:.0%} / {c['sweep'][t][1]:.1%}" for t in thresholds]
            lines.append(f"| {c['corpus']} | " + " | ".join(cells) + " |")
    if data.get("recipes"):
        lines += recipes_section(data["recipes"])
    lines += ["", "## Targets", ""]
    lines += [f"* {t}" for t in data["targets"]]
    lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def recipes_section(recipes: dict[str, Any]) -> list[str]:
    """Model-only rows/s per recipe and length, with the load average at each figure, and
    ``auto``'s fidelity check and choice (classifiers/onnx/recipes.py)."""
    env = recipes["environment"]
    command = provenance.command("inference_bench.py", recipes["argv"]).removeprefix("Command: ")
    lines = [
        "",
        "## Recipes (in process, model only)",
        "",
        f"Measured by {command} at commit {env.get('commit', 'not recorded')}, onnxruntime "
        f"{env['onnxruntime']}, torch {env['torch']}; CPU flags that matter: "
        f"{', '.join(recipes['detoxify']['flags']) or 'none'}. Calls of 16 texts, each "
        f"recipe {recipes['seconds']:.0f} s in {recipes['rounds']} interleaved rounds, best "
        f"round kept; load average (1 min) at the start {env['loadavg_start'][0]:.2f}, at the "
        f"end {env['loadavg_end'][0]:.2f}, and before/after each figure in the table. On "
        "this 2-core machine other work was running: a load average above 2 means the "
        "figures are lower, and less comparable, than on a quiet machine.",
        "",
    ]
    for title, block in (
        ("bert-base-shaped Detoxify checkpoint", recipes["detoxify"]),
        ("sentence encoder (all-MiniLM-L6-v2)", recipes["encoder"]),
    ):
        speeds = block["speeds"]
        names = list(dict.fromkeys(r["recipe"] for r in speeds))
        lengths = list(dict.fromkeys(r["length"] for r in speeds))
        by = {(r["recipe"], r["length"]): r for r in speeds}
        lines += [
            f"{title}, rows/s (load average before/after):",
            "",
            "| recipe | " + " | ".join(f"{n} tokens" if n.isdigit() else n for n in lengths) + " |",
            "| --- |" + " ---: |" * len(lengths),
        ]
        for name in names:
            cells = [
                f"{by[(name, n)]['rows_per_s']:.1f} ({by[(name, n)]['loadavg'][0]:.1f}/"
                f"{by[(name, n)]['loadavg'][1]:.1f})"
                if (name, n) in by
                else "not measured"
                for n in lengths
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    choices = dict(recipes["detoxify"]["choices"])
    if recipes["encoder"].get("choice"):
        choices["sentence encoder + minilm heads"] = recipes["encoder"]["choice"]
    by_length = any(choice.get("bands") for choice in choices.values())
    lines += [
        "`auto`'s measurement (fidelity against fp32 on 200 training comments; decisions: "
        "for the Detoxify models each category's side of 0.5 (the benchmark passes no "
        "guidelines), for the encoder the `minilm` heads' scores at guidelines/default.toml's "
        "`minilm` thresholds; speed on the short ones"
        + (
            ", and for the Detoxify models also on texts of about 64 and 128 tokens, each "
            "length band choosing its own recipe (classifiers/onnx/recipes.py, `BANDS`)"
            if by_length
            else " (measured before `auto` chose by length)"
        )
        + "; load as above):",
        "",
        "| model | recipe | rows/s (short; 64; 128 tokens) | max score diff | decisions agree "
        "| min cosine | chosen for | excluded because |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for model, choice in choices.items():
        bands = choice.get("bands") or []
        for t in choice["trials"]:
            fid = t.get("fidelity") or {}
            speeds = [t.get("rows_per_s"), *(t.get("band_rows_per_s") or {}).values()]
            speed = "; ".join(f"{v:.1f}" for v in speeds if v is not None)
            diff = f"{fid['max_abs_diff']:.3g}" if fid else ""
            agree = f"{fid['agreement']:.2%}" if fid else ""
            cosine = f"{fid['min_cosine']:.4f}" if fid.get("min_cosine") is not None else ""
            if bands:
                chosen = ", ".join(b["band"] for b in bands if b["recipe"] == t["recipe"])
            else:
                chosen = "every length" if t["recipe"] == choice["recipe"] else ""
            chosen = f"**{chosen}**" if chosen else ""
            lines.append(
                f"| {model} | {t['recipe']} | {speed} | {diff} | {agree} | {cosine} | {chosen} "
                f"| {t.get('reason') or ''} |"
            )
    return lines


def targets(data: dict[str, Any], default_key: str) -> list[str]:
    runs = {(r["config"], r["mode"]): r for r in data["runs"]}
    out = []

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    naive, best = runs.get(("naive", "closed")), runs.get((default_key, "closed"))
    if naive and best:
        ratio = best["throughput"] / naive["throughput"]
        out.append(
            f"default runtime ({default_key}) ≥ 4× the naive wrapper: {ratio:.2f}× "
            f"({best['throughput']:.1f} vs {naive['throughput']:.1f}/s) — {verdict(ratio >= 4)}"
        )
    fid = [
        f
        for f in data["fidelity"]
        if f["model"] == "tiny trained" and f["runtime"] == runs_runtime(default_key)
    ]
    for f in fid:
        ok = f["max_abs_diff"] <= 0.02 and f["agreement"] >= 0.995
        out.append(
            f"scores within 0.02 of PyTorch, decisions ≥ 99.5% (tiny trained model, "
            f"{f['texts']} texts): max {f['max_abs_diff']:.3f}, agreement "
            f"{f['agreement']:.2%} — {verdict(ok)}"
        )
    half = runs.get((default_key, "open"))
    if half:
        out.append(
            f"p99 at half the maximum throughput ({half['rate']:.1f}/s) ≤ 250 ms: "
            f"{half['p99_ms']:.0f} ms — {verdict(half['p99_ms'] <= 250)}"
        )
    linear = runs.get(("linear32", "closed"))
    if linear:
        out.append(
            f"linear: ≥ 1,500 comments/s persisted on SQLite by one process: "
            f"{linear['throughput']:,.0f}/s — {verdict(linear['throughput'] >= 1500)}; "
            f"p99 < 50 ms at concurrency 32: {linear['p99_ms']:.1f} ms — "
            f"{verdict(linear['p99_ms'] < 50)}"
        )
    return out


def runs_runtime(key: str) -> str:
    return {c.key: c.runtime for c in CONFIGS}[key]


def plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in data["runs"] if r["mode"] == "closed"]
    labels = [
        {
            "naive": "naive\nDetoxify",
            "torch": "service\nPyTorch",
            "onnx": "service\nORT fp32",
            "int8": "service\nORT int8",
            "linear16": "service\nlinear c16",
            "linear32": "service\nlinear c32",
        }[r["config"]]
        for r in runs
    ]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    bars = left.bar(labels, [r["throughput"] for r in runs], color="#4c72b0")
    left.set_yscale("log")
    left.set_ylabel("comments / second (log)")
    left.set_title("Throughput, closed loop (2 CPU cores)")
    for bar, r in zip(bars, runs, strict=True):
        left.annotate(
            f"{r['throughput']:,.0f}" if r["throughput"] >= 100 else f"{r['throughput']:.1f}",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    x = range(len(runs))
    right.bar([i - 0.2 for i in x], [r["p50_ms"] for r in runs], 0.4, label="p50")
    right.bar([i + 0.2 for i in x], [r["p99_ms"] for r in runs], 0.4, label="p99")
    right.set_xticks(list(x), labels)
    right.set_yscale("log")
    right.set_ylabel("latency, ms (log)")
    right.set_title("Latency at that load")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
