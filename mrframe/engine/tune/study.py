"""A tune directory's study: where it is stored, creating or joining it, its trial budget, stale trials and retries.

Storage (``--storage``):

* nothing: a journal file ``TUNE_DIR/study.journal`` (Optuna's append-only, file-locked journal: safe for any
  number of processes on one machine, or on several machines that share the file system);
* a file path: a journal file there;
* a database URL (``sqlite:///study.db``, ``postgresql://user:password@host/db``, ``mysql+pymysql://...``):
  Optuna's RDB storage, with a heartbeat every :data:`HEARTBEAT` seconds. Machines that run the same command
  against one database URL share one study; a trial whose worker stopped beating for :data:`GRACE` seconds is
  failed (and retried) by the next worker that starts a trial.

A trial records where it runs (``host``, ``pid``, ``run_dir`` user attributes). When ``mrframe tune`` starts, a
trial still marked running whose worker process no longer exists on this machine (a killed study) is failed and
**retried**: enqueued again with the same values and ``retry_of`` = its number, so its worker continues the old
run directory from its checkpoint. The budget (``--trials N``) counts every trial except those a retry replaced,
so a resumed study ends with N trials however often it was killed.
"""

from __future__ import annotations

import os
import pathlib
import socket
from typing import Any

from mrframe.engine.early_stopping import mode_of
from mrframe.errors import MrframeError
from mrframe.spec import Spec

HEARTBEAT = 30
GRACE = 120


def optuna() -> Any:
    """The ``optuna`` module, or a one-line error saying how to install it."""
    try:
        import optuna as module
    except ImportError:
        raise MrframeError("mrframe tune needs Optuna: pip install 'mrframe[tune]'") from None
    module.logging.set_verbosity(module.logging.WARNING)
    return module


def open_storage(where: str | None, directory: pathlib.Path) -> Any:
    """The storage ``--storage`` names (module docstring); a database that cannot be reached is an error."""
    op = optuna()
    if where is None or "://" not in where:
        path = pathlib.Path(where) if where else directory / "study.journal"
        path.parent.mkdir(parents=True, exist_ok=True)
        from optuna.storages.journal import JournalFileBackend

        return op.storages.JournalStorage(JournalFileBackend(str(path)))
    try:
        return op.storages.RDBStorage(where, heartbeat_interval=HEARTBEAT, grace_period=GRACE,
                                      failed_trial_callback=retry)
    except Exception as error:  # a missing driver, a wrong URL, a database that does not answer
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise MrframeError(f"--storage {where}: cannot open the study database: {detail}") from None


def direction(spec: Spec) -> str:
    """``minimize`` or ``maximize``: the monitored metric's mode, or maximise a backtest's skill."""
    config = spec.tune
    if config is not None and config.objective == "backtest":
        return "maximize"
    stopping = spec.train.early_stopping
    return "maximize" if mode_of(stopping.monitor, stopping.mode) == "max" else "minimize"


def objective_name(spec: Spec) -> str:
    config = spec.tune
    if config is not None and config.objective == "backtest":
        return "mean skill over folds"
    monitor = spec.train.early_stopping.monitor
    return monitor if monitor != "auto" else "the monitored metric (auto: val_anchored, else val_loss)"


def _sampler(spec: Spec, seed: int) -> Any:
    op, config = optuna(), spec.tune
    if config.sampler == "random":
        return op.samplers.RandomSampler(seed=seed)
    return op.samplers.TPESampler(seed=seed, n_startup_trials=config.startup_trials, constant_liar=True)


def _pruner(spec: Spec) -> Any:
    """Warm-up is counted by the pruning hook itself (:class:`mrframe.engine.tune.trials.Pruning`)."""
    op, config = optuna(), spec.tune
    if config.pruner == "none":
        return op.pruners.NopPruner()
    if config.pruner == "hyperband":
        resource = config.backtest.folds if config.objective == "backtest" else spec.train.epochs
        return op.pruners.HyperbandPruner(min_resource=1, max_resource=max(resource, 1))
    return op.pruners.MedianPruner(n_startup_trials=config.startup_trials, n_warmup_steps=0)


def _signature(spec: Spec) -> dict[str, str]:
    from mrframe.config import unstructure

    objective = spec.tune.objective
    if objective == "monitor":
        objective += f" {spec.train.early_stopping.monitor}"
    return {"space": repr(unstructure(spec.tune.space)), "objective": f"{direction(spec)} {objective}"}


def study(storage: Any, name: str, spec: Spec, seed: int = 0, create: bool = False) -> Any:
    """The study ``name`` in ``storage`` (created when ``create`` and missing), sampling and pruning as the spec
    says; joining a study that searches another space or objective is refused."""
    op = optuna()
    sampler, pruner = _sampler(spec, seed), _pruner(spec)
    if create:
        found = op.create_study(storage=storage, study_name=name, direction=direction(spec), sampler=sampler,
                                pruner=pruner, load_if_exists=True)
    else:
        found = op.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    signature = _signature(spec)
    if not found.user_attrs:
        for key, value in signature.items():
            found.set_user_attr(key, value)
    elif {k: found.user_attrs.get(k) for k in signature} != signature or found.direction.name.lower() != direction(spec):
        raise MrframeError(f"study '{name}' in this storage searches another space or objective "
                           f"({found.user_attrs.get('objective')}); tune under another --study name or storage")
    return found


def counted(trials: list[Any]) -> int:
    """Trials that count toward the budget: all but those replaced by a retry."""
    replaced = {t.user_attrs.get("retry_of") for t in trials} - {None}
    return sum(1 for t in trials if t.number not in replaced)


def retry(study: Any, trial: Any) -> None:
    """Enqueue ``trial``'s values again, once, as a retry of it (a killed or interrupted trial)."""
    if any(t.user_attrs.get("retry_of") == trial.number for t in study.get_trials(deepcopy=False)):
        return
    study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_stale(study: Any) -> list[int]:
    """Fail and retry the running trials of this machine whose worker process is gone; their numbers."""
    state = optuna().trial.TrialState
    host, stale = socket.gethostname(), []
    for trial in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get("host") == host and isinstance(attrs.get("pid"), int) and not _alive(attrs["pid"]):
            study.tell(trial.number, state=state.FAIL, skip_if_finished=True)
            retry(study, trial)
            stale.append(trial.number)
    return stale
