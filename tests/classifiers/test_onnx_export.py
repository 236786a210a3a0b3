"""``classifiers.onnx.export.trace_bf16``: the bf16 trace that the sentence encoder's and
Detoxify's ``torch-bf16`` run. It stores the linear layers' weights in bfloat16 once,
instead of letting autocast cast them on every call, and must give exactly what autocast
over the float32 weights gives, leaving the module it was given as it was. On a CPU
without native bf16 PyTorch emulates it: slower, the same arithmetic."""

from __future__ import annotations

from typing import Any

import torch

from classifiers.detoxify_backend import bf16_linears
from classifiers.onnx.export import trace_bf16

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
    traced = trace_bf16(module, ROWS[:2], PAD)
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
    traced = trace_bf16(module, ROWS, PAD)
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
