"""Specs for the data-pipeline tests: in-memory synthetic sources, small windows, no training."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from mrframe.spec import Spec, build_spec

BASE: dict[str, Any] = {
    "version": 1,
    "data": {
        "daily_window": 21,
        "monthly_window": 4,
        "split": {"val_from": "2023-01-01", "test_from": "2023-07-01"},
    },
    "sources": {
        "daily": {"plugin": "synthetic", "start": "2022-01-01", "periods": 700, "features": 4, "missing": 0.1},
        "counts": {"plugin": "synthetic", "start": "2022-02-10", "periods": 600, "features": 3, "counts": True,
                   "seed": 2, "lag_days": 2},
        "monthly": {"plugin": "synthetic", "resolution": "monthly", "start": "2021-11-01", "periods": 24,
                    "features": 3, "missing": 0.2, "seed": 1},
        "survey": {"plugin": "synthetic", "resolution": "monthly", "start": "2021-09-01", "periods": 20,
                   "features": 2, "missing": 0.1, "seed": 4, "lag_days": 10},
    },
    "encoders": {name: {"plugin": "recurrent"} for name in ("daily", "counts", "monthly", "survey")},
    "heads": {
        "week": {"plugin": "regression", "target": {"source": "daily", "horizon": 7, "span": 3},
                 "loss": {"plugin": "masked-mse"}},
        "month": {"plugin": "regression", "target": {"source": "monthly", "horizon": 1},
                  "loss": {"plugin": "masked-mse"}},
    },
}


def build(changes: dict[str, Any] | None = None) -> Spec:
    """``BASE`` with ``changes`` merged in (nested tables merge; other values replace); skips the test when
    the first-party plugins are not installed."""
    for plugin in ("mrframe_osint", "mrframe_han", "mrframe_objectives"):
        pytest.importorskip(plugin)
    document = copy.deepcopy(BASE)
    _merge(document, changes or {})
    return build_spec(document)


def _merge(into: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@pytest.fixture
def make_spec() -> Callable[..., Spec]:
    """``make_spec(changes)``: the base spec with ``changes`` merged in."""
    return build


@pytest.fixture
def spec() -> Spec:
    return build()
