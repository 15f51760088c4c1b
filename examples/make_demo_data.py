"""Write the demo dataset of examples/: the synthetic files, and with --real the real ones.

    python examples/make_demo_data.py                  # the synthetic files, into examples/data/
    python examples/make_demo_data.py --out DIR
    python examples/make_demo_data.py --real ../shared/data/real/petroivaniuk   # also the real files

Real (public data, MIT licensed; see data/PROVENANCE.md and data/LICENSE-petroivaniuk):

    russia_losses_equipment.json.gz   cumulative equipment losses (JSON list of daily records), gzip-compressed
    russia_losses_personnel.json.gz   cumulative personnel losses

copied unchanged (only compressed) from a snapshot of the upstream project, whose folder --real names (it
holds the two JSON files, LICENSE and SNAPSHOT: the upstream commit and its date).

Synthetic (no redistributable real data exists for them), written for one simulated world in the real public
formats over the days of the snapshot (2022-02-25 .. 2026-08-08); the same bytes on every run:

    firms_viirs/                   NASA FIRMS VIIRS downloads: archive .csv.gz files and one NRT .csv
    firms_modis/                   NASA FIRMS MODIS archive downloads
    sentinel_monthly.csv           monthly Sentinel scene statistics
    intensity_regimes.csv          daily intensity regime 0..3 (labels for classification heads)
    deepstate/                     DeepState map files of the occupied territory behind a simulated front line
                                   (deepstatemap_data_YYYYMMDD.geojson, from 2024-07-08 as the public archive)
    border.geojson                 the simulated country's outline (for the front line's length)

Fire detections cluster along the simulated front, so FIRMS per grid cell follows it (examples/spatial.toml).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import pathlib
import shutil

from mrframe_osint.demo import write_dataset
from mrframe_osint.world import simulate

START, DAYS, WORLD, SEED = dt.date(2022, 2, 25), 1626, 0, 0
SYNTHETIC = {"firms": "firms_viirs", "firms_modis": "firms_modis", "sentinel": "sentinel_monthly.csv",
             "labels": "intensity_regimes.csv", "deepstate": "deepstate", "border": "border.geojson"}
REAL = ("russia_losses_equipment.json", "russia_losses_personnel.json")
LICENSE = "LICENSE-petroivaniuk"
UPSTREAM = "https://github.com/PetroIvaniuk/2022-Ukraine-Russia-War-Dataset"

PROVENANCE = """\
# Where the demo data comes from

## Real data

`russia_losses_equipment.json.gz` and `russia_losses_personnel.json.gz` are the files
`russia_losses_equipment.json` and `russia_losses_personnel.json` of the public
*2022 Ukraine Russia War Dataset* by Petro Ivaniuk:

- upstream: {upstream}
- snapshot: commit `{commit}` ({date})
- license: MIT, in `{license}`

They are unchanged apart from gzip compression. They hold the daily cumulative totals of equipment and
personnel losses as the upstream project collects them from official Ukrainian reports (see its README); the
`equipment` and `personnel` sources turn them into daily losses.

## Synthetic data

Everything else here is synthetic, written by `examples/make_demo_data.py` for one simulated world in the
real public formats, because the project holds no real data of these sources that it may redistribute:
`firms_viirs/` and `firms_modis/` (NASA FIRMS fire detections), `sentinel_monthly.csv` (monthly Sentinel
scene statistics), `intensity_regimes.csv` (daily intensity regimes), `deepstate/` (DeepState-format maps of a
simulated front line) and `border.geojson` (the simulated country's outline). They are unrelated to the real
losses: a model that uses them as inputs learns nothing true about the real world from them.
"""


def copy_real(snapshot: pathlib.Path, out: pathlib.Path) -> list[pathlib.Path]:
    """The real files of ``snapshot`` into ``out``: gzip-compressed (no timestamp: the same bytes on every
    run), with the upstream license and a provenance note."""
    missing = [name for name in (*REAL, "LICENSE", "SNAPSHOT") if not (snapshot / name).is_file()]
    if missing:
        raise SystemExit(f"{snapshot}: not a snapshot of the upstream dataset (missing {', '.join(missing)})")
    written = []
    for name in REAL:
        target = out / f"{name}.gz"
        target.write_bytes(gzip.compress((snapshot / name).read_bytes(), compresslevel=9, mtime=0))
        written.append(target)
    shutil.copyfile(snapshot / "LICENSE", out / LICENSE)
    commit, _, date = (snapshot / "SNAPSHOT").read_text(encoding="utf-8").strip().partition(" ")
    note = PROVENANCE.format(upstream=UPSTREAM, license=LICENSE, commit=commit, date=date.strip())
    (out / "PROVENANCE.md").write_text(note, encoding="utf-8")
    return [*written, out / LICENSE, out / "PROVENANCE.md"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent / "data")
    parser.add_argument("--real", type=pathlib.Path, default=None,
                        help="a snapshot folder of the upstream dataset: also write the real files from it")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ours = {*SYNTHETIC.values(), *(f"{name}.gz" for name in REAL), LICENSE, "PROVENANCE.md"}
    strangers = sorted(p.name for p in args.out.iterdir() if p.name not in ours)
    if strangers:  # only ever replace the demo dataset's own files
        parser.error(f"{args.out} holds files that are not the demo dataset's ({', '.join(strangers[:3])}); "
                     "choose an empty or new folder")
    for name in SYNTHETIC.values():
        path = args.out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    write_dataset(args.out, simulate(WORLD, START, DAYS), seed=SEED, forms=tuple(SYNTHETIC))
    real = copy_real(args.real, args.out) if args.real is not None else []
    files = sorted(p for p in args.out.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    print(f"wrote the synthetic {', '.join(SYNTHETIC)} files{' and the real files' if real else ''} into {args.out} "
          f"({len(files)} files, {total / 1e6:.2f} MB in all)")


if __name__ == "__main__":
    main()
