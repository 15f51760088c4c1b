"""A backtest's results over its folds: the per-fold table, the aggregate per task, its files and plots.

* ``folds.csv``: one row per fold and task: the fold's dates, the model's test metrics (``model.NAME``), each
  baseline's metrics (``BASELINE.NAME``: its headline metric, and CRPS and interval coverage where it has a
  distribution), whether the model beats it (``BASELINE.beats``) and the skill against it (``BASELINE.skill``),
  and the skill against the strongest baseline (``skill``, ``strongest``, ``beats_strongest``).
* ``aggregate.json`` / ``aggregate.csv``: per task, the mean and standard deviation over folds of every model
  metric and of every baseline metric, the model's wins and losses against each baseline (folds where both are
  defined), the mean skill against each, and the mean skill against the strongest baseline with the number of
  folds in which the model beats it (``beats_strongest``, of ``compared``). A skill of ``-inf`` (a baseline
  without error that the model does not match, :func:`mrframe.engine.compare.skill`) counts: the mean is then
  ``-inf``, never a mean over the other folds.
* ``plots/skill.png``: the skill against the strongest baseline per fold; ``plots/forecasts.png``: forecasts
  against actuals over every fold's test window, with the fold origins marked.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mrframe.engine.backtest.runner import Backtest
from mrframe.engine.compare import number, skill
from mrframe.engine.evalplots import plot_forecasts, plot_skill
from mrframe.engine.files import atomic_write
from mrframe.engine.rundir import RunDirectory


def fold_table(backtest: Backtest) -> tuple[pd.DataFrame, list[int]]:
    """The per-fold rows of every finished fold, and the folds that are not finished."""
    rows, missing = [], []
    for fold in backtest.folds:
        run = backtest.run_directory(fold)
        if backtest.state(fold) != "done" or not run.evaluation("test").is_file():
            missing.append(fold.index)
            continue
        report = json.loads(run.evaluation("test").read_text())
        for task, t in report["tasks"].items():
            row = {"fold": fold.index, "train_from": fold.train_from, "val_from": fold.val_from,
                   "test_from": fold.test_from, "until": fold.until, "task": task, "kind": t["kind"],
                   "headline": t["headline"], "count": t["count"], "skill": _skill(t.get("skill"), t.get("strongest")),
                   "strongest": t.get("strongest"), "beats_strongest": t.get("beats_strongest")}
            row |= {f"model.{name}": value for name, value in t["metrics"].items()}
            for name, b in t["baselines"].items():
                row |= {f"{name}.{metric}": value for metric, value in b["baseline"].items()}
                row[f"{name}.beats"] = b["beats"] if b["elements"] else None
                row[f"{name}.skill"] = skill(_number(b["model"].get(t["headline"])),
                                             _number(b["baseline"].get(t["headline"])))
            rows.append(row)
    return pd.DataFrame(rows), missing


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _skill(value: float | None, strongest: str | None) -> float:
    """A task's skill as the JSON holds it (``-inf`` written as null): null with a strongest baseline is ``-inf``
    (:func:`mrframe.engine.compare.summarise` names one only when some skill is defined)."""
    if value is None:
        return -math.inf if strongest is not None else math.nan
    return float(value)


def _stats(values: pd.Series) -> dict[str, float]:
    """Mean and sample standard deviation over the folds where ``values`` is defined (not NaN)."""
    defined = pd.to_numeric(values, errors="coerce").astype(float)
    defined = defined[~np.isnan(defined)]
    with np.errstate(invalid="ignore"):
        return {"mean": float(defined.mean()) if len(defined) else math.nan,
                "std": float(defined.std(ddof=1)) if len(defined) > 1 else math.nan, "folds": int(len(defined))}


def aggregate(folds: pd.DataFrame) -> dict[str, Any]:
    """Per task: model metrics and baselines over folds (module docstring)."""
    out: dict[str, Any] = {}
    for task, rows in folds.groupby("task", sort=False):
        headline = rows["headline"].iloc[0]
        model = {c.removeprefix("model."): _stats(rows[c]) for c in rows if c.startswith("model.")}
        baselines = {}
        for column in [c for c in rows if c.endswith(".beats")]:
            name = column.removesuffix(".beats")
            verdicts = rows[column].dropna().astype(bool)
            metrics = [c for c in rows if c.startswith(f"{name}.") and c not in (column, f"{name}.skill")]
            baselines[name] = {c.removeprefix(f"{name}."): _stats(rows[c]) for c in metrics}
            baselines[name].setdefault(headline, _stats(pd.Series([], dtype=float)))
            baselines[name] |= {"wins": int(verdicts.sum()), "losses": int((~verdicts).sum()),
                                "mean_skill": _stats(rows[f"{name}.skill"])["mean"]}
        beats = rows["beats_strongest"].dropna().astype(bool)
        out[str(task)] = {"kind": rows["kind"].iloc[0], "headline": headline, "folds": int(len(rows)),
                          "model": model, "baselines": baselines, "skill": _stats(rows["skill"]),
                          "beats_strongest": int(beats.sum()), "compared": int(len(beats))}
    return out


def long_table(summary: Mapping[str, Any]) -> pd.DataFrame:
    """``aggregate.csv``: one row per task and model metric or baseline."""
    rows = []
    for task, t in summary.items():
        for metric, s in t["model"].items():
            rows.append({"task": task, "name": "model", "metric": metric, **s})
        rows.append({"task": task, "name": "model", "metric": "skill", **t["skill"],
                     "wins": t["beats_strongest"], "losses": t["compared"] - t["beats_strongest"]})
        for name, b in t["baselines"].items():
            verdict = {"wins": b["wins"], "losses": b["losses"], "mean_skill": b["mean_skill"]}
            for metric, s in b.items():
                if metric not in verdict:
                    rows.append({"task": task, "name": name, "metric": metric, **s,
                                 **(verdict if metric == t["headline"] else {})})
    table = pd.DataFrame(rows)
    for count in ("wins", "losses"):  # whole numbers, empty where they do not apply
        if count in table:
            table[count] = table[count].astype("Int64")
    return table


def forecasts(backtest: Backtest) -> pd.DataFrame:
    """Every finished fold's test forecasts, with a ``fold`` column."""
    frames = []
    for fold in backtest.folds:
        path = backtest.run_directory(fold).path / "forecasts-test.csv"
        if backtest.state(fold) == "done" and path.is_file():
            frames.append(pd.read_csv(path).assign(fold=fold.index))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write(backtest: Backtest) -> tuple[dict[str, Any], list[int]]:
    """Write the per-fold table, the aggregate and the plots; returns the aggregate and the unfinished folds."""
    folds, missing = fold_table(backtest)
    summary = aggregate(folds) if not folds.empty else {}
    directory = RunDirectory(backtest.path)
    atomic_write(backtest.path / "folds.csv", lambda h: folds.to_csv(h, index=False), binary=False)
    atomic_write(backtest.path / "aggregate.csv", lambda h: long_table(summary).to_csv(h, index=False), binary=False)
    directory.write_json(backtest.path / "aggregate.json",
                         {"folds": len(backtest.folds), "finished": len(backtest.folds) - len(missing),
                          "missing": missing, "tasks": summary})
    name = backtest.path.name
    if not folds.empty:
        plot_skill(folds, backtest.plots / "skill.png", f"{name}: skill against the strongest baseline")
        origins = [np.datetime64(f.test_from, "D") for f in backtest.folds]
        plot_forecasts(forecasts(backtest), backtest.plots / "forecasts.png",
                       f"{name}: test forecasts of every fold (dotted: fold origins)", marks=origins)
    return summary, missing


