"""The ``[tune]`` section of a spec: the search space of ``mrframe tune`` and how its trials are judged.

The space maps spec keys, written as ``--set`` takes them (``"train.lr"``, ``"fusion.0.layers"``), to
distributions::

    [tune]
    trials = 20
    [tune.space]
    "train.lr" = { distribution = "log-uniform", low = 1e-4, high = 1e-2 }
    "model.d_model" = { distribution = "int", low = 8, high = 64, step = 8 }
    "train.schedule" = { distribution = "categorical", choices = ["cosine", "constant"] }

Nested tables read the same (``[tune.space.train] lr = {...}`` is ``"train.lr"``). ``mrframe run`` carries the
section in the resolved spec and otherwise ignores it. This module only validates the section's shape; whether
the keys exist and the sampled values make a valid spec is checked by :func:`mrframe.engine.tune.space.problems`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal

import attrs

from mrframe.config import field, join_path, show_value, structure
from mrframe.errors import Problem

DISTRIBUTION_KEY = "distribution"


@attrs.frozen
class Distribution:
    """One tuned key's distribution: ``log-uniform`` / ``uniform`` floats in ``[low, high]`` (``uniform`` on a
    grid of ``step`` when given), ``int`` in ``[low, high]`` (every ``step``-th, or log-spaced with ``log``), or
    one of ``choices``."""

    distribution: Literal["log-uniform", "uniform", "int", "categorical"] = field(
        doc="log-uniform, uniform, int or categorical")
    low: float | None = field(None, "smallest value (log-uniform, uniform, int)")
    high: float | None = field(None, "largest value (log-uniform, uniform, int)")
    step: float | None = field(None, "int: spacing of the values (default 1); uniform: a grid spacing", min=0.0)
    log: bool = field(False, "int: sample on a log scale")
    choices: tuple[bool | int | float | str, ...] | None = field(None, "categorical: the values to choose from")

    def problems(self) -> Iterator[tuple[str, str]]:
        if self.distribution == "categorical":
            yield from ((key, "not used by a categorical distribution (give choices)") for key in ("low", "high", "step")
                        if getattr(self, key) is not None)
            if not self.choices:
                yield "choices", "missing: a categorical distribution needs at least one choice"
            elif len(set(map(repr, self.choices))) < len(self.choices):
                yield "choices", f"holds a value twice: {show_value(list(self.choices))}"
            return
        if self.choices is not None:
            yield "choices", f"only a categorical distribution has choices (this one is {self.distribution})"
        for key in ("low", "high"):
            if getattr(self, key) is None:
                yield key, f"missing: a {self.distribution} distribution needs low and high"
        if self.low is None or self.high is None:
            return
        if self.low >= self.high:
            yield "high", f"must be greater than low ({show_value(self.low)}), got {show_value(self.high)}"
        if self.distribution == "int":
            for key in ("low", "high", "step"):
                value = getattr(self, key)
                if value is not None and value != int(value):
                    yield key, f"an int distribution needs whole numbers, got {show_value(value)}"
            if self.log and self.step not in (None, 1):
                yield "step", "cannot be combined with log = true"
        elif self.log:
            yield "log", "only int distributions take log (use distribution = \"log-uniform\" for floats)"
        if self.distribution == "log-uniform":
            if self.low <= 0:
                yield "low", f"a log-uniform distribution needs low > 0, got {show_value(self.low)}"
            if self.step is not None:
                yield "step", "a log-uniform distribution takes no step"
        if self.step == 0:
            yield "step", "must be positive"


@attrs.frozen
class TuneBacktest:
    """``[tune.backtest]``: the folds of each trial when ``objective = "backtest"`` (``mrframe backtest``'s
    options of the same names)."""

    folds: int = field(3, "forecast origins per trial", min=1)
    step: int | None = field(None, "days between origins (default: the spec's test period split into the folds)", min=1)
    test_days: int | None = field(None, "length of each fold's test window (default: step)", min=1)
    val_days: int | None = field(None, "length of each fold's validation period (default: the spec's)", min=1)
    window: Literal["expanding", "sliding"] = field("expanding", "training from the start, or only train_days")
    train_days: int | None = field(None, "sliding: length of each fold's training period", min=1)


@attrs.frozen
class TuneConfig:
    """``[tune]``: what ``mrframe tune`` searches and how a trial is scored, pruned and sampled."""

    space: dict[str, Distribution] = field(
        factory=dict, doc="spec keys (as --set takes them, e.g. \"train.lr\") and their distributions")
    objective: Literal["monitor", "backtest"] = field(
        "monitor", "monitor: the best value of the run's monitored validation metric "
                   "(train.early_stopping.monitor and mode); backtest: the mean skill against the strongest "
                   "baseline over [tune.backtest] folds (maximised)")
    trials: int = field(20, "trials of the study (--trials overrides it); failed and pruned ones count", min=1)
    sampler: Literal["tpe", "random"] = field("tpe", "how values are proposed: TPE (Optuna's default) or at random")
    pruner: Literal["median", "hyperband", "none"] = field(
        "median", "stop a trial whose intermediate value is worse than the median of earlier trials at the same "
                  "epoch (median), successive halving (hyperband), or never (none)")
    startup_trials: int = field(5, "trials that complete before pruning starts (and TPE stops sampling at random)",
                                min=0)
    warmup_epochs: int = field(1, "epochs (backtest: folds) a trial runs before it may be pruned", min=0)
    backtest: TuneBacktest = field(factory=TuneBacktest, doc="objective = backtest: the folds ([tune.backtest])")


def flat_space(table: Any) -> Any:
    """A space table with nested tables flattened to dotted keys (``{train = {lr = D}}`` -> ``{"train.lr": D}``):
    a table holding ``distribution`` is a leaf."""
    if not isinstance(table, Mapping):
        return table
    out: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping) and DISTRIBUTION_KEY not in value and value:
            out |= {f"{key}.{inner}": v for inner, v in flat_space(value).items()}
        else:
            out[str(key)] = value
    return out


def tune_section(document: Mapping[str, Any], problems: list[Problem], base_dir: Any = None) -> TuneConfig | None:
    """The spec's ``[tune]`` section validated (problems at ``tune.*``), or None when the spec has none."""
    table = document.get("tune")
    if table is None:
        return None
    if isinstance(table, Mapping) and "space" in table:
        table = {**table, "space": flat_space(table["space"])}
    config = structure(TuneConfig, table, "tune", problems, base_dir)
    if config is not None and not config.space:
        problems.append(Problem(join_path("tune", "space"), "empty: name at least one spec key to tune, e.g. "
                                "\"train.lr\" = { distribution = \"log-uniform\", low = 1e-4, high = 1e-2 }"))
    return config
