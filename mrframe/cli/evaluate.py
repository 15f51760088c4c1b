"""``mrframe evaluate RUN_DIR``: a trained run's metrics on a split, beside the trivial baselines."""

from __future__ import annotations

import pathlib

import click
from tqdm.auto import tqdm

from mrframe.cli.options import debug_option
from mrframe.cli.run import evaluation_lines
from mrframe.engine.evaluate import evaluation_report
from mrframe.engine.files import result_target
from mrframe.engine.session import load_run, nonfinite_predictions
from mrframe.errors import MrframeError


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=pathlib.Path))
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True)
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Which checkpoint of the run to evaluate (best falls back to last if there is none).")
@debug_option
def evaluate(run_dir: pathlib.Path, split: str, checkpoint: str, debug: bool) -> None:
    """Evaluate the run in RUN_DIR on a split: NaN-aware metrics in the sources' units, and whether the model
    beats persistence / seasonal-naive (forecasts) or the majority class (classification).

    Writes RUN_DIR/evaluation-SPLIT.json; when the model gives non-finite predictions and that file already
    exists, the new report goes beside it (evaluation-SPLIT.suspect.json) and the earlier one is kept.

    \b
    Example:
      mrframe evaluate runs/minimal-20250101-120000 --split test
    """
    run = load_run(run_dir, checkpoint)
    click.echo(run.used)
    if not len(run.data.datasets[split]):
        raise MrframeError(f"--split {split}: the split has no samples in this run's data")
    report = evaluation_report(run.network, run.data, split, run.spec.train.batch_size, run.device, run.precision,
                               checkpoint=run.checkpoint,
                               progress=lambda items: tqdm(items, desc=f"evaluating {split}", unit="batch", leave=False))
    out, warning = result_target(run.directory.evaluation(split),
                                 nonfinite_predictions({t: r["dropped"] for t, r in report["tasks"].items()}))
    run.directory.write_json(out, report)
    for line in evaluation_lines(report, f"{run.spec.name}: {split} ({run.checkpoint} checkpoint)"):
        click.echo(line)
    if warning:
        click.echo(warning, err=True)
    click.echo(f"written: {out}")
