"""``mrframe predict RUN_DIR --at DATE``: a trained run's predictions for anchor days, as CSV."""

from __future__ import annotations

import datetime as dt
import pathlib

import click

from mrframe.cli.options import debug_option
from mrframe.engine.predict import predict as predict_table
from mrframe.engine.session import load_run


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=pathlib.Path))
@click.option("--at", "dates", type=click.DateTime(formats=["%Y-%m-%d"]), multiple=True, required=True,
              help="Anchor day (YYYY-MM-DD) to predict from; repeatable. The data's last day predicts beyond it.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=pathlib.Path), default=None,
              help="CSV file to write (default: RUN_DIR/predictions-FIRST_DATE.csv).")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True)
@debug_option
def predict(run_dir: pathlib.Path, dates: tuple[dt.datetime, ...], out: pathlib.Path | None, checkpoint: str,
            debug: bool) -> None:
    """Predict every head's targets from the anchor day(s) --at, in the sources' units, as CSV.

    Columns: anchor, task, target_date, feature, prediction, then what each head's prediction kind gives
    (lower_50/upper_50/lower_90/upper_90 central intervals: split-conformal ones for point heads, calibrated
    on the validation split; quantiles; probability and p0.. for classifiers), and actual (when the targets of
    that anchor are in the data).

    \b
    Example:
      mrframe predict runs/minimal-20250101-120000 --at 2024-09-30
    """
    run = load_run(run_dir, checkpoint)
    table = predict_table(run.network, run.data, [d.date() for d in dates], run.device, run.spec.train.batch_size)
    out = out or run.directory.path / f"predictions-{dates[0].date()}.csv"
    table.to_csv(out, index=False)
    click.echo(table.head(40).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if len(table) > 40:
        click.echo(f"... {len(table) - 40} more rows")
    click.echo(f"written: {out}")
