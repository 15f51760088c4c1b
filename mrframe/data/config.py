"""The ``[data]`` section of a spec: windows, the temporal split and the fitted preprocessing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Literal

import attrs

from mrframe.config import field


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


@attrs.frozen
class DataConfig:
    """How sources become samples."""

    split: SplitConfig = field(doc="temporal split by anchor date")
    daily_window: int = field(90, "days of daily history each sample sees (ending on its anchor day)", min=1)
    monthly_window: int = field(12, "completed months of monthly history each sample sees", min=1)
    stride: int = field(1, "days between consecutive anchor days", min=1)
    normalise: Literal["zscore", "robust", "none"] = field(
        "zscore", "per-feature scaling fitted on training rows' observed values"
    )
    log1p_counts: bool = field(True, "compress count features with sign(x)*log1p(|x|) before scaling")
