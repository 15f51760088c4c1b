"""Values that mean "missing": declared sentinels and infinities masked after loading, likely sentinels flagged.

Many files write a missing value as a number (-999, 9999, -1). A source table declares them with the core key
``missing_values = [-999, ...]``; right after a source loads, :func:`mask_missing` turns every cell equal to one
of them into NaN (missing), and every ``+-inf`` cell and every finite one beyond the float32 range the model
computes in (``|x| > 3.4e38``) too, counting each kind in the source's ``rejected`` table (the data report shows
them). Sources that derive values from their cells (differences of cumulative counts) mask
the declared values themselves before deriving (:attr:`mrframe.interfaces.Source.missing_values`), so what the
core finds afterwards is only what they left.

:func:`suspected_sentinels` looks for the sentinels nobody declared: in each column, a value repeated on at
least ``MIN_ROWS`` rows (and ``MIN_SHARE`` of the observed ones) that lies far outside the rest of the column:
more than ``FAR`` robust spreads beyond its smallest or largest other value, and either of the other sign
than all of them (-999 among counts) or further away than twice their range (a plateau of a cumulative count
just below its later values is no sentinel)::

    spread = max(IQR / 1.349, 1.4826 MAD, std)     of the column's other observed values ("rest")
    d      = distance from v to [min(rest), max(rest)]
    v is flagged  <=>  d > FAR * spread   and   (v < 0 <= min(rest)  or  v > 0 >= max(rest)  or  d > 2 range)

``mrframe data`` and ``mrframe run`` list them in the data report with the line to add to the spec.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs
import numpy as np
import pandas as pd

from mrframe.interfaces import SourceFrame

DECLARED = "declared missing value (missing_values)"
INFINITE = "infinite value (set missing)"
BEYOND_FLOAT32 = "value beyond the float32 range (set missing)"
"""The ``rejected`` reasons of masked cells (readers that mask them themselves use the same ones)."""

MIN_ROWS = 3
MIN_SHARE = 0.005
FAR = 5.0
MIN_REST = 10


def sentinel_cells(values: np.ndarray, missing_values: Sequence[float]) -> np.ndarray:
    """Bool array: True where ``values`` equals one of ``missing_values``, compared in ``values``' own float
    dtype (-999.9 in a float32 column is float32(-999.9), not the float64 number)."""
    if not len(missing_values):
        return np.zeros(values.shape, dtype=bool)
    dtype = values.dtype if values.dtype.kind == "f" else np.float64
    return np.isin(values, np.asarray(missing_values, dtype=np.float64).astype(dtype))


def _comparable(dtype: object) -> np.dtype:
    """The dtype a column's cells are compared with sentinels in: its own float dtype (numpy or a pandas
    nullable float), else float64 (integers and booleans are exact in it)."""
    if pd.api.types.is_float_dtype(dtype):
        return np.dtype(getattr(dtype, "numpy_dtype", dtype))
    return np.dtype(np.float64)


def mask_missing(source: SourceFrame, missing_values: Sequence[float] = ()) -> SourceFrame:
    """``source`` with declared sentinels (compared in each column's dtype) and infinities set to NaN, each
    counted in ``rejected``."""
    frame = source.frame
    values = frame.to_numpy(dtype=np.float64, na_value=np.nan) if frame.size else np.zeros(frame.shape)
    declared = np.zeros(frame.shape, dtype=bool)
    if len(missing_values) and frame.size:
        by_dtype: dict[np.dtype, list[int]] = {}
        for i, dtype in enumerate(frame.dtypes):
            by_dtype.setdefault(_comparable(dtype), []).append(i)
        for dtype, positions in by_dtype.items():
            block = frame.iloc[:, positions].to_numpy(dtype=dtype, na_value=np.nan)
            declared[:, positions] = sentinel_cells(block, missing_values)
    infinite = np.isinf(values)
    with np.errstate(invalid="ignore"):  # models see float32: a finite value beyond it would become infinite
        beyond = np.isfinite(values) & (np.abs(values) > np.finfo(np.float32).max) & ~declared
    if not declared.any() and not infinite.any() and not beyond.any():
        return source
    rejected = dict(source.rejected)
    for reason, cells in ((DECLARED, declared), (INFINITE, infinite), (BEYOND_FLOAT32, beyond)):
        if cells.any():
            rejected[reason] = rejected.get(reason, 0) + int(cells.sum())
    masked = frame.mask(pd.DataFrame(declared | infinite | beyond, index=frame.index, columns=frame.columns))
    return attrs.evolve(source, frame=masked, rejected=rejected)


@attrs.frozen
class Suspect:
    """A likely undeclared sentinel: ``value`` on ``rows`` rows of ``feature``, far from the rest (``low..high``)."""

    feature: str
    value: float
    rows: int
    low: float
    high: float

    def text(self) -> str:
        return (f"{self.feature}: {self.value:g} on {self.rows:,} rows, far outside the rest ({self.low:g} .. "
                f"{self.high:g})")


def _spread(rest: np.ndarray) -> float:
    q25, median, q75 = np.percentile(rest, [25, 50, 75])
    spread = max((q75 - q25) / 1.349, 1.4826 * float(np.median(np.abs(rest - median))), float(rest.std()))
    return spread if spread > 0 else max(abs(float(median)), 1.0)


def column_suspects(name: str, column: np.ndarray) -> Iterable[Suspect]:
    """The likely sentinels of one column (see the module docstring). Only the column's smallest and largest
    values can lie outside the rest (``d > 0``), so only they are tried: ``O(n log n)`` per column."""
    observed = column[np.isfinite(column)]
    if observed.size < MIN_REST + MIN_ROWS:
        return
    values, counts = np.unique(observed, return_counts=True)
    ends = [0, len(values) - 1] if len(values) > 1 else [0]
    values, counts = values[ends], counts[ends]
    enough = max(MIN_ROWS, int(np.ceil(MIN_SHARE * observed.size)))
    for value, count in zip(values[counts >= enough], counts[counts >= enough], strict=True):
        rest = observed[observed != value]
        if rest.size < MIN_REST:
            continue
        low, high, spread = float(rest.min()), float(rest.max()), _spread(rest)
        distance = max(low - value, value - high, 0.0)
        other_sign = value < 0 <= low or value > 0 >= high
        if distance > FAR * spread and (other_sign or distance > 2 * (high - low)):
            yield Suspect(name, float(value), int(count), low, high)


def suspected_sentinels(frame: pd.DataFrame) -> list[Suspect]:
    """Every column's likely undeclared sentinels."""
    found = []
    for name in frame.columns:
        column = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
        label = "/".join(map(str, name)) if isinstance(name, tuple) else str(name)
        found += column_suspects(label, column)
    return found
