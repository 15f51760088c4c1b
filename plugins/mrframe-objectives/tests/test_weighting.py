"""Weighting policies: reported weights are the gradient's, availability gating, state, Kendall variants, PCGrad."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mrframe_objectives.kendall import Kendall, KendallConfig, SoftplusKendall, SoftplusKendallConfig
from mrframe_objectives.pcgrad import PCGrad, PCGradConfig, project_conflicts
from torch import nn

from mrframe import registry
from mrframe.gating import gate_by_availability
from mrframe.interfaces import StepContext
from mrframe.observed import TaskLoss

TRAIN = StepContext(epoch=0, step=0, training=True)
POLICIES = ["uniform", "kendall", "softplus-kendall", "a3dro", "pcgrad"]


def build(name: str, tasks: tuple[str, ...], **options):
    cls = registry.load("weighting", name)
    return cls(cls.Config(**options), tasks)


def task_losses(values: list[float], counts: list[int] | None = None, size: int = 10) -> dict[str, TaskLoss]:
    counts = counts if counts is not None else [size] * len(values)
    return {
        f"t{i}": TaskLoss(torch.tensor(v, dtype=torch.float64, requires_grad=True), torch.tensor(c), size)
        for i, (v, c) in enumerate(zip(values, counts, strict=True))
    }


def gradient_per_task(total: torch.Tensor, losses: dict[str, TaskLoss]) -> dict[str, float]:
    grads = torch.autograd.grad(total, [loss.value for loss in losses.values()], allow_unused=True)
    return {t: 0.0 if g is None else float(g) for t, g in zip(losses, grads, strict=True)}


def with_random_parameters(policy: nn.Module, seed: int) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in policy.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 2)
    return policy


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(["uniform", "kendall", "softplus-kendall", "pcgrad"]),
    values=st.lists(st.floats(0.0, 1e5), min_size=1, max_size=5),
    seed=st.integers(0, 1000),
    data=st.data(),
)
def test_reported_weights_are_exactly_d_total_d_loss(name, values, seed, data):
    counts = data.draw(st.lists(st.integers(0, 3), min_size=len(values), max_size=len(values)))
    losses = task_losses(values, counts)
    policy = with_random_parameters(build(name, tuple(losses)), seed)
    result = policy.combine(losses, TRAIN)
    grads = gradient_per_task(result.total, losses)
    for task in losses:
        assert float(result.weights[task]) == pytest.approx(grads[task], rel=1e-12, abs=1e-300)
        assert float(result.weights[task]) >= 0
        if counts[list(losses).index(task)] == 0:
            assert float(result.weights[task]) == 0.0


@pytest.mark.parametrize("name", POLICIES)
def test_a_task_gated_by_availability_gets_weight_zero_and_no_gradient(name):
    policy = build(name, ("dense", "sparse"))
    prediction = torch.tensor([1.0, 2.0], requires_grad=True)
    losses = {
        "dense": TaskLoss(prediction[0] ** 2, torch.tensor(10), 10),
        "sparse": TaskLoss(prediction[1] ** 2, torch.tensor(1), 10),  # 10 % of its targets observed
    }
    gated = gate_by_availability(losses, 0.5)
    result = policy.combine(gated, TRAIN)
    assert float(result.weights["sparse"]) == 0.0 and float(result.weights["dense"]) > 0
    (grad,) = torch.autograd.grad(result.total, prediction)
    assert grad[1] == 0 and grad[0] != 0


@pytest.mark.parametrize("name", POLICIES)
def test_no_valid_task_and_no_task_give_a_zero_that_back_propagates(name):
    policy = build(name, ("a", "b"))
    if name != "uniform":  # the default keeps its original contract: it needs a task
        empty = policy.combine({}, TRAIN)
        assert empty.total.item() == 0.0 and empty.weights == {}
        empty.total.backward()
    prediction = torch.tensor([1.0, 2.0], requires_grad=True)
    losses = {t: TaskLoss.none_valid(prediction, 2) for t in ("a", "b")}
    result = policy.combine(losses, TRAIN)
    assert result.total.item() == 0.0
    (grad,) = torch.autograd.grad(result.total, prediction)
    assert (grad == 0).all()


@pytest.mark.parametrize("name", POLICIES)
def test_state_dict_round_trips_and_unknown_tasks_are_refused(name):
    tasks = ("a", "b", "c")
    policy = with_random_parameters(build(name, tasks), 3)
    if name == "a3dro":
        policy.end_epoch(0, {"a": 2.0, "b": 0.5})
    copy = build(name, tasks)
    copy.load_state_dict(policy.state_dict())
    losses = task_losses([1.0, 3.0, 0.2])
    losses = {t: losses[f"t{i}"] for i, t in enumerate(tasks)}
    assert torch.equal(policy.combine(losses, TRAIN).total, copy.combine(losses, TRAIN).total)
    if name != "uniform":
        with pytest.raises(ValueError, match="not built for"):
            policy.combine(task_losses([1.0]), TRAIN)


@pytest.mark.parametrize("name", POLICIES)
def test_every_policy_is_registered_with_documented_options(name):
    cls = registry.load("weighting", name)
    for attribute in cls.Config.__attrs_attrs__:
        assert attribute.metadata.get("doc"), f"{name}.{attribute.name}"


# ------------------------------------------------------------------------------------------ Kendall variants


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(0.0, 1e6), min_size=1, max_size=6), seed=st.integers(0, 10_000), scale=st.floats(0.01, 30))
def test_softplus_kendall_total_is_never_negative(values, seed, scale):
    policy = SoftplusKendall(SoftplusKendallConfig(), tuple(f"t{i}" for i in range(len(values))))
    with torch.no_grad():
        policy.raw_s.copy_(scale * torch.randn(len(values), generator=torch.Generator().manual_seed(seed)))
    assert policy.combine(task_losses(values), TRAIN).total.item() >= 0.0


def test_kendall_can_go_negative_as_documented():
    policy = Kendall(KendallConfig(init_log_variance=-3.0), ("t0",))
    total = policy.combine(task_losses([0.01]), TRAIN).total  # 0.5 e^3 0.01 - 1.5 < 0
    assert total.item() < 0


def test_kendall_log_variance_of_an_absent_task_gets_no_gradient():
    policy = Kendall(KendallConfig(), ("t0", "t1"))
    losses = task_losses([2.0, 0.0], counts=[5, 0])
    policy.combine(losses, TRAIN).total.backward()
    assert policy.log_variance.grad[1] == 0 and policy.log_variance.grad[0] != 0


# ------------------------------------------------------------------------------------------ PCGrad


class TwoHeads(nn.Module):
    """A shared linear trunk and one linear head per task."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.trunk = nn.Linear(4, 3)
        self.heads = nn.ModuleList([nn.Linear(3, 1), nn.Linear(3, 1)])

    def losses(self, x: torch.Tensor, targets: tuple[float, float], counts=(8, 8)) -> dict[str, TaskLoss]:
        hidden = torch.tanh(self.trunk(x))
        return {
            f"t{i}": TaskLoss(((head(hidden).squeeze(-1) - y) ** 2).mean(), torch.tensor(c), 8)
            for i, (head, y, c) in enumerate(zip(self.heads, targets, counts, strict=True))
        }


