"""``mrframe backtest SPEC``: rolling-origin evaluation, each fold an ordinary run in one backtest directory."""

from __future__ import annotations

import datetime as dt
import pathlib

import click
from tqdm.auto import tqdm

from mrframe.cli.options import debug_option, set_option
from mrframe.data.pipeline import load_sources
from mrframe.engine.backtest import aggregate, runner
from mrframe.engine.backtest.folds import Fold, FoldOptions, data_span, plan_folds
from mrframe.errors import EXIT_INTERRUPTED, ChildFailed
from mrframe.spec import Spec, load_spec


@click.command()
@click.argument("spec", required=False, type=click.Path(dir_okay=False, path_type=str))
@set_option
@click.option("--folds", type=click.IntRange(min=1), default=None,
              help="Number of forecast origins (default 5), `--step` days apart from the spec's test_from.")
@click.option("--step", type=click.IntRange(min=1), default=None,
              help="Days between origins (default: the spec's test period split into --folds windows).")
@click.option("--at", "at", type=click.DateTime(formats=["%Y-%m-%d"]), multiple=True,
              help="An explicit origin (first test day of a fold), repeatable; replaces --folds/--step.")
@click.option("--test-days", type=click.IntRange(min=1), default=None,
              help="Length of each fold's test window (default: --step; with --at, up to the next origin).")
@click.option("--val-days", type=click.IntRange(min=1), default=None,
              help="Length of each fold's validation period (default: the spec's val_from .. test_from).")
@click.option("--window", type=click.Choice(["expanding", "sliding"]), default="expanding", show_default=True,
              help="Training from the spec's start (expanding) or only the --train-days before validation.")
@click.option("--train-days", type=click.IntRange(min=1), default=None,
              help="sliding: length of each fold's training period (default: the spec's).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Folds trained at once, each in its own process (threads split between them).")
@click.option("--fold", "fold", type=click.IntRange(min=1), default=None,
              help="Run only fold K (e.g. one task of a Slurm array), into the shared --out directory.")
@click.option("--out", type=click.Path(file_okay=False, path_type=pathlib.Path), default=None,
              help="The backtest directory (default: ./runs/NAME-backtest-YYYYmmdd-HHMMSS); reused if it holds "
                   "the same backtest.")
@click.option("--resume", type=click.Path(file_okay=False, exists=True, path_type=pathlib.Path), default=None,
              help="Continue the backtest in this directory (finished folds are kept).")
@click.option("--collect", type=click.Path(file_okay=False, exists=True, path_type=pathlib.Path), default=None,
              help="Only aggregate the finished folds of this backtest directory.")
@debug_option
def backtest(spec: str | None, overrides: tuple[str, ...], folds: int | None, step: int | None,
             at: tuple[dt.datetime, ...], test_days: int | None, val_days: int | None, window: str,
             train_days: int | None, jobs: int, fold: int | None, out: pathlib.Path | None, resume: pathlib.Path | None,
             collect: pathlib.Path | None, debug: bool) -> None:
    """Evaluate SPEC over several forecast origins: one model per fold, each refitted (scaling, filters, PCA,
    policy baselines) and trained on its own training period with the embargo, scored on its test window beside
    the trivial baselines; then the mean and spread over folds, per-fold wins against each baseline, the skill,
    and plots.

    Each fold is an ordinary run directory inside the backtest directory; a killed backtest resumes where it
    stopped (--resume DIR, or the same command with --out DIR).

    \b
    Example:
      mrframe backtest examples/minimal.toml --folds 5 --jobs 2
      mrframe backtest examples/minimal.toml --at 2025-10-01 --at 2026-01-01 --test-days 90
      mrframe backtest examples/minimal.toml --folds 5 --out bt --fold 3      (one fold, e.g. a Slurm task)
      mrframe backtest --collect bt
    """
    given = [name for name, value in (("SPEC", spec), ("--resume", resume), ("--collect", collect)) if value]
    if len(given) != 1:
        raise click.UsageError("give exactly one of SPEC, --resume DIR or --collect DIR")
    if (resume or collect) and (overrides or folds or step or at or test_days or val_days or train_days):
        raise click.UsageError("--resume and --collect take the backtest's own plan: drop the fold options and --set")
    if collect is not None:
        _report(runner.load(collect))
        return
    if resume is not None:
        plan = runner.load(resume)
    else:
        loaded = load_spec(spec, overrides)
        options = FoldOptions(folds, step, tuple(d.date() for d in at), test_days, val_days, window, train_days)
        layout = _layout(loaded, options)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = out or pathlib.Path(loaded.run.out_dir or "runs") / f"{loaded.name}-backtest-{stamp}"
        runner.Backtest(path, tuple(layout)).select(fold)  # a --fold out of range writes nothing
        plan = runner.create(path, loaded, layout, options)
    selected = plan.select(fold)
    click.echo(f"mrframe backtest: {len(plan.folds)} folds in {plan.path}")
    for f in selected:
        click.echo(f"  {f.name}: train {f.train_from or 'start'} .. {f.val_from - dt.timedelta(days=1)}, "
                   f"val {f.val_from} .., test {f.test_from} .. {f.until} ({plan.state(f)})")
    _run(plan, selected, jobs, debug)
    if fold is None:
        _report(plan)
    else:
        click.echo(f"fold {fold} done; aggregate with  mrframe backtest --collect {plan.path}")


def _layout(spec: Spec, options: FoldOptions) -> list[Fold]:
    return plan_folds(spec, *data_span(spec, load_sources(spec)), options)


def _run(plan: runner.Backtest, folds: list[Fold], jobs: int, debug: bool) -> None:
    pending = [f for f in folds if plan.state(f) != "done"]
    if not pending:
        return
    bar = tqdm(total=len(pending), desc="folds", unit="fold", leave=False)
    failed = []

    def done(fold: Fold, status: int | None, seconds: float) -> None:
        bar.update(1)
        if status is None:
            tqdm.write(f"{fold.name}: skipped, another process is running it")
        elif status == 0:
            tqdm.write(f"{fold.name}: finished in {seconds:.0f}s")
        else:
            failed.append((fold, status))
            tqdm.write(f"{fold.name}: FAILED (exit status {status}); see {plan.run_directory(fold).path / 'console.log'}")

    try:
        runner.run_folds(plan, pending, jobs, debug, on_done=done)
    except KeyboardInterrupt:
        bar.close()
        click.echo(f"interrupted: resume with  mrframe backtest --resume {plan.path}", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    bar.close()
    if failed:
        _report(plan)
        raise ChildFailed(f"{len(failed)} fold(s) failed: {', '.join(f.name for f, _ in failed)} (their console.log "
                          f"says why); fix and resume with  mrframe backtest --resume {plan.path}", failed[0][1])


def _report(plan: runner.Backtest) -> None:
    summary, missing = aggregate.write(plan)
    for line in aggregate.lines(summary, len(plan.folds)):
        click.echo(line)
    if missing:
        click.echo(f"not finished: {', '.join(f'fold {i}' for i in missing)}")
    click.echo(f"written: {plan.path / 'aggregate.csv'}, aggregate.json, folds.csv, plots/")
