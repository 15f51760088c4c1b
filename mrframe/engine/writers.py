"""Built-in hook: epoch metrics as CSV and JSON lines, and the run summary.

Both metric files are rewritten whole (atomically) after every epoch from the :class:`RunLog`, which a resumed
run restores from its checkpoint: rows of epochs after the checkpoint, written before a crash, disappear.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from mrframe.engine.rundir import RunDirectory, json_ready
from mrframe.engine.runlog import RunLog
from mrframe.hooks import EpochRecord, RunInfo, hookimpl


class MetricsWriter:
    """Writes ``metrics.jsonl`` and ``metrics.csv`` (columns can appear later) and ``summary.json``."""

    def __init__(self, directory: RunDirectory, log: RunLog):
        self.directory = directory
        self.log = log

    @hookimpl
    def mrframe_run_start(self, run: RunInfo) -> None:
        if run.writes:
            self.write()

    @hookimpl(tryfirst=True)  # before any hook that may end the run (StopTraining) at this epoch
    def mrframe_epoch_end(self, run: RunInfo, record: EpochRecord) -> None:
        if run.writes:
            self.write()

    def write(self) -> None:
        rows = self.log.epochs
        lines = "".join(json.dumps(json_ready(row)) + "\n" for row in rows)
        self.directory.write_text(self.directory.metrics_jsonl, lines)
        columns: list[str] = []
        for item in rows:
            columns += [k for k in item if k not in columns]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
        self.directory.write_text(self.directory.metrics_csv, text.getvalue())

    @hookimpl
    def mrframe_run_end(self, run: RunInfo, summary: Mapping[str, Any]) -> None:
        if run.writes:
            self.directory.write_json(self.directory.summary, summary)
