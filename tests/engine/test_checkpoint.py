"""Checkpoints: plain contents (weights_only), exact resume from any checkpoint, Ctrl-C saves and exits."""

from __future__ import annotations

import os
import signal

import pytest
import torch

from mrframe.data.pipeline import prepare
from mrframe.engine.checkpoint import load_checkpoint
from mrframe.engine.rundir import RunDirectory, json_ready
from mrframe.engine.trainer import Trainer
from mrframe.hooks import hookimpl
from mrframe.spec import load_spec

TRAIN = "epochs = 3\naccumulate = 2\ncheckpoint_every = 2\nbatch_size = 8"
FRAMED = ["data.window_scaling=robust", "heads.next.target.anchor=moving_average:3", "model.source_dropout=0.3"]
"""Window scaling, an anchored target and source dropout (which draws from the RNG a checkpoint restores)."""


class Crash(Exception):
    pass


class AtStep:
    """Hook: call ``action`` once when optimizer step ``step`` has ended."""

    def __init__(self, step, action):  # noqa: ANN001
        self.step, self.action = step, action

    @hookimpl
    def mrframe_step_end(self, run, record):  # noqa: ANN001
        if record.step == self.step:
            self.action()


def trainer(path, tmp_path, name="run"):  # noqa: ANN001, ANN201
    spec = load_spec(path, FRAMED)
    return Trainer(spec, prepare(spec), RunDirectory.create(tmp_path / name, spec.name))


@pytest.fixture(scope="module")
def reference(spec_writer, tmp_path_factory, threads):
    """The spec and its uninterrupted run."""
    tmp_path = tmp_path_factory.mktemp("reference")
    path = spec_writer(tmp_path, train=TRAIN)
    full = trainer(path, tmp_path, "full")
    with threads():
        summary = full.fit()
    return path, full, summary


def test_checkpoint_contents_load_with_weights_only(reference):
    path, full, _ = reference
    for name in ("last.pt", "best.pt"):
        state = torch.load(full.directory.checkpoints / name, weights_only=True)
        assert {"format", "spec", "epoch", "batch", "step", "settings", "model", "losses", "weighting", "optimizer", "scheduler",
                "scaler", "rng", "preprocessing", "progress"} <= set(state)
        assert state["preprocessing"].keys() == full.data.preprocessing_state().keys()
        assert all(isinstance(v, torch.Tensor) for v in state["preprocessing"].values())
        assert isinstance(state["rng"]["torch"], torch.Tensor) and state["spec"] == full.spec.to_toml()
    last = load_checkpoint(full.directory.last)
    assert (last["epoch"], last["batch"], last["step"]) == (3, 0, full.step)


@pytest.mark.parametrize("crash_step", [3, 4, 9])  # mid-epoch after a checkpoint, mid-epoch between, at an epoch end
def test_resume_reaches_exactly_the_uninterrupted_result(reference, tmp_path, crash_step):
    path, full, summary = reference
    steps_per_epoch = full.steps_per_epoch
    crashed = trainer(path, tmp_path, "crashed")
    crashed.hooks.register(AtStep(crash_step, lambda: (_ for _ in ()).throw(Crash())))
    with pytest.raises(Crash):
        crashed.fit()
    state = load_checkpoint(crashed.directory.last)
    assert state["step"] <= crash_step and (state["step"] % 2 == 0 or state["batch"] == 0)
    assert crash_step != steps_per_epoch or state["epoch"] == 1
    resumed = Trainer(crashed.spec, prepare(crashed.spec, fitted=state["preprocessing"]), crashed.directory)
    resumed.restore(state)
    again = resumed.fit()
    assert json_ready(resumed.log.epochs) == json_ready(full.log.epochs)  # NaN != NaN: compare as JSON does
    assert json_ready(again["final"]) == json_ready(summary["final"])
    assert json_ready(again["evaluation"]) == json_ready(summary["evaluation"])


