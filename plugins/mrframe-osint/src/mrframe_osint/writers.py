"""Writing a simulated :class:`~mrframe_osint.world.World` in the four real file formats, plus labels.

Every writer takes a fraction ``missing`` of values to leave out and ``outages`` whole-source gaps of
``outage_length`` periods (the defaults of each writer are like the public data). For the cumulative loss
files ``missing`` is the fraction of *daily losses* that come out missing inside a column's life: a cell is
left out with probability ``1 - sqrt(1 - missing)`` (a missing total hides two daily differences). For FIRMS
it is the fraction of days no file covers, split into ``outages`` gaps between downloads.

The files carry the messy parts of the real ones: loss columns with the real names and lives (``military
auto`` only in the first weeks of 2022, ``submarines`` from 2023-09-14, ``ground robotic systems`` from
2026-05-03, ...), the text column ``greatest losses direction``, official corrections that make cumulative
counts fall, one ``day`` number given to two dates, ``personnel*`` qualifiers, a ``POW`` column that stops in
April 2022; FIRMS archive downloads that overlap each other and an NRT download that overlaps the archive,
detections outside the main bounding box; Sentinel months without a row.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pandas as pd

from mrframe_osint.world import World

# name, first day, last day (None: the whole simulated range), log-rate base b_f, loading c_f on u[t - 2]
EQUIPMENT = (
    ("aircraft", None, None, -1.6, 0.5),
    ("helicopter", None, None, -1.8, 0.5),
    ("tank", None, None, 2.3, 0.6),
    ("APC", None, None, 2.8, 0.6),
    ("field artillery", None, None, 3.0, 0.7),
    ("MRL", None, None, 0.4, 0.5),
    ("military auto", None, "2022-04-30", 2.5, 0.5),
    ("fuel tank", None, "2022-04-30", 0.2, 0.4),
    ("drone", None, None, 3.6, 0.8),
    ("naval ship", None, None, -4.5, 0.3),
    ("anti-aircraft warfare", None, None, -0.3, 0.5),
    ("special equipment", "2022-03-16", None, 0.6, 0.5),
    ("mobile SRBM system", "2022-03-26", "2022-04-30", -2.5, 0.3),
    ("vehicles and fuel tanks", "2022-05-01", None, 3.2, 0.6),
    ("cruise missiles", "2022-05-01", None, 0.3, 0.1),
    ("submarines", "2023-09-14", None, -6.0, 0.2),
    ("ground robotic systems", "2026-05-03", None, 1.0, 0.4),
)
DIRECTIONS = ("Bakhmut", "Avdiivka", "Lyman", "Kramatorsk", "Kurakhove", "Zaporizhzhia", "Donetsk", "Kryvyi Rih")
DIRECTION_LIFE = ("2022-04-25", "2023-01-02")
POW_LIFE = ("2022-02-25", "2022-04-27")


def _life(world: World, first: str | None, last: str | None) -> np.ndarray:
    days = world.days
    alive = np.ones(world.n, dtype=bool)
    if first is not None:
        alive &= days >= pd.Timestamp(first)
    if last is not None:
        alive &= days <= pd.Timestamp(last)
    return alive


def outage_days(n: int, outages: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """Bool ``[n]``: days inside one of ``outages`` gaps of ``length`` (never the first or last day)."""
    out = np.zeros(n, dtype=bool)
    for _ in range(outages):
        if n > length + 2:
            start = int(rng.integers(1, n - length - 1))
            out[start : start + length] = True
    return out


def _cumulative(rate: np.ndarray, alive: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cumulative Poisson counts over the days ``alive`` (NaN elsewhere), starting from a few days' worth."""
    losses = np.where(alive, rng.poisson(rate), 0)
    first = int(np.flatnonzero(alive)[0])
    total = rng.poisson(3 * rate[first]) + np.cumsum(losses)
    return np.where(alive, total, np.nan).astype(np.float64)


