"""The invariants of issue 4 on every block and on the assembled HAN, each model built from a spec.

* masked-input invariance: garbage at unobserved places (1e30, -999, NaN before construction; anything after)
  changes no prediction and no gradient, bitwise, in train and eval mode;
* finite outputs and gradients when a source, every daily source for 36 days, a sample or a batch is unobserved;
* causality: every stream (each encoder's, the state after each fusion block) at day t is bitwise unchanged when
  days after t and months that had not ended by t change;
* parameter counts: blocks add up to the total and every counted parameter is trained (receives a gradient).
"""

from __future__ import annotations

import pytest
import torch
from han_checks import (
    DAILY,
    DAYS,
    MONTHLY,
    assert_bitwise,
    assert_finite,
    build_model,
    calendar,
    masked_variants,
    missing_scenarios,
    observe,
    perturb_after,
    raw_inputs,
    run,
    source_infos,
    spec_document,
)

MSE = {"plugin": "masked-mse"}
FORECAST = {"plugin": "forecast", "target": {"source": "m1", "horizon": 1}, "loss": MSE}
ALL_HEADS = {
    "next_month": {"plugin": "forecast", "variance": True, "target": {"source": "m1", "horizon": 1}, "loss": MSE},
    "next_week": {"plugin": "daily-forecast", "variance": True, "rank": 3,
                  "target": {"source": "d1", "horizon": 7, "span": 7}, "loss": MSE},
    "regime": {"plugin": "classification", "classes": 4, "target": {"source": "m2", "horizon": 1, "units": "raw"},
               "loss": MSE},
    "fires": {"plugin": "counts", "target": {"source": "d2", "horizon": 1, "units": "raw"}, "loss": MSE},
    "alarm": {"plugin": "anomaly", "heads": 2, "lookback": 10,
              "target": {"source": "d1", "horizon": 3, "span": 3, "units": "raw"}, "loss": MSE},
    "plain": {"plugin": "regression", "target": {"source": "d1", "horizon": 1}, "loss": MSE},
}
# the anomaly head pools every day of the window, so every day's state reaches a prediction
BASIC_HEADS = {
    "next": FORECAST,
    "alarm": {"plugin": "anomaly", "heads": 2, "lookback": DAYS, "target": {"source": "d1", "horizon": 1, "units": "raw"},
              "loss": MSE},
}
HAN = [
    {"plugin": "cross-source", "heads": 2},
    {"plugin": "local-temporal", "heads": 2, "window": 9},
    {"plugin": "month-aggregate", "heads": 2},
    {"plugin": "cross-resolution", "heads": 2, "layers": 2},
    {"plugin": "temporal", "heads": 2, "layers": 2},
]

# name -> (spec document arguments, which sources exist)
CONFIGS = {
    "encoders: daily/monthly-transformer": ({}, "both"),
    "encoders: windowed transformers": (
        {"encoders": {n: {"plugin": f"{r}-transformer", "layers": 2, "heads": 2, "window": 2 if r == "monthly" else 11}
                      for n, r in (("d1", "daily"), ("d2", "daily"), ("m1", "monthly"), ("m2", "monthly"))}}, "both"),
    "encoders: recurrent": ({"encoders": {n: {"plugin": "recurrent"} for n in ("d1", "d2", "m1", "m2")}}, "both"),
    "fusion: cross-source": ({"fusion": [HAN[0]]}, "both"),
    "fusion: local-temporal": ({"fusion": [HAN[1]]}, "both"),
    "fusion: month-aggregate": ({"fusion": [HAN[2]]}, "both"),
    "fusion: month-aggregate creating the monthly stream": (
        {"fusion": [HAN[2], HAN[4], {"plugin": "month-context"}],
         "heads": {**BASIC_HEADS, "next": {**FORECAST, "target": {"source": "d1", "horizon": 3}},
                   "plain": {"plugin": "regression", "target": {"source": "d1", "horizon": 1}, "loss": MSE}}},
        "daily"),
    "fusion: cross-resolution": ({"fusion": [HAN[3]]}, "both"),
    "fusion: temporal": ({"fusion": [HAN[4]]}, "both"),
    "fusion: month-context": ({"fusion": [{"plugin": "month-context"}]}, "both"),
    "heads: all six": ({"fusion": [HAN[0]], "heads": ALL_HEADS}, "both"),
    "assembled HAN": ({"fusion": HAN, "heads": ALL_HEADS}, "both"),
}
MODES = {"train": True, "eval": False}


