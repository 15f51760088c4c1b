"""The non-finite guard: replay report naming module, op, batch and samples; raise, skip and rollback."""

from __future__ import annotations

import json
import math

import pytest
import torch

from mrframe.data.pipeline import prepare
from mrframe.engine.guard import NonFiniteError
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.trainer import Trainer
from mrframe.spec import load_spec


def trainer_for(path, tmp_path, tracker=None, directory=True):  # noqa: ANN001, ANN201
    spec = load_spec(path)
    run_dir = RunDirectory.create(tmp_path / "runs", spec.name) if directory else None
    trainer = Trainer(spec, prepare(spec), run_dir)
    if tracker is not None:
        trainer.hooks.register(tracker)
    return trainer


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_raise_reports_module_op_batch_and_samples(tiny_spec, bomb, tmp_path, precision):
    path = tiny_spec(encoder="bomb", train=f"precision = '{precision}'", encoder_keys="""
        anchors = ["2022-02-03", "2022-02-05"]
        """)
    trainer = trainer_for(path, tmp_path, bomb)
    with pytest.raises(NonFiniteError) as error:
        trainer.fit()
    files = {f.suffix: f for f in (trainer.directory.path / "nonfinite").iterdir()}
    assert sorted(files) == [".json", ".pt"]
    report = json.loads(files[".json"].read_text())
    assert report["failure"] == "loss"
    assert report["culprit"]["module"] == "model.encoders.daily.bomb"
    assert report["culprit"]["op"] == "log"
    assert report["culprit"]["phase"] == "forward" and report["culprit"]["kind"] == "nan"
    assert report["samples"] and all(s["anchor"] in ("2022-02-03", "2022-02-05") for s in report["samples"])
    assert report["step"] == trainer.step and report["epoch"] == 1
    assert "model.encoders.daily.bomb" in str(error.value) and "2022-02-0" in str(error.value)
    batch = torch.load(files[".pt"], weights_only=True)
    anchors = batch["calendar.anchor_day"].numpy().astype("datetime64[D]").astype(str).tolist()
    assert set(s["anchor"] for s in report["samples"]) <= set(anchors)
    assert trainer.status == "stopped: non-finite"


def test_backward_only_nan_is_located_in_the_backward_pass(tiny_spec, bomb, tmp_path):
    path = tiny_spec(encoder="bomb", encoder_keys="""
        at_step = 2
        kind = "backward"
        """)
    trainer = trainer_for(path, tmp_path, bomb, directory=False)
    with pytest.raises(NonFiniteError, match="model.encoders.daily.bomb"):
        trainer.fit()
    assert trainer.step == 2  # the failing step was not applied


def test_skip_drops_the_step_and_stops_after_max_skips_in_a_row(tiny_spec, bomb, tmp_path):
    path = tiny_spec(encoder="bomb", train="nonfinite = 'skip'\nmax_skips = 2", encoder_keys="""
        at_step = 3
        once = false
        """)
    trainer = trainer_for(path, tmp_path, bomb, directory=False)
    with pytest.raises(NonFiniteError, match="3 non-finite steps in a row"):
        trainer.fit()
    assert trainer.step == 3 and trainer.guard.failures == 3


def test_skip_once_then_training_finishes(tiny_spec, bomb, tmp_path):
    path = tiny_spec(encoder="bomb", train="nonfinite = 'skip'", encoder_keys="""
        at_step = 3
        """)
    trainer = trainer_for(path, tmp_path, bomb)
    summary = trainer.fit()
    assert summary["status"] == "finished"
    assert summary["nonfinite"]["failures"] == 1
    clean = trainer_for(tiny_spec(name="clean.toml"), tmp_path, directory=False)
    clean.fit()
    assert trainer.step == clean.step - 1  # exactly one step dropped
    assert summary["final"]["skipped_steps"] == 0.0  # counted in epoch 1, not the last epoch
    assert trainer.log.epochs[0]["skipped_steps"] == 1.0
    assert math.isfinite(summary["final"]["val_loss"])


def test_rollback_restores_the_last_good_state_and_lowers_the_rate(tiny_spec, bomb, tmp_path):
    path = tiny_spec(encoder="bomb", train="nonfinite = 'rollback'\nrollback_lr_factor = 0.25", encoder_keys="""
        at_step = 4
        """)
    trainer = trainer_for(path, tmp_path, bomb, directory=False)
    initial = {k: v.clone() for k, v in trainer.network.model.state_dict().items()}
    original_step = trainer.stepper.step
    seen = {}

    def spy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        outcome = original_step(*args, **kwargs)
        if not outcome.finite:  # the state the guard must restore: the start of training (no epoch ended yet)
            seen["rolled"] = True
        return outcome

    trainer.stepper.step = spy
    summary = trainer.fit()
    assert seen and summary["status"] == "finished" and summary["nonfinite"]["rollbacks"] == 1
    assert trainer.schedule.scale == 0.25
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(trainer.schedule.lr(trainer.step - 1))
    assert any(not torch.equal(initial[k], v) for k, v in trainer.network.model.state_dict().items())


def test_rollback_state_is_the_snapshot_of_the_last_checkpoint(tiny_spec, bomb, tmp_path):
    path = tiny_spec(encoder="bomb", train="nonfinite = 'rollback'", encoder_keys="""
        at_step = 9
        """)
    trainer = trainer_for(path, tmp_path, bomb, directory=False)
    snapshots = []
    original = trainer.load_core_state

    def record(state):  # noqa: ANN001, ANN202
        snapshots.append(state)
        original(state)

    trainer.load_core_state = record
    epoch_end_state = {}
    original_save = trainer.save

    def save(which):  # noqa: ANN001, ANN202
        original_save(which)
        if which == "last" and trainer.epoch == 1:
            epoch_end_state.update({k: v.clone() for k, v in trainer.network.model.state_dict().items()})

    trainer.save = save
    assert trainer.steps_per_epoch < 9 < 2 * trainer.steps_per_epoch
    trainer.fit()
    assert len(snapshots) == 1
    restored = snapshots[0]["model"]
    assert all(torch.equal(restored[k], epoch_end_state[k]) for k in epoch_end_state)
