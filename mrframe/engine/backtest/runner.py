"""A backtest directory, and its folds run as ordinary ``mrframe run`` processes.

Layout::

    BACKTEST_DIR/
      spec.toml        the base spec, resolved (with the command's --set overrides)
      backtest.json    the plan: fold options and each fold's dates
      fold-01/         an ordinary run directory (spec.toml with the fold's split, checkpoints, evaluation-*.json,
      fold-02/         forecasts-*.csv, plots) plus console.log, the fold process's output
      ...
      folds.csv, aggregate.csv, aggregate.json, plots/skill.png, plots/forecasts.png   (mrframe.engine.backtest.aggregate)

Each fold is trained by ``python -m mrframe run --run-dir FOLD`` (``--resume FOLD`` once it has a checkpoint),
so a fold is resumable exactly like any run and a killed backtest resumes where it stopped: finished folds are
skipped, interrupted ones resume from their last checkpoint, and one that failed before any checkpoint starts
again. With ``jobs`` processes at once each gets
``max(1, cores // jobs)`` threads (``OMP_NUM_THREADS``; fewer if the caller's ``OMP_NUM_THREADS`` says so), so
two folds never fight over two cores. A fold process
holds an exclusive lock on ``FOLD/.lock`` while it runs (inherited from the launcher, so it lasts as long as the
process), and stops with its launcher: Ctrl-C sends it one SIGTERM, and a launcher killed outright takes it along
(Linux: ``PR_SET_PDEATHSIG``); either way it finishes its optimizer step and writes a checkpoint first.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from mrframe.engine.backtest.folds import Fold, FoldOptions
from mrframe.engine.distributed import die_with_parent
from mrframe.engine.rundir import BACKTEST_PLAN, RunDirectory, json_ready
from mrframe.errors import MrframeError
from mrframe.spec import Spec, load_spec

PLAN = BACKTEST_PLAN
DONE = ("finished", "stopped early")
"""A fold whose summary says one of these is complete."""


@attrs.frozen
class Backtest:
    """A backtest directory with its plan."""

    path: pathlib.Path
    folds: tuple[Fold, ...]

    @property
    def spec(self) -> pathlib.Path:
        return self.path / "spec.toml"

    @property
    def plots(self) -> pathlib.Path:
        return RunDirectory(self.path).plots

    def run_directory(self, fold: Fold) -> RunDirectory:
        return RunDirectory(self.path / fold.name)

    def state(self, fold: Fold) -> str:
        """``done``, ``started`` (has a checkpoint: resume it) or ``new`` (train it from the start, also when an
        earlier attempt failed before writing any checkpoint: there is nothing to resume from)."""
        run = self.run_directory(fold)
        if run.summary.is_file():
            status = json.loads(run.summary.read_text()).get("status")
            if status in DONE:
                return "done"
        checkpoints = (run.last, run.last_prev, run.best)
        return "started" if any(f.exists() or f.is_symlink() for f in checkpoints) else "new"

    def select(self, index: int | None) -> list[Fold]:
        if index is None:
            return list(self.folds)
        if not 1 <= index <= len(self.folds):
            raise MrframeError(f"--fold {index}: the backtest in {self.path} has folds 1 .. {len(self.folds)}")
        return [self.folds[index - 1]]


def _plan_document(spec: Spec, folds: Sequence[Fold], options: FoldOptions) -> dict[str, Any]:
    return {"name": spec.name, "options": json_ready(attrs.asdict(options, value_serializer=_serial)),
            "folds": [f.to_dict() for f in folds]}


def _serial(_: Any, __: Any, value: Any) -> Any:
    return str(value) if hasattr(value, "isoformat") else value


def create(path: pathlib.Path, spec: Spec, folds: Sequence[Fold], options: FoldOptions) -> Backtest:
    """The backtest directory ``path`` for ``spec`` and ``folds``: created, or reused when it holds the same
    plan (so a rerun continues it and several ``--fold`` jobs can share it); a different plan is an error."""
    plan = _plan_document(spec, folds, options)
    text = spec.to_toml()
    if (path / PLAN).is_file():
        same = json.loads((path / PLAN).read_text()) == plan and (path / "spec.toml").read_text() == text
        if not same:
            raise MrframeError(f"{path} holds a different backtest (another spec or fold layout): choose another "
                               f"--out, or continue it with `mrframe backtest --resume {path}`")
    else:
        path.mkdir(parents=True, exist_ok=True)
        directory = RunDirectory(path)
        directory.write_text(path / "spec.toml", text)
        directory.write_json(path / PLAN, plan)
    return load(path)


def load(path: pathlib.Path) -> Backtest:
    """An existing backtest directory."""
    if not (path / PLAN).is_file():
        raise MrframeError(f"{path}: not a backtest directory (no {PLAN} in it)")
    plan = json.loads((path / PLAN).read_text())
    folds = tuple(Fold(f["index"], _date(f["train_from"]), _date(f["val_from"]), _date(f["test_from"]),
                       _date(f["until"])) for f in plan["folds"])
    return Backtest(path, folds)


def _date(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def prepare_fold(backtest: Backtest, fold: Fold) -> RunDirectory:
    """The fold's run directory with its spec (the base spec with the fold's split), written once."""
    run = backtest.run_directory(fold)
    run.path.mkdir(exist_ok=True)
    if not run.spec.is_file():
        base = load_spec(backtest.spec)
        spec = load_spec(backtest.spec, [*fold.overrides(), f"run.name={base.name}-{fold.name}"])
        run.write_text(run.spec, spec.to_toml())
    return run


def threads_per_fold(jobs: int) -> int:
    """CPU threads for each of ``jobs`` concurrent fold processes: the cores split between them, and no more
    than ``OMP_NUM_THREADS`` when the caller set it (small models often run fastest on one thread)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // jobs)
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return min(threads, int(limit)) if limit.isdigit() and int(limit) > 0 else threads


