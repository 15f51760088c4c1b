"""What a study leaves in its tune directory, written whenever ``mrframe tune`` ends (also from a shared study's
other machines' trials):

* ``trials.csv``: one row per trial: number, state (complete, pruned, fail, running, waiting), value, the last
  value reported for pruning, epochs trained, seconds, the sampled values (``params.KEY``), run directory, and
  why it failed;
* ``best.json``: the best trial's number, value, values and run directory, the objective, the trial counts;
* ``best.toml``: the tuned spec with the best values, resolved and without ``[tune]``: ``mrframe run best.toml``
  trains it again (on all the data the spec names, from its own seed);
* ``plots/history.png``: the objective of every trial in order, the best so far, pruned and failed trials marked;
* ``plots/importances.png``: each tuned key's importance for the objective (Optuna's fANOVA evaluator, over the
  completed trials; drawn once two trials have completed with different values).
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Mapping
from typing import Any

import pandas as pd

from mrframe.engine.files import atomic_write
from mrframe.engine.plots import pyplot, save_figure
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.tune.space import overrides, trial_spec
from mrframe.engine.tune.study import direction, objective_name, optuna
from mrframe.spec import Spec


def table(trials: list[Any]) -> pd.DataFrame:
    """``trials.csv`` (module docstring)."""
    retried = {t.user_attrs["retry_of"]: t.number for t in trials if "retry_of" in t.user_attrs}
    rows = []
    for t in trials:
        failure = t.user_attrs.get("failure")
        if failure is None and t.number in retried:
            failure = f"stopped (retried as trial {retried[t.number]})"
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start \
            else math.nan
        reported = t.intermediate_values
        rows.append({"number": t.number, "state": t.state.name.lower(), "value": t.value,
                     "last_reported": reported[max(reported)] if reported else None,
                     "epochs": t.user_attrs.get("epochs"), "seconds": round(seconds, 1)}
                    | {f"params.{k}": v for k, v in t.params.items()}
                    | {"run_dir": t.user_attrs.get("run_dir"), "failure": failure})
    return pd.DataFrame(rows)


def write(directory: pathlib.Path, study: Any, spec: Spec, document: Mapping[str, Any]) -> dict[str, Any]:
    """Write the files of the module docstring; returns ``best.json``'s content (``best`` None while no trial
    has completed)."""
    trials = study.get_trials(deepcopy=False)
    frame = table(trials)
    atomic_write(directory / "trials.csv", lambda h: frame.to_csv(h, index=False), binary=False)
    counts = frame["state"].value_counts().to_dict() if len(frame) else {}
    state = optuna().trial.TrialState
    completed = [t for t in trials if t.state == state.COMPLETE]
    best = study.best_trial if completed else None
    out: dict[str, Any] = {"study": study.study_name, "objective": objective_name(spec), "direction": direction(spec),
                           "trials": {k: int(v) for k, v in counts.items()}, "best": None}
    run = RunDirectory(directory)
    label = (best.user_attrs.get("monitor") if best is not None else None) or objective_name(spec)
    if best is not None:
        best_spec = trial_spec(document, best.params, f"{spec.name}-best")
        run.write_text(directory / "best.toml", _header(best, spec, label) + best_spec.to_toml())
        out["best"] = {"trial": best.number, "value": best.value, "monitor": best.user_attrs.get("monitor"),
                       "params": best.params,
                       "run_dir": best.user_attrs.get("run_dir"), "overrides": overrides(best.params)}
    run.write_json(directory / "best.json", out)
    plot_history(frame, direction(spec), run.plots / "history.png", f"{spec.name}: {label} per trial")
    importances = _importances(study, completed)
    if importances:
        plot_importances(importances, run.plots / "importances.png", f"{spec.name}: importance of each tuned key")
    return out


def _header(best: Any, spec: Spec, label: str) -> str:
    values = " ".join(overrides(best.params))
    return (f"# The best trial ({best.number}, {label} {best.value:.6g}) of `mrframe tune` on "
            f"{spec.name}: the tuned spec with\n#   {values}\n# Train it with  mrframe run best.toml\n")


def _importances(study: Any, completed: list[Any]) -> dict[str, float]:
    """Each tuned key's importance over the completed trials ({} with fewer than two distinct values)."""
    if len(completed) < 2 or len({t.value for t in completed}) < 2:
        return {}
    try:
        return optuna().importance.get_param_importances(study)
    except (RuntimeError, ValueError):  # e.g. a key that took one value only in every completed trial
        return {}


def plot_history(frame: pd.DataFrame, goal: str, path: pathlib.Path, title: str) -> None:
    """The objective of each completed trial against its number with the best so far as a step line, pruned
    trials at the last value they reported, failed ones marked on the x axis."""
    fig, ax = pyplot().subplots(figsize=(7, 4))
    rows = {state: frame[frame["state"] == state] if len(frame) else frame for state in ("complete", "pruned", "fail")}
    done = rows["complete"]
    if len(done):
        values = done["value"].astype(float)
        best = values.cummin() if goal == "minimize" else values.cummax()
        ax.plot(done["number"], values, "o", label="complete")
        ax.step(done["number"], best, where="post", label="best so far")
    if len(rows["pruned"]):
        ax.plot(rows["pruned"]["number"], rows["pruned"]["last_reported"].astype(float), "x", color="grey",
                label="pruned (last reported)")
    if len(rows["fail"]):
        ax.plot(rows["fail"]["number"], [0.0] * len(rows["fail"]), "v", color="red", clip_on=False,
                transform=ax.get_xaxis_transform(), label="failed")
    ax.set(xlabel="trial", ylabel="objective", title=title)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    if len(frame):
        ax.legend()
    save_figure(fig, path)


def plot_importances(importances: Mapping[str, float], path: pathlib.Path, title: str) -> None:
    """A horizontal bar per tuned key, most important on top."""
    names = list(importances)[::-1]
    fig, ax = pyplot().subplots(figsize=(7, 1.2 + 0.4 * len(names)))
    ax.barh(names, [importances[n] for n in names])
    ax.set(xlabel="importance (fANOVA, sums to 1)", title=title)
    ax.grid(alpha=0.3, axis="x")
    save_figure(fig, path)
