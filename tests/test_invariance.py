"""Masked-input invariance, bitwise, for the first-party encoder and for the assembled minimal model."""

import numpy as np
import pytest
import torch

from mrframe import registry
from mrframe.data.pipeline import prepare
from mrframe.interfaces import SourceInfo
from mrframe.model import AssembledModel
from mrframe.observed import Observed
from mrframe.spec import load_spec
from mrframe.testing.inputs import JUNK, make_calendar, with_junk

pytestmark = pytest.mark.plugins

@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("after", [False, True])
def test_recurrent_encoder_is_masked_input_invariant(mode, after):
    torch.manual_seed(0)
    cls = registry.load("encoder", "recurrent")
    encoder = cls(cls.Config(), SourceInfo("s", "daily", ("a", "b", "c")), 16).train(mode == "train")
    raw = torch.randn(4, 30, 3)
    raw[torch.rand(4, 30, 3) < 0.4] = float("nan")
    raw[1] = float("nan")  # a sample with no observation at all
    x = Observed.build(raw)
    cal = make_calendar(4, 30, 4)
    base = encoder(x, cal)
    for junk in JUNK:
        out = encoder(with_junk(x, junk, after), cal)
        assert torch.equal(out.hidden, base.hidden) and torch.equal(out.present, base.present)
    assert torch.isfinite(base.hidden).all() and not base.present[1].any()


@pytest.fixture(scope="module")
def minimal():
    spec = load_spec("examples/minimal.toml")
    data = prepare(spec)
    torch.manual_seed(0)
    model = AssembledModel(spec, data.inputs, data.target_infos)
    dataset = data.datasets["train"]
    return model, dataset.batch(np.arange(0, len(dataset), max(1, len(dataset) // 24)))


@pytest.mark.parametrize("after", [False, True])
def test_assembled_model_is_masked_input_invariant(minimal, after):
    model, batch = minimal
    model.eval()
    base = model(batch.inputs, batch.calendar)
    for junk in JUNK:
        inputs = {name: with_junk(x, junk, after) for name, x in batch.inputs.items()}
        out = model(inputs, batch.calendar)
        for task in base:
            assert torch.equal(out[task], base[task]), (task, junk)


def test_assembled_model_gradients_are_finite_without_any_observation(minimal):
    model, batch = minimal
    model.train()
    empty = {name: Observed.build(torch.full_like(x.values, float("nan"))) for name, x in batch.inputs.items()}
    out = model(empty, batch.calendar)
    sum(p.sum() for p in out.values()).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    model.zero_grad()
