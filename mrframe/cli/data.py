"""``mrframe data SPEC``: load the spec's sources and show what the data looks like, without training."""

from __future__ import annotations

import pathlib

import click

from mrframe.cli.options import common
from mrframe.data.pipeline import load_sources, prepare
from mrframe.data.report import HEATMAP, REPORT_JSON, REPORT_TEXT, region_map_name, write_data_report
from mrframe.engine.rundir import RunDirectory
from mrframe.errors import MrframeError
from mrframe.spec import load_spec


@click.command()
@common
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=pathlib.Path), default=None,
              help="Folder in which the run directory is created (default: run.out_dir of the spec, else ./runs).")
def data(spec: str, overrides: tuple[str, ...], debug: bool, out_dir: pathlib.Path | None) -> None:
    """Load SPEC's sources; print a table per source and the split; write the report and a heatmap.

    Per source: resolution, date range, feature count, observed fraction overall and per feature, and the
    rows its reader rejected with the reason. The run directory gets data_report.txt, data_report.json and
    plots/data_observed.png (where each feature was observed) and, per spatial source, a map of the observed
    fraction per region (plots/data_regions_SOURCE.png). If the data cannot be prepared for training
    (e.g. no training sample), the report is still written and the error is shown after it.

    \b
    Example:
      mrframe data examples/minimal.toml --out /tmp/runs
    """
    loaded = load_spec(spec, overrides)
    frames = load_sources(loaded)
    problem = None
    try:
        prepared = prepare(loaded, frames=frames)
    except MrframeError as error:
        prepared, problem = None, error
    directory = RunDirectory.create(out_dir or loaded.run.out_dir or pathlib.Path("runs"), f"{loaded.name}-data")
    report = write_data_report(directory, loaded, frames, prepared)
    click.echo(report.text())
    click.echo("")
    maps = "".join(f", plots/{region_map_name(s.name)}" for s in report.sources if s.per_region is not None)
    click.echo(f"written: {directory.path / REPORT_TEXT}, {REPORT_JSON}, plots/{HEATMAP}{maps}")
    if problem is not None:
        raise problem
