"""What each block computes: formulas against direct references, masks and receptive fields, build errors."""

from __future__ import annotations

import attrs
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from han_checks import (
    BATCH,
    DAYS,
    MONTHS,
    WIDTH,
    build_model,
    calendar,
    random_state,
    source_infos,
    spec_document,
)
from mrframe_han.attention import _causal, _windowed, attend
from mrframe_han.embedding import FeatureTokens, SinusoidTable, compress, sinusoid

from mrframe.errors import PluginError, SpecError
from mrframe.interfaces import SourceInfo
from mrframe.observed import Observed, Stream


@pytest.mark.parametrize(("steps", "window"), [(37, 5), (40, 8), (6, 9), (9, 1), (30, 30)])
def test_windowed_attention_equals_banded_full_attention(steps, window):
    q, k, v = torch.randn(3, 2, 2, steps, 4).unbind(0)
    i, j = torch.arange(steps).view(-1, 1), torch.arange(steps).view(1, -1)
    band = (j <= i) & (j > i - window)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=band)
    torch.testing.assert_close(_windowed(q, k, v, window) if window < steps else expected, expected)


@pytest.mark.parametrize("steps", [50, 200, 365])
def test_chunked_causal_attention_equals_one_causal_call_and_is_causal(steps):
    q, k, v = torch.randn(3, 2, 2, steps, 4).unbind(0)
    out = _causal(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    t = steps // 2 + 7
    later = [x.clone() for x in (q, k, v)]
    for x in later:
        x[..., t + 1 :, :] = torch.randn_like(x[..., t + 1 :, :])
    changed = _causal(*later)
    assert torch.equal(out[..., : t + 1, :], changed[..., : t + 1, :])
    assert not torch.equal(out[..., t + 1 :, :], changed[..., t + 1 :, :])


def test_feature_tokens_equal_the_per_feature_formula():
    info = SourceInfo("s", "daily", ("a", "b", "c", "d"), counts=("b",))
    tokens = FeatureTokens(info, d_model=8, heads=2)
    with torch.no_grad():
        for p in tokens.parameters():
            p.normal_()
    raw = torch.randn(2, 5, 4) * 10
    raw[torch.rand(2, 5, 4) < 0.3] = float("nan")
    raw[1, 2] = float("nan")  # a step with nothing observed
    x = Observed.build(raw)
    got, present = tokens(x)

    v = torch.where(torch.tensor([False, True, False, False]), compress(x.values), x.values)
    m = x.mask.unsqueeze(-1)
    e = tokens.feature + torch.where(m, tokens.status[1] + v.unsqueeze(-1) * tokens.value, tokens.status[0])
    e = e.view(2, 5, 4, 2, 4)  # [B, T, F, heads, d_head]
    score = torch.einsum("btfhd,hd->bthf", e, tokens.query) / 2.0
    pooled = torch.einsum("bthf,btfhd->bthd", score.softmax(-1), e).flatten(-2)
    expected = F.layer_norm(pooled, (8,), tokens.norm.weight, tokens.norm.bias)
    expected = torch.where(x.mask.any(-1, keepdim=True), expected, tokens.no_observation)
    torch.testing.assert_close(got, expected)
    assert present.tolist() == x.mask.any(-1).tolist()
    assert torch.equal(got[1, 2], tokens.no_observation)


def test_sinusoid_counts_lag_back_from_the_last_step():
    table = sinusoid(10, 6)
    assert torch.equal(table[-1], torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    torch.testing.assert_close(table[-2, 0], torch.sin(torch.tensor(1.0)))
    assert sinusoid(4, 5).shape == (4, 5)


def test_the_sinusoid_table_is_built_once_per_length_device_and_dtype():
    table, cpu = SinusoidTable(6), torch.device("cpu")
    first = table(10, cpu, torch.float32)
    assert torch.equal(first, sinusoid(10, 6)) and table(10, cpu, torch.float32) is first
    assert table(12, cpu, torch.float32).shape == (12, 6) and table(10, cpu, torch.bfloat16).dtype == torch.bfloat16
    with torch.inference_mode():
        built_for_inference = SinusoidTable(6)
        built_for_inference(4, cpu, torch.float32)
    scale = torch.ones((), requires_grad=True)
    (scale * built_for_inference(4, cpu, torch.float32)).sum().backward()  # usable by autograd afterwards
    assert scale.grad is not None


def test_attention_stays_fp32_under_cpu_bf16_autocast():
    q, k, v = (torch.randn(2, 4, 9, 8).bfloat16() for _ in range(3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = attend(q, k, v, causal=True)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True))


def _block(fusion: dict, infos=None):
    infos = infos or source_infos()
    model = build_model(spec_document(infos=infos, fusion=[fusion]), infos)
    return model.fusion[0].eval(), infos


def test_cross_source_ignores_sources_absent_at_a_step():
    block, infos = _block({"plugin": "cross-source", "heads": 2})
    state = random_state(infos)
    absent = ~state.sources["d2"].present
    noise = torch.randn(state.sources["d2"].hidden.shape)  # (a constant shift would vanish in LayerNorm)
    changed = dict(state.sources, d2=Stream(state.sources["d2"].hidden + noise * absent.unsqueeze(-1),
                                            state.sources["d2"].present))
    with torch.no_grad():
        before, after = block(state), block(state.replace(sources=changed))
    assert torch.equal(before.daily.hidden, after.daily.hidden)
    present = dict(state.sources, d2=Stream(state.sources["d2"].hidden + noise, state.sources["d2"].present))
    with torch.no_grad():
        moved = block(state.replace(sources=present))
    assert not torch.equal(before.daily.hidden, moved.daily.hidden)


def test_month_aggregate_reads_only_the_days_of_each_month():
    block, infos = _block({"plugin": "month-aggregate", "heads": 2, "observed_only": False})
    state = random_state(infos)
    slot = state.calendar.month_slot
    for month in range(MONTHS):
        inside = (slot == month).unsqueeze(-1)
        if not inside.any():
            continue
        daily = Stream(state.daily.hidden + torch.randn(state.daily.hidden.shape) * inside, state.daily.present)
        with torch.no_grad():
            before, after = block(state), block(state.replace(daily=daily))
        touched = inside.squeeze(-1).any(-1)  # [B]: samples whose window holds days of this month
        for b in range(BATCH):
            for m in range(MONTHS):
                same = torch.equal(before.monthly.hidden[b, m], after.monthly.hidden[b, m])
                assert same != (m == month and bool(touched[b])), f"sample {b}, month {m} after changing month {month}"


def test_month_aggregate_without_observed_days_gives_the_null_summary():
    block, infos = _block({"plugin": "month-aggregate", "heads": 2})
    state = random_state(infos)
    state = state.replace(daily=Stream(state.daily.hidden, torch.zeros_like(state.daily.present)))
    with torch.no_grad():
        out = block(state)
    assert torch.isfinite(out.monthly.hidden).all()
    assert torch.equal(out.monthly.present, state.monthly.present)


def test_local_temporal_is_local():
    """Day t depends on days t - (window - 1) - (longest kernel - 1) .. t only."""
    window, longest = 6, 7
    block, infos = _block({"plugin": "local-temporal", "heads": 2, "window": window, "kernels": [3, longest]})
    state = random_state(infos)
    t = DAYS - 5
    reach = t - (window - 1) - (longest - 1)
    older = torch.zeros(1, DAYS, 1)
    older[:, :reach] = 1.0
    daily = Stream(state.daily.hidden + torch.randn(state.daily.hidden.shape) * older, state.daily.present)
    with torch.no_grad():
        before, after = block(state), block(state.replace(daily=daily))
    assert torch.equal(before.daily.hidden[:, t:], after.daily.hidden[:, t:])
    assert not torch.equal(before.daily.hidden[:, t - 1], after.daily.hidden[:, t - 1])


def test_cross_resolution_days_read_only_months_that_ended_before_them():
    block, infos = _block({"plugin": "cross-resolution", "heads": 2, "layers": 1})
    state = random_state(infos)
    last = MONTHS - 1
    monthly = state.monthly.hidden.clone()
    monthly[:, last] += torch.randn(monthly[:, last].shape)
    with torch.no_grad():
        before = block(state)
        after = block(state.replace(monthly=Stream(monthly, state.monthly.present)))
    sees_last = state.calendar.months_visible()[..., last]  # [B, T]
    same = (before.daily.hidden == after.daily.hidden).all(-1)
    assert torch.equal(same, ~sees_last)


@pytest.mark.parametrize("plugin", ["temporal", "cross-resolution"])
def test_blocks_needing_a_monthly_stream_say_how_to_get_one(plugin):
    infos = source_infos(monthly={})
    document = spec_document(infos=infos, fusion=[{"plugin": plugin, "heads": 2}],
                             heads={"next": {"plugin": "forecast", "target": {"source": "d1", "horizon": 1},
                                             "loss": {"plugin": "masked-mse"}}})
    model = build_model(document, infos)
    raw = {n: torch.randn(BATCH, DAYS, i.n_features) for n, i in infos.items()}
    with pytest.raises(PluginError, match="month-aggregate block before it"):
        model({n: Observed.build(v) for n, v in raw.items()}, calendar())


def test_encoders_reject_the_other_resolution_and_bad_head_counts():
    infos = source_infos()
    wrong = spec_document(encoders={"d1": {"plugin": "monthly-transformer"}, "d2": {"plugin": "recurrent"},
                                    "m1": {"plugin": "recurrent"}, "m2": {"plugin": "recurrent"}})
    with pytest.raises(SpecError, match=r"encoders.d1.plugin: 'monthly-transformer' takes monthly sources only, but "
                                        r"source 'd1' is daily"):
        build_model(wrong, infos)
    odd = spec_document(encoders={n: {"plugin": f"{i.resolution}-transformer", "heads": 3} for n, i in infos.items()})
    with pytest.raises(PluginError, match=r"d_model \(16\) must be divisible by heads \(3\)"):
        build_model(odd, infos)


def test_count_features_are_compressed_before_projection():
    info = SourceInfo("s", "daily", ("n",), counts=("n",))
    torch.manual_seed(0)
    on, off = FeatureTokens(info, 8), FeatureTokens(info, 8, compress_counts=False)
    off.load_state_dict(on.state_dict())
    big = Observed.build(torch.full((1, 1, 1), 1e6))
    assert not torch.equal(on(big)[0], off(big)[0])
    assert np.isclose(float(compress(torch.tensor(1e6))), np.log1p(1e6))


def test_configs_reject_bad_values():
    from mrframe_han.local_temporal import LocalTemporalConfig
    from mrframe_han.transformer import DailyTransformerConfig

    with pytest.raises(ValueError, match="kernel sizes must be >= 1"):
        LocalTemporalConfig(kernels=(3, 0))
    with pytest.raises(ValueError, match="must be >= 1"):
        DailyTransformerConfig(window=0)
    assert attrs.asdict(DailyTransformerConfig())["layers"] == 3
    assert WIDTH % 2 == 0


def test_dropout_keeps_the_expectation_and_the_rounded_rate():
    from mrframe_han.attention import Dropout

    drop = Dropout(0.1)
    x = torch.ones(400_000)
    torch.manual_seed(0)
    out = drop(x)
    kept = (out > 0).float().mean().item()
    assert abs(kept - (1 - 26 / 256)) < 3e-3
    assert abs(out.mean().item() - 1.0) < 5e-3
    assert out.unique().tolist() == [0.0, torch.tensor(256 / 230).item()]
    torch.manual_seed(0)
    assert torch.equal(drop(x), out)  # seeded: reproducible, as the invariant tests need
    assert torch.equal(drop.eval()(x), x) and torch.equal(Dropout(0.0)(x), x)
    odd = torch.randn(3, 5, 7).transpose(0, 2)  # any shape and layout
    assert Dropout(0.5).train()(odd).shape == odd.shape
    with pytest.raises(ValueError, match="must be in"):
        Dropout(1.0)
