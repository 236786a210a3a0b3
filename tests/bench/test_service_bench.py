"""bench/service_bench.py's account of the service's share of its model."""

from __future__ import annotations

import math
import sys
import threading
import time
from pathlib import Path
from typing import cast

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from inference.load import Run
from service_bench import ModelAlone, gap_factors, gap_lines

from classifiers.base import Classifier, only_this_thread


def service_run(
    *, throughput: float = 110.0, loop_cores: float = 0.22, batch_mean: float = 8.3
) -> Run:
    return Run(
        config="service",
        mode="closed",
        concurrency=16,
        rate=None,
        seconds=20.0,
        completed=round(throughput * 20),
        throughput=throughput,
        p50_ms=140.0,
        p99_ms=200.0,
        statuses={"201": 2200},
        server_cores=1.7,
        client_cores=0.02,
        foreign_cores=0.0,
        loop_cores=loop_cores,
        batch_mean=batch_mean,
    )


MODEL = {
    "classifier+encoder": 190.0,
    "classifier+encoder CPU ms per row": 9.9,
    "classifier+encoder in batches of 8": 160.0,
    "classifier+encoder in batches of 8 CPU ms per row": 11.6,
}


def test_the_factors_multiply_to_the_share_of_the_model() -> None:
    factors = gap_factors(service_run(), MODEL)
    assert len(factors) == 4
    product = math.prod(factor for _, factor in factors)
    assert product == pytest.approx(110.0 / 190.0)


def test_each_factor_is_the_ratio_it_names() -> None:
    cores, loop, batch, off = (factor for _, factor in gap_factors(service_run(), MODEL))
    assert cores == pytest.approx(1.7 / (190.0 * 9.9 / 1000))
    off_ms, loop_ms = 1000 * (1.7 - 0.22) / 110.0, 1000 * 0.22 / 110.0
    assert loop == pytest.approx(off_ms / (off_ms + loop_ms))
    assert batch == pytest.approx(9.9 / 11.6)  # the service's 8.3 texts: batches of 8
    assert off == pytest.approx(11.6 / off_ms)


def test_a_service_batch_of_16_is_compared_with_the_model_in_16() -> None:
    factors = gap_factors(service_run(batch_mean=15.8), MODEL)
    assert factors[2][1] == pytest.approx(1.0)


def test_nothing_is_claimed_without_the_measurements() -> None:
    assert gap_factors(service_run(loop_cores=0.0), MODEL) == []  # an old run's JSON
    assert gap_factors(service_run(batch_mean=12.0), MODEL) == []  # no model run at 12
    assert gap_lines(service_run(), {}) == []
    line = gap_lines(service_run(), MODEL)[0]
    assert line.startswith("* service: where the 58% of the classifier and encoder goes")


class _Model:
    """A classifier the scorer would run in two lanes (an ONNX Runtime backend with two
    worker threads) that records which thread ran each call and whether that call was
    confined to its thread."""

    runtime = "onnx-static-int8"
    threads = 2

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, bool]] = []

    def predict(self, texts: list[str]) -> None:
        self.calls.append(("predict", threading.get_ident(), only_this_thread()))
        time.sleep(0.001)

    def embed(self, texts: list[str]) -> None:
        self.calls.append(("embed", threading.get_ident(), only_this_thread()))


def test_the_model_alone_runs_in_the_scorers_lanes() -> None:
    model = _Model()
    alone = ModelAlone.__new__(ModelAlone)  # the real one loads the bert-base checkpoint
    alone.classifier = cast(Classifier, model)
    alone.encoder, alone.texts = model, [f"t{i}" for i in range(40)]
    assert alone.lanes() == 2
    rows, wall, _cpu = alone.run_lanes(8, 0.05)
    predicts = [call for call in model.calls if call[0] == "predict"]
    embeds = [call for call in model.calls if call[0] == "embed"]
    assert rows == 8 * len(predicts) == 8 * len(embeds)
    assert len({thread for _, thread, _ in predicts}) == 2  # two lanes side by side
    assert all(confined for _, _, confined in model.calls)  # each call on its own thread
    assert wall >= 0.05
