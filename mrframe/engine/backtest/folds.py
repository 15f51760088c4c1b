"""Rolling-origin folds: where each fold's training, validation and test periods lie.

A fold is the base spec with its own ``data.split``: its **origin** ``o`` is the first day of its test period,
validation covers the ``V`` days before it and training everything before that (``expanding``, the default) or
only the ``T`` days before that (``sliding``)::

    expanding:  [train_from ............ o-V)[o-V ...... o)[o ..... o+D)
    sliding:               [o-V-T ...... o-V)[o-V ...... o)[o ..... o+D)

Origins: ``--at`` dates, or ``--folds K`` origins ``step`` days apart starting at the base spec's ``test_from``
(``step`` defaults to the base test period split into ``K`` windows, so the folds tile it: the last one also
takes the days the division leaves over). ``D`` (``--test-days``)
defaults to ``step`` (with ``--at``: the gap to the next origin); ``V`` to the base spec's validation length and
``T`` to its training length. The **embargo** is the base rule applied inside each fold
(:mod:`mrframe.data.split`): a training anchor needs every target before ``o - V``, a validation anchor every
target before ``o``, so no fold trains or selects its model on a target of its own test period, and everything
fitted (scaling, correlation filter, PCA, a weighting policy's baselines) is fitted on the fold's training rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import attrs
import numpy as np
import pandas as pd

from mrframe.errors import MrframeError
from mrframe.interfaces import SourceFrame
from mrframe.spec import Spec

Window = Literal["expanding", "sliding"]


@attrs.frozen
class FoldOptions:
    """How the folds are laid out (the ``mrframe backtest`` options of the same names)."""

    folds: int | None = None
    step: int | None = None
    at: tuple[dt.date, ...] = ()
    test_days: int | None = None
    val_days: int | None = None
    window: Window = "expanding"
    train_days: int | None = None


@attrs.frozen
class Fold:
    """One fold's split (1-based ``index``); ``train_from`` None: from the start of the data."""

    index: int
    train_from: dt.date | None
    val_from: dt.date
    test_from: dt.date
    until: dt.date

    @property
    def name(self) -> str:
        return f"fold-{self.index:02d}"

    def overrides(self) -> list[str]:
        """``--set`` overrides that turn the base spec into this fold's spec."""
        out = [f"data.split.val_from={self.val_from}", f"data.split.test_from={self.test_from}",
               f"data.split.until={self.until}"]
        return out + ([f"data.split.train_from={self.train_from}"] if self.train_from is not None else [])

    def to_dict(self) -> dict[str, str | int | None]:
        return {"index": self.index, "train_from": _text(self.train_from), "val_from": str(self.val_from),
                "test_from": str(self.test_from), "until": str(self.until)}


def _text(day: dt.date | None) -> str | None:
    return None if day is None else str(day)


def _days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def data_span(spec: Spec, frames: dict[str, SourceFrame]) -> tuple[dt.date, dt.date]:
    """The first day of the data and the last day any target source observed (a month counts at its end)."""
    first, last = [], []
    for name, frame in frames.items():
        observed = frame.frame.index[frame.frame.notna().to_numpy().any(axis=1)]
        if not len(observed):
            continue
        first.append(observed[0])
        if any(head.target.source == name for head in spec.heads.values()):
            last.append(observed[-1] + (pd.offsets.MonthEnd(0) if frame.resolution == "monthly" else pd.Timedelta(0)))
    if not first or not last:
        raise MrframeError("no target source has any observation: there is nothing to backtest")
    as_date = lambda stamp: dt.date.fromisoformat(str(np.datetime64(stamp, "D")))  # noqa: E731
    return as_date(min(first)), as_date(max(last))


def plan_folds(spec: Spec, first_day: dt.date, last_day: dt.date, options: FoldOptions) -> list[Fold]:
    """The folds of ``spec`` on data from ``first_day`` to ``last_day`` (the last target observation: see
    :func:`data_span`); a layout that cannot work is a :class:`MrframeError` naming the option to change."""
    _check_options(options)
    split = spec.data.split
    end = min(split.until, last_day) if split.until is not None else last_day
    origins, test_days = _origins(split.test_from, end, options)
    if options.val_days is not None:
        val_days = options.val_days
    elif split.test_from is not None:
        val_days = (split.test_from - split.val_from).days
    else:
        raise MrframeError("--val-days is needed: the spec has no data.split.test_from to take the validation length from")
    start = split.train_from or first_day
    train_days = options.train_days if options.train_days is not None else (split.val_from - start).days
    folds = []
    for i, origin in enumerate(origins):
        if not first_day < origin <= end:
            raise MrframeError(f"fold {i + 1}: origin {origin} is outside the data ({first_day} .. {end})")
        val_from = origin - _days(val_days)
        train_from = split.train_from if options.window == "expanding" else val_from - _days(train_days)
        if val_from <= (train_from or first_day):
            raise MrframeError(f"fold {i + 1} (origin {origin}): its validation period would start at {val_from}, "
                               f"leaving no training period; use fewer or later folds, or a shorter --val-days")
        until = min(origin + _days(test_days[i] - 1), end)
        folds.append(Fold(i + 1, train_from, val_from, origin, until))
    return folds


def _check_options(options: FoldOptions) -> None:
    """Options that contradict each other are an error, never silently ignored."""
    if options.at:
        for given, name in ((options.folds, "--folds"), (options.step, "--step")):
            if given is not None:
                raise MrframeError(f"--at gives the origins: drop {name} (or drop --at)")
        seen = set()
        for day in options.at:
            if day in seen:
                raise MrframeError(f"--at {day} is given twice: each origin makes one fold")
            seen.add(day)
    if options.train_days is not None and options.window != "sliding":
        raise MrframeError("--train-days sets the training length of --window sliding; an expanding window trains "
                           "from the spec's start: add --window sliding or drop --train-days")


def _origins(test_from: dt.date | None, end: dt.date, options: FoldOptions) -> tuple[list[dt.date], list[int]]:
    if options.at:
        origins = sorted(options.at)
        gaps = [(b - a).days for a, b in zip(origins, origins[1:], strict=False)] + [(end - origins[-1]).days + 1]
        return origins, [options.test_days or g for g in gaps]
    if test_from is None:
        raise MrframeError("the spec has no data.split.test_from: give the fold origins with --at DATE")
    period = (end - test_from).days + 1
    if options.step is None:
        folds = options.folds or 5
        step = period // folds
        if step < 1:
            raise MrframeError(f"--folds {folds}: the test period {test_from} .. {end} has only {period} days")
    else:
        step = options.step
        folds = options.folds or max(1, period // step)
    origins = [test_from + _days(i * step) for i in range(folds)]
    test_days = [options.test_days or step] * folds
    if options.step is None and options.test_days is None:  # tiling: the last fold takes the days left over
        test_days[-1] = period - step * (folds - 1)
    return origins, test_days
