"""The non-finite guard: replay report naming module, op, batch and samples; raise, skip and rollback."""

from __future__ import annotations

import json
import math

import attrs
import numpy as np
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
    assert report["step"] == trainer.step + 1 and report["epoch"] == 1  # the step that failed, counted from 1
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


# ------------------------------------------------------------------------------------ issue 15: the guard's reports


def test_a_finite_loss_with_an_overflowing_gradient_norm_is_named_with_its_largest_gradients(tiny_spec, bomb, tmp_path):
    path = tiny_spec(encoder="bomb", encoder_keys="""
        at_step = 2
        kind = "huge"
        """)
    trainer = trainer_for(path, tmp_path, bomb)
    with pytest.raises(NonFiniteError) as error:
        trainer.fit()
    report = json.loads(next((trainer.directory.path / "nonfinite").glob("*.json")).read_text())
    assert report["failure"] == "gradient norm" and math.isfinite(report["loss"])
    assert report["replay_grad_norm"] > 1e19 and report["largest_gradients"]
    assert all(g["parameter"].startswith("model.") for g in report["largest_gradients"])
    message = str(error.value)
    assert "Non-finite gradient norm at step 3" in message and "overflows when computed in float32" in message
    assert report["largest_gradients"][0]["parameter"] in message and "the replay was finite" not in message


def test_metrics_record_the_gradient_norm(tiny_spec, tmp_path):
    trainer = trainer_for(tiny_spec(), tmp_path, directory=False)
    trainer.fit()
    first = trainer.log.epochs[0]
    assert 0 < first["grad_norm"] <= first["grad_norm_max"] < math.inf
    assert all(math.isfinite(s["grad_norm"]) for s in trainer.log.steps)


def test_reports_under_skip_never_overwrite_each_other(tiny_spec, bomb, tmp_path):
    path = tiny_spec(encoder="bomb", train="nonfinite = 'skip'\nmax_skips = 2", encoder_keys="""
        at_step = 3
        once = false
        """)
    trainer = trainer_for(path, tmp_path, bomb)
    with pytest.raises(NonFiniteError):
        trainer.fit()
    names = sorted(p.name for p in (trainer.directory.path / "nonfinite").glob("*.json"))
    assert names == ["step-000004-2.json", "step-000004-3.json", "step-000004.json"]
    batches = {json.loads((trainer.directory.path / "nonfinite" / n).read_text())["batch"] for n in names}
    assert len(batches) == 3  # three different batches failed as the same step number


def test_skip_stops_at_once_when_parameters_are_non_finite(tiny_spec, tmp_path):
    from mrframe.hooks import hookimpl

    trainer = trainer_for(tiny_spec(train="nonfinite = 'skip'\nmax_skips = 5"), tmp_path, directory=False)

    class Poison:
        @hookimpl
        def mrframe_step_end(self, run, record):  # noqa: ANN001, ANN202
            if record.step == 2:
                with torch.no_grad():
                    next(trainer.network.model.parameters()).fill_(math.nan)

    trainer.hooks.register(Poison())
    with pytest.raises(NonFiniteError, match="parameters themselves are non-finite") as error:
        trainer.fit()
    assert trainer.guard.failures == 1 and "rollback" in str(error.value)


def test_a_non_finite_validation_loss_is_reported_with_its_samples(tiny_spec, bomb, tmp_path):
    path = tiny_spec(encoder="bomb", missing=0.0, encoder_keys='anchors = ["2022-05-10"]\nonce = false')
    trainer = trainer_for(path, tmp_path, bomb)
    with pytest.raises(NonFiniteError, match=r"Non-finite validation loss at epoch 1") as error:
        trainer.fit()
    report = json.loads((trainer.directory.path / "nonfinite" / "val-epoch-001.json").read_text())
    assert [s["anchor"] for s in report["samples"]] == ["2022-05-10"]
    assert report["culprit"]["module"] == "model.encoders.daily.bomb" and report["tasks"] == ["next"]
    assert "#" in str(error.value) and "2022-05-10" in str(error.value)
    assert (trainer.directory.path / "nonfinite" / "val-epoch-001-batch.pt").is_file()


def test_reports_name_extreme_targets(tiny_spec, tmp_path):
    from mrframe.engine.report import extreme_targets
    from mrframe.observed import Observed

    trainer = trainer_for(tiny_spec(missing=0.0), tmp_path, directory=False)
    batch = trainer.loader.dataset.batch(list(range(4)))
    values = batch.targets["next"].values.clone()
    values[2, 0, 1] = 1e6
    batch = attrs.evolve(batch, targets={"next": Observed.build(values, batch.targets["next"].mask)})
    found = extreme_targets(batch, [], trainer.data.target_infos)
    assert found[0]["task"] == "next" and found[0]["value"] == 1e6 and found[0]["extreme"]
    anchor = np.datetime64(found[0]["anchor"])
    assert found[0]["date"] == str(anchor + 3)  # horizon 3, span 1


def test_numbering_is_the_same_in_hooks_console_metrics_and_reports(tiny_spec, bomb, tmp_path):
    from mrframe.hooks import hookimpl

    path = tiny_spec(encoder="bomb", train="nonfinite = 'skip'", encoder_keys="at_step = 5")
    trainer = trainer_for(path, tmp_path, bomb)
    seen = {"starts": [], "steps": [], "ends": []}

    class Record:
        @hookimpl
        def mrframe_epoch_start(self, run, epoch, batches):  # noqa: ANN001, ANN202
            seen["starts"].append(epoch)

        @hookimpl
        def mrframe_step_end(self, run, record):  # noqa: ANN001, ANN202
            seen["steps"].append((record.epoch, record.step, record.batch))

        @hookimpl
        def mrframe_epoch_end(self, run, record):  # noqa: ANN001, ANN202
            seen["ends"].append(record.epoch)

    trainer.hooks.register(Record())
    trainer.fit()
    assert seen["starts"] == seen["ends"] == [1, 2] == [row["epoch"] for row in trainer.log.epochs]
    assert seen["steps"][0] == (1, 1, 1)
    report = json.loads(next((trainer.directory.path / "nonfinite").glob("*.json")).read_text())
    # the failed step would have been step 6, the 6th batch of epoch 1: the numbers a hook saw around it
    assert (report["epoch"], report["step"], report["batch"]) == (1, 6, 6)
    assert (1, 5, 5) in seen["steps"] and (1, 6, 7) in seen["steps"]  # the skipped step has no number


def test_an_epoch_with_a_non_finite_validation_loss_is_never_best_under_a_metric_monitor(tiny_spec, bomb, tmp_path):
    """One validation sample turns NaN every epoch: the loss is NaN, the MAE (over the finite predictions) is not;
    the guard goes on (``skip``) and says the epoch cannot be the best, so no epoch becomes best."""
    path = tiny_spec(encoder="bomb", encoder_keys='anchors = ["2022-05-10"]\nonce = false', train="""
        nonfinite = "skip"
        [train.early_stopping]
        monitor = "val/next/mae"
        """)
    trainer = trainer_for(path, tmp_path, bomb)
    summary = trainer.fit()
    epochs = trainer.log.epochs
    assert all(math.isnan(e["val/next/loss"]) and math.isfinite(e["val/next/mae"]) for e in epochs)
    assert summary["best"]["epoch"] == 0 and not trainer.directory.best.exists()
    assert summary["evaluation"]["val"]["checkpoint"] == "last"
