"""``mrframe evaluate RUN_DIR``: a trained run's metrics on a split, beside the trivial baselines."""

from __future__ import annotations

import pathlib

import click
from tqdm.auto import tqdm

from mrframe.cli.options import debug_option
from mrframe.cli.run import evaluation_lines
from mrframe.engine.evaluate import evaluation_report
from mrframe.engine.regional import write_error_maps
from mrframe.engine.session import load_run
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

    Writes RUN_DIR/evaluation-SPLIT.json.

    \b
    Example:
      mrframe evaluate runs/minimal-20250101-120000 --split test
    """
    run = load_run(run_dir, checkpoint)
    if not len(run.data.datasets[split]):
        raise MrframeError(f"--split {split}: the split has no samples in this run's data")
    report = evaluation_report(run.network, run.data, split, run.spec.train.batch_size, run.device, run.precision,
                               checkpoint=run.checkpoint,
                               progress=lambda items: tqdm(items, desc=f"evaluating {split}", unit="batch", leave=False))
    run.directory.write_json(run.directory.evaluation(split), report)
    write_error_maps(run.directory, report, run.data.target_infos)
    for line in evaluation_lines(report, f"{run.spec.name}: {split} ({run.checkpoint} checkpoint)"):
        click.echo(line)
    click.echo(f"written: {run.directory.evaluation(split)}")
