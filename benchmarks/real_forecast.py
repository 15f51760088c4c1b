"""Forecasts of the shipped real-data specs beside the trivial baselines, and what each part of them buys.

Trains examples/minimal.toml and examples/osint-han.toml on the real daily equipment and personnel losses
(examples/data, or a newer upstream snapshot with --real DIR) and prints, for the validation and the test
period, the MAE of the equipment forecast (task ``next_week``: tank, APC, field artillery, drone; 7 days ahead)
in the source's units beside each baseline's on the same targets (persistence, seasonal naive, the moving
averages of the last 7 and 28 observed days), and the skill ``1 - MAE_model / MAE_strongest baseline``.

Each spec is trained as shipped (``full``) and as ablations of the same model with its other settings kept:

* ``no-anchor``   without the anchor (the head predicts the window-scaled target itself);
* ``no-window``   without window scaling (targets and inputs on the training period's scale only);
* ``neither``     without both: what the spec was before window scaling and anchors.

    python benchmarks/real_forecast.py                            # both specs, full and neither
    python benchmarks/real_forecast.py --variants full,no-anchor,no-window,neither --seeds 7,8,9
    python benchmarks/real_forecast.py --specs minimal --real ../shared/data/real/petroivaniuk

Settings of the shipped specs were chosen on the validation period only (docs/user-guide.md tells how); the
test period is what the choice never saw. One seed's difference to the strongest baseline is small next to
the spread over seeds: ``--seeds`` shows it.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import statistics
import time
from typing import Any

import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
SPECS = {"minimal": ROOT / "examples" / "minimal.toml", "han": ROOT / "examples" / "osint-han.toml"}
TASK = "next_week"
VARIANTS = {
    "full": [],
    "no-anchor": [f"heads.{TASK}.target.anchor=none"],
    "no-window": ["data.window_scaling=none"],
    "neither": [f"heads.{TASK}.target.anchor=none", "data.window_scaling=none"],
}
BASELINES = ("persistence", "seasonal_naive", "moving_average_7", "moving_average_28")


def train(spec_path: pathlib.Path, overrides: list[str]) -> tuple[dict[str, Any], float]:
    """Train one spec (no run directory) and return its final evaluation (val and test) and training seconds."""
    from mrframe.data.pipeline import prepare
    from mrframe.engine.trainer import Trainer
    from mrframe.hooks import plugin_manager
    from mrframe.spec import load_spec

    spec = load_spec(spec_path, overrides + ["train.device=cpu"])
    trainer = Trainer(spec, prepare(spec), hooks=plugin_manager(builtin=[]))
    started = time.perf_counter()
    summary = trainer.fit()
    return summary["evaluation"], time.perf_counter() - started


def row(evaluation: dict[str, Any], split: str) -> dict[str, float]:
    """The task's MAE, each baseline's MAE on the model's targets and the skill against the strongest."""
    task = evaluation[split]["tasks"][TASK]
    out = {"model": task["metrics"]["mae"], "skill": task.get("skill", math.nan)}
    for name in BASELINES:
        out[name] = task["baselines"][name]["baseline"]["mae"] if name in task["baselines"] else math.nan
    return out


def real_overrides(snapshot: pathlib.Path | None) -> list[str]:
    if snapshot is None:
        return []
    return [f"sources.equipment.path={snapshot / 'russia_losses_equipment.json'}",
            f"sources.personnel.path={snapshot / 'russia_losses_personnel.json'}"]


def show(results: dict[tuple[str, str, str], list[dict[str, float]]]) -> None:
    columns = ("model", *BASELINES, "skill")
    header = f"{'spec':8s} {'variant':10s} {'split':5s} " + " ".join(f"{c:>17s}" for c in columns)
    print(header)
    print("-" * len(header))
    for (spec, variant, split), rows in results.items():
        cells = []
        for column in columns:
            values = [r[column] for r in rows]
            mean = statistics.fmean(values)
            spread = f" ±{statistics.stdev(values):.3f}" if len(values) > 1 else ""
            cells.append(f"{mean:+.4f}{spread}" if column == "skill" else f"{mean:.2f}{spread}")
        print(f"{spec:8s} {variant:10s} {split:5s} " + " ".join(f"{c:>17s}" for c in cells))
    print("skill = 1 - MAE(model) / MAE(strongest baseline), MAE in daily losses; > 0: beats every baseline"
          + (" (mean ± sd over seeds)" if any(len(r) > 1 for r in results.values()) else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", default="minimal,han", help="comma-separated: minimal, han")
    parser.add_argument("--variants", default="full,neither", help=f"comma-separated of {', '.join(VARIANTS)}")
    parser.add_argument("--seeds", default="", help="comma-separated run.seed values (default: each spec's own)")
    parser.add_argument("--real", type=pathlib.Path, default=None,
                        help="an upstream snapshot folder holding russia_losses_*.json (default: examples/data)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--json", type=pathlib.Path, default=None, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    specs = [s.strip() for s in args.specs.split(",") if s.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [s for s in specs if s not in SPECS] + [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown spec or variant: {', '.join(unknown)}")
    seeds = [[f"run.seed={int(s)}"] for s in args.seeds.split(",") if s.strip()] or [[]]

    results: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    for spec in specs:
        for variant in variants:
            for seed in seeds:
                evaluation, seconds = train(SPECS[spec], real_overrides(args.real) + VARIANTS[variant] + seed)
                print(f"trained {spec} ({variant}{', ' + seed[0] if seed else ''}) in {seconds:.0f}s", flush=True)
                for split in ("val", "test"):
                    results.setdefault((spec, variant, split), []).append(row(evaluation, split))
    print()
    show(results)
    if args.json is not None:
        args.json.write_text(json.dumps({" ".join(k): v for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
