"""``mrframe run SPEC``: validate, load the data, train, and leave a run directory; ``--resume RUN_DIR`` continues
a run from its last checkpoint; ``--nproc N`` trains with N processes (DDP through torchrun)."""

from __future__ import annotations

import pathlib
import shutil
import sys
from collections.abc import Mapping
from typing import Any

import click

from mrframe.cli.options import debug_option, set_option
from mrframe.data.pipeline import prepare
from mrframe.data.report import write_data_report
from mrframe.engine import distributed
from mrframe.engine.checkpoint import load_checkpoint
from mrframe.engine.plots import RunPlots
from mrframe.engine.progress import ProgressBar
from mrframe.engine.regional import error_map_name
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.runlog import RunLog
from mrframe.engine.trainer import Trainer
from mrframe.engine.writers import MetricsWriter
from mrframe.errors import MrframeError
from mrframe.hooks import plugin_manager
from mrframe.spec import Spec, load_spec


@click.command()
@click.argument("spec", required=False, type=click.Path(dir_okay=False, path_type=str))
@set_option
@debug_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=pathlib.Path), default=None,
              help="Folder in which the run directory is created (default: run.out_dir of the spec, else ./runs).")
@click.option("--resume", "resume", type=click.Path(file_okay=False, exists=True, path_type=pathlib.Path),
              default=None, help="Continue the run in this run directory from checkpoints/last.pt.")
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes to train with (DDP through torchrun; gloo on CPU, NCCL on GPU, one GPU each).")
@click.option("--run-dir", "run_dir", type=click.Path(file_okay=False, exists=True, path_type=pathlib.Path),
              default=None, hidden=True, help="(internal) train into this existing run directory.")
def run(
    spec: str | None,
    overrides: tuple[str, ...],
    debug: bool,
    out_dir: pathlib.Path | None,
    resume: pathlib.Path | None,
    nproc: int,
    run_dir: pathlib.Path | None,
) -> None:
    """Train the model SPEC describes and write a run directory.

    The run directory holds the resolved spec, metrics.csv / metrics.jsonl, plots, checkpoints/last.pt and
    best.pt, non-finite reports, evaluation-val.json / evaluation-test.json and summary.json. Ctrl-C saves
    a checkpoint and exits; `--resume RUN_DIR` continues exactly where it stopped.

    \b
    Example:
      mrframe run examples/minimal.toml --set train.epochs=3 --out /tmp/runs
      mrframe run --resume /tmp/runs/minimal-20250101-120000
      mrframe run examples/minimal.toml --nproc 2
    """
    if (spec is None) == (resume is None and run_dir is None):
        raise click.UsageError("give either SPEC or --resume RUN_DIR")
    if resume is not None and overrides:
        raise click.UsageError("--set cannot change a resumed run (its spec is in RUN_DIR/spec.toml)")
    directory, loaded = _directory_and_spec(spec, overrides, out_dir, resume or run_dir)
    if nproc > 1 and not distributed.launched_by_torchrun():
        click.echo(f"mrframe run: {loaded.name} with {nproc} processes; run directory: {directory.path}")
        arguments = ["--resume", str(directory.path)] if resume else ["--run-dir", str(directory.path)]
        sys.exit(distributed.launch(nproc, arguments + (["--debug"] if debug else [])))
    device = distributed.init_from_environment(loaded.train.device)
    try:
        _train(loaded, directory, resume is not None, device, echo=click.echo if distributed.rank() == 0 else _quiet)
    except MrframeError:
        if spec is not None and distributed.rank() == 0:
            _remove_if_unused(directory)
        raise
    finally:
        distributed.shutdown()


SETUP_FILES = {"spec.toml", "data_report.txt", "data_report.json", "plots/data_observed.png"}
"""What a run directory holds before training starts."""


def _remove_if_unused(directory: RunDirectory) -> None:
    """A fresh run that failed before training (bad data, a block that cannot be built) leaves no directory;
    one that trained at all keeps everything (its non-finite reports above all)."""
    files = {p.relative_to(directory.path).as_posix() for p in directory.path.rglob("*") if p.is_file()}
    if files <= SETUP_FILES:
        shutil.rmtree(directory.path, ignore_errors=True)


def _quiet(*args: Any, **kwargs: Any) -> None:
    """Processes other than rank 0 print nothing."""


