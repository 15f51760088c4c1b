"""The correlation filter and the PCA projection with missing values (no plugins needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mrframe.data.reduction import Reduction, correlation_keep, fit_pca, fit_reduction, project
from mrframe.errors import DataError


def test_correlation_keep_matches_pairwise_pandas_correlation():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 5))
    x[:, 2] = 0.9 * x[:, 0] + 0.1 * rng.standard_normal(400)  # ~0.99 correlated with feature 0
    x[:, 4] = -x[:, 1] + 0.5 * rng.standard_normal(400)  # ~-0.9 with feature 1
    x[rng.random(x.shape) < 0.2] = np.nan
    corr = pd.DataFrame(x).corr(min_periods=3).abs().to_numpy()
    for threshold in (0.95, 0.8, 0.5):
        keep = correlation_keep(x, threshold)
        expected = np.ones(5, dtype=bool)
        for j in range(5):
            if any(corr[i, j] > threshold for i in range(j) if expected[i]):
                expected[j] = False
        assert keep.tolist() == expected.tolist()
    assert correlation_keep(x, 0.95).tolist() == [True, True, False, True, True]


def test_constant_and_unobserved_features_are_kept():
    x = np.column_stack([np.arange(10.0), np.full(10, 3.0), np.full(10, np.nan), np.arange(10.0)])
    assert correlation_keep(x, 0.9).tolist() == [True, True, True, False]


def test_projection_is_exact_for_complete_rows_and_least_squares_otherwise():
    rng = np.random.default_rng(1)
    latent = rng.standard_normal((300, 2))
    x = latent @ rng.standard_normal((2, 6)) + 0.05 * rng.standard_normal((300, 6))
    mean, components = fit_pca(x, 2, "s")
    assert components.shape == (2, 6)
    full = project(x, mean, components)
    assert np.allclose(full, (x - mean) @ components.T)
    exact = mean + np.array([[1.5, -0.5]]) @ components  # a row inside the principal subspace
    partial = np.repeat(exact, 3, axis=0)
    partial[0, [0, 3, 5]] = np.nan  # 3 of 6 observed: still determined
    partial[1, :5] = np.nan  # 1 observed < 2 components: undetermined
    out = project(partial, mean, components)
    assert np.allclose(out[0], [1.5, -0.5]) and np.allclose(out[2], [1.5, -0.5])
    assert np.isnan(out[1]).all()


def test_pca_by_explained_variance_and_too_few_complete_rows():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((200, 1)) @ np.ones((1, 4)) + 0.01 * rng.standard_normal((200, 4))
    _, components = fit_pca(x, 0.9, "s")
    assert components.shape[0] == 1
    sparse = x.copy()
    sparse[np.arange(200) % 70 != 0, 0] = np.nan  # 3 complete rows
    with pytest.raises(DataError, match=r"source 's': PCA needs at least 4 training rows .* found 3; the least "
                                        r"observed are 'a' \(2%\), .* lower or remove data\.preprocess\.s\.pca"):
        fit_pca(sparse, 3, "s", ("a", "b", "c", "d"))
    with pytest.raises(DataError, match="asks for 5 components of 4 input features"):
        fit_pca(x, 5, "s")


def test_reduction_state_round_trip_and_names():
    from mrframe.interfaces import SourceInfo

    rng = np.random.default_rng(3)
    x = rng.standard_normal((100, 3))
    x[:, 2] = x[:, 0]
    info = SourceInfo("s", "daily", ("a", "b", "c"), ("a",))
    reduction = fit_reduction(x, 0.9, 1, info)
    again = Reduction.from_state(reduction.state("s"), "s")
    assert np.array_equal(again.apply(x), reduction.apply(x))
    reduced = reduction.info(info)
    assert reduced.features == ("pc1",) and reduced.counts == ()
    filtered = fit_reduction(x, 0.9, None, info).info(SourceInfo("s", "daily", ("a", "b", "c"), ("a", "c")))
    assert filtered.features == ("a", "b") and filtered.counts == ("a",)
