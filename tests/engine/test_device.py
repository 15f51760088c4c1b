"""Precision selection (testable without a GPU) and the gradient scaler's CPU pass-through."""

from __future__ import annotations

import pytest
import torch

from mrframe.engine.device import Precision, resolve_precision, to_float32
from mrframe.errors import MrframeError

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


def test_cpu_always_trains_in_fp32():
    for name in ("auto", "fp32"):
        precision = resolve_precision(name, CPU)
        assert precision.dtype is None and precision.name == "fp32" and not precision.uses_scaler
    for name in ("bf16", "fp16"):
        with pytest.raises(MrframeError, match="train.precision.*CUDA"):
            resolve_precision(name, CPU)


def test_cuda_auto_picks_bf16_where_supported_else_fp16_with_a_scaler():
    bf16 = resolve_precision("auto", CUDA, bf16_supported=lambda: True)
    fp16 = resolve_precision("auto", CUDA, bf16_supported=lambda: False)
    assert (bf16.dtype, bf16.uses_scaler) == (torch.bfloat16, False)
    assert (fp16.dtype, fp16.uses_scaler) == (torch.float16, True)
    assert resolve_precision("fp32", CUDA).dtype is None
    assert resolve_precision("fp16", CUDA).name == "fp16"


def test_disabled_scaler_is_a_pass_through_on_cpu():
    precision = Precision("cpu", None)
    scaler = precision.grad_scaler()
    assert not scaler.is_enabled()
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = torch.optim.SGD([weight], lr=0.5)
    loss = (weight**2).sum()
    assert scaler.scale(loss) is loss
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    assert torch.equal(weight.grad, torch.tensor([2.0, -4.0]))
    scaler.step(optimizer)
    scaler.update()
    assert torch.equal(weight.detach(), torch.tensor([0.0, 0.0]))
    with precision.autocast():
        assert torch.ones(2).dtype == torch.float32


def test_predictions_are_cast_to_fp32_for_losses():
    half = {"mean": torch.ones(2, dtype=torch.bfloat16), "index": torch.ones(2, dtype=torch.long)}
    out = to_float32(half)
    assert out["mean"].dtype == torch.float32 and out["index"].dtype == torch.long
