"""``mrframe tune SPEC``: hyperparameter search over the spec's ``[tune]`` space with Optuna, each trial an
ordinary run directory; ``--jobs N`` worker processes on this machine, any number of machines on one database.

Layout of the tune directory (``--out``, default ``RUN_OUT_DIR/NAME-tune``)::

    TUNE_DIR/
      spec.toml            the tuned spec, resolved (with its [tune] section)
      study.journal        the study (Optuna journal file), unless --storage names another
      trials/trial-NNNN/   one ordinary run directory per trial (objective = "backtest": a backtest directory)
      workers/worker-K.log what each worker process printed (trials print into their own console.log)
      trials.csv, best.json, best.toml, plots/history.png, plots/importances.png   (mrframe.engine.tune.results)
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time
from typing import Any

import click
from tqdm.auto import tqdm

from mrframe.cli.options import debug_option, set_option
from mrframe.cli.run import train_run
from mrframe.engine.backtest.runner import threads_per_fold
from mrframe.engine.distributed import die_with_parent
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.tune import results, space
from mrframe.engine.tune.study import counted, fail_stale, objective_name, open_storage, optuna, study
from mrframe.engine.tune.trials import Worker
from mrframe.errors import EXIT_INTERRUPTED, ChildFailed, MrframeError, SpecError
from mrframe.spec import Spec, load_spec


@click.command()
@click.argument("spec", required=False, type=click.Path(dir_okay=False, path_type=str))
@set_option
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Trials the study holds when it ends, counting those of earlier and other runs of it "
                   "(default: [tune] trials).")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine (the cores are split between them).")
@click.option("--storage", default=None,
              help="Where the study lives: a journal file path, or a database URL (sqlite:///study.db, "
                   "postgresql://user:password@host/db) that other machines join with the same command "
                   "(default: TUNE_DIR/study.journal).")
@click.option("--study", "study_name", default=None, help="Name of the study in the storage (default: the spec's name).")
@click.option("--out", type=click.Path(file_okay=False, path_type=pathlib.Path), default=None,
              help="The tune directory (default: RUN_OUT_DIR/NAME-tune); the same command again continues it.")
@click.option("--worker", type=int, default=None, hidden=True, help="(internal) run trials as worker K.")
@debug_option
def tune(spec: str | None, overrides: tuple[str, ...], trials: int | None, jobs: int, storage: str | None,
         study_name: str | None, out: pathlib.Path | None, worker: int | None, debug: bool) -> None:
    """Search the [tune] space of SPEC: sample values, train each trial as an ordinary run (pruning poor ones
    after each epoch), and write the best values, the best spec as a runnable best.toml, trials.csv and plots.

    A killed or interrupted study continues with the same command (running trials are retried from their
    checkpoints); a trial whose values make an invalid spec, or that fails or turns non-finite, is recorded
    and the study goes on. Several machines tune one study when each runs the same command with one
    --storage database URL (docs/tuning.md).

    \b
    Example:
      mrframe tune examples/minimal.toml --trials 12 --jobs 2
      mrframe tune spec.toml --storage postgresql://tuner:secret@db.lab/optuna --jobs 4   (on every machine)
    """
    if worker is not None:
        sys.exit(_work(worker, out, storage, study_name, trials, debug))
    if spec is None:
        raise click.UsageError("give the SPEC to tune")
    loaded = load_spec(spec, overrides)
    if loaded.tune is None:
        raise MrframeError(f"{spec}: no [tune] section: name the spec keys to search, e.g.\n  [tune.space]\n  "
                           "\"train.lr\" = { distribution = \"log-uniform\", low = 1e-4, high = 1e-2 }")
    document = loaded.to_dict()
    problems = space.problems(document, loaded.tune.space)
    if problems:
        raise SpecError(problems, source=spec)
    directory = _directory(out or pathlib.Path(loaded.run.out_dir or "runs") / f"{loaded.name}-tune", loaded)
    where = storage or str(directory / "study.journal")
    name = study_name or loaded.name
    found = study(open_storage(where, directory), name, loaded, create=True)
    stale = fail_stale(found)
    if stale:
        click.echo(f"trials {', '.join(map(str, stale))}: their worker process is gone; they are retried")
    budget = trials or loaded.tune.trials
    have = counted(found.get_trials(deepcopy=False))
    click.echo(f"mrframe tune: study '{name}' ({found.direction.name.lower()} {objective_name(loaded)}), "
               f"{budget} trials ({have} in the study), {jobs} worker{'s' * (jobs > 1)}; tune directory: {directory}")
    unit = "fold" if loaded.tune.objective == "backtest" else "epoch"
    failed = _supervise(found, directory, where, name, budget, jobs, unit, debug)
    best = results.write(directory, found, loaded, document)
    for line in _best_lines(best, directory):
        click.echo(line)
    if failed:
        raise ChildFailed(f"worker(s) {', '.join(str(k) for k, _ in failed)} stopped with an error; see "
                          f"{directory / 'workers'}/worker-K.log, fix it and run the same command again", failed[0][1])


def _directory(path: pathlib.Path, spec: Spec) -> pathlib.Path:
    """The tune directory for ``spec``: created, or reused when it tunes the same spec (``[tune] trials`` may
    differ: a larger one extends the study)."""
    text = _comparable(spec)
    existing = path / "spec.toml"
    if existing.is_file():
        found = load_spec(existing)
        if found.tune is None:
            raise MrframeError(f"{path} is not a tune directory (its spec.toml has no [tune] section: a run "
                               "directory?); choose another --out")
        if _comparable(found) != text:
            raise MrframeError(f"{path} tunes another spec; choose another --out (or tune that one with its own spec)")
    else:
        path.mkdir(parents=True, exist_ok=True)
        RunDirectory(path).write_text(existing, spec.to_toml())
    return path


def _comparable(spec: Spec) -> dict[str, Any]:
    document = spec.to_dict()
    document["tune"].pop("trials", None)
    return document


def _work(index: int, out: pathlib.Path | None, storage: str | None, name: str | None, budget: int | None,
          debug: bool) -> int:
    """A worker process: trials of the study until it holds ``budget`` (the coordinator passes everything)."""
    if out is None or storage is None or name is None or budget is None:
        raise click.UsageError("--worker needs --out, --storage, --study and --trials")
    spec = load_spec(out / "spec.toml")
    store = open_storage(storage, out)
    seed = spec.run.seed + 1000 * index + len(optuna().load_study(study_name=name, storage=store).trials)
    worker = Worker(out, study(store, name, spec, seed), spec, spec.to_dict(), budget, train_run)
    return worker.run()


def _supervise(found: Any, directory: pathlib.Path, storage: str, name: str, budget: int, jobs: int, unit: str,
               debug: bool) -> list[tuple[int, int]]:
    """Start the workers, show a progress bar over trials (a line per trial: pruning reports once per ``unit``)
    until they end; the workers that failed, with their exit statuses."""
    state = optuna().trial.TrialState
    ended_states = (state.COMPLETE, state.PRUNED, state.FAIL)
    trials = found.get_trials(deepcopy=False)
    shown = {t.number for t in trials if t.state in ended_states}
    waiting = sum(t.state == state.WAITING for t in trials)
    needed = max(budget - counted(trials), 0) + waiting
    if not needed:
        return []
    (directory / "workers").mkdir(exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads_per_fold(jobs)), MKL_NUM_THREADS=str(threads_per_fold(jobs)))
    command = [sys.executable, "-m", "mrframe", "tune", "--out", str(directory), "--storage", storage, "--study", name,
               "--trials", str(budget)] + ["--debug"] * debug
    processes = []
    for k in range(1, min(jobs, needed) + 1):
        log = open(directory / "workers" / f"worker-{k}.log", "a", encoding="utf-8")  # noqa: SIM115 - closed below
        processes.append((k, log, subprocess.Popen(command + ["--worker", str(k)], stdout=log, stderr=subprocess.STDOUT,
                                                   env=env, preexec_fn=die_with_parent, start_new_session=True)))
    bar = tqdm(total=budget, initial=min(len(shown), budget), desc="trials", unit="trial", leave=False)
    try:
        while True:
            running = any(p.poll() is None for _, _, p in processes)
            for trial in found.get_trials(deepcopy=False, states=ended_states):
                if trial.number not in shown:
                    shown.add(trial.number)
                    bar.update(1)
                    tqdm.write(_trial_line(trial, unit))
            if not running:
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        bar.close()
        for _, _, process in processes:
            process.terminate()
        for _, log, process in processes:
            process.wait()
            log.close()
        click.echo("interrupted: run the same command again to continue the study", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    bar.close()
    for _, log, _ in processes:
        log.close()
    return [(k, p.returncode) for k, _, p in processes if p.returncode != 0]


def _trial_line(trial: Any, unit: str) -> str:
    values = " ".join(space.overrides(trial.params))
    state = trial.state.name.lower()
    if state == "complete":
        return f"trial {trial.number}: {trial.value:.6g}  {values}"
    if state == "pruned":
        last = trial.intermediate_values
        return f"trial {trial.number}: pruned after {unit} {max(last) if last else '-'}  {values}"
    return f"trial {trial.number}: FAILED: {trial.user_attrs.get('failure', 'interrupted')}  {values}"


def _best_lines(best: dict[str, Any], directory: pathlib.Path) -> list[str]:
    counts = ", ".join(f"{n} {state}" for state, n in best["trials"].items())
    lines = [f"study '{best['study']}': {counts}"]
    if best["best"] is None:
        return lines + ["no trial has completed yet"]
    b = best["best"]
    lines.append(f"best: trial {b['trial']}, {b['monitor'] or best['objective']} {b['value']:.6g}  "
                 f"{' '.join(b['overrides'])}")
    lines.append(f"written: {directory / 'best.toml'} (mrframe run it), best.json, trials.csv, plots/")
    return lines
