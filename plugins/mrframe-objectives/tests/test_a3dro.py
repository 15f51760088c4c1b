"""A³DRO: each guarantee of the issue as a (property) test."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mrframe_objectives.a3dro import A3DRO, A3DROConfig

from mrframe.gating import gate_by_availability
from mrframe.interfaces import StepContext
from mrframe.observed import TaskLoss

TRAIN = StepContext(epoch=1, step=10, training=True)


def losses_of(values: list[float], counts: list[int] | None = None) -> dict[str, TaskLoss]:
    counts = counts if counts is not None else [5] * len(values)
    return {
        f"t{i}": TaskLoss(torch.tensor(v, dtype=torch.float64, requires_grad=True), torch.tensor(c), 10)
        for i, (v, c) in enumerate(zip(values, counts, strict=True))
    }


def policy_for(n: int, baselines: list[float] | None = None, **options) -> A3DRO:
    policy = A3DRO(A3DROConfig(**options), tuple(f"t{i}" for i in range(n)))
    if baselines is not None:
        policy.end_epoch(0, {f"t{i}": b for i, b in enumerate(baselines)})
    return policy


def log_loss_gradients(policy: A3DRO, losses: dict[str, TaskLoss], total: torch.Tensor) -> list[float]:
    """``d total / d log(L_i + ε)`` = ``(L_i + ε) d total / d L_i`` (0 for a task outside the graph)."""
    grads = torch.autograd.grad(total, [loss.value for loss in losses.values()], allow_unused=True)
    return [
        0.0 if g is None else float(g) * (loss.value.item() + policy.config.eps)
        for g, loss in zip(grads, losses.values(), strict=True)
    ]


positive = st.floats(1e-6, 1e6)
settings_ = settings(max_examples=80, deadline=None)


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 6))
    return {
        "values": draw(st.lists(positive, min_size=n, max_size=n)),
        "baselines": draw(st.lists(st.one_of(st.none(), positive), min_size=n, max_size=n)),
        "counts": draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)),
        "priors": draw(st.lists(st.floats(0.05, 20.0), min_size=n, max_size=n)),
        "beta": draw(st.floats(0.0, 1.0)),
        "temperature": draw(st.floats(0.05, 10.0)),
        "clip": draw(st.floats(0.1, 10.0)),
    }


def build(s) -> tuple[A3DRO, dict[str, TaskLoss]]:
    n = len(s["values"])
    policy = policy_for(
        n, budget_beta=s["beta"], temperature=s["temperature"], clip=s["clip"], eps=s.get("eps", 1e-8),
        priors={f"t{i}": p for i, p in enumerate(s["priors"])},
    )
    policy.end_epoch(0, {f"t{i}": b for i, b in enumerate(s["baselines"]) if b is not None})
    return policy, losses_of(s["values"], s["counts"])


@settings_
@given(scenarios())
def test_weights_are_what_the_gradient_sees_non_negative_sum_to_one_and_capped(s):
    policy, losses = build(s)
    result = policy.combine(losses, TRAIN)
    weights = [float(result.weights[t]) for t in losses]
    assert weights == pytest.approx(log_loss_gradients(policy, losses, result.total), rel=1e-9, abs=1e-12)
    assert all(w >= 0 for w in weights)
    active = [c > 0 for c in s["counts"]]
    if any(active):
        assert sum(weights) == pytest.approx(1.0, abs=1e-12)
        gated = [p for p, a in zip(s["priors"], active, strict=True) if a]
        cap = (1 - s["beta"]) + s["beta"] * max(gated) / sum(gated)
        assert max(weights) <= cap + 1e-12
    else:
        assert result.total.item() == 0.0
    for w, a in zip(weights, active, strict=True):
        if not a:
            assert w == 0.0  # zero availability: weight 0


def test_the_cap_is_reached_by_a_task_far_above_its_baseline():
    policy = policy_for(3, [1.0, 1.0, 1.0], budget_beta=0.4, temperature=0.01, clip=3.0)
    weights = policy.combine(losses_of([1e6, 1.0, 1.0]), TRAIN).weights
    assert float(weights["t0"]) == pytest.approx(0.6 + 0.4 / 3, rel=1e-9)  # (1 - β) + β max p̃, not 1 - β


def test_gradients_do_not_die_at_the_clip():
    policy = policy_for(2, [1.0, 1.0], clip=1.0)
    losses = losses_of([1e4, 1.0])  # regret log 1e4 = 9.2, far beyond the clip
    result = policy.combine(losses, TRAIN)
    gradient = log_loss_gradients(policy, losses, result.total)
    assert gradient[0] == pytest.approx(float(result.weights["t0"])) and gradient[0] > 0.4


@settings_
@given(scenarios(), st.lists(st.floats(1e-4, 1e4), min_size=6, max_size=6))
def test_total_is_scale_invariant_once_anchored(s, scales):
    """Exactly with ε = 0; with ε > 0 up to terms of order ε / L."""
    s["baselines"] = [b if b is not None else 1.0 for b in s["baselines"]]
    s["eps"] = 0.0
    policy, losses = build(s)
    scaled_policy, _ = build({**s, "baselines": [b * k for b, k in zip(s["baselines"], scales, strict=False)]})
    scaled = losses_of([v * k for v, k in zip(s["values"], scales, strict=False)], s["counts"])
    a, b = policy.combine(losses, TRAIN), scaled_policy.combine(scaled, TRAIN)
    assert b.total.item() == pytest.approx(a.total.item(), rel=1e-5, abs=1e-5)
    for task in losses:
        assert float(b.weights[task]) == pytest.approx(float(a.weights[task]), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.5])
def test_a_non_finite_or_negative_loss_is_excluded_reported_and_kept_out_of_the_graph(bad):
    policy = policy_for(3, [1.0, 1.0, 1.0])
    parameter = torch.tensor(2.0, requires_grad=True)
    losses = losses_of([2.0, 0.5, 1.0])
    losses["t1"] = TaskLoss(parameter * bad, torch.tensor(5), 10)
    with pytest.warns(RuntimeWarning, match="task 't1'"):
        result = policy.combine(losses, TRAIN)
    assert policy.excluded == ("t1",) and int(policy.excluded_steps[1]) == 1
    assert float(result.weights["t1"]) == 0.0 and math.isfinite(result.total.item())
    assert sum(float(w) for w in result.weights.values()) == pytest.approx(1.0)
    result.total.backward()
    assert parameter.grad is None  # the excluded loss's graph is never traversed


def test_a_non_finite_epoch_mean_never_enters_a_baseline():
    policy = policy_for(2, warmup_epochs=2)
    policy.end_epoch(0, {"t0": 2.0, "t1": math.nan})
    policy.end_epoch(1, {"t0": math.inf, "t1": math.nan})
    assert policy.anchored.tolist() == [True, False]
    assert float(policy.baselines[0]) == 2.0  # the inf epoch was skipped, not averaged in


def test_warmup_averages_epochs_then_fixes_baselines():
    policy = policy_for(2, warmup_epochs=3)
    for epoch, (a, b) in enumerate([(4.0, 1.0), (2.0, 3.0), (3.0, 2.0)]):
        assert not policy.anchored.any()
        policy.end_epoch(epoch, {"t0": a, "t1": b})
    assert policy.anchored.all() and policy.baselines.tolist() == [3.0, 2.0]
    policy.end_epoch(3, {"t0": 100.0, "t1": 100.0})
    assert policy.baselines.tolist() == [3.0, 2.0]  # fixed after warm-up


def test_a_task_first_seen_after_warmup_is_neutral_then_anchored():
    policy = policy_for(2, warmup_epochs=1, budget_beta=0.0)
    policy.end_epoch(0, {"t0": 1.0, "t1": math.nan})  # t1 had no finite loss during warm-up
    losses = losses_of([1.0, 50.0])
    result = policy.combine(losses, TRAIN)
    assert float(result.weights["t1"]) == pytest.approx(0.5)  # regret 0 (neutral) while unanchored, and trained
    assert log_loss_gradients(policy, losses, result.total)[1] == pytest.approx(0.5)
    policy.end_epoch(1, {"t0": 1.0, "t1": 50.0})
    assert policy.anchored.tolist() == [True, True] and float(policy.baselines[1]) == 50.0


def test_before_anchoring_the_weights_are_the_gated_priors():
    policy = policy_for(3, priors={"t0": 2.0, "t1": 1.0, "t2": 1.0})
    result = policy.combine(losses_of([1e5, 1e-3, 1.0], counts=[5, 5, 0]), TRAIN)
    assert [float(result.weights[t]) for t in ("t0", "t1", "t2")] == pytest.approx([2 / 3, 1 / 3, 0.0])
    assert result.total.item() == 0.0


def test_an_empty_set_of_losses_gives_zero_with_a_gradient_path():
    result = policy_for(2).combine({}, TRAIN)
    assert result.total.item() == 0.0 and result.total.requires_grad
    result.total.backward()


def test_availability_gating_gives_weight_zero():
    policy = policy_for(2, [1.0, 1.0])
    losses = losses_of([3.0, 3.0], counts=[10, 1])
    result = policy.combine(gate_by_availability(losses, 0.5), TRAIN)
    assert float(result.weights["t1"]) == 0.0 and float(result.weights["t0"]) == pytest.approx(1.0)


def test_anchored_score_is_the_mean_clipped_regret():
    policy = policy_for(3, [1.0, 2.0, 4.0], clip=2.0)
    score = policy.anchored_score({"t0": math.e, "t1": 2.0, "t2": math.nan})
    expected = (2.0 * math.tanh(1.0 / 2.0) + 0.0) / 2
    assert score == pytest.approx(expected, rel=1e-6)
    assert policy_for(2).anchored_score({"t0": 1.0}) is None  # nothing anchored yet


def test_state_round_trip_keeps_baselines_and_counters():
    policy = policy_for(2, [1.5, 0.25])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        policy.combine(losses_of([math.nan, 1.0]), TRAIN)
    restored = policy_for(2)
    restored.load_state_dict(policy.state_dict())
    assert restored.anchored.all() and restored.baselines.tolist() == [1.5, 0.25]
    assert restored.excluded_steps.tolist() == [1, 0]


def test_priors_for_unknown_tasks_are_refused():
    with pytest.raises(ValueError, match="unknown task"):
        A3DRO(A3DROConfig(priors={"typo": 2.0}), ("t0",))
