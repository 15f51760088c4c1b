"""Likely-sentinel scan (:func:`mrframe.data.sentinels.column_suspects`) against the rule tried on every repeated
value, side by side on the same columns: counts that repeat a few dozen values on many rows (the case that made
the per-value scan slow), at two lengths. The scan should grow like ``n log n`` (ratio ~ the length ratio) and
find exactly what the per-value rule finds.

    python benchmarks/sentinel_scan.py [--rows 20000]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from mrframe.data import sentinels  # noqa: E402


def every_repeated_value(column: np.ndarray) -> list[tuple[float, int]]:
    """The module docstring's rule, tried on every value repeated often enough (the former scan)."""
    observed = column[np.isfinite(column)]
    values, counts = np.unique(observed, return_counts=True)
    enough = max(sentinels.MIN_ROWS, int(np.ceil(sentinels.MIN_SHARE * observed.size)))
    found = []
    for value, count in zip(values[counts >= enough], counts[counts >= enough], strict=True):
        rest = observed[observed != value]
        low, high, spread = float(rest.min()), float(rest.max()), sentinels._spread(rest)
        distance = max(low - value, value - high, 0.0)
        if distance > sentinels.FAR * spread and (value < 0 <= low or value > 0 >= high or distance > 2 * (high - low)):
            found.append((float(value), int(count)))
    return found


def column(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.poisson(30, rows).astype(np.float64)
    values[rng.random(rows) < 0.01] = -999.0
    return values


def seconds(run, repeats: int = 3) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    rows = parser.parse_args().rows
    print(f"{'rows':>10}  {'scan s':>9}  {'per-value s':>11}  {'per-value / scan':>16}  same result")
    times = {}
    for n in (rows, 8 * rows):
        x = column(n, 0)
        scan = seconds(lambda x=x: list(sentinels.column_suspects("x", x)))
        brute = seconds(lambda x=x: every_repeated_value(x))
        same = [(s.value, s.rows) for s in sentinels.column_suspects("x", x)] == every_repeated_value(x)
        times[n] = scan
        print(f"{n:>10,}  {scan:>9.4f}  {brute:>11.4f}  {brute / scan:>16.1f}  {same}")
    print(f"scan time ratio for 8x the rows: {times[8 * rows] / times[rows]:.1f} (linear: 8, quadratic: 64)")


if __name__ == "__main__":
    main()
