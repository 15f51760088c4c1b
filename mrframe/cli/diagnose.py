"""``mrframe diagnose SPEC [--run DIR]``: which samples give a non-finite loss or gradient, and where."""

from __future__ import annotations

import csv
import io
import pathlib
import sys

import click
from tqdm.auto import tqdm

from mrframe.cli.options import check_output_file, common
from mrframe.engine.checkpoint import load_checkpoint
from mrframe.engine.diagnose import as_rows, summary_counts
from mrframe.engine.diagnose import diagnose as run_diagnosis
from mrframe.engine.files import atomic_write
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.session import choose_checkpoint, load_network
from mrframe.errors import EXIT_CHECK_FAILED
from mrframe.spec import load_spec


@click.command()
@common
@click.option("--run", "run_dir", type=click.Path(file_okay=False, exists=True, path_type=pathlib.Path),
              default=None, help="Take the weights and fitted preprocessing from this run's checkpoint.")
@click.option("--checkpoint", type=click.Choice(["last", "best"]), default="last", show_default=True,
              help="With --run: which checkpoint.")
@click.option("--split", "splits", type=click.Choice(["train", "val", "test"]), multiple=True,
              help="Only these splits (repeatable; default: all).")
@click.option("--all", "show_all", is_flag=True, help="Print OK samples too, not only failing ones.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=pathlib.Path), default=None,
              help="Also write the whole table (every sample) as CSV.")
def diagnose(spec: str, overrides: tuple[str, ...], debug: bool, run_dir: pathlib.Path | None, checkpoint: str,
             splits: tuple[str, ...], show_all: bool, out: pathlib.Path | None) -> None:
    """Forward and backward every sample of every split and print a per-sample table: OK, or non-finite with
    the first module (and op) that produced the non-finite value. Exit status 5 if any sample fails.

    Without --run the model is freshly initialised from run.seed (what training would start from).

    \b
    Example:
      mrframe diagnose examples/minimal.toml
      mrframe diagnose examples/minimal.toml --run runs/minimal-20250101-120000 --out diagnose.csv
    """
    if out is not None:
        check_output_file(out)
    loaded = load_spec(spec, overrides)
    state, source = None, "initial weights (run.seed)"
    if run_dir is not None:
        which, file, note = choose_checkpoint(RunDirectory.existing(run_dir), checkpoint)
        state, source = load_checkpoint(file), str(file)
        if note:
            click.echo(f"note: {note}")
    data, network, _, precision = load_network(loaded, state, source)
    click.echo(f"mrframe diagnose: {loaded.name} with the {'checkpoint ' * (state is not None)}{source}")

    def progress(loader, split, total):  # noqa: ANN001, ANN202
        return tqdm(loader, desc=f"{split}", total=total, unit="batch", leave=False)

    statuses = run_diagnosis(network, data, loaded.train.batch_size, precision,
                             splits or ("train", "val", "test"), progress)
    rows = as_rows(statuses)
    shown = rows if show_all else [r for r in rows if not r["ok"]]
    if shown:
        widths = {k: max(len(k), *(len(str(r[k])) for r in shown)) for k in ("split", "index", "anchor", "status",
                                                                           "phase", "module", "op")}
        click.echo("  ".join(k.ljust(w) for k, w in widths.items()))
        for r in shown:
            click.echo("  ".join(str(r[k]).ljust(w) for k, w in widths.items()))
    for split, (ok, bad) in summary_counts(statuses).items():
        click.echo(f"{split}: {ok} OK, {bad} non-finite")
    if out is not None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=["split", "index", "anchor", "status", "phase", "module", "op"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(out, lambda handle: handle.write(text.getvalue()), binary=False)
        click.echo(f"written: {out}")
    if any(not s.ok for s in statuses):
        sys.exit(EXIT_CHECK_FAILED)
