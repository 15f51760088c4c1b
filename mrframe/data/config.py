"""The ``[data]`` section of a spec: windows, the temporal split and the fitted preprocessing.

Preprocessing is set for every source at once (``normalise``, ``log1p_counts``, ``correlation_filter``,
``window_scaling``) and can be changed for one source in ``[data.preprocess.NAME]`` (its keys default to the
``[data]`` ones)::

    [data]
    normalise = "zscore"
    window_scaling = "robust"   # each sample relative to its own window (mrframe.data.window_scaling)
    correlation_filter = 0.98

    [data.preprocess.equipment]
    normalise = "robust"
    pca = 4              # the source's inputs become 4 principal components
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Literal

import attrs

from mrframe.config import field
from mrframe.data.window_scaling import WindowScaling


@attrs.frozen
class SplitConfig:
    """Temporal split by anchor date. A sample belongs to the split its anchor day falls in; training and
    validation samples whose targets would reach into the next split are dropped (an embargo of the longest
    target horizon)."""

    val_from: dt.date = field(doc="first anchor day of the validation split")
    test_from: dt.date | None = field(None, "first anchor day of the test split (none: no test split)")
    train_from: dt.date | None = field(None, "first anchor day of the training split (none: as early as data allows)")
    until: dt.date | None = field(None, "last anchor day of the last split (none: as late as targets allow)")

    def problems(self) -> Iterator[tuple[str, str]]:
        if self.train_from is not None and self.train_from >= self.val_from:
            yield "train_from", f"must be before val_from ({self.val_from}), got {self.train_from}"
        if self.test_from is not None and self.test_from <= self.val_from:
            yield "test_from", f"must be after val_from ({self.val_from}), got {self.test_from}"
        last = self.test_from or self.val_from
        if self.until is not None and self.until < last:
            yield "until", f"must not be before {last}, got {self.until}"


Normalise = Literal["zscore", "robust", "none"]


def _check_pca(value: int | float) -> str | None:
    if isinstance(value, float) and not 0.0 < value < 1.0:
        return f"a fraction of variance must lie strictly between 0 and 1, got {value}"
    if isinstance(value, int) and value < 1:
        return f"a number of components must be at least 1, got {value}"
    return None


@attrs.frozen
class SourcePreprocessing:
    """How one source's values are transformed before they reach its encoder (fitted on training rows)."""

    normalise: Normalise | None = field(None, "per-feature scaling (default: data.normalise)")
    log1p_counts: bool | None = field(None, "log-compress count features (default: data.log1p_counts)")
    correlation_filter: float | None = field(
        None, "drop inputs more correlated than this with an earlier one (default: data.correlation_filter; 1: off)",
        min=0.0, max=1.0,
    )
    pca: int | float | None = field(
        None, "replace the inputs by principal components: a number of them, or the fraction of training variance "
              "to keep (0 < x < 1)", check=_check_pca,
    )
    window_scaling: WindowScaling | None = field(None, "per-sample scaling by the sample's own window "
                                                       "(default: data.window_scaling)")


@attrs.frozen
class ResolvedPreprocessing:
    """A source's preprocessing with every default filled in from ``[data]``."""

    normalise: Normalise
    log1p_counts: bool
    correlation_filter: float | None
    pca: int | float | None
    window_scaling: WindowScaling = "none"


@attrs.frozen
class DataConfig:
    """How sources become samples."""

    split: SplitConfig = field(doc="temporal split by anchor date")
    daily_window: int = field(90, "days of daily history each sample sees (ending on its anchor day)", min=1)
    monthly_window: int = field(12, "completed months of monthly history each sample sees", min=1)
    stride: int = field(1, "days between consecutive anchor days", min=1)
    normalise: Normalise = field("zscore", "per-feature scaling fitted on training rows' observed values")
    log1p_counts: bool = field(True, "compress count features with sign(x)*log1p(|x|) before scaling")
    correlation_filter: float | None = field(
        None, "drop an input feature whose |correlation| on training rows with an earlier kept feature of its "
              "source exceeds this (none: keep all)", min=0.0, max=1.0,
    )
    window_scaling: WindowScaling = field(
        "none", "scale each sample's window of a source (and the targets cut from that source) by the center and "
                "spread of its own observed values, after the training-period scaling: zscore (mean, std), robust "
                "(median, IQR) or none",
    )
    window_min_spread: float = field(
        0.1, "smallest window spread, in training-scaled units: a flatter window is divided by this instead",
        min=1e-6,
    )
    preprocess: dict[str, SourcePreprocessing] = field(
        factory=dict, doc="per-source changes to the preprocessing: [data.preprocess.SOURCE]"
    )

    def preprocessing(self, source: str) -> ResolvedPreprocessing:
        """The preprocessing of ``source``: its ``[data.preprocess.SOURCE]`` keys over the ``[data]`` ones."""
        own = self.preprocess.get(source, SourcePreprocessing())
        return ResolvedPreprocessing(
            normalise=own.normalise if own.normalise is not None else self.normalise,
            log1p_counts=own.log1p_counts if own.log1p_counts is not None else self.log1p_counts,
            correlation_filter=own.correlation_filter if own.correlation_filter is not None else self.correlation_filter,
            pca=own.pca,
            window_scaling=own.window_scaling if own.window_scaling is not None else self.window_scaling,
        )
