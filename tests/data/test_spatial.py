"""Spatial sources through the data side: frame checks, alignment, pooled scaling, one PCA for all regions,
strided windows with memory flat in the number of samples, targets with a region axis, report and map."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mrframe.data.anchoring import parse_anchor
from mrframe.data.pipeline import prepare
from mrframe.data.report import DataReport, region_map_name, write_data_report
from mrframe.data.timeline import align, check_frame
from mrframe.data.windows import WindowView
from mrframe.engine.rundir import RunDirectory
from mrframe.errors import DataError, PluginError
from mrframe.interfaces import SourceFrame
from mrframe.model import AssembledModel
from mrframe.observed import Observed
from mrframe.spec import build_spec
from tests.fakes import fake_plugins
from tests.spatial_fakes import RegionWaveConfig, RegionWaveSource, grid, spatial_fakes


@pytest.fixture
def plugins():
    with fake_plugins(), spatial_fakes():
        yield


def document(**changes):
    doc = {
        "version": 1,
        "run": {"name": "spatial", "seed": 1},
        "data": {"daily_window": 20, "split": {"val_from": "2021-10-01", "test_from": "2021-12-01"}},
        "model": {"d_model": 8},
        "sources": {"cells": {"plugin": "fake-region-wave", "periods": 400},
                    "daily": {"plugin": "fake-wave", "periods": 400}},
        "encoders": {"cells": {"plugin": "fake-region-pointwise"}, "daily": {"plugin": "fake-pointwise"}},
        "heads": {"cellwise": {"plugin": "fake-region-last", "target": {"source": "cells", "horizon": 3, "span": 2},
                               "loss": {"plugin": "fake-se"}}},
        "weighting": {"plugin": "fake-mean"},
        "train": {"epochs": 1, "batch_size": 8},
    }
    for key, value in changes.items():
        doc[key] = value
    return doc


def test_observed_spatial_layout():
    raw = torch.randn(2, 5, 3, 4)
    raw[0, 1, 2] = float("nan")  # region 2 unobserved on step 1 of sample 0
    raw[1, :, 0, 1:] = float("nan")  # region 0 of sample 1 observes feature 0 only
    x = Observed.build(raw)
    assert x.spatial and x.present.shape == (2, 5) and x.region_present.shape == (2, 5, 3)
    assert not x.region_present[0, 1, 2] and x.region_present[1, :, 0].all()
    folded = x.per_region()
    assert folded.shape == (6, 5, 4)
    assert torch.equal(folded.values[1 * 3 + 0], x.values[1, :, 0]) and torch.equal(folded.mask[2], x.mask[0, :, 2])
    assert x[1:].shape == (1, 5, 3, 4)
    with pytest.raises(ValueError, match="regions"):
        Observed.build(torch.zeros(2, 3, 4, 5, 6))


def test_bad_spatial_frames_are_refused_naming_the_problem():
    good = RegionWaveSource(RegionWaveConfig(periods=10)).load()
    check_frame("s", good)
    frame = good.frame
    swapped = frame[list(frame.columns[2:4]) + list(frame.columns[:2]) + list(frame.columns[4:])]
    cases = {
        "region-major in the region table's order": swapped,
        "region 'g12' of the region table has no column": frame.drop(columns=["g12"], level=0),
        "every region needs each of the features": frame.drop(columns=[("g00", "f1")]),
        "MultiIndex": frame.droplevel(0, axis=1),
    }
    for message, broken in cases.items():
        with pytest.raises(DataError, match=message):
            check_frame("s", SourceFrame(broken, "daily", regions=good.regions))
    other = grid(2, 2)
    with pytest.raises(DataError, match="of the frame is not in its region table"):
        check_frame("s", SourceFrame(frame, "daily", regions=other))


def test_spatial_alignment_scaling_and_one_pca_for_all_regions(plugins):
    doc = document()
    doc["data"]["preprocess"] = {"cells": {"pca": 1}}
    data = prepare(build_spec(doc))
    frame = data.frames["cells"].frame
    assert data.sources["cells"].values.shape == (400, 6, 2)
    # pooled scaling: one center and scale per feature, over every (day, region) pair of the training period
    scaling = data.normaliser.scalings["cells"]
    assert scaling.center.shape == (2,)
    rows = frame.index < "2021-10-01"
    f1 = frame.xs("f1", axis=1, level=1)[rows].to_numpy()
    assert scaling.center[1] == pytest.approx(np.nanmean(f1), rel=1e-6)
    assert scaling.scale[1] == pytest.approx(np.nanstd(f1), rel=1e-5)
    # one PCA: the components are per-region features, fitted on (day, region) rows
    assert data.inputs["cells"].features == ("pc1",) and data.inputs["cells"].regions is not None
    state = data.preprocessing_state()
    assert state["reduction.cells.components"].shape == (1, 2)
    batch = data.datasets["train"].batch(np.arange(4))
    assert batch.inputs["cells"].shape == (4, 20, 6, 1)
    assert batch.targets["cellwise"].shape == (4, 2, 6, 2)
    # re-applied from the fitted state: the same inputs
    again = prepare(build_spec(doc), frames=data.frames, fitted=state)
    assert torch.equal(again.datasets["train"].batch(np.arange(4)).inputs["cells"].values, batch.inputs["cells"].values)


def test_spatial_targets_follow_the_embargo_and_the_aligned_values(plugins):
    data = prepare(build_spec(document()))
    timeline, split = data.timeline, data.split
    val_from = timeline.day_index("2021-10-01")
    assert (split.anchors["train"] + 3 < val_from).all()  # horizon 3: the targets stay before val_from
    dataset = data.datasets["val"]
    i = np.arange(3)
    batch = dataset.batch(i)
    anchors = dataset.anchors[i]
    expected = data.sources["cells"].values[anchors[:, None] + np.array([2, 3])]  # span 2 ending at horizon 3
    got = np.where(batch.targets["cellwise"].mask.numpy(), batch.targets["cellwise"].values.numpy(), np.nan)
    np.testing.assert_array_equal(got, expected)


def test_window_views_over_regions_are_strided_and_flat_in_the_number_of_samples(plugins):
    values = np.arange(5 * 3 * 2, dtype=np.float32).reshape(5, 3, 2)
    view = WindowView(values, 3)
    window = view.ending_at(np.array([1, 4]))
    assert window.shape == (2, 3, 3, 2) and np.isnan(window[0, 0]).all()
    np.testing.assert_array_equal(window[1], values[2:5])
    np.testing.assert_array_equal(view.view(4), values[2:5])
    few = prepare(build_spec(document(data={"daily_window": 20, "split": {"val_from": "2021-01-31"}})))
    many = prepare(build_spec(document()))
    small, large = few.datasets["train"], many.datasets["train"]
    assert len(large) >= 10 * len(small)
    assert (large.nbytes - small.nbytes) == (len(large) - len(small)) * 8  # anchors only: memory flat in samples


def test_the_model_refuses_a_national_block_on_a_spatial_source(plugins):
    doc = document()
    doc["encoders"]["cells"] = {"plugin": "fake-pointwise"}
    spec = build_spec(doc)
    data = prepare(spec)
    with pytest.raises(PluginError, match=r"encoders.cells \(fake-pointwise\): takes national sources only, but "
                                          r"source 'cells' is spatial \(6 regions\): use an encoder that takes "
                                          r"spatial sources, e.g. geographic"):
        AssembledModel(spec, data.inputs, data.target_infos)
    doc = document()
    doc["heads"]["cellwise"]["plugin"] = "fake-last"
    spec = build_spec(doc)
    with pytest.raises(PluginError, match=r"heads.cellwise \(fake-last\): predicts national targets only, but "
                                          r"heads.cellwise.target.source 'cells' is spatial"):
        AssembledModel(spec, data.inputs, data.target_infos)
    doc = document()
    doc["heads"]["cellwise"]["target"]["source"] = "daily"
    spec = build_spec(doc)
    with pytest.raises(PluginError, match="predicts spatial targets only, but .* is national"):
        AssembledModel(spec, prepare(spec).inputs, prepare(spec).target_infos)


def test_the_data_report_gives_fractions_per_region_and_a_map(plugins, tmp_path):
    spec = build_spec(document())
    data = prepare(spec)
    directory = RunDirectory.create(tmp_path, "report")
    report = write_data_report(directory, spec, data.frames, data)
    cells = next(s for s in report.sources if s.name == "cells")
    assert set(cells.per_feature) == {"f0", "f1"} and len(cells.per_region) == 6
    assert cells.per_region["g00"] == pytest.approx(0.9, abs=0.05)
    assert (directory.plots / region_map_name("cells")).stat().st_size > 10_000
    assert "least observed regions" in report.text()
    assert DataReport.build(spec, data.frames).to_dict()["sources"][0]["per_region"] is not None


def test_align_keeps_missing_days_missing_per_region():
    source = RegionWaveSource(RegionWaveConfig(periods=30, missing=0.0)).load()
    frame = source.frame.drop(index=source.frame.index[[3, 4]])
    _, aligned = align({"cells": SourceFrame(frame, "daily", regions=source.regions)})
    values = aligned["cells"].values
    assert np.isnan(values[[3, 4]]).all() and np.isfinite(values[[0, 5]]).all()
    assert pd.Index(aligned["cells"].info.features).equals(pd.Index(["f0", "f1"]))


def test_window_scaling_and_anchors_work_per_region(plugins):
    doc = document(data={"daily_window": 20, "window_scaling": "zscore",
                         "split": {"val_from": "2021-10-01", "test_from": "2021-12-01"}})
    doc["heads"]["cellwise"]["target"]["anchor"] = "persistence"
    spec = build_spec(doc)
    data = prepare(spec)
    batch = data.datasets["train"].batch(np.arange(0, 200, 9))
    cells = batch.inputs["cells"]
    values = torch.where(cells.mask, cells.values, torch.nan).double().numpy()  # [B, T, R, F]
    several = cells.mask.sum(dim=1).numpy() >= 2
    assert np.allclose(np.nanmean(values, axis=1)[several], 0.0, atol=1e-5)  # each region relative to its window
    assert np.allclose(np.nanstd(values, axis=1)[several], 1.0, atol=1e-3)
    # the anchor is each region's own last observed value; the framed target goes back exactly
    frame, history = batch.frames["cellwise"], batch.history["cellwise"]
    assert frame.shift.shape == (len(batch), 2, 6, 2) and frame.scale.shape == (len(batch), 1, 6, 2)
    window = torch.where(history.mask, history.values, torch.nan).numpy()
    last = np.array([[[w[np.flatnonzero(np.isfinite(w[:, r, f]))[-1], r, f] for f in range(2)] for r in range(6)]
                     for w in window])
    np.testing.assert_allclose(frame.shift[:, 0].numpy(), last, rtol=1e-5)
    dataset = data.datasets["train"]
    truth = dataset.views.targets["cellwise"].ending_at(dataset.anchors[np.arange(0, 200, 9)] + 3)
    decoded = frame.decode_target(batch.targets["cellwise"])
    np.testing.assert_allclose(decoded.values.numpy()[decoded.mask.numpy()], truth[decoded.mask.numpy()],
                               rtol=1e-5, atol=1e-5)
    # a head whose output is zero forecasts each region's anchor exactly
    model = AssembledModel(spec, data.inputs, data.target_infos).eval()
    torch.nn.init.zeros_(model.heads["cellwise"].linear.weight)
    torch.nn.init.zeros_(model.heads["cellwise"].linear.bias)
    with torch.no_grad():
        prediction = frame.decode(model.kinds["cellwise"], model(batch.inputs, batch.calendar)["cellwise"])
    assert torch.equal(prediction, frame.shift)
    info = data.target_infos["cellwise"]
    moving = parse_anchor("moving_average:3").baseline(window.astype(np.float64), info)
    assert moving.shape == (len(batch), 2, 6, 2)
    np.testing.assert_allclose(moving[0, 1, 4], [np.nanmean(window[0, :, 4, f][np.isfinite(window[0, :, 4, f])][-3:])
                                                 for f in range(2)], rtol=1e-6)


def test_extremes_of_a_spatial_source_are_found_per_feature_pooled_over_regions(plugins):
    spec = build_spec(document())
    frames = prepare(spec).frames
    frame = frames["cells"].frame.copy()
    frame.loc["2021-03-01", ("g01", "f1")] = 1e30  # one value far outside, in the training period
    frames["cells"] = SourceFrame(frame, "daily", counts=frames["cells"].counts, regions=frames["cells"].regions)
    data = prepare(spec, frames=frames)
    (extreme,) = data.extreme_values
    assert (extreme.source, extreme.feature, extreme.count, extreme.date) == ("cells", "f1", 1, "2021-03-01")
    assert "region g01" in extreme.text()
    day = data.timeline.day_index("2021-03-01")
    assert np.isnan(data.sources["cells"].values[day, 1, 1])  # masked: region g01 is the table's second
    assert np.isfinite(data.sources["cells"].values[day, 0, 1]) or np.isnan(frame.loc["2021-03-01", ("g00", "f1")])
    assert data.normaliser.scalings["cells"].scale[1] < 10  # the feature is not flattened by the one value
    again = prepare(spec, frames=frames, fitted=data.preprocessing_state())  # the bounds are part of the state
    assert np.array_equal(np.isnan(again.sources["cells"].values), np.isnan(data.sources["cells"].values))
    with pytest.raises(DataError, match=r"source 'cells', feature 'f1' \(region g01\): 1e\+30 on 2021-03-01"):
        prepare(build_spec(document(data=document()["data"] | {"extremes": "error"})), frames=frames)
