"""The eigh-safe spectral functions and eigendecomposition: exact gradients, finite on degenerate spectra."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mrframe_objectives.covariance import EighCovarianceConfig, eigh_covariance_loss, hermitise
from mrframe_objectives.spectral import divided_differences, matrix_function, safe_eigh

DTYPES = [torch.float64, torch.complex128]


def spd(batch: int, n: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    """Well-conditioned Hermitian positive definite matrices with separated eigenvalues 1..n."""
    generator = torch.Generator().manual_seed(seed)
    real = torch.randn(batch, n, n, dtype=torch.float64, generator=generator)
    if dtype.is_complex:
        real = torch.complex(real, torch.randn(batch, n, n, dtype=torch.float64, generator=generator))
    q, _ = torch.linalg.qr(real)
    spectrum = torch.arange(1, n + 1, dtype=torch.float64).to(q.dtype)
    return (q * spectrum) @ q.mH


def degenerate_set(dtype: torch.dtype = torch.float32, n: int = 20) -> dict[str, torch.Tensor]:
    """The degenerate matrices of the issue: identity, masked (constant) features, A Aᵀ (A 20×5), near-isotropic."""
    generator = torch.Generator().manual_seed(3)
    a = torch.randn(4, n, 5, generator=generator, dtype=torch.float64)
    samples = torch.randn(4, 50, n, generator=generator, dtype=torch.float64)
    samples[..., :4] = 0.0  # four features fully masked: constant zero
    noise = hermitise(torch.randn(4, n, n, generator=generator, dtype=torch.float64))
    return {
        "identity": torch.eye(n, dtype=torch.float64).expand(4, n, n).to(dtype),
        "masked-features": (samples.mT @ samples / 50).to(dtype),
        "A@A.T (A 20x5)": (a @ a.mT).to(dtype),
        "near-isotropic": (torch.eye(n, dtype=torch.float64) + 1e-7 * noise).to(dtype),
    }


def gradient_of(loss_fn, matrix: torch.Tensor) -> torch.Tensor:
    leaf = matrix.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(leaf).sum(), leaf)
    return grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["sqrt", "log"])
def test_matrix_function_gradcheck_on_separated_spectra(dtype, name):
    matrix = spd(2, 5, dtype).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: matrix_function(hermitise(x), name, 1e-6), (matrix,))


@pytest.mark.parametrize("dtype", DTYPES)
def test_safe_eigh_gradcheck_on_separated_spectra(dtype):
    matrix = spd(2, 5, dtype).requires_grad_(True)

    def invariant_outputs(x):
        values, vectors = safe_eigh(hermitise(x))
        top = vectors[..., -2:]
        projector = top @ top.mH  # gauge invariant, unlike the eigenvectors themselves
        return values, torch.view_as_real(projector) if projector.is_complex() else projector

    assert torch.autograd.gradcheck(invariant_outputs, (matrix,))


@pytest.mark.parametrize("dtype", DTYPES)
def test_agrees_with_torch_eigh_to_1e_10_on_well_conditioned_matrices(dtype):
    matrix = spd(3, 8, dtype, seed=1)
    target = spd(3, 8, dtype, seed=2)
    safe_values, safe_vectors = safe_eigh(matrix)
    torch_values, torch_vectors = torch.linalg.eigh(matrix)
    assert torch.allclose(safe_values, torch_values, atol=1e-10, rtol=0)
    assert torch.allclose((safe_vectors.mH @ torch_vectors).abs(), torch.eye(8, dtype=torch.float64), atol=1e-10)
    for spectral in ("sqrt", "log"):
        config = EighCovarianceConfig(spectral=spectral, nmse_weight=1.0, subspace_rank=3, eigengap_margin=0.5)
        ours = gradient_of(lambda x, c=config: eigh_covariance_loss(x, target, c), matrix)
        reference_config = EighCovarianceConfig(
            spectral=spectral, nmse_weight=1.0, subspace_rank=3, eigengap_margin=0.5, backend="torch"
        )
        reference = gradient_of(lambda x, c=reference_config: eigh_covariance_loss(x, target, c), matrix)
        assert torch.allclose(ours, reference, atol=1e-10, rtol=0), (spectral, (ours - reference).abs().max())


def finite_difference(loss_fn, matrix: torch.Tensor, step: float = 1e-6) -> torch.Tensor:
    """Central differences along symmetric perturbations ``E_ij + E_ji`` (the directions a Hermitian input has)."""
    n = matrix.shape[-1]
    grad = torch.zeros_like(matrix)
    for i in range(n):
        for j in range(i, n):
            direction = torch.zeros_like(matrix)
            direction[..., i, j] = direction[..., j, i] = step
            slope = (loss_fn(matrix + direction) - loss_fn(matrix - direction)) / (2 * step)
            grad[..., i, j] = grad[..., j, i] = slope / (1.0 if i == j else 2.0)
    return grad


@pytest.mark.parametrize("name", ["sqrt", "log"])
def test_spectral_gradient_matches_finite_differences_at_exact_ties(name):
    generator = torch.Generator().manual_seed(5)
    weights = hermitise(torch.randn(5, 5, dtype=torch.float64, generator=generator))
    tied = torch.diag(torch.tensor([2.0, 2.0, 2.0, 0.5, 0.5], dtype=torch.float64))  # two clusters of exact ties
    for matrix in (torch.eye(5, dtype=torch.float64), tied):
        def loss(x):
            return (matrix_function(hermitise(x), name, 1e-3) * weights).sum()

        ours = gradient_of(loss, matrix)
        assert torch.isfinite(ours).all()
        assert torch.allclose(ours, finite_difference(loss, matrix), atol=1e-7), name


def test_divided_differences_across_the_floor():
    values = torch.tensor([1e-9, 2e-9, 0.5, 4.0], dtype=torch.float64)  # two below the floor 1e-3, two above
    gamma = divided_differences(values, "sqrt", 1e-3)
    floored = values.clamp(min=1e-3).sqrt()
    for i in range(4):
        for j in range(4):
            if i != j:
                expected = (floored[i] - floored[j]) / (values[i] - values[j])
                assert torch.isclose(gamma[i, j], expected, rtol=1e-9, atol=1e-12)
    assert gamma[0, 0] == 0 and gamma[0, 1] == 0  # below the floor the function is constant
    assert torch.isclose(gamma[3, 3], 0.5 / values[3].sqrt())


@pytest.mark.parametrize("subspace_rank", [0, 3])
def test_gradients_are_finite_on_the_degenerate_set_where_torch_eigh_gives_nan(subspace_rank):
    target = spd(4, 20, torch.float64, seed=7).float()
    torch_nonfinite = []
    for name, matrix in degenerate_set().items():
        for backend in ("safe", "torch"):
            config = EighCovarianceConfig(subspace_rank=subspace_rank, eigengap_margin=0.1, nmse_weight=1.0, backend=backend)
            grad = gradient_of(lambda x, c=config: eigh_covariance_loss(x, target, c), matrix)
            if backend == "safe":
                assert torch.isfinite(grad).all(), name
            elif not torch.isfinite(grad).all():
                torch_nonfinite.append(name)
    assert "identity" in torch_nonfinite and "near-isotropic" in torch_nonfinite  # what the safe backward fixes


def test_complex_hermitian_degenerate_matrices_have_finite_gradients():
    n = 6
    identity = torch.eye(n, dtype=torch.complex64).expand(2, n, n)
    generator = torch.Generator().manual_seed(2)
    a = torch.complex(torch.randn(2, n, 2, generator=generator), torch.randn(2, n, 2, generator=generator))
    target = a @ a.mH + torch.eye(n)
    config = EighCovarianceConfig(subspace_rank=2, nmse_weight=1.0)
    for matrix in (identity, a @ a.mH):
        assert torch.isfinite(gradient_of(lambda x: eigh_covariance_loss(x, target, config), matrix)).all()


def with_spectrum(eigenvalues: list[float], seed: int, dtype: torch.dtype) -> torch.Tensor:
    """``Q diag(λ) Qᴴ`` with a random unitary ``Q``: exactly the given (possibly tied) eigenvalues."""
    n = len(eigenvalues)
    generator = torch.Generator().manual_seed(seed)
    real = torch.randn(n, n, dtype=torch.float64, generator=generator)
    if dtype.is_complex:
        real = torch.complex(real, torch.randn(n, n, dtype=torch.float64, generator=generator))
    q, _ = torch.linalg.qr(real)
    matrix = (q * torch.tensor(eigenvalues, dtype=torch.float64).to(q.dtype)) @ q.mH
    return hermitise(matrix).to(dtype).unsqueeze(0)


@settings(max_examples=40, deadline=None)
@given(
    eigenvalues=st.lists(st.sampled_from([0.0, 0.0, 1e-9, 1.0, 1.0, 3.0]), min_size=2, max_size=9),
    seed=st.integers(0, 10_000),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.complex64, torch.complex128]),
    rank=st.integers(1, 3),
)
def test_property_gradients_are_finite_on_tied_and_rank_deficient_spectra(eigenvalues, seed, dtype, rank):
    matrix = with_spectrum(eigenvalues, seed, dtype)
    target = with_spectrum(sorted(eigenvalues, reverse=True), seed + 1, dtype)
    config = EighCovarianceConfig(
        subspace_rank=min(rank, len(eigenvalues) - 1), eigengap_margin=0.1, nmse_weight=1.0, loading=0.0
    )
    grad = gradient_of(lambda x: eigh_covariance_loss(x, target, config), matrix)
    assert torch.isfinite(grad).all()


@settings(max_examples=25, deadline=None)
@given(
    eigenvalues=st.lists(st.sampled_from([0.5, 0.5, 1.0, 1.0, 2.0]), min_size=2, max_size=4),
    seed=st.integers(0, 10_000),
    name=st.sampled_from(["sqrt", "log"]),
)
def test_property_spectral_gradient_matches_finite_differences_with_ties(eigenvalues, seed, name):
    matrix = with_spectrum(eigenvalues, seed, torch.float64)[0]
    weights = with_spectrum([1.0] * len(eigenvalues), seed + 7, torch.float64)[0] + with_spectrum(
        list(range(len(eigenvalues))), seed + 8, torch.float64
    )[0]

    def loss(x):
        return (matrix_function(hermitise(x), name, 1e-3) * weights).sum()

    assert torch.allclose(gradient_of(loss, matrix), finite_difference(loss, matrix), atol=1e-6)
