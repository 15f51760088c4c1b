"""``mrframe evaluate RUN_DIR``: a trained run's metrics on a split, beside the trivial baselines."""

from __future__ import annotations

import pathlib

import click
from tqdm.auto import tqdm

from mrframe.cli.options import debug_option
from mrframe.engine.compare import evaluation_lines
from mrframe.engine.evaluate import evaluate_split, report_of, write_evaluation
from mrframe.engine.session import load_run
from mrframe.errors import MrframeError


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=pathlib.Path))
@click.option("--split", type=click.Choice(["train", "val", "test"]), default="test", show_default=True)
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Which checkpoint of the run to evaluate (best falls back to last if there is none).")
@debug_option
def evaluate(run_dir: pathlib.Path, split: str, checkpoint: str, debug: bool) -> None:
    """Evaluate the run in RUN_DIR on a split: NaN-aware metrics in the sources' units (with CRPS, interval
    coverage and MASE where the prediction kind has them), the trivial baselines beside them (persistence,
    seasonal naive, moving averages; the majority class for classification) and the skill against the
    strongest baseline.

    Writes RUN_DIR/evaluation-SPLIT.json, forecasts-SPLIT.csv (every target with its forecast columns) and
    plots/forecasts-SPLIT.png, plus plots/pit-SPLIT.png (distributional heads) and plots/reliability-SPLIT.png
    (classifiers). When the model gives non-finite predictions and evaluation-SPLIT.json already exists, the
    new report goes beside it (evaluation-SPLIT.suspect.json) and the earlier files are kept.

    \b
    Example:
      mrframe evaluate runs/minimal-20250101-120000 --split test
    """
    run = load_run(run_dir, checkpoint)
    click.echo(run.used)
    if not len(run.data.datasets[split]):
        raise MrframeError(f"--split {split}: the split has no samples in this run's data")
    outputs = evaluate_split(run.network, run.data, split, run.spec.train.batch_size, run.device, run.precision,
                             progress=lambda items: tqdm(items, desc=f"evaluating {split}", unit="batch", leave=False))
    report = report_of(outputs, run.data, split, run.spec.train.batch_size, checkpoint=run.checkpoint)
    out, warning = write_evaluation(run.directory, split, report, outputs, run.data)
    for line in evaluation_lines(report, f"{run.spec.name}: {split} ({run.checkpoint} checkpoint)"):
        click.echo(line)
    if warning:
        click.echo(warning, err=True)
    click.echo(f"written: {out}")
