"""bench/scorer_waves.py's share of the model alone, measured round against round."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from scorer_waves import model_lines, shares


def service_round(
    rate: float, *, seconds: float = 8.0, ms_per_comment: float = 22.0
) -> dict[str, Any]:
    requests = round(rate * seconds)
    return {
        "requests": requests,
        "wall_s": seconds,
        "server_cpu_s": requests * ms_per_comment / 1000,
    }


def model_round(
    rate: float, *, seconds: float = 4.0, ms_per_row: float = 18.0
) -> tuple[int, float, float]:
    rows = round(rate * seconds)
    return rows, seconds, rows * ms_per_row / 1000


def test_drift_cancels_round_by_round() -> None:
    # The machine runs at full speed in the first round and at 60 % in the second; the
    # service keeps 80 % of the model in both.
    runs = [service_round(100.0), service_round(60.0)]
    model = [model_round(125.0), model_round(75.0)]
    share = shares(runs, model)
    assert math.isclose(share["median"], 0.8)
    assert math.isclose(share["low"], 0.8) and math.isclose(share["high"], 0.8)
    assert math.isclose(share["rate"], 0.8)


def test_rounds_that_disagree_give_their_median_and_range() -> None:
    runs = [service_round(r) for r in (70.0, 80.0, 90.0)]
    model = [model_round(100.0)] * 3
    share = shares(runs, model)
    assert math.isclose(share["median"], 0.8)
    assert (round(share["low"], 6), round(share["high"], 6)) == (0.7, 0.9)


def test_the_cpu_share_is_the_model_s_cpu_per_row_over_the_server_s_per_comment() -> None:
    share = shares(
        [service_round(80.0, ms_per_comment=24.0)], [model_round(100.0, ms_per_row=18.0)]
    )
    assert math.isclose(share["cpu"], 0.75)


def test_every_service_round_needs_its_model_round() -> None:
    with pytest.raises(ValueError, match="one model round per service round"):
        shares([service_round(80.0)] * 2, [model_round(100.0)])
    with pytest.raises(ValueError):
        shares([], [])


def test_the_report_names_each_setting_s_share() -> None:
    runs = {
        "default": [service_round(90.0), service_round(80.0)],
        "MODERATION_CLASSIFIER_LANES=1": [service_round(70.0), service_round(70.0)],
    }
    model = [model_round(100.0), model_round(100.0)]
    text = "\n".join(model_lines(list(runs), runs, model, "ran: `onnx`", 4.0))
    assert "100.0 rows/s, 18.00 ms of CPU per row" in text
    assert "* default: 85 % over all rounds (round by round: median 85 %, 80-90 %)" in text
    assert "* MODERATION_CLASSIFIER_LANES=1: 70 % over all rounds" in text


def test_the_report_says_how_the_model_alone_ran() -> None:
    runs = {"default": [service_round(90.0)]}
    model = [model_round(100.0)]
    in_batches = "\n".join(model_lines(list(runs), runs, model, "ran: `onnx`", 4.0))
    assert "the classifier and the sentence encoder, batches of 16," in in_batches
    in_lanes = "\n".join(model_lines(list(runs), runs, model, "ran: `onnx`", 4.0, lanes=2))
    assert "in 2 lanes of 8 side by side, each on one core as the scorer runs them" in in_lanes
