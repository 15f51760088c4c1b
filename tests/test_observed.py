import numpy as np
import pytest
import torch

from mrframe.observed import Calendar, Observed, Stream, TaskLoss


def test_build_derives_mask_from_nan_inf_and_sentinels_and_zeroes_them():
    raw = torch.tensor([[[1.0, float("nan")], [float("inf"), -999.0], [2.0, -float("inf")]]])
    x = Observed.build(raw, sentinels=(-999.0,))
    assert x.mask.tolist() == [[[True, False], [False, False], [True, False]]]
    assert x.values.tolist() == [[[1.0, 0.0], [0.0, 0.0], [2.0, 0.0]]]
    assert torch.isfinite(x.values).all()


def test_explicit_mask_is_anded_and_masked_values_become_exact_zero():
    raw = np.array([[[1e30, 5.0]]])
    x = Observed.build(raw, mask=np.array([[[False, True]]]))
    assert x.mask.tolist() == [[[False, True]]]
    assert x.values[0, 0, 0].item() == 0.0 and x.values.dtype == torch.float64


def test_direct_construction_and_mutation_are_refused():
    with pytest.raises(TypeError, match="Observed.build"):
        Observed(torch.zeros(1, 1, 1), torch.ones(1, 1, 1, dtype=torch.bool))
    x = Observed.build(torch.zeros(1, 1, 1))
    with pytest.raises(AttributeError):
        x.values = torch.ones(1, 1, 1)


def test_shape_errors_name_the_layout():
    with pytest.raises(ValueError, match=r"\[batch, time, features\]"):
        Observed.build(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="mask shape"):
        Observed.build(torch.zeros(1, 2, 3), mask=torch.ones(1, 2, 2, dtype=torch.bool))


def test_masked_values_ignores_edits_after_construction():
    x = Observed.build(torch.tensor([[[1.0, float("nan")]]]))
    x.values[0, 0, 1] = 1e30
    assert x.masked_values().tolist() == [[[1.0, 0.0]]]


def test_present_is_a_timestep_mask():
    x = Observed.build(torch.tensor([[[1.0, float("nan")], [float("nan"), float("nan")]]]))
    assert x.present.tolist() == [[True, False]]


def test_cast_that_overflows_masks_the_overflowed_value():
    x = Observed.build(torch.tensor([[[1e300, 1.0]]], dtype=torch.float64))
    y = x.to(dtype=torch.float32)
    assert y.mask.tolist() == [[[False, True]]] and torch.isfinite(y.values).all()


def test_none_valid_loss_is_exact_zero_with_gradient_path_even_for_nan_predictions():
    prediction = torch.tensor([[[float("nan"), 1.0]]], requires_grad=True)
    loss = TaskLoss.none_valid(prediction, size=2)
    assert loss.value.item() == 0.0 and loss.count.item() == 0
    loss.value.backward()
    assert prediction.grad is not None and torch.equal(prediction.grad, torch.zeros_like(prediction))


def test_stream_checks_shapes():
    with pytest.raises(ValueError, match="hidden"):
        Stream(torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool"):
        Stream(torch.zeros(2, 3, 4), torch.zeros(2, 3))


def test_calendar_masks_follow_month_slots():
    # 2 monthly slots; days: one in slot 0, one in slot 1, two in the anchor's own month (slot 2)
    slot = torch.tensor([[0, 1, 2, 2]])
    calendar = Calendar(
        weekday=torch.zeros(1, 4, dtype=torch.long), month_of_year=torch.zeros(1, 4, dtype=torch.long),
        month_slot=slot, monthly_month_of_year=torch.zeros(1, 2, dtype=torch.long),
        anchor_day=torch.zeros(1, dtype=torch.long),
    )
    visible = calendar.months_visible()[0]
    assert visible.tolist() == [[False, False], [True, False], [True, True], [True, True]]
    assert calendar.days_of_month()[0].tolist() == [[True, False, False, False], [False, True, False, False]]
