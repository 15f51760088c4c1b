"""The loop: accumulation equals the large-batch step, determinism, anchored early stopping."""

from __future__ import annotations

import math

import pytest
import torch

from mrframe import registry
from mrframe.data.pipeline import prepare
from mrframe.engine.trainer import Trainer
from mrframe.spec import load_spec

Uniform = pytest.importorskip("mrframe_objectives.uniform").Uniform


def make_trainer(path, *overrides):  # noqa: ANN001, ANN002, ANN201
    spec = load_spec(path, overrides)
    return Trainer(spec, prepare(spec))


def test_accumulation_equals_the_large_batch_step_including_a_partial_last_group(tiny_spec):
    # fully observed targets: per-sample means. lr = 0 keeps both models at the same point, so every step's loss
    # must agree and the last (partial) group's gradients must equal the large batch's; compared after AdamW
    # steps, float noise in near-zero gradients would be amplified to +-lr by Adam's normalisation.
    # fp32 whatever MRFRAME_PRECISION says: bf16 rounds the two partitions' sums differently, beyond the tolerance.
    path = tiny_spec(missing=0.0, train="epochs = 1\nwarmup = 0.0\nlr = 0.0\nprecision = 'fp32'")
    small = make_trainer(path, "train.batch_size=16", "train.accumulate=4")
    large = make_trainer(path, "train.batch_size=64", "train.accumulate=1")
    n = len(small.loader.dataset)
    assert n % 64 and (n % 64) > 16 and n % 16  # a partial last group, whose last micro-batch is smaller too
    assert small.steps_per_epoch == large.steps_per_epoch == math.ceil(n / 64)
    for trainer in (small, large):
        trainer.network.train()
        assert trainer.train_epoch(lambda: False)
    for (name, a), b in zip(small.network.named_parameters(), large.network.parameters(), strict=True):
        assert a.grad is not None and b.grad is not None, name
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-7, msg=name)
    assert small.sums.loss == pytest.approx(large.sums.loss, rel=1e-5)


def test_same_spec_and_seed_give_identical_metrics(tiny_spec):
    path = tiny_spec(train="accumulate = 2")
    first, second = make_trainer(path), make_trainer(path)
    a, b = first.fit(), second.fit()
    assert first.log.epochs == second.log.epochs  # every metric of every epoch, exactly
    assert a["evaluation"] == b["evaluation"]
    other = make_trainer(path, "run.seed=4")
    other.fit()
    assert other.log.epochs[-1]["train_loss"] != first.log.epochs[-1]["train_loss"]


class Anchored(Uniform):
    """Uniform weighting with an anchored validation score: twice the sum of the task losses."""

    def anchored_score(self, losses):  # noqa: ANN001, ANN201
        return 2.0 * sum(losses.values())


def test_early_stopping_monitors_the_policys_anchored_score(tiny_spec):
    path = tiny_spec(train="epochs = 3", extra="""
        [weighting]
        plugin = "anchored"
        """)
    with registry.registered("weighting", "anchored", Anchored):
        trainer = make_trainer(path)
        summary = trainer.fit()
    assert summary["best"]["monitor"] == "val_anchored"
    for row in trainer.log.epochs:
        assert row["val_anchored"] == pytest.approx(2.0 * row["val/next/loss"])


def test_early_stopping_ends_training_and_keeps_the_best_weights(tiny_spec):
    # min_delta larger than any change: epoch 1 stays the best, so patience 1 stops after epoch 2
    path = tiny_spec(train="epochs = 6\n[train.early_stopping]\npatience = 1\nmin_delta = 100.0\nmonitor = 'val/next/mae'")
    trainer = make_trainer(path)
    rows = []
    trainer.hooks.register(type("Rows", (), {"mrframe_epoch_end": _collect(rows)})())
    summary = trainer.fit()
    values = [r.metrics["val/next/mae"] for r in rows]
    best = 0  # no later epoch improves by min_delta
    assert summary["best"]["epoch"] == best + 1
    assert summary["status"] == "stopped early" and len(values) == best + 2 < 6  # patience 1
    evaluated = summary["evaluation"]["val"]
    assert evaluated["checkpoint"] == "best"  # the final evaluation uses the best epoch's weights
    assert evaluated["tasks"]["next"]["loss"] == pytest.approx(rows[best].metrics["val/next/loss"])


def _collect(rows):  # noqa: ANN001, ANN202
    from mrframe.hooks import hookimpl

    @hookimpl
    def mrframe_epoch_end(self, run, record):  # noqa: ANN001, ANN202
        rows.append(record)

    return mrframe_epoch_end
