"""``mrframe run SPEC``: validate, load the data, train, and leave a run directory; ``--resume RUN_DIR`` continues
a run from its newest readable checkpoint (:mod:`mrframe.engine.resume`); ``--nproc N`` trains with N processes
(DDP through torchrun)."""

from __future__ import annotations

import pathlib
import shutil
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click

from mrframe.cli.options import debug_option, set_option
from mrframe.data.report import HEATMAP, REPORT_JSON, REPORT_TEXT, region_map_name, write_data_report
from mrframe.data.sentinels import Suspect
from mrframe.engine import distributed
from mrframe.engine.compare import evaluation_lines
from mrframe.engine.plots import RunPlots
from mrframe.engine.progress import ProgressBar
from mrframe.engine.resume import HARMLESS_CHANGES, ResumePoint, find_resume_point, mend
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.runlog import RunLog
from mrframe.engine.session import prepared_data
from mrframe.engine.trainer import Trainer
from mrframe.engine.writers import MetricsWriter
from mrframe.errors import EXIT_INTERRUPTED, MrframeError
from mrframe.hooks import plugin_manager
from mrframe.spec import Spec, load_spec


@click.command()
@click.argument("spec", required=False, type=click.Path(dir_okay=False, path_type=str))
@set_option
@debug_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=pathlib.Path), default=None,
              help="Folder in which the run directory is created (default: run.out_dir of the spec, else ./runs).")
@click.option("--resume", "resume", type=click.Path(file_okay=False, exists=True, path_type=pathlib.Path),
              default=None, help="Continue the run in this run directory from checkpoints/last.pt (or, when that "
              "is unreadable, the newest readable of last.prev.pt and best.pt, saying so).")
@click.option("--allow-changes", is_flag=True,
              help=f"With --resume: continue although RUN_DIR/spec.toml was edited, if only these keys changed: "
              f"{', '.join(HARMLESS_CHANGES)}.")
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
    allow_changes: bool,
    nproc: int,
    run_dir: pathlib.Path | None,
) -> None:
    """Train the model SPEC describes and write a run directory.

    The run directory holds the resolved spec, metrics.csv / metrics.jsonl, plots, checkpoints/last.pt and
    best.pt, non-finite reports, evaluation-val.json / evaluation-test.json and summary.json. Ctrl-C saves
    a checkpoint and exits; `--resume RUN_DIR` continues exactly where it stopped. A resume never starts over
    a run: it refuses (one line, nothing written) when no checkpoint is readable or RUN_DIR/spec.toml was edited.
    When the non-finite guard stops training (train.nonfinite), its report is printed on a line of its own and
    the exit status is 3.

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
    if allow_changes and resume is None:
        raise click.UsageError("--allow-changes goes with --resume RUN_DIR")
    directory, loaded = _directory_and_spec(spec, overrides, out_dir, resume or run_dir)
    if nproc > 1 and not distributed.launched_by_torchrun():
        click.echo(f"mrframe run: {loaded.name} with {nproc} processes; run directory: {directory.path}")
        if resume is not None:  # refuse here, in one line, rather than in every process
            point = find_resume_point(directory, loaded, nproc, allow_changes)
            if point.ended is not None:
                return _nothing_to_resume(directory, point, click.echo)
            for line in mend(directory, point):
                click.echo(f"note: {line}")
        arguments = ["--resume", str(directory.path)] if resume else ["--run-dir", str(directory.path)]
        arguments += ["--allow-changes"] * allow_changes + ["--debug"] * debug
        ended = distributed.launch(nproc, arguments)
        if ended.status != 0 and spec is not None:  # never a --resume or --run-dir directory
            _remove_if_unused(directory, loaded)  # the workers left it to the launcher (they train into --run-dir)
        if ended.line is not None:
            click.echo(ended.line, err=True)
        sys.exit(ended.status)
    device = distributed.init_from_environment(loaded.train.device)
    echo = click.echo if distributed.rank() == 0 else _quiet
    try:
        point = find_resume_point(directory, loaded, distributed.world_size(), allow_changes) if resume else None
        summary = train_run(loaded, directory, point, device, echo)
    except MrframeError:
        if spec is not None and distributed.rank() == 0:
            _remove_if_unused(directory, loaded)
        raise
    finally:
        distributed.shutdown()
    if summary is not None and summary["status"] == "interrupted":
        sys.exit(EXIT_INTERRUPTED)


def setup_files(spec: Spec) -> set[str]:
    """What a run directory of ``spec`` holds before training starts: the spec and the data report
    (:func:`mrframe.data.report.write_data_report`: its text, JSON, heatmap and each spatial source's map)."""
    maps = {f"plots/{region_map_name(name)}" for name in spec.sources}
    return {"spec.toml", REPORT_TEXT, REPORT_JSON, f"plots/{HEATMAP}", *maps}


def _remove_if_unused(directory: RunDirectory, spec: Spec) -> None:
    """A fresh run that failed before training (bad data, a block that cannot be built) leaves no directory;
    one that trained at all keeps everything (its non-finite reports above all)."""
    files = {p.relative_to(directory.path).as_posix() for p in directory.path.rglob("*") if p.is_file()}
    if files <= setup_files(spec):
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


def _nothing_to_resume(directory: RunDirectory, point: ResumePoint, echo: Any) -> None:
    for note in point.notes:
        echo(f"note: {note}")
    echo(f"mrframe run: {directory.path} has already ended ({point.ended}; {point.where}): nothing to resume")


def train_run(loaded: Spec, directory: RunDirectory, point: ResumePoint | None, device: Any, echo: Any,
              extra_hooks: Sequence[Any] = ()) -> dict[str, Any] | None:
    """Train ``loaded`` into ``directory``: a fresh run, or (``point``) a resumed one, with ``extra_hooks``
    besides the built-in and the spec's; the run's summary (None when a resumed run had already ended)."""
    state = point.state if point is not None else None
    if point is not None:
        if point.ended is not None:
            return _nothing_to_resume(directory, point, echo)
        for note in point.notes + tuple(mend(directory, point) if distributed.rank() == 0 else ()):
            echo(f"note: {note}")
        echo(f"mrframe run: resuming {directory.path} from {point.where}")
    else:
        echo(f"mrframe run: {loaded.name} ({loaded.path})")
    source = str(point.file) if point is not None else ""
    data = prepared_data(loaded, state, source)
    sizes = " / ".join(f"{len(d):,} {split}" for split, d in data.datasets.items())
    echo(f"data: {len(data.frames)} sources on {data.timeline.first_day} .. {data.timeline.last_day}; samples {sizes}")
    for extreme in data.extreme_values:
        echo(f"data: extreme value: {extreme.text()} (data.extremes; see data_report.txt)")
    if distributed.rank() == 0 and point is None:
        report = write_data_report(directory, loaded, data.frames, data)
        for table in report.sources:
            for suspect in table.suspected_sentinels:
                echo(f"data: likely sentinel in sources.{table.name}: {Suspect(**suspect).text()}; declare it with "
                     f"missing_values = [{suspect['value']:g}] if it means missing")
    log = RunLog()
    hooks = plugin_manager(
        builtin=[ProgressBar(), MetricsWriter(directory, log), RunPlots(directory, log), *extra_hooks],
        named=loaded.hooks,
    )
    trainer = Trainer(loaded, data, directory, hooks, log, device)
    if state is not None:
        trainer.restore(state, source)
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
    return summary


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
