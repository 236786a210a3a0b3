"""``classifiers.onnx.export.trace_bf16``: the bf16 trace that the sentence encoder's and
Detoxify's ``torch-bf16`` run. It stores the linear layers' weights in bfloat16 once,
instead of letting autocast cast them on every call: plain, where it must give exactly
what autocast over the float32 weights gives, or packed for oneDNN's kernels, where it
must agree to rounding; it keeps whichever form its timing found faster, and leaves the
module it was given as it was. On a CPU without native bf16 PyTorch emulates it: slower,
the same arithmetic. Timings are faked where a test says which form wins."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import torch

from classifiers.detoxify_backend import bf16_linears, can_pack_bf16, packed_bf16_linears
from classifiers.onnx import export
from classifiers.onnx.export import time_pair, trace_bf16

ROWS = [[5, 9, 2, 7, 1], [3, 3, 8], [11, 4, 6, 2]]
PAD = 0


class _Tiny(torch.nn.Module):
    """A transformer's parts that matter here: an embedding, linear layers around a layer
    norm, masked mean pooling; called as the encoder's and Detoxify's modules are."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(7)
        self.embed = torch.nn.Embedding(16, 32)
        self.up = torch.nn.Linear(32, 64)
        self.norm = torch.nn.LayerNorm(64)
        self.down = torch.nn.Linear(64, 8)

    def forward(self, input_ids: Any, attention_mask: Any) -> Any:
        states = self.norm(torch.nn.functional.gelu(self.up(self.embed(input_ids))))
        out = self.down(states)
        mask = attention_mask.unsqueeze(-1).to(out.dtype)
        return (out * mask).sum(1) / mask.sum(1)


def _padded() -> tuple[Any, Any]:
    width = max(map(len, ROWS))
    ids = torch.tensor([row + [PAD] * (width - len(row)) for row in ROWS])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ROWS])
    return ids, mask


def test_the_trace_gives_exactly_what_autocast_over_float32_weights_gives() -> None:
    module = _Tiny().eval()
    ids, mask = _padded()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = module(ids, mask)
    traced = trace_bf16(module, ROWS[:2], PAD, packed=False).module
    with torch.inference_mode():
        got = traced(ids, mask)
    assert got.dtype == expected.dtype
    assert torch.equal(got, expected)
    # and it is bf16 arithmetic, not float32's
    with torch.inference_mode():
        assert not torch.equal(module(ids, mask).to(got.dtype), got)


def test_the_trace_runs_bf16_weights_and_leaves_the_module_as_it_was() -> None:
    module = _Tiny().eval()
    before = {name: tensor.clone() for name, tensor in module.state_dict().items()}
    traced = trace_bf16(module, ROWS, PAD, packed=False).module
    after = module.state_dict()
    assert all(t.dtype == torch.float32 for t in after.values())
    assert all(torch.equal(before[name], after[name]) for name in before)
    dtypes = {name: t.dtype for name, t in traced.state_dict().items()}
    assert dtypes["up.weight"] == dtypes["up.bias"] == dtypes["down.weight"] == torch.bfloat16
    assert dtypes["norm.weight"] == dtypes["embed.weight"] == torch.float32


def test_bf16_linears_shares_every_other_tensor() -> None:
    module = _Tiny().eval()
    copy = bf16_linears(module)
    assert copy is not module and copy.up is not module.up
    # shared, not copied: the embedding table is most of a real model's other weights
    assert copy.embed.weight is module.embed.weight and copy.norm.bias is module.norm.bias
    assert copy.up.weight.dtype == torch.bfloat16 and module.up.weight.dtype == torch.float32
    assert torch.equal(copy.up.weight, module.up.weight.to(torch.bfloat16))
    assert not copy.up.weight.requires_grad


needs_packing = pytest.mark.skipif(
    not can_pack_bf16(), reason="this PyTorch has no oneDNN bf16 to pack weights for"
)


@needs_packing
def test_packed_weights_agree_with_autocast_to_rounding() -> None:
    module = _Tiny().eval()
    ids, mask = _padded()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = module(ids, mask).float()
    made = trace_bf16(module, ROWS[:2], PAD, packed=True)
    assert made.packed and made.seconds is None
    with torch.inference_mode():
        got = made.module(ids, mask).float()
        float32 = module(ids, mask)
    # bf16 products (float32 accumulation): as close to autocast's as rounding allows,
    # and as far from float32's as autocast's own
    scale = float(expected.abs().max())
    assert float((got - expected).abs().max()) <= 0.02 * scale
    assert float((got - float32).abs().max()) <= 2 * float((expected - float32).abs().max()) + 1e-3
    assert not torch.equal(got, float32)


@needs_packing
def test_packed_linears_replace_only_the_linear_layers() -> None:
    module = _Tiny().eval()
    before = {name: tensor.clone() for name, tensor in module.state_dict().items()}
    copy = packed_bf16_linears(module)
    assert not any(isinstance(layer, torch.nn.Linear) for layer in copy.modules())
    assert isinstance(module.up, torch.nn.Linear)  # the module given is unchanged
    assert all(torch.equal(before[name], module.state_dict()[name]) for name in before)
    # shared, not copied
    assert copy.embed.weight is module.embed.weight and copy.norm.bias is module.norm.bias
    assert copy.up.bias.dtype == torch.bfloat16
    assert torch.equal(copy.up.bias, module.up.bias.to(torch.bfloat16))


