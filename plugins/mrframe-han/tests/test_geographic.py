"""The geographic encoder and the spatial forecast head: the kit with a restricted neighbourhood, neighbourhoods
with ties, the distance prior, the patch layout, and a spatial model trained from a spec."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest
import torch
from mrframe_han.geographic import Geographic, GeographicConfig, neighbourhoods
from mrframe_han.spatial_forecast import SpatialForecastConfig

from mrframe.data.pipeline import prepare
from mrframe.engine.predict import predict
from mrframe.engine.trainer import Trainer
from mrframe.interfaces import SourceInfo
from mrframe.regions import Regions
from mrframe.spec import build_spec
from mrframe.testing import check_encoder, check_head
from mrframe.testing.spatial import example_regions, permuted


def test_kit_passes_with_a_neighbourhood_smaller_than_the_regions():
    check_encoder("geographic", GeographicConfig(width=8, heads=2, neighbours=2, patch=3, layers=1), "daily")
    check_head("spatial-forecast", SpatialForecastConfig(hidden=8, variance=True))


def test_neighbourhoods_keep_every_tie_so_the_set_does_not_depend_on_the_order():
    grid = Regions([f"c{i}" for i in range(9)], [""] * 9, 48.0 + np.repeat([0.0, 0.5, 1.0], 3),
                   35.0 + np.tile([0.0, 0.5, 1.0], 3))
    index, distance, valid = neighbourhoods(grid, 2)
    centre = set(index[4][valid[4]].tolist())
    assert centre == {4, 3, 5}  # itself, then east and west at exactly the same distance (north/south are farther)
    assert distance[4][0] == 0.0 and (np.diff(distance[4][valid[4]]) >= 0).all()
    order = np.random.default_rng(0).permutation(9)
    index2, _, valid2 = neighbourhoods(permuted(grid, order), 2)
    for i in range(9):  # the same sets, in the permuted numbering
        assert {order[j] for j in index2[i][valid2[i]]} == set(index[order[i]][valid[order[i]]].tolist())


def test_the_distance_prior_weights_neighbours_by_exp_of_minus_distance_over_scale():
    regions = example_regions(5)
    encoder = Geographic(GeographicConfig(width=8, heads=2, neighbours=5, distance_scale_km=50.0),
                         SourceInfo("s", "daily", ("a",), regions=regions), 8).eval()
    space = encoder.space
    with torch.no_grad():
        space.query.weight.zero_()
        space.query.bias.zero_()
        space.key_value.weight.zero_()
        space.key_value.bias.copy_(torch.cat([torch.zeros(8), torch.arange(8.0)]))  # value = 0..7 everywhere
        space.out.weight.copy_(torch.eye(8))
        space.out.bias.zero_()
    with torch.no_grad():
        out = space(torch.randn(1, 5, 8))
    assert torch.allclose(out[0, :, 3], torch.full((5,), 3.0))  # weights sum to one over the neighbourhood
    # with values that differ per region, the weights are exp(-d / 50) normalised: check one region
    with torch.no_grad():
        space.key_value.bias.zero_()
        space.key_value.weight.zero_()
        space.key_value.weight[8:].copy_(torch.eye(8))  # value = the input
    x = torch.zeros(1, 5, 8)
    x[0, :, 0] = torch.arange(5.0)
    d = torch.from_numpy(regions.distances_km()[0]).float()
    weights = torch.softmax(-d / 50.0, dim=0)
    with torch.no_grad():
        out = space(x)
        normed = space.norm(x)[0, :, 0]
    assert out[0, 0, 0].item() == pytest.approx(float((weights * normed).sum()), rel=1e-4)
    assert math.exp(space.log_scale.item()) == pytest.approx(50.0)


def test_patches_end_on_the_window_end():
    encoder = Geographic(GeographicConfig(patch=7), SourceInfo("s", "daily", ("a",), regions=example_regions(3)), 8)
    patches, ends, pad = encoder._patch_layout(20)
    assert (patches, pad) == (3, 1) and ends.tolist() == [5, 12, 19]


SPEC = {
    "version": 1,
    "run": {"name": "geo", "seed": 2},
    "data": {"daily_window": 28, "stride": 2, "split": {"val_from": "2023-03-01", "test_from": "2023-05-01"}},
    "model": {"d_model": 16},
    "sources": {
        "cells": {"plugin": "synthetic", "regions": 12, "features": 3, "periods": 560, "start": "2021-12-01",
                  "counts": True, "seed": 3},
        "national": {"plugin": "synthetic", "periods": 560, "start": "2021-12-01", "features": 2},
    },
    "encoders": {"cells": {"plugin": "geographic", "width": 16, "heads": 2, "neighbours": 4},
                 "national": {"plugin": "recurrent"}},
    "fusion": [{"plugin": "cross-source", "heads": 2}],
    "heads": {"cell_week": {"plugin": "spatial-forecast", "hidden": 16,
                            "target": {"source": "cells", "horizon": 7, "features": ["x0"]},
                            "loss": {"plugin": "masked-mse"}},
              "national": {"plugin": "forecast", "hidden": 16, "target": {"source": "national", "horizon": 1},
                           "loss": {"plugin": "masked-mse"}}},
    "train": {"epochs": 2, "batch_size": 16, "lr": 3e-3},
}


@pytest.mark.slow
def test_a_spatial_model_trains_from_a_spec_and_reports_per_region():
    spec = build_spec(SPEC)
    trainer = Trainer(spec, prepare(spec))
    assert trainer.model.parameter_counts()["encoders.cells"] > 0
    summary = trainer.fit()
    assert summary["status"] == "finished"
    task = summary["evaluation"]["val"]["tasks"]["cell_week"]
    assert task["count"] > 0 and math.isfinite(task["metrics"]["mae"])
    assert len(task["regions"]["mae"]) == 12 and task["regions"]["beats"]["persistence"]["of"] == 12
    known = trainer.data.datasets["val"].anchor_dates()[0].astype(dt.date)  # a val sample: its targets are known
    table = predict(trainer.network, trainer.data, [known, dt.date(2023, 6, 13)], torch.device("cpu"))
    cells = table[table["task"] == "cell_week"]
    ids = trainer.data.inputs["cells"].regions.ids
    assert len(cells) == 2 * 12 and cells["region"].astype(str).tolist()[:12] == list(ids)
    assert cells["actual"].notna().any() and cells["prediction"].notna().all()
    assert table[table["task"] == "national"]["region"].isna().all()  # empty in the CSV