def lines(summary: Mapping[str, Any], folds: int) -> list[str]:
    """The aggregate table as the console shows it: every model metric; per baseline its headline metric (and
    CRPS where it has one), the model's wins and the mean skill."""
    out = []
    for task, t in summary.items():
        headline = t["headline"]
        out.append(f"{task} [{t['kind']}], mean ± sd over {t['folds']} of {folds} folds:")
        metrics = "  ".join(f"{k} {_pm(s)}" for k, s in t["model"].items())
        out.append(f"  model: {metrics}")
        if t["skill"]["folds"]:
            out.append(f"  skill against the strongest baseline {_pm(t['skill'])}; beats it in {t['beats_strongest']} "
                       f"of {t['compared']} folds")
        width = max((len(n) for n in t["baselines"]), default=0)
        for name, b in t["baselines"].items():
            crps = f"  crps {_pm(b['crps'])}" if "crps" in b and headline != "crps" else ""
            out.append(f"  {name:<{width}}  {headline} {_pm(b[headline])}{crps}  model wins {b['wins']}/"
                       f"{b['wins'] + b['losses']}  mean skill {number(b['mean_skill'])}")
    return out


def _pm(stats: Mapping[str, float]) -> str:
    return f"{number(stats['mean'])} ± {number(stats['std'])}" if stats["folds"] > 1 else number(stats["mean"])