def _setup(config: str):
    arguments, which = CONFIGS[config]
    infos = source_infos(monthly={} if which == "daily" else MONTHLY)
    model = build_model(spec_document(infos=infos, **({"heads": BASIC_HEADS} | arguments)), infos)
    return model, infos


@pytest.fixture(scope="module", params=list(CONFIGS))
def setup(request):
    return (request.param, *_setup(request.param))


@pytest.mark.parametrize("mode", list(MODES))
def test_masked_input_invariance(setup, mode):
    name, model, infos = setup
    cal = calendar()
    variants = masked_variants(raw_inputs(infos))
    reference = None
    for label, inputs in variants.items():
        predictions, streams, grads = run(model, inputs, cal, MODES[mode])
        assert_finite(predictions, f"{name}, {label}")
        if reference is None:
            reference = (label, predictions, streams, grads)
            continue
        assert_bitwise(reference[1], predictions, f"{name} ({mode}): predictions with {label} vs {reference[0]}")
        assert_bitwise(reference[2], streams, f"{name} ({mode}): streams with {label} vs {reference[0]}")
        assert_bitwise(reference[3], grads, f"{name} ({mode}): gradients with {label} vs {reference[0]}")


@pytest.mark.parametrize("mode", list(MODES))
def test_finite_outputs_and_gradients_when_unobserved(setup, mode):
    name, model, infos = setup
    cal = calendar()
    for label, raw in missing_scenarios(raw_inputs(infos, seed=3), infos).items():
        predictions, streams, grads = run(model, observe(raw), cal, MODES[mode])
        assert_finite(predictions, f"{name} ({mode}), {label}: predictions")
        assert_finite(streams, f"{name} ({mode}), {label}: streams")
        assert_finite(grads, f"{name} ({mode}), {label}: gradients")
        assert grads, f"{name}: no gradient reached any parameter"


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("day", [DAYS // 2 + 3, DAYS - 9])
def test_causality(setup, mode, day):
    name, model, infos = setup
    cal = calendar()
    raw = raw_inputs(infos, seed=5)
    _, before, _ = run(model, observe(raw), cal, MODES[mode])
    _, after, _ = run(model, observe(perturb_after(raw, infos, cal, day)), cal, MODES[mode])
    ended = cal.month_slot[:, day]  # monthly slots < ended[b] had ended before the day
    changed_future = False
    for stream, hidden in before.items():
        resolution = infos[stream].resolution if stream in infos else stream.rsplit(".", 1)[1]
        if resolution == "daily":
            past = [(slice(None), slice(0, day + 1))]
            changed_future |= not torch.equal(hidden[:, day + 1 :], after[stream][:, day + 1 :])
        else:
            past = [(b, slice(0, max(int(ended[b]), 0))) for b in range(hidden.shape[0])]
        for index in past:
            assert_bitwise(hidden[index], after[stream][index], f"{name} ({mode}): {stream} before day {day}")
    assert changed_future, f"{name}: the perturbation changed nothing, so the test proves nothing"


def test_parameter_counts_add_up_and_every_parameter_is_trained(setup):
    name, model, infos = setup
    counts = model.parameter_counts()
    blocks = sum(v for k, v in counts.items() if k != "total")
    assert blocks == counts["total"], f"{name}: {counts['total'] - blocks} parameters outside the counted blocks"
    raw = missing_scenarios(raw_inputs(infos), infos)["a sample with no observation at all"]
    _, _, grads = run(model, observe(raw), calendar(), train=True)  # no-observation tokens in use too
    untrained = [n for n, p in model.named_parameters() if n not in grads or not grads[n].abs().sum() > 0]
    assert not untrained, f"{name}: parameters counted but never trained: {untrained}"


def test_cross_source_reads_every_daily_source():
    """Changing one daily source's observed values changes the cross-source output (the block is not a no-op)."""
    model, infos = _setup("fusion: cross-source")
    raw = raw_inputs(infos)
    _, before, _ = run(model, observe(raw), calendar(), train=False)
    changed = dict(raw, d2=raw["d2"] + 1.0)
    _, after, _ = run(model, observe(changed), calendar(), train=False)
    assert not torch.equal(before["fusion[0].daily"], after["fusion[0].daily"])
    assert set(DAILY) <= set(before)
