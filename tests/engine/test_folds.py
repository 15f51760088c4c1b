"""Rolling-origin folds: where they lie, and the fold-level leakage guarantee."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import torch

from mrframe.cli import main
from mrframe.data.dataset import BatchLoader
from mrframe.data.pipeline import load_sources, prepare
from mrframe.engine.backtest.folds import FoldOptions, plan_folds
from mrframe.engine.predict import predict
from mrframe.engine.trainer import Trainer
from mrframe.errors import MrframeError
from mrframe.interfaces import SourceFrame
from mrframe.spec import load_spec

D = dt.date


def spec_of(tiny_spec, **kwargs):  # noqa: ANN001, ANN003, ANN201
    return load_spec(tiny_spec(**kwargs))


def test_default_folds_tile_the_test_period_with_expanding_training(tiny_spec):
    spec = spec_of(tiny_spec)  # train_from 2022-01-15, val_from 2022-05-01, test_from 2022-06-10; data to 2022-07-19
    folds = plan_folds(spec, D(2022, 1, 1), D(2022, 7, 19), FoldOptions(folds=2))
    assert [(f.val_from, f.test_from, f.until) for f in folds] == [
        (D(2022, 5, 1), D(2022, 6, 10), D(2022, 6, 29)), (D(2022, 5, 21), D(2022, 6, 30), D(2022, 7, 19))]
    assert all(f.train_from == D(2022, 1, 15) for f in folds)  # expanding: the spec's own start
    three = plan_folds(spec, D(2022, 1, 1), D(2022, 7, 19), FoldOptions(folds=3))  # 40 days: 13, 13 and 14
    assert [(f.test_from, f.until) for f in three] == [
        (D(2022, 6, 10), D(2022, 6, 22)), (D(2022, 6, 23), D(2022, 7, 5)), (D(2022, 7, 6), D(2022, 7, 19))]
    assert folds[1].overrides() == ["data.split.val_from=2022-05-21", "data.split.test_from=2022-06-30",
                                    "data.split.until=2022-07-19", "data.split.train_from=2022-01-15"]


def test_sliding_windows_explicit_origins_and_steps(tiny_spec):
    spec = spec_of(tiny_spec)
    sliding = plan_folds(spec, D(2022, 1, 1), D(2022, 7, 19),
                         FoldOptions(at=(D(2022, 7, 1), D(2022, 6, 15)), window="sliding", train_days=30, val_days=20))
    assert [(f.train_from, f.val_from, f.test_from, f.until) for f in sliding] == [
        (D(2022, 4, 26), D(2022, 5, 26), D(2022, 6, 15), D(2022, 6, 30)),
        (D(2022, 5, 12), D(2022, 6, 11), D(2022, 7, 1), D(2022, 7, 19))]
    stepped = plan_folds(spec, D(2022, 1, 1), D(2022, 7, 19), FoldOptions(step=10, test_days=15))
    assert [f.test_from for f in stepped] == [D(2022, 6, 10), D(2022, 6, 20), D(2022, 6, 30), D(2022, 7, 10)]
    assert stepped[0].until == D(2022, 6, 24) and stepped[-1].until == D(2022, 7, 19)  # overlapping, cut at the end


@pytest.mark.parametrize(("options", "message"), [
    (FoldOptions(at=(D(2023, 1, 1),)), "outside the data"),
    (FoldOptions(folds=2, val_days=150), "leaving no training period"),
    (FoldOptions(folds=100), "has only 40 days"),
    (FoldOptions(at=(D(2022, 6, 15),), folds=2), "--at gives the origins: drop --folds"),
    (FoldOptions(at=(D(2022, 6, 15),), step=10), "--at gives the origins: drop --step"),
    (FoldOptions(at=(D(2022, 6, 15), D(2022, 7, 1), D(2022, 6, 15))), "--at 2022-06-15 is given twice"),
    (FoldOptions(folds=2, train_days=30), "--train-days sets the training length of --window sliding"),
])
def test_impossible_layouts_name_the_option_to_change(tiny_spec, options, message):
    with pytest.raises(MrframeError, match=message):
        plan_folds(spec_of(tiny_spec), D(2022, 1, 1), D(2022, 7, 19), options)


@pytest.mark.parametrize(("args", "message"), [
    (["--folds", "2", "--fold", "3"], "error: --fold 3: the backtest in {out} has folds 1 .. 2"),
    (["--folds", "2", "--at", "2022-06-15"], "error: --at gives the origins: drop --folds (or drop --at)"),
])
def test_a_bad_backtest_option_is_one_line_exit_2_and_leaves_no_directory(tiny_spec, tmp_path, capsys, args, message):
    out = tmp_path / "bt"
    with pytest.raises(SystemExit) as stopped:
        main(["backtest", str(tiny_spec()), *args, "--out", str(out)])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.splitlines() == [message.format(out=out)]
    assert not out.exists()


def _perturbed_after(frames, origin: np.datetime64):  # noqa: ANN001, ANN202
    """Every value a sample anchored on ``origin`` cannot see replaced: days after it, months not ended by it."""
    rng = np.random.default_rng(0)
    out = {}
    for name, frame in frames.items():
        data = frame.frame.copy()
        index = data.index.to_numpy().astype("datetime64[D]")
        ends = index if frame.resolution == "daily" else \
            (data.index + pd.offsets.MonthEnd(0)).to_numpy().astype("datetime64[D]")
        later = ends > origin if frame.resolution == "daily" else ends >= origin
        noise = rng.normal(0.0, 1e6, size=data.shape)
        noise[rng.random(data.shape) < 0.3] = np.nan
        data.loc[later] = noise[later]
        out[name] = SourceFrame(data, frame.resolution, frame.observed, frame.counts, frame.rejected)
    return out


def _batches(dataset):  # noqa: ANN001, ANN202
    return [b for b in BatchLoader(dataset, 16)]


def test_a_fold_never_sees_past_its_origin(tiny_spec):
    """Perturbing every value after a fold's test origin leaves the fold's training and validation batches, its
    fitted preprocessing, its trained weights and its forecast issued at the origin bitwise unchanged."""
    spec = spec_of(tiny_spec, train="epochs = 1")
    fold = plan_folds(spec, D(2022, 1, 1), D(2022, 7, 19), FoldOptions(folds=2))[1]
    spec = load_spec(spec.path, fold.overrides())
    frames = load_sources(spec)
    origin = np.datetime64(fold.test_from, "D")
    runs = {}
    for name, data_frames in {"clean": frames, "perturbed": _perturbed_after(frames, origin)}.items():
        data = prepare(spec, frames=data_frames)
        trainer = Trainer(spec, data)
        trainer.fit()
        runs[name] = (data, trainer)
    (clean, clean_trainer), (dirty, dirty_trainer) = runs["clean"], runs["perturbed"]
    assert any(not np.array_equal(clean.frames[n].frame.to_numpy(), dirty.frames[n].frame.to_numpy(), equal_nan=True)
               for n in frames)  # the perturbation did change the data
    for key, value in clean.preprocessing_state().items():
        assert torch.equal(value, dirty.preprocessing_state()[key]), key
    for split in ("train", "val"):
        for a, b in zip(_batches(clean.datasets[split]), _batches(dirty.datasets[split]), strict=True):
            for group in ("inputs", "targets"):
                for key in getattr(a, group):
                    assert torch.equal(getattr(a, group)[key].values, getattr(b, group)[key].values), (split, key)
                    assert torch.equal(getattr(a, group)[key].mask, getattr(b, group)[key].mask), (split, key)
    for (name, p), q in zip(clean_trainer.network.state_dict().items(), dirty_trainer.network.state_dict().values(),
                            strict=True):
        assert torch.equal(p, q), name
    forecast = [predict(t.network, d, [fold.test_from], t.device) for d, t in runs.values()]
    pd.testing.assert_frame_equal(forecast[0].drop(columns="actual"), forecast[1].drop(columns="actual"))
