"""The run directory: where a run leaves its resolved spec, metrics, plots, checkpoints and summary.

Layout::

    RUN_DIR/
      spec.toml                  the resolved spec (defaults filled in, paths absolute)
      metrics.csv                one row per epoch
      metrics.jsonl              the same, one JSON object per line (NaN/inf written as null)
      plots/loss.png             train/validation loss per task, per epoch
      plots/weights.png          task weights per optimizer step
      plots/lr.png               learning rate per optimizer step
      checkpoints/last.pt        the latest state (resume from it), written atomically, with a checksum
      checkpoints/last.prev.pt   the state last.pt replaced (resume falls back to it)
      checkpoints/best.pt        the state of the best epoch (early-stopping monitor)
      nonfinite/step-N.json      non-finite guard reports, with step-N-batch.pt (the batch's tensors)
      evaluation-SPLIT.json      metrics of the best model beside the baselines, per split
      forecasts-SPLIT.csv        every target of the split with its forecast columns and scores
      plots/forecasts-SPLIT.png  forecasts against actuals (plus pit-SPLIT.png, reliability-SPLIT.png)
      summary.json               what happened, parameter counts, final metrics, baseline verdicts
"""

from __future__ import annotations

import datetime as dt
import json
import math
import pathlib
from collections.abc import Mapping
from typing import Any

import attrs

from mrframe.engine.files import atomic_write, previous_version
from mrframe.errors import MrframeError

BACKTEST_PLAN = "backtest.json"
"""The file that makes a directory a backtest directory (:mod:`mrframe.engine.backtest.runner`)."""


@attrs.frozen
class RunDirectory:
    path: pathlib.Path

    @classmethod
    def create(cls, out_dir: pathlib.Path, name: str) -> RunDirectory:
        """A new, empty ``out_dir/NAME-YYYYmmdd-HHMMSS`` (suffixed ``-2``, ``-3``... if taken)."""
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out_dir.mkdir(parents=True, exist_ok=True)
        base = out_dir / f"{name}-{stamp}"
        path, n = base, 1
        while True:
            try:
                path.mkdir()
                break
            except FileExistsError:
                n += 1
                path = base.with_name(f"{base.name}-{n}")
        return cls(path)

    @classmethod
    def existing(cls, path: pathlib.Path) -> RunDirectory:
        """An existing run directory (it must hold the resolved spec)."""
        path = pathlib.Path(path)
        if (path / BACKTEST_PLAN).is_file():
            first = sorted(path.glob("fold-*"))
            example = first[0] if first else path / "fold-01"
            raise MrframeError(f"{path}: a backtest directory, not a run; its folds are the runs (e.g. {example}), "
                               f"and `mrframe backtest --collect {path}` aggregates them")
        if not (path / "spec.toml").is_file():
            raise MrframeError(f"{path}: not a run directory (no spec.toml in it)")
        return cls(path)

    @property
    def spec(self) -> pathlib.Path:
        return self.path / "spec.toml"

    @property
    def metrics_csv(self) -> pathlib.Path:
        return self.path / "metrics.csv"

    @property
    def metrics_jsonl(self) -> pathlib.Path:
        return self.path / "metrics.jsonl"

    @property
    def summary(self) -> pathlib.Path:
        return self.path / "summary.json"

    @property
    def plots(self) -> pathlib.Path:
        return self._subdir("plots")

    @property
    def checkpoints(self) -> pathlib.Path:
        return self._subdir("checkpoints")

    @property
    def last(self) -> pathlib.Path:
        return self.path / "checkpoints" / "last.pt"

    @property
    def last_prev(self) -> pathlib.Path:
        return previous_version(self.last)

    @property
    def best(self) -> pathlib.Path:
        return self.path / "checkpoints" / "best.pt"

    def records(self) -> list[str]:
        """What in the directory records training (checkpoint files, readable or not, metric rows, the summary,
        evaluations), as paths relative to it; empty for a run that never reached its first checkpoint."""
        found = sorted(p for p in (self.path / "checkpoints").glob("*.pt"))
        found += sorted(self.path.glob("evaluation-*.json"))
        found += [p for p in (self.summary,) if p.exists()]
        if self.metrics_csv.is_file() and len(self.metrics_csv.read_text(encoding="utf-8").splitlines()) > 1:
            found.append(self.metrics_csv)
        return [p.relative_to(self.path).as_posix() for p in found]

    def evaluation(self, split: str) -> pathlib.Path:
        return self.path / f"evaluation-{split}.json"

    def _subdir(self, name: str) -> pathlib.Path:
        path = self.path / name
        path.mkdir(exist_ok=True)
        return path

    def write_text(self, path: pathlib.Path, text: str) -> None:
        """Write atomically (:func:`mrframe.engine.files.atomic_write`)."""
        atomic_write(path, lambda handle: handle.write(text), binary=False)

    def write_json(self, path: pathlib.Path, data: Mapping[str, Any]) -> None:
        """Write ``data`` as JSON atomically; NaN and inf (which JSON lacks) become null."""
        self.write_text(path, json.dumps(json_ready(data), indent=2, sort_keys=False, default=_jsonable) + "\n")


def json_ready(value: Any) -> Any:
    """``value`` with non-finite floats replaced by None, recursively (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, pathlib.Path | dt.date):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
