"""Learning-rate schedule: linear warmup from a fraction of the base rate, then cosine to the minimum."""

from __future__ import annotations

import math

import pytest

from mrframe.engine.config import TrainConfig
from mrframe.engine.schedule import LRSchedule


def test_warmup_then_cosine_values():
    config = TrainConfig(lr=1.0, warmup=0.2, warmup_start=0.1, final_lr=0.01)
    schedule = LRSchedule(config, total_steps=20)
    assert schedule.warmup_steps == 4
    assert [schedule.lr(s) for s in range(4)] == pytest.approx([0.1, 0.325, 0.55, 0.775])
    assert schedule.lr(4) == pytest.approx(1.0)  # the first step after warmup has the full rate
    assert schedule.lr(19) == pytest.approx(0.01)  # the last step reaches the minimum exactly
    middle = 4 + (19 - 4) / 2
    assert schedule.lr(int(middle)) > 0.5 > schedule.lr(int(middle) + 1)
    values = [schedule.lr(s) for s in range(4, 20)]
    assert all(a > b for a, b in zip(values[:-1], values[1:], strict=True))  # strictly decreasing after warmup
    p = (10 - 4) / (20 - 4 - 1)
    assert schedule.lr(10) == pytest.approx(0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * p)))


def test_no_warmup_constant_schedule_and_scale():
    schedule = LRSchedule(TrainConfig(lr=0.5, warmup=0.0, schedule="constant"), total_steps=7)
    assert schedule.warmup_steps == 0
    assert {schedule.lr(s) for s in range(7)} == {0.5}
    schedule.scale = 0.25
    assert schedule.lr(3) == 0.125
    assert schedule.state_dict() == {"scale": 0.25}


def test_single_step_run_and_apply_sets_every_group():
    import torch

    schedule = LRSchedule(TrainConfig(lr=0.1, warmup=0.0), total_steps=1)
    assert schedule.lr(0) == pytest.approx(0.1)
    optimizer = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)]},
                                 {"params": [torch.zeros(1, requires_grad=True)]}], lr=1.0)
    assert schedule.apply(optimizer, 0) == pytest.approx(0.1)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.1, 0.1])
