"""Built-in hook: epoch metrics as CSV and JSON lines, and the run summary."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from typing import Any

from mrframe.engine.rundir import RunDirectory
from mrframe.hooks import EpochRecord, RunInfo, hookimpl


class MetricsWriter:
    """Appends each epoch to ``metrics.jsonl`` and rewrites ``metrics.csv`` (columns can appear later)."""

    def __init__(self, directory: RunDirectory, history: list[dict[str, Any]] | None = None):
        self.directory = directory
        self.history: list[dict[str, Any]] = list(history or [])

    @hookimpl
    def mrframe_epoch_end(self, run: RunInfo, record: EpochRecord) -> None:
        if not run.writes:
            return
        row = {"epoch": record.epoch + 1, "step": record.step, **record.metrics}
        self.history.append(row)
        with open(self.directory.metrics_jsonl, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({k: _json_number(v) for k, v in row.items()}) + "\n")
        columns: list[str] = []
        for item in self.history:
            columns += [k for k in item if k not in columns]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(self.history)
        self.directory.write_text(self.directory.metrics_csv, text.getvalue())

    @hookimpl
    def mrframe_run_end(self, run: RunInfo, summary: Mapping[str, Any]) -> None:
        if run.writes:
            self.directory.write_json(self.directory.summary, _clean(summary))


def _json_number(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null (documented in the user guide)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return _json_number(value)
