"""Input reduction fitted on the training period: a correlation filter and PCA (scikit-learn), per source.

Both act on a source's *normalised* values and only on what its encoder sees; targets keep every feature. A
spatial source's (period, region) pairs are the rows: one filter and one PCA for all its regions.

**Correlation filter** (threshold ``r``): features are visited in order; feature ``j`` is dropped when
``|corr(j, i)| > r`` for a kept feature ``i < j``. Correlations are Pearson's over the training rows where both
features are observed (pairs with fewer than 3 such rows, or a constant feature, count as uncorrelated).

**PCA** (``k`` components, or the fraction of variance to keep): fitted by :class:`sklearn.decomposition.PCA`
on training rows where every kept feature is observed, giving a mean ``mu`` and orthonormal components
``W [k, F]``. A row ``x`` with observed features ``O`` gets the least-squares components::

    c = argmin_c || (x_O - mu_O) - W_O^T c ||^2 = pinv(W_O^T) (x_O - mu_O)

which is ``W (x - mu)`` for a complete row. The components of a row are observed iff ``W_O^T`` has rank
``k`` (at least ``k`` observed features that pin the components down); otherwise they are all missing. Rows
are solved in groups sharing one observation pattern, so the cost grows with the number of patterns.

The fitted state is plain tensors: ``{source}.keep`` (bool per input feature) and, with PCA,
``{source}.mean`` and ``{source}.components``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import attrs
import numpy as np
import torch

from mrframe.data.spatial import feature_rows
from mrframe.errors import DataError
from mrframe.interfaces import SourceInfo

MIN_PAIRS = 3


def correlation_keep(values: np.ndarray, threshold: float) -> np.ndarray:
    """Bool ``[F]``: the features the filter keeps (``values [rows, F]``, NaN = missing)."""
    n_features = values.shape[1]
    observed = np.isfinite(values)
    x = np.where(observed, values, 0.0).astype(np.float64)
    o = observed.astype(np.float64)
    pairs = o.T @ o
    sum_x = x.T @ o  # [i, j]: sum of x_i over rows where j is observed (and i, via x = 0 when missing)
    sum_xx = (x * x).T @ o
    cross = x.T @ x
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_i, mean_j = sum_x / pairs, sum_x.T / pairs
        cov = cross / pairs - mean_i * mean_j
        var_i = sum_xx / pairs - mean_i**2
        var_j = sum_xx.T / pairs - mean_j**2
        corr = cov / np.sqrt(var_i * var_j)
    corr = np.where((pairs >= MIN_PAIRS) & (var_i > 1e-12) & (var_j > 1e-12), corr, 0.0)
    keep = np.ones(n_features, dtype=bool)
    for j in range(n_features):
        earlier = np.flatnonzero(keep[:j])
        if earlier.size and np.any(np.abs(corr[earlier, j]) > threshold):
            keep[j] = False
    return keep


def fit_pca(values: np.ndarray, components: int | float, source: str,
            names: tuple[str, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(mean [F], components [k, F])`` of a PCA fitted on the complete rows of ``values [rows, F]``
    (``names``: the features, for messages)."""
    from sklearn.decomposition import PCA

    complete = values[np.isfinite(values).all(axis=1)].astype(np.float64)
    n_features = values.shape[1]
    names = names or tuple(f"feature {i}" for i in range(n_features))
    if isinstance(components, int) and components > n_features:
        raise DataError(f"source '{source}': data.preprocess.{source}.pca asks for {components} components of "
                        f"{n_features} input features; ask for at most {n_features}")
    needed = (components if isinstance(components, int) else 1) + 1
    if complete.shape[0] < needed:
        share = np.isfinite(values).mean(axis=0) if len(values) else np.zeros(n_features)
        rare = ", ".join(f"{names[i]!r} ({share[i]:.0%})" for i in np.argsort(share)[:3])
        raise DataError(f"source '{source}': PCA needs at least {needed} training rows with every input feature "
                        f"observed, found {complete.shape[0]}; the least observed are {rare}: leave them out with "
                        f"the source's features key, or lower or remove data.preprocess.{source}.pca")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pca = PCA(n_components=components, svd_solver="full").fit(complete)
    return pca.mean_.astype(np.float64), pca.components_.astype(np.float64)


def project(values: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Least-squares components ``[rows, k]`` of ``values [rows, F]`` (NaN where they are not determined)."""
    k = components.shape[0]
    observed = np.isfinite(values)
    out = np.full((values.shape[0], k), np.nan, dtype=np.float64)
    patterns, which = np.unique(observed, axis=0, return_inverse=True)
    centred = np.where(observed, values - mean, 0.0)
    for p, pattern in enumerate(patterns):
        if pattern.sum() < k:
            continue
        basis = components[:, pattern].T  # [|O|, k]
        if np.linalg.matrix_rank(basis, tol=1e-8) < k:
            continue
        rows = np.flatnonzero(which.reshape(-1) == p)
        out[rows] = centred[np.ix_(rows, pattern)] @ np.linalg.pinv(basis).T
    return out


@attrs.frozen(eq=False)
class Reduction:
    """One source's fitted reduction: the features kept by the filter, then an optional PCA."""

    keep: np.ndarray
    mean: np.ndarray | None = None
    components: np.ndarray | None = None

    def apply(self, values: np.ndarray) -> np.ndarray:
        """``values [..., F]`` (``[N, F]``, or ``[N, R, F]`` for a spatial source) reduced on the last axis."""
        kept = values[..., self.keep]
        if self.components is None:
            return kept
        projected = project(feature_rows(kept), self.mean, self.components)
        return projected.reshape(*kept.shape[:-1], -1).astype(values.dtype)

    def info(self, source: SourceInfo) -> SourceInfo:
        """What the source's encoder sees after the reduction."""
        features = tuple(f for f, k in zip(source.features, self.keep, strict=True) if k)
        if self.components is None:
            return attrs.evolve(source, features=features, counts=tuple(c for c in source.counts if c in features))
        names = tuple(f"pc{i + 1}" for i in range(self.components.shape[0]))
        return attrs.evolve(source, features=names, counts=())

    @property
    def identity(self) -> bool:
        return bool(self.keep.all()) and self.components is None

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        state = {f"{prefix}.keep": torch.from_numpy(self.keep.copy())}
        if self.components is not None:
            state[f"{prefix}.mean"] = torch.from_numpy(self.mean.copy())
            state[f"{prefix}.components"] = torch.from_numpy(self.components.copy())
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, torch.Tensor], prefix: str) -> Reduction:
        keep = state[f"{prefix}.keep"].numpy().astype(bool)
        if f"{prefix}.components" not in state:
            return cls(keep)
        return cls(keep, state[f"{prefix}.mean"].numpy(), state[f"{prefix}.components"].numpy())


def fit_reduction(values: np.ndarray, threshold: float | None, pca: int | float | None, source: SourceInfo) -> Reduction:
    """Fit a source's reduction on its normalised training rows ``values [rows, F]``."""
    keep = np.ones(values.shape[1], dtype=bool)
    if threshold is not None and threshold < 1.0:
        keep = correlation_keep(values, threshold)
    if pca is None:
        return Reduction(keep)
    names = tuple(f for f, k in zip(source.features, keep, strict=True) if k)
    mean, components = fit_pca(values[:, keep], pca, source.name, names)
    return Reduction(keep, mean, components)
