"""One worker of a study: trials one after another until the study holds its budget.

A trial samples its values (a retry gets its predecessor's), builds its spec (:func:`.space.trial_spec`) and runs
it as an ordinary run directory ``TUNE_DIR/trials/trial-NNNN`` (``objective = "monitor"``: trained in this
process, the :class:`Pruning` hook reporting the monitored metric after every epoch) or as a backtest directory
of that name whose folds are ordinary runs (``objective = "backtest"``: reported after every fold). Everything
the run prints goes to ``console.log`` in that directory.

Outcomes: *complete* with the objective's value; *pruned* when the pruner stops it; *failed*, with the reason
in the trial's ``failure`` user attribute, when the sampled values make an invalid spec, the guard stops a
non-finite run, data or a block fail, or the run yields no finite value (other errors too, their traceback in
``console.log``). The study goes on after each. A trial interrupted by Ctrl-C or SIGTERM is failed, enqueued
again (:func:`.study.retry`) and the worker stops; its retry continues the same run directory.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pathlib
import signal
import socket
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from mrframe.data.pipeline import load_sources
from mrframe.engine.backtest import aggregate, runner
from mrframe.engine.backtest.folds import FoldOptions, data_span, plan_folds
from mrframe.engine.config import EarlyStoppingConfig
from mrframe.engine.early_stopping import resolve_monitor
from mrframe.engine.resume import find_resume_point
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.tune.space import sample, trial_spec
from mrframe.engine.tune.study import counted, optuna, retry
from mrframe.errors import MrframeError, SpecError
from mrframe.hooks import EpochRecord, RunInfo, StopTraining, hookimpl
from mrframe.spec import Spec

TRIALS = "trials"

Train = Callable[..., Mapping[str, Any] | None]
"""``train(spec, directory, resume_point, device, echo, extra_hooks) -> summary``: :func:`mrframe.cli.run.train_run`."""


class TrialFailure(Exception):
    """A trial failed for a reason worth recording (its message); the study goes on."""


class Pruning:
    """Hook: after every epoch, report the monitored metric to the trial; end the run (:class:`StopTraining`)
    when the pruner prunes it, once more than ``warmup`` values have been reported."""

    def __init__(self, trial: Any, stopping: EarlyStoppingConfig, warmup: int, reported: int = 0):
        self.trial = trial
        self.stopping = stopping
        self.warmup = warmup
        self.reported = reported

    @hookimpl(trylast=True)  # the other hooks (writers, plots, the spec's hooks) see the epoch it prunes after
    def mrframe_epoch_end(self, run: RunInfo, record: EpochRecord) -> None:
        name, _ = resolve_monitor(self.stopping, record.metrics)
        value = float(record.metrics[name])
        if not math.isfinite(value):
            return
        self.trial.report(value, record.epoch)
        self.reported += 1
        if self.reported > self.warmup and self.trial.should_prune():
            raise StopTraining(f"pruned after epoch {record.epoch} ({name} {value:.4g})")


def fail(trial: Any, message: str) -> TrialFailure:
    trial.set_user_attr("failure", message)
    return TrialFailure(message)


@attrs.define
class Worker:
    """Runs trials of ``study`` for the tune directory ``directory`` (whose ``spec.toml`` is the tuned spec)."""

    directory: pathlib.Path
    study: Any
    spec: Spec
    document: dict[str, Any]
    budget: int
    train: Train
    current: Any = None  # the running trial

    def more(self) -> bool:
        """Whether to start another trial: a retry waits, or the budget is not reached."""
        trials = self.study.get_trials(deepcopy=False)
        waiting = optuna().trial.TrialState.WAITING
        return any(t.state == waiting for t in trials) or counted(trials) < self.budget

    def run(self) -> int:
        """Trials until the budget is reached (0), or until interrupted (130)."""
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            while self.more():
                self.study.optimize(self.objective, n_trials=1, catch=(TrialFailure,), gc_after_trial=True)
                self.current = None
        except KeyboardInterrupt:
            if self.current is not None:
                self.give_up(self.current.number)
            return 130
        return 0

    def give_up(self, number: int) -> None:
        """The interrupted trial ``number`` failed (if it still runs) and enqueued again."""
        state = optuna().trial.TrialState
        trial = self.study.get_trials(deepcopy=False)[number]
        if trial.state == state.RUNNING:
            self.study.tell(number, state=state.FAIL, skip_if_finished=True)
        if trial.state in (state.RUNNING, state.FAIL):
            retry(self.study, trial)

    def objective(self, trial: Any) -> float:
        self.current = trial
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        before = trial.user_attrs.get("retry_of")
        previous = self.study.get_trials(deepcopy=False)[before] if before is not None else None
        params = sample(trial, self.spec.tune.space)
        path = self.directory / TRIALS / f"trial-{trial.number:04d}"
        if previous is not None and pathlib.Path(previous.user_attrs.get("run_dir", "")).is_dir():
            path = pathlib.Path(previous.user_attrs["run_dir"])  # continue the interrupted trial's run
        trial.set_user_attr("run_dir", str(path))
        reported = 0
        for step, value in (previous.intermediate_values.items() if previous is not None else ()):
            trial.report(value, step)
            reported += 1
        try:
            spec = trial_spec(self.document, params, f"{self.spec.name}-{path.name}")
        except SpecError as error:
            raise fail(trial, "the sampled values make an invalid spec: "
                              + "; ".join(str(p) for p in error.problems)) from None
        path.mkdir(parents=True, exist_ok=True)
        with open(path / "console.log", "a", encoding="utf-8") as log, \
                contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            try:
                if self.spec.tune.objective == "backtest":
                    return self.backtest(trial, spec, path, reported)
                return self.train_run(trial, spec, path, reported)
            except (TrialFailure, KeyboardInterrupt, optuna().TrialPruned):
                raise
            except MrframeError as error:
                raise fail(trial, str(error).splitlines()[0] if str(error) else type(error).__name__) from None
            except Exception as error:
                traceback.print_exc()
                raise fail(trial, f"{type(error).__name__}: {error} (traceback in {path / 'console.log'})") from None

    def train_run(self, trial: Any, spec: Spec, path: pathlib.Path, reported: int) -> float:
        """Train ``spec`` into the run directory ``path`` (continuing it when it holds a checkpoint)."""
        directory = RunDirectory(path)
        point = find_resume_point(directory, spec, 1) if any((path / "checkpoints").glob("*.pt")) else None
        if point is None:
            directory.write_text(directory.spec, spec.to_toml())
        hook = Pruning(trial, spec.train.early_stopping, self.spec.tune.warmup_epochs, reported)
        summary = self.train(spec, directory, point, None, print, [hook])
        if summary is None:  # the run had already ended before it was interrupted
            summary = json.loads(directory.summary.read_text())
        status = summary["status"]
        if status == "interrupted":
            trial.set_user_attr("failure", "interrupted (retried)")
            raise KeyboardInterrupt
        if status.startswith("stopped: pruned"):
            trial.set_user_attr("epochs", summary["epochs"])
            raise optuna().TrialPruned(status.removeprefix("stopped: "))
        best = summary["best"]
        trial.set_user_attr("epochs", summary["epochs"])
        trial.set_user_attr("monitor", best["monitor"])
        if best["epoch"] <= 0 or best["value"] is None or not math.isfinite(best["value"]):
            raise fail(trial, f"no epoch gave a finite {best['monitor']} (status: {status})")
        return float(best["value"])

    def backtest(self, trial: Any, spec: Spec, path: pathlib.Path, reported: int) -> float:
        """Backtest ``spec`` in the backtest directory ``path``; the mean skill against the strongest baseline
        over folds and tasks, reported (as the mean so far) after every fold."""
        settings = self.spec.tune.backtest
        options = FoldOptions(settings.folds, settings.step, (), settings.test_days, settings.val_days,
                              settings.window, settings.train_days)
        layout = plan_folds(spec, *data_span(spec, load_sources(spec)), options)
        plan = runner.create(path, spec, layout, options)
        count = [reported]

        def done(fold: Any, status: int | None, seconds: float) -> None:
            if status != 0:
                raise fail(trial, f"{fold.name} failed (exit status {status}); see {path / fold.name / 'console.log'}")
            table, _ = aggregate.fold_table(plan)
            so_far = float(table["skill"].astype(float).mean()) if len(table) else math.nan
            if math.isfinite(so_far):
                trial.report(so_far, fold.index)
                count[0] += 1
            if count[0] > self.spec.tune.warmup_epochs and trial.should_prune():
                raise optuna().TrialPruned(f"pruned after {fold.name} (mean skill {so_far:.4g})")

        runner.run_folds(plan, list(plan.folds), 1, on_done=done)
        summary, missing = aggregate.write(plan)
        skills = [t["skill"]["mean"] for t in summary.values()]
        value = float(sum(skills) / len(skills)) if skills else math.nan
        if missing or not math.isfinite(value):
            raise fail(trial, f"no finite mean skill over the folds (folds not finished: {missing or 'none'})")
        return value


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
