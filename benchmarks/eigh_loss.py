"""Benchmark: the eigh-safe covariance loss against the same loss differentiated through ``torch.linalg.eigh``.

Prints, for batches of 32 covariance matrices of size 64×64, side by side from one run:

* forward + backward time of ``eigh-covariance`` with ``backend = "safe"`` (Daleckii–Krein spectral backward,
  regularised eigenvector backward) and with ``backend = "torch"`` (autograd through ``torch.linalg.eigh``), for
  the spectral term alone and for spectral + subspace + eigengap terms; absolute medians, their ratio
  (target: safe ≤ 1.3× torch) and the ratio of the fastest rounds. The two backends are timed alternately,
  so machine load hits both alike.
* the share of matrices whose gradient is entirely finite on the degenerate set (identity, covariance with
  masked = constant features, A·Aᵀ with A 64×16, float32 near-isotropic), for both (target: 100 % for safe).

Usage::

    python benchmarks/eigh_loss.py [--repeats 20] [--threads N] [--device cpu|cuda] [--dtype float32|float64]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from mrframe_objectives.covariance import EighCovarianceConfig, eigh_covariance_loss, hermitise
from tqdm import tqdm

BATCH, SIZE = 32, 64
VARIANTS = {
    "spectral (log)": dict(spectral="log"),
    "spectral + subspace + gap": dict(spectral="log", subspace_rank=4, eigengap_margin=0.05, nmse_weight=1.0),
}


def wishart(samples: int, generator: torch.Generator, dtype: torch.dtype, device: str) -> torch.Tensor:
    x = torch.randn(BATCH, samples, SIZE, generator=generator, dtype=torch.float64)
    return (x.mT @ x / samples).to(device=device, dtype=dtype)


def degenerate_set(dtype: torch.dtype, device: str) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(11)
    masked = torch.randn(BATCH, 4 * SIZE, SIZE, generator=generator, dtype=torch.float64)
    masked[..., : SIZE // 4] = 0.0  # a quarter of the features masked: constant zero
    a = torch.randn(BATCH, SIZE, SIZE // 4, generator=generator, dtype=torch.float64)
    noise = hermitise(torch.randn(BATCH, SIZE, SIZE, generator=generator, dtype=torch.float64))
    sets = {
        "identity": torch.eye(SIZE, dtype=torch.float64).expand(BATCH, SIZE, SIZE),
        "masked features": masked.mT @ masked / masked.shape[1],
        f"A·Aᵀ (A {SIZE}×{SIZE // 4})": a @ a.mT,
    }
    sets = {name: m.to(device=device, dtype=dtype) for name, m in sets.items()}
    near = (torch.eye(SIZE, dtype=torch.float64) + 1e-7 * noise).to(device=device, dtype=torch.float32)
    sets["near-isotropic (float32)"] = near
    return sets


def step(prediction: torch.Tensor, target: torch.Tensor, config: EighCovarianceConfig) -> torch.Tensor:
    """One forward + backward; returns the gradient of the summed loss w.r.t. the prediction."""
    leaf = prediction.detach().clone().requires_grad_(True)
    eigh_covariance_loss(leaf, target, config).sum().backward()
    return leaf.grad


def timed(fn: Callable[[], torch.Tensor], device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def benchmark_times(repeats: int, dtype: torch.dtype, device: str) -> dict[str, dict[str, float]]:
    generator = torch.Generator().manual_seed(0)
    prediction, target = wishart(4 * SIZE, generator, dtype, device), wishart(4 * SIZE, generator, dtype, device)
    results = {}
    progress = tqdm(total=len(VARIANTS) * (repeats + 3), desc="timing", leave=False)
    for name, options in VARIANTS.items():
        configs = {b: EighCovarianceConfig(backend=b, **options) for b in ("safe", "torch")}
        times: dict[str, list[float]] = {"safe": [], "torch": []}
        for k in range(repeats + 3):  # 3 warm-up rounds, then alternate the backends
            order = ("safe", "torch") if k % 2 == 0 else ("torch", "safe")
            for backend in order:
                seconds = timed(lambda c=configs[backend]: step(prediction, target, c), device)
                if k >= 3:
                    times[backend].append(seconds)
            progress.update()
        results[name] = {b: statistics.median(t) * 1e3 for b, t in times.items()}
        results[name] |= {f"{b} best": min(t) * 1e3 for b, t in times.items()}
    progress.close()
    return results


def finite_shares(dtype: torch.dtype, device: str) -> dict[str, dict[str, float]]:
    generator = torch.Generator().manual_seed(1)
    shares = {}
    options = VARIANTS["spectral + subspace + gap"]
    for name, matrices in degenerate_set(dtype, device).items():
        target = wishart(4 * SIZE, generator, matrices.dtype, device)
        shares[name] = {}
        for backend in ("safe", "torch"):
            grad = step(matrices, target, EighCovarianceConfig(backend=backend, **options))
            shares[name][backend] = float(torch.isfinite(grad).flatten(1).all(1).double().mean())
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed rounds per variant and backend")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    print(f"eigh-covariance loss, batch {BATCH} of {SIZE}x{SIZE}, {args.dtype}, {args.device}, "
          f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}, median of {args.repeats}")
    print(f"\n{'forward + backward':<28}{'safe ms':>10}{'torch ms':>10}{'ratio':>8}{'best':>8}   target (ratio)")
    for name, row in benchmark_times(args.repeats, dtype, args.device).items():
        ratio, best = row["safe"] / row["torch"], row["safe best"] / row["torch best"]
        verdict = "ok" if ratio <= 1.3 else "MISSED"
        print(f"{name:<28}{row['safe']:>10.2f}{row['torch']:>10.2f}{ratio:>7.2f}x{best:>7.2f}x   <= 1.3x {verdict}")
    print("(ms and ratio: medians; best: ratio of the fastest rounds, steadier on a busy machine)")

    print(f"\n{'finite gradients (matrices)':<28}{'safe':>10}{'torch':>10}")
    shares = finite_shares(dtype, args.device)
    for name, row in shares.items():
        print(f"{name:<28}{row['safe']:>10.1%}{row['torch']:>10.1%}")
    overall = {b: statistics.mean(row[b] for row in shares.values()) for b in ("safe", "torch")}
    verdict = "ok" if overall["safe"] == 1.0 else "MISSED"
    print(f"{'all degenerate sets':<28}{overall['safe']:>10.1%}{overall['torch']:>10.1%}   target 100% (safe) {verdict}")


if __name__ == "__main__":
    main()
