"""Eigendecompositions of Hermitian matrices whose gradients stay finite on degenerate spectra.

Both functions take real symmetric or complex Hermitian matrices ``[..., n, n]`` (only the lower triangle is
read, as in :func:`torch.linalg.eigh`; hermitise first when unsure) and run :func:`torch.linalg.eigh` forward.
They differ from autograd through ``torch.linalg.eigh`` only in the backward pass.

**Spectral functions** (:func:`matrix_function`): ``F = g(A) = U diag(g(λ)) Uᴴ`` with ``g(λ) = f(max(λ, floor))``
for ``f`` in :data:`FUNCTIONS` (``sqrt``, ``log``). The backward is the Daleckii–Krein formula::

    Ā = U (Γ ∘ (Uᴴ F̄ U)) Uᴴ,   Γ_ij = (g(λ_i) - g(λ_j)) / (λ_i - λ_j)   if λ_i ≠ λ_j
                               Γ_ij = g'(λ_i)                          if λ_i = λ_j

which is the exact Fréchet derivative of ``g`` at ``A``, ties included (``g`` is smooth on the spectrum once it is
floored), so it is finite on the identity, on rank-deficient and on near-isotropic matrices. The divided
differences are evaluated in closed forms without cancellation, so no tie threshold is involved: with
``a = max(λ_i, floor)``, ``b = max(λ_j, floor)``, ``Γ_ij = c_ij · h(a, b)`` where

* ``h_sqrt(a, b) = 1 / (√a + √b)``,
* ``h_log(a, b) = log1p((a - b) / b) / (a - b)`` (``1 / b`` at ``a = b``),
* ``c_ij`` is the divided difference of the floor itself: 1 when both eigenvalues are at or above ``floor``, 0 when
  both are below, ``(λ_hi - floor) / (λ_hi - λ_lo)`` when they straddle it.

**Eigenvectors** (:func:`safe_eigh`): the backward of ``(λ, U) = eigh(A)`` is PyTorch's formula with the
eigenvector-coupling factor ``1 / (λ_j - λ_i)`` regularised::

    Ā = U (diag(λ̄) + F ∘ skew(Uᴴ Ū)) Uᴴ,   skew(X) = (X - Xᴴ) / 2,
    F_ij = 1 / (λ_j - λ_i)            if |λ_j - λ_i| ≥ ε
    F_ij = (λ_j - λ_i) / ε²           otherwise (0 at an exact tie),     ε = gap · max_k |λ_k|

For pairs at least ``ε`` apart this is exact (identical to ``torch.linalg.eigh``'s backward). **Bias:** for a pair
closer than ``ε`` the coupling is shrunk by ``(λ_j - λ_i)² / ε²``, i.e. the gradient drops (at an exact tie:
entirely) the component that would rotate eigenvectors *within* a (near-)degenerate eigenspace, a component that is
undefined there. A loss that depends only on an eigenspace spanned by whole clusters of eigenvalues (such as the
projector onto the top-k eigenvectors when ``λ_k - λ_{k+1} ≥ ε``) has no such component, so its gradient is exact.
In the complex case the imaginary part of ``diag(Uᴴ Ū)`` (the phase gauge) is dropped, as a gauge-invariant loss
has none.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["FUNCTIONS", "Backend", "Spectrum", "matrix_function", "safe_eigh", "divided_differences", "default_gap"]

FUNCTIONS = ("sqrt", "log")
Backend = Literal["safe", "torch"]


def _apply(name: str, x: Tensor) -> Tensor:
    if name == "sqrt":
        return x.sqrt()
    if name == "log":
        return x.log()
    raise ValueError(f"unknown spectral function {name!r}; choose one of {', '.join(FUNCTIONS)}")


def divided_differences(eigenvalues: Tensor, name: str, floor: float) -> Tensor:
    """``Γ [..., n, n]``: divided differences of ``g(λ) = f(max(λ, floor))`` at the eigenvalues ``[..., n]``,
    with ``g'`` on the diagonal and at ties (closed forms, see the module docstring)."""
    lam_i, lam_j = eigenvalues.unsqueeze(-1), eigenvalues.unsqueeze(-2)
    a, b = lam_i.clamp(min=floor), lam_j.clamp(min=floor)
    if name == "sqrt":
        h = 1.0 / (a.sqrt() + b.sqrt())
    elif name == "log":
        diff = a - b
        tie = diff == 0
        h = torch.where(tie, 1.0 / b, torch.log1p(diff / b) / torch.where(tie, 1.0, diff))
    else:
        raise ValueError(f"unknown spectral function {name!r}; choose one of {', '.join(FUNCTIONS)}")
    above_i, above_j = lam_i >= floor, lam_j >= floor
    high, low = torch.maximum(lam_i, lam_j), torch.minimum(lam_i, lam_j)
    straddle = above_i ^ above_j
    clamp_slope = torch.where(
        above_i & above_j,
        torch.ones_like(h),
        torch.where(straddle, (high - floor) / torch.where(straddle, high - low, 1.0), torch.zeros_like(h)),
    )
    return clamp_slope * h


class _MatrixFunction(torch.autograd.Function):
    """``g(A)`` from a given eigendecomposition of ``A``; Daleckii–Krein backward."""

    @staticmethod
    def forward(ctx: Any, matrix: Tensor, eigenvalues: Tensor, vectors: Tensor, name: str, floor: float) -> Tensor:
        ctx.save_for_backward(eigenvalues, vectors)
        ctx.name, ctx.floor = name, floor
        return _assemble(eigenvalues, vectors, name, floor)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        eigenvalues, vectors = ctx.saved_tensors
        gamma = divided_differences(eigenvalues, ctx.name, ctx.floor).to(vectors.dtype)
        return vectors @ ((vectors.mH @ grad @ vectors) * gamma) @ vectors.mH, None, None, None, None


