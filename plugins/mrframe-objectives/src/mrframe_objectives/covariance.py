"""The eigh-safe covariance loss: predicted covariance matrices against target covariances, finite at ties.

Pipeline, for a predicted ``R̂`` and a target ``R`` (``[B, n, n]``, real symmetric or complex Hermitian)::

    prepare(X)  = δ I + (1 - β) N(H(X)) + β N(H(X_sample))      (β only for the prediction)
    H(X)        = (X + Xᴴ) / 2                                   hermitise
    N(X)        = n X / tr(X)                                    trace-normalise (mean eigenvalue 1)

    loss = w_spec  · ‖f(P) - f(T)‖²_F / n                        f = matrix log or square root (Daleckii–Krein)
         + w_nmse  · ‖P - T‖²_F / ‖T‖²_F
         + w_sub   · (1 - ‖U_Tᴴ U_P‖²_F / k)                     U = the top-k eigenvectors (signal subspace)
         + w_gap   · max(0, m - (λ_{n-k+1}(P) - λ_{n-k}(P)))     eigengap hinge on the prediction

with ``P = prepare(R̂)``, ``T = prepare(R)``, eigenvalues ascending. Spectral terms back-propagate through
:meth:`Spectrum.function <mrframe_objectives.spectral.Spectrum.function>` (exact and finite at ties); the
eigenvector terms through :meth:`Spectrum.eigh <mrframe_objectives.spectral.Spectrum.eigh>` (regularised coupling,
from the same single eigendecomposition of each matrix: exact when the signal/noise gap of both
matrices is at least ``gap · max|λ|``; see that module for the bias at ties). The subspace term is in ``[0, 1]``;
it is 0 when the two signal subspaces coincide.

As a mrframe loss (``eigh-covariance``) the prediction is ``{"covariance": [B, n, n]}`` (plus
``"sample_covariance"`` when ``sample_beta > 0``) and the target covariance is formed from the target window
``values``/``mask`` ``[B, S, F]`` by :func:`sample_covariance`: ``F = n`` real features, or ``F = 2n`` with
``target = "complex-split"`` (real parts then imaginary parts). Use it directly from Python through
:func:`eigh_covariance_loss` with any target matrices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs
import torch
from torch import Tensor

from mrframe.config import field
from mrframe.interfaces import Loss, TargetInfo
from mrframe.observed import TaskLoss
from mrframe_objectives.spectral import Spectrum

__all__ = [
    "EighCovarianceConfig",
    "EighCovariance",
    "hermitise",
    "trace_normalise",
    "prepare_covariance",
    "sample_covariance",
    "covariance_terms",
    "eigh_covariance_loss",
]


@attrs.frozen
class EighCovarianceConfig:
    spectral: Literal["log", "sqrt", "none"] = field("log", "spectral distance: matrix log or square root of both")
    spectral_weight: float = field(1.0, "weight of the spectral distance ‖f(P) - f(T)‖²_F / n", min=0.0)
    nmse_weight: float = field(0.0, "weight of the NMSE ‖P - T‖²_F / ‖T‖²_F", min=0.0)
    subspace_rank: int = field(0, "k: signal-subspace dimension of the eigenvector terms (0: no such terms)", min=0)
    subspace_weight: float = field(1.0, "weight of the subspace misalignment 1 - ‖U_Tᴴ U_P‖²_F / k", min=0.0)
    eigengap_margin: float = field(0.0, "hinge margin on the predicted eigengap at k (trace-normalised; 0: off)", min=0.0)
    eigengap_weight: float = field(1.0, "weight of the eigengap hinge", min=0.0)
    sample_beta: float = field(
        0.0, "β: blend (1 - β) R_pred + β R_sample (prediction key 'sample_covariance')", min=0.0, max=1.0
    )
    loading: float = field(1e-3, "diagonal loading δ added after trace normalisation (eigenvalues average 1)", min=0.0)
    floor: float = field(1e-6, "eigenvalue floor of the spectral function f(max(λ, floor))", min=1e-30)
    gap: float | None = field(None, "relative eigengap below which eigenvector coupling is regularised (none: 100 eps)", min=0.0)
    target: Literal["real", "complex-split"] = field("real", "target features: n real, or n real then n imaginary parts")
    center: bool = field(True, "subtract each target feature's observed mean before forming the covariance")
    min_observed: int = field(2, "a target window is valid when every feature has this many observed steps", min=1)
    backend: Literal["safe", "torch"] = field("safe", "eigh backward: 'safe' (finite at ties) or 'torch' (comparison)")


# ------------------------------------------------------------------------------------------ functional API


def hermitise(matrix: Tensor) -> Tensor:
    """``(X + Xᴴ) / 2``."""
    return 0.5 * (matrix + matrix.mH)


def _real_dtype(matrix: Tensor) -> torch.dtype:
    return matrix.real.dtype if matrix.is_complex() else matrix.dtype


def trace_normalise(matrix: Tensor) -> Tensor:
    """``n X / Re tr(X)``; a matrix whose trace is not clearly positive (below ``tiny^¼``) is left unscaled, so
    neither the value nor the gradient can overflow."""
    n = matrix.shape[-1]
    trace = torch.diagonal(matrix, dim1=-2, dim2=-1).sum(-1)
    trace = trace.real if trace.is_complex() else trace
    positive = trace > torch.finfo(trace.dtype).tiny ** 0.25
    scale = torch.where(positive, n / torch.where(positive, trace, 1.0), 1.0)
    return matrix * scale[..., None, None].to(matrix.dtype)


def prepare_covariance(matrix: Tensor, loading: float, sample: Tensor | None = None, beta: float = 0.0) -> Tensor:
    """``δ I + (1 - β) N(H(X)) + β N(H(X_sample))`` (the sample term only when ``sample`` is given)."""
    prepared = trace_normalise(hermitise(matrix))
    if sample is not None and beta > 0:
        prepared = (1.0 - beta) * prepared + beta * trace_normalise(hermitise(sample))
    eye = torch.eye(matrix.shape[-1], dtype=matrix.dtype, device=matrix.device)
    return prepared + loading * eye


def sample_covariance(
    values: Tensor, mask: Tensor, *, complex_split: bool = False, center: bool = True, min_observed: int = 2
) -> tuple[Tensor, Tensor]:
    """Target covariances ``[B, n, n]`` from windows ``values``/``mask`` ``[B, S, F]`` and which are valid ``[B]``.

    ``R = X̃ᴴ X̃ / S`` with ``X̃ = m ∘ (x - x̄)``: unobserved places contribute 0 (so ``R`` is positive
    semi-definite) and ``x̄`` is each feature's mean over its observed steps (0 with ``center=False``). With
    ``complex_split`` the features are ``[Re x_1..Re x_n, Im x_1..Im x_n]`` and a complex feature is observed
    where both parts are. A window is valid when every feature is observed at least ``min_observed`` times.
    """
    if complex_split:
        if values.shape[-1] % 2:
            raise ValueError(f"eigh-covariance: target = 'complex-split' needs an even number of features, got {values.shape[-1]}")
        n = values.shape[-1] // 2
        observed = mask[..., :n] & mask[..., n:]
        data = torch.complex(torch.where(observed, values[..., :n], 0.0), torch.where(observed, values[..., n:], 0.0))
    else:
        observed = mask
        data = torch.where(observed, values, 0.0)
    counts = observed.sum(dim=-2)  # [B, n]
    if center:
        mean = data.sum(dim=-2, keepdim=True) / counts.clamp(min=1).unsqueeze(-2).to(data.dtype)
        data = torch.where(observed, data - mean, 0.0)
    covariance = data.mH @ data / max(values.shape[-2], 1)
    valid = (counts >= min_observed).all(dim=-1)
    return covariance, valid


def _squared_norm(matrix: Tensor) -> Tensor:
    """``‖X‖²_F`` per matrix (real)."""
    if matrix.is_complex():
        return torch.view_as_real(matrix).square().sum((-3, -2, -1))
    return matrix.square().sum((-2, -1))


def covariance_terms(
    prediction: Tensor, target: Tensor, config: EighCovarianceConfig, sample: Tensor | None = None
) -> dict[str, Tensor]:
    """Every enabled term of the loss, per matrix (``[B]`` real tensors), on prepared matrices."""
    if prediction.shape != target.shape or prediction.shape[-1] != prediction.shape[-2]:
        raise ValueError(
            f"eigh-covariance: prediction {tuple(prediction.shape)} and target {tuple(target.shape)} must be the same "
            "square matrices [..., n, n]"
        )
    n = prediction.shape[-1]
    p = prepare_covariance(prediction, config.loading, sample, config.sample_beta)
    t = prepare_covariance(target, config.loading)
    k = config.subspace_rank
    if k >= n:
        raise ValueError(f"eigh-covariance: subspace_rank must be smaller than the matrix size {n}, got {k}")
    spectral = config.spectral != "none" and config.spectral_weight > 0
    subspace = k > 0 and config.subspace_weight > 0
    eigengap = k > 0 and config.eigengap_margin > 0 and config.eigengap_weight > 0
    terms: dict[str, Tensor] = {}
    if spectral or subspace or eigengap:
        p_spectrum = Spectrum(p, config.backend, config.gap)
    if spectral or subspace:
        t_spectrum = Spectrum(t, config.backend, config.gap)
    if spectral:
        diff = p_spectrum.function(config.spectral, config.floor) - t_spectrum.function(config.spectral, config.floor)
        terms["spectral"] = _squared_norm(diff) / n
    if config.nmse_weight > 0:
        reference = _squared_norm(t)  # 0 only for a zero target without loading: then the plain squared error
        terms["nmse"] = _squared_norm(p - t) / torch.where(reference > 0, reference, 1.0)
    if subspace or eigengap:
        p_values, p_vectors = p_spectrum.eigh()
        if subspace:
            overlap = t_spectrum.eigh()[1][..., -k:].mH @ p_vectors[..., -k:]
            terms["subspace"] = 1.0 - _squared_norm(overlap) / k
        if eigengap:
            gap = p_values[..., n - k] - p_values[..., n - k - 1]
            terms["eigengap"] = torch.relu(config.eigengap_margin - gap)
    return terms


_WEIGHTS = {"spectral": "spectral_weight", "nmse": "nmse_weight", "subspace": "subspace_weight", "eigengap": "eigengap_weight"}


def eigh_covariance_loss(
    prediction: Tensor, target: Tensor, config: EighCovarianceConfig | None = None, sample: Tensor | None = None
) -> Tensor:
    """The weighted sum of :func:`covariance_terms` per matrix ``[B]`` (see the module docstring)."""
    config = config or EighCovarianceConfig()
    if config.sample_beta > 0 and sample is None:
        raise ValueError("eigh-covariance: sample_beta > 0 needs a sample covariance to blend with")
    terms = covariance_terms(prediction, target, config, sample)
    total = torch.zeros(prediction.shape[:-2], dtype=_real_dtype(prediction), device=prediction.device)
    for name, value in terms.items():
        total = total + getattr(config, _WEIGHTS[name]) * value
    return total


# ------------------------------------------------------------------------------------------ the plugin


class EighCovariance(Loss):
    """Eigh-safe covariance loss: spectral and subspace distances of predicted to target covariances.

    Formulas, the target, the tie handling and its bias: docs/objectives.md. The loss is the mean over valid
    target windows.

    Prediction ``{"covariance": [B, n, n]}`` (real or complex; plus ``"sample_covariance"`` when
    ``sample_beta > 0``); the target covariance comes from the target window (:func:`sample_covariance`).
    A window is skipped (and its samples do not count) when a feature has fewer than ``min_observed`` observed
    steps; a predicted matrix with a non-finite entry makes the loss NaN (so the run's non-finite guard names it)
    rather than crashing the eigendecomposition. With no valid window the loss is an exact, differentiable 0.
    """

    Config = EighCovarianceConfig
    prediction_kind = "covariance"

    @classmethod
    def example_inputs(
        cls, target: TargetInfo, batch: int, seed: int = 0, scale: float = 1.0
    ) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """``({"covariance": A Aᵀ}, values, mask)`` for ``batch`` samples of ``target`` (for the conformance kit)."""
        generator = torch.Generator().manual_seed(seed)
        n = target.n_features
        factor = torch.randn(batch, n, n, generator=generator) * scale
        covariance = (factor @ factor.transpose(-1, -2)).requires_grad_(True)
        values = torch.randn(batch, target.span, n, generator=generator)
        mask = torch.rand(batch, target.span, n, generator=generator) < 0.9
        return {"covariance": covariance}, values, mask

    @classmethod
    def target_problems(cls, config: EighCovarianceConfig, target: Any) -> Iterable[str]:
        if target.span < config.min_observed:
            yield (f"span must be at least min_observed = {config.min_observed} (eigh-covariance forms a "
                   f"covariance over the target window's steps), got {target.span}")
        if config.target == "complex-split" and target.features is not None and len(target.features) % 2:
            yield (f"target = 'complex-split' needs an even number of features (real parts, then imaginary "
                   f"parts), got {len(target.features)}")
        if target.features is not None:
            n = len(target.features) // (2 if config.target == "complex-split" else 1)
            if config.subspace_rank >= n:
                yield f"subspace_rank ({config.subspace_rank}) must be smaller than the matrix size {n}"

    def __init__(self, config: EighCovarianceConfig, target: TargetInfo):
        super().__init__(config, target)
        if target.span < config.min_observed:
            raise ValueError(
                f"eigh-covariance: task '{target.task}' has a target span of {target.span} step(s), fewer than "
                f"min_observed = {config.min_observed}, so no target window could ever be valid; lengthen "
                f"heads.{target.task}.target.span"
            )
        if config.target == "complex-split" and target.n_features % 2:
            raise ValueError(
                f"eigh-covariance: target = 'complex-split' needs an even number of target features (real parts, "
                f"then imaginary parts); task '{target.task}' has {target.n_features}"
            )

    def forward(self, prediction: Any, values: Tensor, mask: Tensor) -> TaskLoss:
        config: EighCovarianceConfig = self.config
        if not isinstance(prediction, Mapping) or "covariance" not in prediction:
            raise ValueError("eigh-covariance: the head must predict {'covariance': [B, n, n]} (see docs/objectives.md)")
        predicted = prediction["covariance"]
        sample = prediction.get("sample_covariance")
        if config.sample_beta > 0 and sample is None:
            raise ValueError("eigh-covariance: sample_beta > 0 needs the prediction key 'sample_covariance' [B, n, n]")
        target, valid = sample_covariance(
            values, mask, complex_split=config.target == "complex-split", center=config.center,
            min_observed=config.min_observed,
        )
        if target.is_complex() and not predicted.is_complex():
            raise ValueError("eigh-covariance: target = 'complex-split' needs a complex predicted covariance")
        if predicted.shape != target.shape:
            raise ValueError(
                f"eigh-covariance: predicted covariance {tuple(predicted.shape)} does not match the target's "
                f"{tuple(target.shape)} (target = {config.target!r}, {values.shape[-1]} target features)"
            )
        finite = torch.isfinite(predicted).all(dim=(-2, -1))
        if sample is not None:
            finite &= torch.isfinite(sample).all(dim=(-2, -1))
        usable = (valid & finite)[:, None, None]
        eye = torch.eye(predicted.shape[-1], dtype=predicted.dtype, device=predicted.device)
        safe_prediction = torch.where(usable, predicted, eye)
        safe_sample = torch.where(usable, sample, eye) if sample is not None else None
        per_matrix = eigh_covariance_loss(safe_prediction, target.to(predicted.dtype), config, safe_sample)
        per_matrix = torch.where(finite, per_matrix, torch.nan)
        count = torch.where(valid[:, None, None], mask, False).sum()
        total = torch.where(valid, per_matrix, 0.0).sum() / valid.sum().clamp(min=1)
        return TaskLoss(total, count, mask.numel())
