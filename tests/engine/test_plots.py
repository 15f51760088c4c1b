"""The run's plots: drawn at the run's end, and after an epoch only when drawing is cheap next to training."""

from __future__ import annotations

from mrframe.engine import plots
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.runlog import RunLog
from mrframe.hooks import EpochRecord, RunInfo


def test_short_epochs_wait_for_the_end_and_long_ones_redraw(tmp_path, monkeypatch):
    clock = [100.0]
    drawn = []

    def plot(history, *args):  # noqa: ANN001, ANN002, ANN202 - each of the three plots takes half a second
        clock[0] += 0.5
        drawn.append(len(log.epochs))

    monkeypatch.setattr(plots.time, "perf_counter", lambda: clock[0])
    monkeypatch.setattr(plots, "plot_losses", plot)
    monkeypatch.setattr(plots, "plot_steps", plot)
    log = RunLog()
    hook = plots.RunPlots(RunDirectory.create(tmp_path, "run"), log)
    run = RunInfo(name="run", directory=tmp_path, spec=None, writes=True, epochs=5, parameters={})
    hook.mrframe_run_start(run)

    def epoch(seconds: float) -> None:
        clock[0] += seconds
        log.add_epoch({"epoch": len(log.epochs) + 1})
        hook.mrframe_epoch_end(run, EpochRecord(len(log.epochs) - 1, 0, {}))

    for seconds in (2.0, 2.0, 30.0):  # before the first drawing it is assumed to cost 1 s: due after 20 s
        epoch(seconds)
    assert drawn == [3, 3, 3]
    epoch(10.0)  # drawing cost 1.5 s: the next is due 30 s after it
    assert drawn == [3, 3, 3]
    hook.mrframe_run_end(run, {})
    assert drawn == [3, 3, 3, 4, 4, 4]
    hook.mrframe_run_end(run, {})  # nothing new to draw
    assert len(drawn) == 6
