"""Early stopping: patience, min_delta, smoothing, min_epochs and the monitored metric."""

from __future__ import annotations

import math

import pytest

from mrframe.engine.config import EarlyStoppingConfig
from mrframe.engine.early_stopping import EarlyStopping
from mrframe.errors import MrframeError


def run(values, **config):  # noqa: ANN001, ANN003, ANN201
    stopper = EarlyStopping(EarlyStoppingConfig(**config))
    improved, stopped_at = [], None
    for epoch, value in enumerate(values):
        improved.append(stopper.update(epoch, {"val_loss": value, "val_anchored": math.nan}))
        if stopper.should_stop:
            stopped_at = epoch
            break
    return stopper, improved, stopped_at


def test_patience_counts_epochs_without_improvement():
    stopper, improved, stopped = run([3.0, 2.0, 2.5, 2.1, 2.2, 1.0], patience=3)
    assert improved == [True, True, False, False, False]
    assert stopped == 4 and stopper.best == 2.0 and stopper.best_epoch == 1


def test_min_delta_requires_a_large_enough_improvement():
    _, improved, stopped = run([1.0, 0.95, 0.91, 0.88], patience=2, min_delta=0.1)
    assert improved == [True, False, False] and stopped == 2


def test_min_epochs_delays_stopping():
    _, _, stopped = run([1.0, 2.0, 2.0, 2.0, 2.0, 2.0], patience=1, min_epochs=4)
    assert stopped == 3


def test_smoothing_is_an_exponential_moving_average():
    stopper, improved, _ = run([1.0, 0.0, 2.0], smoothing=0.5)
    assert stopper.smoothed == pytest.approx(0.5 * (0.5 * 1.0 + 0.5 * 0.0) + 0.5 * 2.0)
    assert improved == [True, True, False]  # 1.0, then 0.5 (improved), then 1.25


def test_nan_never_improves_and_no_patience_never_stops():
    stopper, improved, stopped = run([math.nan, 1.0, math.nan, math.nan, 0.5])
    assert improved == [False, True, False, False, True] and stopped is None
    assert stopper.best == 0.5


def test_monitor_auto_prefers_the_anchored_score_and_modes():
    stopper = EarlyStopping(EarlyStoppingConfig())
    stopper.update(0, {"val_loss": 1.0, "val_anchored": 3.0})
    assert (stopper.monitor, stopper.mode) == ("val_anchored", "min")
    auc = EarlyStopping(EarlyStoppingConfig(monitor="val/cls/auc", patience=1))
    auc.update(0, {"val/cls/auc": 0.6})
    assert auc.mode == "max" and not auc.update(1, {"val/cls/auc": 0.55}) and auc.should_stop
    with pytest.raises(MrframeError, match="no metric named 'val/x/mae'.*val_loss"):
        EarlyStopping(EarlyStoppingConfig(monitor="val/x/mae")).update(0, {"val_loss": 1.0})


def test_state_round_trip():
    stopper, _, _ = run([2.0, 1.0, 1.5], patience=5, smoothing=0.3)
    again = EarlyStopping(EarlyStoppingConfig(patience=5, smoothing=0.3))
    again.load_state_dict(stopper.state_dict())
    assert again.state_dict() == stopper.state_dict()


def test_an_epoch_that_is_no_candidate_is_never_best_and_does_not_pick_the_monitor():
    stopper = EarlyStopping(EarlyStoppingConfig(patience=2))
    warmup = {"val_loss": 0.0, "val_anchored": math.nan}  # a3dro's warm-up: every regret 0, no anchored score yet
    assert not stopper.update(0, warmup, candidate=False)
    assert stopper.monitor is None and stopper.bad_epochs == 0 and stopper.epochs_seen == 1
    assert stopper.update(1, {"val_loss": 0.4, "val_anchored": 0.3})
    assert stopper.monitor == "val_anchored" and stopper.best_epoch == 1 and stopper.best == 0.3


@pytest.mark.parametrize(("monitor", "suggestion"), [("val/next/maae", "val/next/mae"), ("val/nxt/rmse", "val/next/rmse"),
                                                     ("val_los", "val_loss")])
def test_validate_refuses_a_misspelled_monitor_with_a_suggestion(tiny_spec, capsys, monitor, suggestion):
    from mrframe.cli import main

    path = tiny_spec(train=f"[train.early_stopping]\nmonitor = '{monitor}'")
    with pytest.raises(SystemExit) as exit_:
        main(["validate", str(path)])
    lines = [line for line in capsys.readouterr().err.splitlines() if "train.early_stopping.monitor" in line]
    assert exit_.value.code == 2 and len(lines) == 1, lines
    assert f"no metric named '{monitor}' (did you mean '{suggestion}'?)" in lines[0]


@pytest.mark.parametrize("monitor", ["auto", "val/next/mae", "val/next/loss", "train_loss", "val_anchored"])
def test_validate_accepts_every_metric_an_epoch_has(tiny_spec, monitor):
    from mrframe.spec import load_spec

    spec = load_spec(tiny_spec(train=f"[train.early_stopping]\nmonitor = '{monitor}'"))
    assert spec.train.early_stopping.monitor == monitor
