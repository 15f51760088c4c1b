"""``mrframe run SPEC``: validate, load the data, train, and leave a run directory."""

from __future__ import annotations

import pathlib

import click

from mrframe.cli.options import common
from mrframe.data.pipeline import prepare
from mrframe.data.report import write_data_report
from mrframe.engine.plots import LossPlot
from mrframe.engine.progress import ProgressBar
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.trainer import Trainer
from mrframe.engine.writers import MetricsWriter
from mrframe.hooks import plugin_manager
from mrframe.spec import load_spec


@click.command()
@common
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=pathlib.Path), default=None,
              help="Folder in which the run directory is created (default: run.out_dir of the spec, else ./runs).")
def run(spec: str, overrides: tuple[str, ...], debug: bool, out_dir: pathlib.Path | None) -> None:
    """Train the model SPEC describes and write a run directory.

    The run directory holds the resolved spec, metrics.csv / metrics.jsonl, plots/loss.png,
    checkpoints/final.pt and summary.json.

    \b
    Example:
      mrframe run examples/minimal.toml --set train.epochs=3 --out /tmp/runs
    """
    loaded = load_spec(spec, overrides)
    click.echo(f"mrframe run: {loaded.name} ({spec})")
    data = prepare(loaded)
    sizes = " / ".join(f"{len(d):,} {split}" for split, d in data.datasets.items())
    click.echo(f"data: {len(data.frames)} sources on {data.timeline.first_day} .. {data.timeline.last_day}; samples {sizes}")
    directory = RunDirectory.create(out_dir or loaded.run.out_dir or pathlib.Path("runs"), loaded.name)
    directory.write_text(directory.spec, loaded.to_toml())
    write_data_report(directory, loaded, data.frames, data)
    hooks = plugin_manager(
        builtin=[ProgressBar(), MetricsWriter(directory), LossPlot(directory)], named=loaded.run.hooks
    )
    trainer = Trainer(loaded, data, directory, hooks)
    counts = trainer.run.parameters
    blocks = ", ".join(f"{k} {v:,}" for k, v in counts.items() if k != "total")
    click.echo(f"model: {counts['total']:,} parameters ({blocks}) on {trainer.device}")
    summary = trainer.fit()
    final = summary["final"]
    shown = "  ".join(f"{k} {final[k]:.4g}" for k in ("train_loss", "val_loss") if k in final)
    click.echo(f"done in {summary['seconds']:.1f}s: {shown}")
    click.echo(f"run directory: {directory.path}")