def _packing_or_stand_in(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], bool]:
    """How to tell a trace of the packed form. Where this PyTorch can pack, the real
    packing (the trace runs oneDNN's packed product); elsewhere the plain bf16 layers
    with a marker stand in for it, since what the tests below check is which form is
    kept, on every machine."""
    if can_pack_bf16():
        return lambda traced: "_linear_pointwise" in str(traced.inlined_graph)

    def marked(module: Any) -> Any:
        copy = bf16_linears(module)
        copy.register_buffer("stand_in_for_packed", torch.ones(1))
        return copy

    monkeypatch.setattr(export, "packed_bf16_linears", marked)
    return lambda traced: hasattr(traced, "stand_in_for_packed")


@pytest.mark.parametrize(("seconds", "packed"), [((2.0, 1.0), True), ((1.0, 2.0), False)])
def test_the_faster_form_is_kept(
    monkeypatch: pytest.MonkeyPatch, seconds: tuple[float, float], packed: bool
) -> None:
    is_packed = _packing_or_stand_in(monkeypatch)
    timed: list[tuple[int, ...]] = []

    def fake_time_pair(first: Any, second: Any, inputs: tuple[Any, ...]) -> tuple[float, float]:
        timed.append(tuple(inputs[0].shape))
        return seconds

    monkeypatch.setattr(export, "time_pair", fake_time_pair)
    made = trace_bf16(_Tiny().eval(), ROWS, PAD)
    assert made.packed is packed and made.seconds == seconds
    assert is_packed(made.module) is packed  # the module kept is the form named
    # timed on a call of TIMING_ROWS rows (the examples repeated), padded to the longest
    assert timed == [(export.TIMING_ROWS, max(map(len, ROWS)))]
    form = "packed weights" if packed else "plain bf16 weights"
    plain_ms, packed_ms = (round(s * 1e3) for s in seconds)
    assert made.describe() == (
        f"{form} (a call of {export.TIMING_ROWS} rows: plain {plain_ms}.0 ms,"
        f" packed {packed_ms}.0 ms)"
    )
    ids, mask = _padded()
    with torch.inference_mode():
        assert made.module(ids, mask).shape == (len(ROWS), 8)


def test_without_packing_the_plain_form_runs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_packing(module: Any) -> Any:
        raise RuntimeError("this PyTorch has no oneDNN bf16 to pack weights for")

    monkeypatch.setattr(export, "packed_bf16_linears", no_packing)
    made = trace_bf16(_Tiny().eval(), ROWS, PAD)
    assert not made.packed and made.seconds is None
    assert made.describe() == "plain bf16 weights"
    assert "the packed form failed" in caplog.text
    with pytest.raises(RuntimeError):
        trace_bf16(_Tiny().eval(), ROWS, PAD, packed=True)


def test_a_packed_form_that_fails_while_timed_leaves_the_plain_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    is_packed = _packing_or_stand_in(monkeypatch)

    def failing(first: Any, second: Any, inputs: tuple[Any, ...]) -> tuple[float, float]:
        raise AttributeError("no such operator")

    monkeypatch.setattr(export, "time_pair", failing)
    made = trace_bf16(_Tiny().eval(), ROWS, PAD)
    assert not made.packed and not is_packed(made.module)


def test_time_pair_times_each_alternately_on_one_thread() -> None:
    calls: list[tuple[str, int]] = []

    def slow(*inputs: Any) -> None:
        calls.append(("slow", torch.get_num_threads()))
        time.sleep(0.004)

    def quick(*inputs: Any) -> None:
        calls.append(("quick", torch.get_num_threads()))

    threads = torch.get_num_threads()
    torch.set_num_threads(3)  # not PyTorch's default anywhere: its restoring shows
    try:
        slow_s, quick_s = time_pair(slow, quick, (torch.zeros(1),))
        assert torch.get_num_threads() == 3  # restored
        timed = list(calls)
        with pytest.raises(ZeroDivisionError):
            time_pair(slow, lambda *_: 1 / 0, (torch.zeros(1),))
        assert torch.get_num_threads() == 3  # restored after a failure too
    finally:
        torch.set_num_threads(threads)
    assert slow_s >= 0.004 > quick_s
    assert {n for _, n in calls} == {1}  # every call, the failed timing's too, on one thread
    warm = 2 * export.TIMING_WARMUP
    assert [name for name, _ in timed[:warm]] == ["slow"] * export.TIMING_WARMUP + [
        "quick"
    ] * export.TIMING_WARMUP
    rounds = [name for name, _ in timed[warm:]]
    # alternating order, round by round: a burst of other work slows both, not one
    expected = [("slow", "quick"), ("quick", "slow")]
    assert rounds == [
        name for round_ in range(export.TIMING_ROUNDS) for name in expected[round_ % 2]
    ]
