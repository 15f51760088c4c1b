"""The run's plots: drawn at the run's end, and after an epoch only when drawing is cheap next to training."""

from __future__ import annotations

import pandas as pd

from mrframe.engine import plots
from mrframe.engine.evalplots import forecast_panels
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


def test_a_spatial_task_s_forecasts_are_drawn_averaged_over_its_regions_one_point_per_date():
    rows = [{"task": task, "step": step, "target_date": date, "feature": "f", "region": region,
             "prediction": 1.0 + i, "lower_90": 0.0, "upper_90": 9.0, "actual": 2.0 * i}
            for task, regions in (("cells", ["g0", "g1", "g2"]), ("national", [None]))
            for step, date in ((0, "2024-01-02"), (1, "2024-01-03"), (1, "2024-01-04"))
            for i, region in enumerate(regions)]
    panels = dict(forecast_panels(pd.DataFrame(rows)))
    cells = panels["cells: f, mean over 3 regions"]
    assert cells["target_date"].tolist() == ["2024-01-03", "2024-01-04"]  # the span's last step, once a date
    assert cells["prediction"].tolist() == [2.0, 2.0] and cells["actual"].tolist() == [2.0, 2.0]
    assert "lower_90" not in cells  # interval bounds do not average over regions
    national = panels["national: f"]
    assert national["prediction"].tolist() == [1.0, 1.0] and national["upper_90"].tolist() == [9.0, 9.0]
