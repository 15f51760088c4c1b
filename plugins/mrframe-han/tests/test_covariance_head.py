"""The covariance head: positive definite by construction, the sample covariance of the observed input window
only, and eigh-covariance training that stays finite on rank-deficient target covariances."""

from __future__ import annotations

import math

import pytest
import torch
from han_checks import build_model, random_state, source_infos, spec_document
from mrframe_han.covariance import window_covariance

from mrframe.cli import main
from mrframe.data.pipeline import prepare
from mrframe.engine.compare import evaluation_lines, number
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.trainer import Trainer
from mrframe.errors import PluginError
from mrframe.hooks import plugin_manager
from mrframe.observed import Observed
from mrframe.spec import build_spec

pytestmark = pytest.mark.plugins


def test_predictions_are_positive_definite_with_the_recent_sample_covariance():
    infos = source_infos()
    head_table = {"plugin": "covariance", "sample_window": 5, "rank": 1,
                  "target": {"source": "d1", "horizon": 3, "span": 3}}
    document = spec_document(infos=infos, heads={"co": head_table})
    document["heads"]["co"]["loss"] = {"plugin": "eigh-covariance", "sample_beta": 0.5}
    model = build_model(document, infos)
    head = model.heads["co"].eval()
    state = random_state(infos)
    n = infos["d1"].n_features
    window = Observed.build(torch.randn(state.daily.hidden.shape[0], 9, n), torch.rand(state.daily.hidden.shape[0], 9, n) < 0.7)
    with torch.no_grad():
        out = head(state.replace(inputs={"d1": window}))
    assert out["covariance"].shape == (state.daily.hidden.shape[0], n, n)
    assert torch.linalg.eigvalsh(out["covariance"]).min() >= head.config.floor * 0.999  # rank-1 factor + floor
    assert torch.equal(out["sample_covariance"], window_covariance(window, head.columns, 5))
    assert model.kinds["co"].name == "covariance"
    with pytest.raises(PluginError, match="no point forecast"):  # evaluation reports the task's loss instead
        model.kinds["co"].point(out)


def test_predictions_stay_positive_definite_in_float32_under_bf16_autocast():
    """In bfloat16 (8 bits of mantissa) A Aᵀ loses its symmetry and positive definiteness, and a floor of 1e-4
    vanishes beside diagonal entries of order 1; the head computes its matrices in float32 whatever the autocast."""
    infos = source_infos()
    head_table = {"plugin": "covariance", "sample_window": 5, "rank": 1, "floor": 1e-4,
                  "target": {"source": "d1", "horizon": 3, "span": 3}}
    document = spec_document(infos=infos, heads={"co": head_table})
    document["heads"]["co"]["loss"] = {"plugin": "eigh-covariance", "sample_beta": 0.5}
    model = build_model(document, infos)
    head = model.heads["co"].eval()
    with torch.no_grad():
        head.factor.weight.mul_(30.0)  # large factor entries: bf16 rounding errors far above the floor
    state = random_state(infos)
    n = infos["d1"].n_features
    batch = state.daily.hidden.shape[0]
    window = Observed.build(torch.randn(batch, 9, n) * 50, torch.rand(batch, 9, n) < 0.7)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(state.replace(inputs={"d1": window}))
    for key in ("covariance", "sample_covariance"):
        assert out[key].dtype == torch.float32, key
        assert torch.equal(out[key], out[key].transpose(1, 2)), key
    assert torch.linalg.eigvalsh(out["covariance"].double()).min() >= head.config.floor * 0.99
    assert torch.linalg.eigvalsh(out["sample_covariance"].double()).min() > -1e-3


def test_the_sample_covariance_reads_observed_values_only():
    values = torch.randn(2, 6, 3)
    mask = torch.rand(2, 6, 3) < 0.6
    columns = torch.tensor([2, 0])
    base = window_covariance(Observed.build(values, mask), columns, 4)
    changed = torch.where(mask, values, torch.full_like(values, 1e30))
    assert torch.equal(window_covariance(Observed.build(changed, mask), columns, 4), base)
    x = values[:, -4:][..., columns]
    m = mask[:, -4:][..., columns]
    mean = torch.where(m, x, 0).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)
    centred = torch.where(m, x - mean, 0)
    assert torch.allclose(base, centred.transpose(1, 2) @ centred / 4)
    assert torch.linalg.eigvalsh(base).min() > -1e-6


def test_sample_window_needs_the_target_features_among_the_inputs():
    infos = source_infos()
    document = spec_document(infos=infos, heads={"co": {"plugin": "covariance", "sample_window": 3,
                                                         "target": {"source": "m1", "horizon": 2, "span": 2}}})
    document["encoders"].pop("m1")
    with pytest.raises(Exception, match="sample_window needs the target source 'm1' among the inputs"):
        build_model(document, infos)


def test_training_on_rank_deficient_target_covariances_stays_finite(tmp_path, capsys):
    """A 3-step window of 4 features: the centred target covariance has rank <= 2, so its spectrum has tied zero
    eigenvalues (where torch's eigh backward divides by zero); the eigh-safe loss keeps everything finite."""
    document = {
        "version": 1,
        "data": {"daily_window": 14, "monthly_window": 2, "split": {"val_from": "2022-06-01"}},
        "model": {"d_model": 8},
        "sources": {"activity": {"plugin": "synthetic", "start": "2022-01-01", "periods": 240, "features": 4,
                                 "missing": 0.1}},
        "encoders": {"activity": {"plugin": "recurrent"}},
        "heads": {"co": {"plugin": "covariance", "sample_window": 3, "target": {"source": "activity", "horizon": 3,
                                                                                  "span": 3},
                         "loss": {"plugin": "eigh-covariance", "sample_beta": 0.3, "subspace_rank": 1}}},
        "train": {"epochs": 2, "batch_size": 16, "lr": 3e-3},
    }
    spec = build_spec(document)
    data = prepare(spec)
    batch = data.datasets["train"].batch(list(range(16)))
    target = batch.targets["co"]
    values = torch.where(target.mask, target.values, 0.0)
    centred = values - values.mean(dim=1, keepdim=True)
    assert torch.linalg.matrix_rank(centred.transpose(1, 2) @ centred).max() <= 2  # rank-deficient by design
    directory = RunDirectory.create(tmp_path, "covariance")
    directory.write_text(directory.spec, spec.to_toml())
    trainer = Trainer(spec, data, directory=directory, hooks=plugin_manager())
    summary = trainer.fit()
    assert summary["status"] == "finished" and summary["nonfinite"]["failures"] == 0
    assert all(math.isfinite(row["train_loss"]) and math.isfinite(row["val_loss"]) for row in trainer.log.epochs)
    assert all(torch.isfinite(p).all() for p in trainer.network.parameters())
    task = summary["evaluation"]["val"]["tasks"]["co"]  # no point forecast: judged by its loss, said so
    line = evaluation_lines(summary["evaluation"]["val"], "val")[1]
    assert task["kind"] == "covariance" and not task["baselines"] and math.isfinite(task["loss"])
    assert line == (f"  co [covariance, {task['count']} targets]: loss {number(task['loss'])} (no metrics or "
                    "baselines for covariance predictions)")
    capsys.readouterr()
    main(["predict", str(directory.path), "--at", "2022-07-01"])  # no per-value columns: said, not a bare table
    assert "note: task co has no rows: covariance predictions have no per-value prediction columns" in (
        capsys.readouterr().out)
