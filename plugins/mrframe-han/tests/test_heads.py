"""Heads follow the prediction conventions of mrframe.interfaces.Head and refuse targets they cannot serve."""

from __future__ import annotations

import re

import pytest
import torch
from han_checks import BATCH, WIDTH, build_model, random_state, source_infos, spec_document

from mrframe import kinds
from mrframe.errors import PluginError, SpecError
from mrframe.observed import Stream

MSE = {"plugin": "masked-mse"}


def _head(table: dict):
    infos = source_infos()
    model = build_model(spec_document(infos=infos, heads={"task": {**table, "loss": MSE}}), infos)
    return model.heads["task"].eval(), random_state(infos)


def _predict(table: dict):
    head, state = _head(table)
    with torch.no_grad():
        return head, head(state)


def _point(head, prediction):  # noqa: ANN001, ANN202
    """The point forecast, as the head's declared prediction kind reads it."""
    return kinds.of_head(type(head), head.config).point(prediction)


def test_forecast_gives_a_point_or_a_gaussian():
    head, point = _predict({"plugin": "forecast", "target": {"source": "m1", "horizon": 2, "span": 2}})
    assert point.shape == (BATCH, 2, 4)
    head, gaussian = _predict({"plugin": "forecast", "variance": True, "target": {"source": "m1", "horizon": 1}})
    assert set(gaussian) == {"mean", "log_var"}
    assert gaussian["mean"].shape == gaussian["log_var"].shape == (BATCH, 1, 4)
    assert torch.equal(_point(head, gaussian), gaussian["mean"])
    assert head.kind_for(head.config) == "gaussian"


def test_daily_forecast_is_low_rank_with_fewer_weights_than_a_dense_head():
    target = {"source": "d1", "horizon": 14, "span": 14}
    head, prediction = _predict({"plugin": "daily-forecast", "rank": 3, "variance": True, "target": target})
    assert prediction["mean"].shape == (BATCH, 14, 5)
    for sample in prediction["mean"]:
        assert torch.linalg.matrix_rank(sample - head.mean.bias).item() <= 3
    hidden, rank, span, features = 64, 3, 14, 5
    decoder = hidden * rank + rank + span * rank + 2 * (rank + 1) * features
    assert sum(p.numel() for p in head.parameters()) - sum(p.numel() for p in head.readout.parameters()) == decoder
    assert decoder < hidden * span * features


def test_classification_gives_class_logits_and_the_most_likely_class():
    target = {"source": "m2", "horizon": 3, "span": 3, "units": "raw"}
    head, prediction = _predict({"plugin": "classification", "classes": 4, "target": target})
    assert prediction["logits"].shape == (BATCH, 3, 2, 4)
    assert torch.equal(_point(head, prediction), prediction["logits"].argmax(-1).float())
    head, binary = _predict({"plugin": "classification", "classes": 2, "binary_logit": True, "target": target})
    assert binary["logits"].shape == (BATCH, 3, 2)
    assert head.kind_for(head.config) == "binary"
    assert torch.equal(_point(head, binary), torch.sigmoid(binary["logits"]))


def test_counts_gives_zinb_parameters_and_their_mean():
    head, prediction = _predict({"plugin": "counts", "target": {"source": "d2", "horizon": 2, "span": 2, "units": "raw"}})
    assert set(prediction) == {"log_mu", "theta", "pi_logit"}
    assert all(v.shape == (BATCH, 2, 3) for v in prediction.values())
    expected = (1 - torch.sigmoid(prediction["pi_logit"])) * torch.exp(prediction["log_mu"])
    torch.testing.assert_close(_point(head, prediction), expected)


def test_anomaly_gives_binary_logits_and_a_score():
    head, prediction = _predict({"plugin": "anomaly", "heads": 2, "target": {"source": "d1", "horizon": 1, "units": "raw"}})
    assert prediction["logits"].shape == (BATCH, 1, 5)
    score = _point(head, prediction)
    assert ((score > 0) & (score < 1)).all()


@pytest.mark.parametrize(("table", "key", "bound"), [
    ({"plugin": "forecast", "variance": True, "log_var_bound": 4.0, "target": {"source": "m1", "horizon": 1}},
     "log_var", 4.0),
    ({"plugin": "daily-forecast", "variance": True, "target": {"source": "d1", "horizon": 2, "span": 2}},
     "log_var", 10.0),
    ({"plugin": "counts", "log_mu_bound": 6.0, "target": {"source": "d2", "horizon": 1, "units": "raw"}},
     "log_mu", 6.0),
])
def test_log_scale_outputs_stay_bounded_on_extreme_states(table, key, bound):
    head, state = _head(table)
    with torch.no_grad():
        for p in head.parameters():
            p.mul_(50.0)
    extreme = {n: Stream(s.hidden * 1e4, s.present) for n, s in state.sources.items()}
    state = state.replace(daily=Stream(state.daily.hidden * 1e4, state.daily.present),
                          monthly=Stream(state.monthly.hidden * -1e4, state.monthly.present), sources=extreme)
    with torch.no_grad():
        value = head(state)[key]
    assert torch.isfinite(value).all() and value.abs().max() <= bound
    assert value.abs().max() > 0.5 * bound  # the bound is what held it


@pytest.mark.parametrize(("table", "message"), [
    ({"plugin": "classification", "target": {"source": "m2", "horizon": 1}}, 'heads.task (classification): takes targets with units "raw" only'),
    ({"plugin": "counts", "target": {"source": "d2", "horizon": 1}}, 'heads.task (counts): takes targets with units "raw" only'),
    ({"plugin": "anomaly", "target": {"source": "d1", "horizon": 1}}, 'set heads.task.target.units = "raw"'),
    ({"plugin": "daily-forecast", "target": {"source": "m1", "horizon": 1}}, "source 'm1' is monthly: use the forecast head"),
])
def test_heads_refuse_targets_they_cannot_serve(table, message):
    with pytest.raises(PluginError, match=re.escape(message)):
        _head(table)


def test_binary_logit_needs_two_classes():
    with pytest.raises(SpecError, match="binary_logit: needs classes = 2"):
        _head({"plugin": "classification", "classes": 4, "binary_logit": True,
               "target": {"source": "m2", "horizon": 1, "units": "raw"}})


def test_readout_uses_the_target_sources_own_stream():
    head, state = _head({"plugin": "forecast", "target": {"source": "d1", "horizon": 1}})
    assert head.readout.own == "d1"
    changed = dict(state.sources, d1=Stream(state.sources["d1"].hidden + torch.randn(BATCH, 1, WIDTH),
                                            state.sources["d1"].present))
    with torch.no_grad():
        assert not torch.equal(head(state), head(state.replace(sources=changed)))
    off, _ = _head({"plugin": "forecast", "source_stream": False, "target": {"source": "d1", "horizon": 1}})
    assert off.readout.own is None