def _assemble(eigenvalues: Tensor, vectors: Tensor, name: str, floor: float) -> Tensor:
    values = _apply(name, eigenvalues.clamp(min=floor))
    return (vectors * values.unsqueeze(-2).to(vectors.dtype)) @ vectors.mH


def _coupling(eigenvalues: Tensor, gap: float) -> Tensor:
    """``F [..., n, n]``: ``1 / (λ_j - λ_i)``, regularised to ``(λ_j - λ_i) / ε²`` below ``ε = gap · max|λ|``;
    both at once as ``d / max(d², ε²)`` (``ε²`` kept above the smallest normal number, so 0 at a tie)."""
    scale = eigenvalues.abs().amax(dim=-1, keepdim=True).unsqueeze(-1)
    eps_squared = (gap * scale).square().clamp(min=torch.finfo(eigenvalues.dtype).tiny)
    diff = eigenvalues.unsqueeze(-2) - eigenvalues.unsqueeze(-1)
    return diff / torch.maximum(diff.square(), eps_squared)


class _SafeEigh(torch.autograd.Function):
    """``(λ, U)`` from a given eigendecomposition of ``A``; regularised backward."""

    @staticmethod
    def forward(ctx: Any, matrix: Tensor, eigenvalues: Tensor, vectors: Tensor, gap: float) -> tuple[Tensor, Tensor]:
        ctx.save_for_backward(eigenvalues, vectors)
        ctx.gap = gap
        return eigenvalues.view_as(eigenvalues), vectors.view_as(vectors)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_values: Tensor | None, grad_vectors: Tensor | None) -> tuple[Tensor | None, ...]:
        eigenvalues, vectors = ctx.saved_tensors
        inner = torch.diag_embed(grad_values.to(vectors.dtype)) if grad_values is not None else None
        if grad_vectors is not None:
            projected = vectors.mH @ grad_vectors
            coupled = 0.5 * (projected - projected.mH) * _coupling(eigenvalues, ctx.gap).to(vectors.dtype)
            inner = coupled if inner is None else inner + coupled
        if inner is None:
            return None, None, None, None
        return vectors @ inner @ vectors.mH, None, None, None


def default_gap(dtype: torch.dtype) -> float:
    """The default relative eigenvalue gap below which eigenvector coupling is regularised: 100 × machine eps."""
    return 100.0 * torch.finfo(dtype).eps


def _check_backend(backend: str) -> None:
    if backend not in ("safe", "torch"):
        raise ValueError(f"unknown eigh backend {backend!r}; choose 'safe' or 'torch'")


class Spectrum:
    """One eigendecomposition of a batch of Hermitian matrices, shared by every spectral and eigenvector term.

    ``backend="safe"``: :meth:`function` back-propagates with the Daleckii–Krein formula and :meth:`eigh` with
    the regularised coupling (module docstring); ``backend="torch"``: both differentiate through
    :func:`torch.linalg.eigh` (NaN or inf at ties; kept for comparison). Either way ``torch.linalg.eigh`` runs once.
    """

    def __init__(self, matrix: Tensor, backend: Backend = "safe", gap: float | None = None):
        _check_backend(backend)
        self.matrix = matrix
        self.backend = backend
        real = matrix.real if matrix.is_complex() else matrix
        self.gap = default_gap(real.dtype) if gap is None else float(gap)
        if backend == "safe":
            with torch.no_grad():
                self._values, self._vectors = torch.linalg.eigh(matrix.detach())
        else:
            self._values, self._vectors = torch.linalg.eigh(matrix)

    def function(self, name: str, floor: float) -> Tensor:
        """``U diag(f(max(λ, floor))) Uᴴ`` for ``f`` in :data:`FUNCTIONS` (``floor > 0``)."""
        if name not in FUNCTIONS:
            raise ValueError(f"unknown spectral function {name!r}; choose one of {', '.join(FUNCTIONS)}")
        if not floor > 0:
            raise ValueError(f"the eigenvalue floor of a spectral function must be > 0, got {floor}")
        if self.backend == "torch":
            return _assemble(self._values, self._vectors, name, floor)
        return _MatrixFunction.apply(self.matrix, self._values, self._vectors, name, float(floor))

    def eigh(self) -> tuple[Tensor, Tensor]:
        """``(eigenvalues ascending [..., n], eigenvectors [..., n, n])``."""
        if self.backend == "torch":
            return self._values, self._vectors
        return _SafeEigh.apply(self.matrix, self._values, self._vectors, self.gap)


def matrix_function(matrix: Tensor, name: str, floor: float, backend: Backend = "safe") -> Tensor:
    """``U diag(f(max(λ, floor))) Uᴴ`` of the Hermitian ``matrix`` (see :class:`Spectrum`)."""
    return Spectrum(matrix, backend).function(name, floor)


def safe_eigh(matrix: Tensor, gap: float | None = None) -> tuple[Tensor, Tensor]:
    """``(eigenvalues ascending, eigenvectors)`` of a Hermitian matrix with the regularised backward of the module
    docstring; ``gap`` is relative to ``max |λ|`` (default: :func:`default_gap`)."""
    return Spectrum(matrix, "safe", gap).eigh()