@attrs.define
class _Running:
    fold: Fold
    process: subprocess.Popen
    lock: int
    log: Any
    started: float


def _start(backtest: Backtest, fold: Fold, threads: int, debug: bool) -> _Running | None:
    run = prepare_fold(backtest, fold)
    lock = os.open(run.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        return None
    how = "--resume" if backtest.state(fold) == "started" else "--run-dir"
    command = [sys.executable, "-m", "mrframe", "run", how, str(run.path)] + (["--debug"] if debug else [])
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    log = open(run.path / "console.log", "a", encoding="utf-8")  # noqa: SIM115 - closed when the fold ends
    # a session of its own: a Ctrl-C reaches the launcher only, which then sends each fold one SIGTERM
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, pass_fds=(lock,),
                               preexec_fn=die_with_parent, start_new_session=True)
    return _Running(fold, process, lock, log, time.perf_counter())


def _finish(running: _Running) -> None:
    running.log.close()
    os.close(running.lock)


def run_folds(backtest: Backtest, folds: Sequence[Fold], jobs: int, debug: bool = False,
              on_done: Callable[[Fold, int | None, float], None] | None = None) -> dict[int, int | None]:
    """Run the folds that are not done, ``jobs`` at a time; returns each run fold's exit status (a fold
    locked by another process is skipped with status None). Ctrl-C stops every fold (each writes a checkpoint)."""
    pending = [f for f in folds if backtest.state(f) != "done"]
    if jobs > 1:  # the latest origins first: they train on the most data, so no long fold ends the run alone
        pending.sort(key=lambda f: f.test_from, reverse=True)
    threads = threads_per_fold(min(jobs, max(len(pending), 1)))
    running: list[_Running] = []
    statuses: dict[int, int | None] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                fold = pending.pop(0)
                started = _start(backtest, fold, threads, debug)
                if started is None:
                    statuses[fold.index] = None
                    if on_done:
                        on_done(fold, None, 0.0)
                    continue
                running.append(started)
            time.sleep(0.2)
            for item in [r for r in running if r.process.poll() is not None]:
                running.remove(item)
                _finish(item)
                statuses[item.fold.index] = item.process.returncode
                if on_done:
                    on_done(item.fold, item.process.returncode, time.perf_counter() - item.started)
    except KeyboardInterrupt:
        for item in running:
            item.process.send_signal(signal.SIGTERM)
        for item in running:
            item.process.wait()
            _finish(item)
        raise
    return statuses
