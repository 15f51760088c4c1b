"""The tensorboard hook writes what TensorBoard's own reader (EventAccumulator) loads back."""

from __future__ import annotations

import math
import tomllib

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mrframe.engine.plots import plot_steps
from mrframe.hooks import EpochRecord, RunInfo, plugin_manager
from mrframe.spec import build_spec
from tests.fakes import FAKE_SPEC, fake_plugins


@pytest.fixture(autouse=True)
def fakes():
    with fake_plugins():
        yield


def drive(tmp_path, table: str = "", writes: bool = True):
    """Start a run with the tensorboard hook, end two epochs (a NaN metric in the second) and end the run."""
    text = FAKE_SPEC.replace("seed = 3", 'seed = 3\nhooks = ["tensorboard"]') + table
    spec = build_spec(tomllib.loads(text), base_dir=tmp_path)
    directory = tmp_path / "runs" / "fake-20250101-000000"
    (directory / "plots").mkdir(parents=True)
    plot_steps([{"step": 1, "lr": 0.1}, {"step": 2, "lr": 0.05}], "lr", directory / "plots" / "lr.png", "lr", "fake")
    run = RunInfo("fake", directory, spec, writes, 2, {"total": 10})
    manager = plugin_manager(named=spec.hooks)
    manager.hook.mrframe_run_start(run=run)
    manager.hook.mrframe_epoch_end(run=run, record=EpochRecord(1, 7, {"train_loss": 0.9, "val/ahead/mae": 0.5}))
    manager.hook.mrframe_epoch_end(run=run, record=EpochRecord(2, 14, {"train_loss": 0.7, "val/ahead/mae": math.nan}))
    manager.hook.mrframe_run_end(run=run, summary={"status": "finished", "epochs": 2})
    return directory


def read(folder):
    events = EventAccumulator(str(folder), size_guidance={"images": 0, "tensors": 0, "scalars": 0})
    events.Reload()
    return events


def test_spec_metrics_plots_and_summary_are_readable_by_tensorboard(tmp_path):
    events = read(drive(tmp_path) / "tensorboard")
    assert [(e.step, round(e.value, 6)) for e in events.Scalars("train_loss")] == [(1, 0.9), (2, 0.7)]
    assert [e.step for e in events.Scalars("val/ahead/mae")] == [1]  # NaN (undefined) is not logged
    spec_text = events.Tensors("spec/text_summary")[0].tensor_proto.string_val[0].decode()
    assert 'hooks = [\n' in spec_text and '"tensorboard"' in spec_text and "[sources.daily]" in spec_text
    (image,) = events.Images("plots/lr")
    assert image.step == 2 and image.width == 600 and image.height == 400
    assert '"status": "finished"' in events.Tensors("summary/text_summary")[0].tensor_proto.string_val[0].decode()


def test_log_dir_gathers_runs_and_only_the_writing_process_writes(tmp_path):
    directory = drive(tmp_path, '[hooks.tensorboard]\nlog_dir = "board"\nplots = false\n')
    events = read(tmp_path / "board" / directory.name)
    assert len(events.Scalars("train_loss")) == 2 and events.Tags()["images"] == []
    assert not (directory / "tensorboard").exists()
    quiet = tmp_path / "quiet"
    drive(quiet, writes=False)
    assert not (quiet / "runs" / "fake-20250101-000000" / "tensorboard").exists()


def test_tensorboard_is_a_listed_hook_plugin():
    from mrframe import registry

    (status,) = [s for s in registry.inspect("hook") if s.entry.name == "tensorboard"]
    assert status.error is None and status.entry.distribution == "mrframe-tensorboard"
    assert pytest.importorskip("mrframe_tensorboard").TensorBoardHook is status.plugin