def _write_records(path: pathlib.Path, world: World, columns: dict[str, np.ndarray], missing: float,
                   outages: int, outage_length: int, rng: np.random.Generator,
                   text: dict[str, np.ndarray] | None = None) -> pathlib.Path:
    """A JSON list of daily records (one per line): ``date``, ``day`` (one number repeated), the columns."""
    cell_missing = 1 - np.sqrt(1 - missing)
    absent = outage_days(world.n, outages, outage_length, rng)
    day = np.arange(world.n) + 2
    repeat = int(rng.integers(world.n // 3, 2 * world.n // 3)) if world.n > 3 else 0
    day[repeat:] -= 1  # two dates carry the same day number, as in the public file
    dropped = {name: rng.random(world.n) < cell_missing for name in columns}
    lines = []
    for t in np.flatnonzero(~absent):
        record: dict[str, object] = {"date": f"{world.days[t]:%Y-%m-%d}", "day": int(day[t])}
        for name, values in columns.items():
            if np.isfinite(values[t]) and not dropped[name][t]:
                record[name] = int(values[t])
        for name, values in (text or {}).items():
            if values[t] is not None:
                record[name] = values[t]
        lines.append(json.dumps(record))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    return path


def write_equipment(world: World, path: pathlib.Path, rng: np.random.Generator, missing: float = 0.06,
                    outages: int = 2, outage_length: int = 5, corrections: int = 6) -> pathlib.Path:
    """The cumulative equipment-loss file (see the module docstring); ``corrections`` falls are planted."""
    u, z2 = world.lagged(world.intensity, 2), world.z[:, 1]
    columns = {}
    for name, first, last, base, loading in EQUIPMENT:
        alive = _life(world, first, last)
        if alive.any():
            columns[name] = _cumulative(np.exp(base + loading * u + 0.2 * z2), alive, rng)
    long_lived = [name for name, v in columns.items() if np.isfinite(v).sum() > 30 and np.nanmin(v) > 20]
    for _ in range(corrections if long_lived else 0):
        values = columns[long_lived[int(rng.integers(len(long_lived)))]]
        alive = np.flatnonzero(np.isfinite(values))
        t = int(rng.choice(alive[1:]))
        fall = int(rng.integers(1, max(2, min(15, int(values[t - 1])))))
        values[t:] -= values[t] - values[t - 1] + fall  # the cumulative count falls on day t (stays >= 0)
    direction = np.where(_life(world, *DIRECTION_LIFE), rng.choice(DIRECTIONS, world.n), None)
    return _write_records(path, world, columns, missing, outages, outage_length, rng,
                          {"greatest losses direction": direction})


def write_personnel(world: World, path: pathlib.Path, rng: np.random.Generator, missing: float = 0.23,
                    outages: int = 2, outage_length: int = 5) -> pathlib.Path:
    """The cumulative personnel file: ``personnel``, the ``personnel*`` qualifier and ``POW`` (early 2022)."""
    everywhere = np.ones(world.n, dtype=bool)
    columns = {"personnel": _cumulative(np.exp(6.3 + 0.5 * world.lagged(world.intensity, 1)), everywhere, rng)}
    pow_life = _life(world, *POW_LIFE)
    if pow_life.any():
        columns["POW"] = _cumulative(np.full(world.n, 2.0), pow_life, rng)
    qualifier = np.where(rng.random(world.n) < 0.005, "more", "about").astype(object)
    return _write_records(path, world, columns, missing, outages, outage_length, rng, {"personnel*": qualifier})


def write_sentinel(world: World, path: pathlib.Path, rng: np.random.Generator, missing: float = 0.33,
                   outages: int = 1, outage_length: int = 2) -> pathlib.Path:
    """Monthly scene statistics: scene counts, cloud cover (yearly cycle) and a burn-scar index."""
    regime = world.monthly_mean(world.z[:, 2])
    intensity = world.monthly_mean(world.intensity)
    months = regime.index
    cloud = np.clip(55 + 25 * np.cos(2 * np.pi * (months.month - 0.5) / 12) + 8 * rng.standard_normal(len(months)), 0, 100)
    frame = pd.DataFrame({
        "date": months.strftime("%Y-%m-%d"),
        "s2_scenes": rng.poisson(60 + 0.8 * (100 - cloud)).astype(float),
        "s1_scenes": rng.poisson(62, len(months)).astype(float),
        "cloud_cover_mean": np.round(cloud, 1),
        "burn_scar_index": np.round(0.5 + 0.25 * regime.to_numpy() + 0.15 * intensity.to_numpy()
                                    + 0.03 * rng.standard_normal(len(months)), 4),
    })
    values = frame.columns[1:]
    frame[values] = frame[values].mask(rng.random((len(frame), len(values))) < missing)
    frame = frame.loc[~outage_days(len(frame), outages, outage_length, rng)]
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def write_labels(world: World, path: pathlib.Path, rng: np.random.Generator, missing: float = 0.0) -> pathlib.Path:
    """Daily intensity regimes 0..3 (:meth:`World.regimes`) as ``date,regime``."""
    regime = world.regimes().astype(float)
    regime[rng.random(world.n) < missing] = np.nan
    frame = pd.DataFrame({"date": world.days.strftime("%Y-%m-%d"), "regime": regime})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, float_format="%.0f")
    return path