def grads_of(model: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]


def test_pcgrad_equals_the_plain_sum_without_conflict():
    model, x = TwoHeads(), torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    plain = model.losses(x, (3.0, 3.0))
    (plain["t0"].value + plain["t1"].value).backward()
    expected = grads_of(model)
    model.zero_grad(set_to_none=True)
    losses = model.losses(x, (3.0, 3.0))
    flat = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss.value, model.trunk.parameters(), retain_graph=True)]) for loss in losses.values()]
    assert float(flat[0] @ flat[1]) >= 0  # the setting has no conflict
    PCGrad(PCGradConfig(), ("t0", "t1")).backward(losses, TRAIN, list(model.parameters()))
    for ours, reference in zip(grads_of(model), expected, strict=True):
        assert torch.allclose(ours, reference, atol=1e-7)


def test_pcgrad_projects_conflicting_shared_gradients_and_keeps_task_specific_ones():
    model, x = TwoHeads(), torch.randn(8, 4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        model.heads[1].weight.copy_(model.heads[0].weight)
        model.heads[1].bias.copy_(model.heads[0].bias)
    losses = model.losses(x, (5.0, -5.0))  # same predictions, opposite targets: the trunk gradients conflict
    trunk = list(model.trunk.parameters())
    g = [torch.cat([t.reshape(-1) for t in torch.autograd.grad(loss.value, trunk, retain_graph=True)]) for loss in losses.values()]
    head_grads = [torch.autograd.grad(loss.value, list(h.parameters()), retain_graph=True) for loss, h in zip(losses.values(), model.heads, strict=True)]
    assert float(g[0] @ g[1]) < 0
    expected = (g[0] - (g[0] @ g[1]) / (g[1] @ g[1]) * g[1]) + (g[1] - (g[1] @ g[0]) / (g[0] @ g[0]) * g[0])
    result = PCGrad(PCGradConfig(), ("t0", "t1")).backward(losses, TRAIN, list(model.parameters()))
    ours = torch.cat([p.grad.reshape(-1) for p in trunk])
    assert torch.allclose(ours, expected, atol=1e-6)
    for head, grads in zip(model.heads, head_grads, strict=True):
        for p, reference in zip(head.parameters(), grads, strict=True):
            assert torch.equal(p.grad, reference)
    assert {t: float(w) for t, w in result.weights.items()} == {"t0": 1.0, "t1": 1.0}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), tasks=st.integers(2, 5))
def test_pcgrad_projection_removes_a_two_task_conflict_is_seeded_and_leaves_aligned_gradients(seed, tasks):
    generator = torch.Generator().manual_seed(seed)
    grads = torch.randn(tasks, 7, generator=generator, dtype=torch.float64)
    if tasks == 2:
        projected = project_conflicts(grads, torch.Generator().manual_seed(0))
        assert float(projected[0] @ grads[1]) >= -1e-12 and float(projected[1] @ grads[0]) >= -1e-12
    same = project_conflicts(grads, torch.Generator().manual_seed(1))
    assert torch.equal(same, project_conflicts(grads, torch.Generator().manual_seed(1)))  # seeded order
    aligned = grads.abs()  # pairwise non-negative dot products: nothing to project
    assert torch.equal(project_conflicts(aligned, torch.Generator().manual_seed(2)), aligned)


def test_pcgrad_leaves_out_a_task_without_valid_target():
    model, x = TwoHeads(), torch.randn(8, 4, generator=torch.Generator().manual_seed(3))
    losses = model.losses(x, (5.0, -5.0), counts=(8, 0))
    only = model.losses(x, (5.0, -5.0))["t0"].value
    expected = torch.autograd.grad(only, list(model.trunk.parameters()))
    PCGrad(PCGradConfig(), ("t0", "t1")).backward(losses, TRAIN, list(model.parameters()))
    for p, reference in zip(model.trunk.parameters(), expected, strict=True):
        assert torch.allclose(p.grad, reference)
    assert all(p.grad is None for p in model.heads[1].parameters())
