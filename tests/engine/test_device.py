"""Precision selection (testable without a GPU), the gradient scaler's CPU pass-through and bf16 training on CPU."""

from __future__ import annotations

import math

import pytest
import torch

from mrframe.data.pipeline import prepare
from mrframe.engine.device import PRECISION_VARIABLE, Precision, resolve_precision, to_float32
from mrframe.engine.trainer import Trainer
from mrframe.errors import MrframeError
from mrframe.interfaces import StepContext
from mrframe.spec import load_spec

CPU, CUDA = torch.device("cpu"), torch.device("cuda", 0)


def test_cpu_trains_in_fp32_unless_bf16_is_asked_for(monkeypatch):
    monkeypatch.delenv(PRECISION_VARIABLE, raising=False)
    for name in ("auto", "fp32"):
        precision = resolve_precision(name, CPU)
        assert precision.dtype is None and precision.name == "fp32" and not precision.uses_scaler
    bf16 = resolve_precision("bf16", CPU)
    assert (bf16.device_type, bf16.dtype, bf16.uses_scaler) == ("cpu", torch.bfloat16, False)
    with bf16.autocast():
        assert torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3)).dtype == torch.bfloat16
    with pytest.raises(MrframeError, match="train.precision: 'fp16' needs a CUDA device"):
        resolve_precision("fp16", CPU)


def test_the_environment_chooses_what_auto_means(monkeypatch):
    monkeypatch.setenv(PRECISION_VARIABLE, "bf16")
    assert resolve_precision("auto", CPU).name == "bf16"
    assert resolve_precision("fp32", CPU).name == "fp32"  # an explicit choice wins
    monkeypatch.setenv(PRECISION_VARIABLE, "fp16")
    with pytest.raises(MrframeError, match=f"{PRECISION_VARIABLE}.*'fp16' needs a CUDA device"):
        resolve_precision("auto", CPU)
    monkeypatch.setenv(PRECISION_VARIABLE, "half")
    with pytest.raises(MrframeError, match=f"{PRECISION_VARIABLE}.*one of fp32, bf16, fp16.*'half'"):
        resolve_precision("auto", CPU)


def test_cuda_auto_picks_bf16_where_supported_else_fp16_with_a_scaler(monkeypatch):
    monkeypatch.delenv(PRECISION_VARIABLE, raising=False)
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


def test_bf16_on_cpu_runs_the_forward_in_bf16_with_fp32_weights_losses_and_optimizer(tiny_spec):
    spec = load_spec(tiny_spec(train="precision = 'bf16'"))
    trainer = Trainer(spec, prepare(spec))
    batch = trainer.loader.dataset.batch(trainer.plan(0).batch(0))
    seen = []
    trainer.model.heads["next"].register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    total, losses, _ = trainer.objective(batch, StepContext(epoch=0, step=0, training=True))
    assert seen == [torch.bfloat16]
    assert total.dtype == torch.float32 and all(loss.value.dtype == torch.float32 for loss in losses.values())
    outcome = trainer.train_step(batch)
    assert outcome.applied and math.isfinite(outcome.loss)
    assert all(p.dtype == torch.float32 and p.grad.dtype == torch.float32 for p in trainer.network.parameters())
    state = trainer.optimizer.state_dict()["state"]
    assert all(s["exp_avg"].dtype == torch.float32 for s in state.values())
