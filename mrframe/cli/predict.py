"""``mrframe predict RUN_DIR --at DATE``: a trained run's predictions for anchor days, as CSV."""

from __future__ import annotations

import datetime as dt
import pathlib

import click
import numpy as np

from mrframe.cli.options import check_output_file, debug_option
from mrframe.engine.files import atomic_write, nonfinite_predictions, result_target
from mrframe.engine.predict import predict as predict_table
from mrframe.engine.predict import undefined_frames
from mrframe.engine.session import load_run


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=pathlib.Path))
@click.option("--at", "dates", type=click.DateTime(formats=["%Y-%m-%d"]), multiple=True, required=True,
              help="Anchor day (YYYY-MM-DD) to predict from; repeatable. The data's last day predicts beyond it.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=pathlib.Path), default=None,
              help="CSV file to write (default: RUN_DIR/predictions-FIRST_DATE.csv).")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Which checkpoint of the run predicts (best: last, saying so, when the run has no best.pt).")
@debug_option
def predict(run_dir: pathlib.Path, dates: tuple[dt.datetime, ...], out: pathlib.Path | None, checkpoint: str,
            debug: bool) -> None:
    """Predict every head's targets from the anchor day(s) --at, in the sources' units, as CSV.

    Columns: anchor, task, target_date, feature, prediction, then what each head's prediction kind gives
    (lower_50/upper_50/lower_90/upper_90 central intervals: split-conformal ones for point heads, calibrated
    on the validation split; quantiles; probability and p0.. for classifiers), and actual (when the targets of
    that anchor are in the data). Prints the checkpoint it used; when the model gives non-finite predictions
    and the CSV already exists, the new one goes beside it (NAME.suspect.csv).

    \b
    Example:
      mrframe predict runs/minimal-20250101-120000 --at 2024-09-30
    """
    if out is not None:
        check_output_file(out)
    run = load_run(run_dir, checkpoint)
    click.echo(run.used)
    days = [d.date() for d in dates]
    table = predict_table(run.network, run.data, days, run.device, run.spec.train.batch_size)
    nonfinite = (~np.isfinite(table["prediction"].astype(float))).groupby(table["task"]).sum()
    out, warning = result_target(out or run.directory.path / f"predictions-{dates[0].date()}.csv",
                                 nonfinite_predictions(nonfinite.to_dict()))
    atomic_write(out, lambda handle: table.to_csv(handle, index=False), binary=False)
    if len(table):
        click.echo(table.head(40).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if len(table) > 40:
        click.echo(f"... {len(table) - 40} more rows")
    shown = set(table["task"])
    for task, kind in run.network.model.kinds.items():
        if task not in shown:  # predict writes per-value columns; a covariance has none
            click.echo(f"note: task {task} has no rows: {kind.name} predictions have no per-value prediction columns")
    for task, count in undefined_frames(run.data, days).items():
        source = run.data.targets[task].info.source
        click.echo(f"note: task {task}: {count} value{'s' * (count != 1)} without a forecast (left out): the "
                   f"window holds no observed value of source '{source}' to anchor or scale them (an anchor after "
                   "its last data?)")
    if warning:
        click.echo(warning, err=True)
    click.echo(f"written: {out}")