def test_bf16_resume_reaches_exactly_the_uninterrupted_result(spec_writer, tmp_path, threads):
    path = spec_writer(tmp_path, train=TRAIN + "\nprecision = 'bf16'")
    full = trainer(path, tmp_path, "full")
    with threads():
        summary = full.fit()
    crashed = trainer(path, tmp_path, "crashed")
    crashed.hooks.register(AtStep(3, lambda: (_ for _ in ()).throw(Crash())))
    with pytest.raises(Crash):
        crashed.fit()
    state = load_checkpoint(crashed.directory.last)
    resumed = Trainer(crashed.spec, prepare(crashed.spec, fitted=state["preprocessing"]), crashed.directory)
    assert resumed.precision.name == "bf16"
    resumed.restore(state)
    again = resumed.fit()
    assert json_ready(resumed.log.epochs) == json_ready(full.log.epochs)
    assert json_ready(again["evaluation"]) == json_ready(summary["evaluation"])


def test_ctrl_c_finishes_the_step_saves_and_resumes_exactly(reference, tmp_path):
    path, full, summary = reference
    stopped = trainer(path, tmp_path, "stopped")
    stopped.hooks.register(AtStep(5, lambda: os.kill(os.getpid(), signal.SIGINT)))
    result = stopped.fit()
    assert result["status"] == "interrupted" and stopped.step == 5
    state = load_checkpoint(stopped.directory.last)
    assert state["step"] == 5 and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    resumed = Trainer(stopped.spec, prepare(stopped.spec, fitted=state["preprocessing"]), stopped.directory)
    resumed.restore(state)
    assert json_ready(resumed.fit()["final"]) == json_ready(summary["final"])


def test_ctrl_c_after_an_epoch_s_short_last_step_resumes_without_repeating_it(reference, tmp_path):
    """The epoch's micro-batches do not divide into ``accumulate``: its last optimizer step holds fewer. Stopped
    right after that step (position: the epoch's last micro-batch), the resumed run must not train it again."""
    path, full, summary = reference
    plan = full.plan(0)
    assert plan.n_batches % plan.accumulate != 0, "the reference epoch must end in a short optimizer step"
    stopped = trainer(path, tmp_path, "stopped")
    stopped.hooks.register(AtStep(full.steps_per_epoch, lambda: os.kill(os.getpid(), signal.SIGINT)))
    assert stopped.fit()["status"] == "interrupted"
    state = load_checkpoint(stopped.directory.last)
    assert (state["epoch"], state["batch"], state["step"]) == (0, plan.n_batches, full.steps_per_epoch)
    resumed = Trainer(stopped.spec, prepare(stopped.spec, fitted=state["preprocessing"]), stopped.directory)
    resumed.restore(state)
    again = resumed.fit()
    assert again["steps"] == summary["steps"]
    assert json_ready(resumed.log.epochs) == json_ready(full.log.epochs)
    assert json_ready(again["evaluation"]) == json_ready(summary["evaluation"])


def test_resuming_an_early_stopped_run_trains_no_further(tiny_spec, tmp_path):
    path = tiny_spec(train="epochs = 6\n[train.early_stopping]\npatience = 1\nmin_delta = 100.0\nmonitor = 'val/next/mae'")
    first = trainer(path, tmp_path, "stopped")
    summary = first.fit()
    assert summary["status"] == "stopped early" and summary["epochs"] < 6
    state = load_checkpoint(first.directory.last)
    resumed = Trainer(first.spec, prepare(first.spec, fitted=state["preprocessing"]), first.directory)
    resumed.restore(state)
    again = resumed.fit()
    assert again["status"] == "stopped early" and again["steps"] == summary["steps"]
    assert json_ready(again["evaluation"]) == json_ready(summary["evaluation"])


def test_the_checksum_reads_tensors_of_any_layout():
    """An expanded (stride-0) or transposed tensor is summed as its values, like the same values laid out densely."""
    from mrframe.engine.checkpoint import content_checksum

    expanded = torch.tensor([[1.5]]).expand(3, 1)
    transposed = torch.arange(6.0).reshape(2, 3).t()
    assert content_checksum({"a": expanded}) == content_checksum({"a": expanded.clone().contiguous()})
    assert content_checksum({"a": transposed}) == content_checksum({"a": transposed.contiguous()})
    assert content_checksum({"a": expanded}) != content_checksum({"a": torch.full((3, 1), 2.5)})