def _directory_and_spec(
    spec: str | None, overrides: tuple[str, ...], out_dir: pathlib.Path | None, existing: pathlib.Path | None
) -> tuple[RunDirectory, Spec]:
    if existing is not None:
        directory = RunDirectory.existing(existing)
        return directory, load_spec(directory.spec)
    loaded = load_spec(spec, overrides)
    directory = RunDirectory.create(out_dir or loaded.run.out_dir or pathlib.Path("runs"), loaded.name)
    directory.write_text(directory.spec, loaded.to_toml())
    return directory, loaded


def _train(loaded: Spec, directory: RunDirectory, resume: bool, device: Any, echo: Any) -> None:
    state = load_checkpoint(directory.last) if resume and directory.last.is_file() else None
    if resume:
        where = (f"epoch {state['epoch'] + 1}, step {state['step']}" if state is not None
                 else "the beginning (no checkpoint was written yet)")
        echo(f"mrframe run: resuming {directory.path} from {where}")
        if state is not None and state["processes"] != distributed.world_size():
            raise MrframeError(f"{directory.path}: the run trained with {state['processes']} process(es); resume it "
                               f"with --nproc {state['processes']} to continue exactly")
    else:
        echo(f"mrframe run: {loaded.name} ({loaded.path})")
    data = prepare(loaded, fitted=state["preprocessing"] if state is not None else None)
    sizes = " / ".join(f"{len(d):,} {split}" for split, d in data.datasets.items())
    echo(f"data: {len(data.frames)} sources on {data.timeline.first_day} .. {data.timeline.last_day}; samples {sizes}")
    if distributed.rank() == 0 and not resume:
        write_data_report(directory, loaded, data.frames, data)
    log = RunLog()
    hooks = plugin_manager(
        builtin=[ProgressBar(), MetricsWriter(directory, log), RunPlots(directory, log)], named=loaded.run.hooks
    )
    trainer = Trainer(loaded, data, directory, hooks, log, device)
    if state is not None:
        trainer.restore(state)
    counts = trainer.run.parameters
    blocks = ", ".join(f"{k} {v:,}" for k, v in counts.items() if k != "total")
    echo(f"model: {counts['total']:,} parameters ({blocks}) on {trainer.device} ({trainer.precision.name}, "
         f"{distributed.world_size()} process{'es' * (distributed.world_size() > 1)})")
    summary = trainer.fit()
    for line in summary_lines(summary):
        echo(line)
    echo(f"run directory: {directory.path}")
    if summary["status"] == "interrupted":
        echo(f"interrupted: resume with  mrframe run --resume {directory.path}")
        sys.exit(130)


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """What a person wants to see at the end: status, losses, the best epoch, and the baseline verdicts."""
    final = summary["final"]
    shown = "  ".join(f"{k} {final[k]:.4g}" for k in ("train_loss", "val_loss") if final.get(k) is not None)
    lines = [f"{summary['status']} after {summary['epochs']} epochs, {summary['steps']} steps in "
             f"{summary['seconds']:.1f}s: {shown}"]
    best = summary["best"]
    if best["monitor"] and best["epoch"] > 0:
        lines.append(f"best epoch {best['epoch']} ({best['monitor']} {best['value']:.4g})")
    for split, report in summary["evaluation"].items():
        lines += evaluation_lines(report, f"{split} ({report['checkpoint']})")
    return lines


def evaluation_lines(report: Mapping[str, Any], title: str) -> list[str]:
    """One line per task: its metrics, then each baseline's headline metric and whether the model beats it."""
    lines = [f"{title}, {report['samples']} samples:"]
    for task, t in report["tasks"].items():
        metrics = "  ".join(f"{k} {_number(v)}" for k, v in t["metrics"].items())
        dropped = f"  ({t['dropped']} non-finite predictions dropped)" if t["dropped"] else ""
        lines.append(f"  {task} [{t['kind']}, {t['count']} targets]: {metrics}{dropped}")
        headline = t["headline"]
        for name, b in t["baselines"].items():
            verdict = "beats" if b["beats"] else "does NOT beat"
            lines.append(f"    {verdict} {name}: {headline} {_number(b['model'][headline])} vs "
                         f"{_number(b['baseline'][headline])} on {b['elements']} targets")
        beats = t.get("regions", {}).get("beats", {})
        if beats:
            counts = "; ".join(f"{name} in {b['regions']} (ties {b['ties']}) of {b['of']}" for name, b in beats.items())
            lines.append(f"    per region, beats {counts} regions (map: plots/{error_map_name(task, report['split'])})")
    return lines


def _number(value: float | None) -> str:
    return "nan" if value is None or value != value else f"{value:.4g}"
