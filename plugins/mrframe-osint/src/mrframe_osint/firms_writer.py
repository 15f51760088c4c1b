"""Writing simulated fire detections as NASA FIRMS downloads (VIIRS or MODIS, archive ``.csv.gz`` and NRT ``.csv``).

Day ``t`` has ``n_t ~ Poisson(exp(base + 0.7 u[t] + 0.25 z2[t]))`` detections (``base`` 1.5 for VIIRS, 0.3 for
MODIS), 95% inside :data:`MAIN_BOX`; each has ``log frp ~ N(1.5 + 0.3 u[t], 1)`` and
brightness temperatures that grow with ``log frp``. Given a front line (longitudes at
:data:`~mrframe_osint.deepstate_writer.FRONT_LATITUDES` per day, see :mod:`mrframe_osint.deepstate_writer`), a
share :data:`NEAR_FRONT` of the detections lie along it instead: latitude uniform along the line, longitude the
line's there plus ``N(0, FRONT_SPREAD^2)`` degrees (drawn from their own generator, so every other column is the
same with or without a front). The days are cut into downloads as people make them:

* ``outages`` gaps no file covers (together a fraction ``missing`` of the days);
* the first covered stretch is two archive downloads that overlap by a week (identical rows);
* the last ``nrt_days`` days come from an NRT download that also repeats the archive's last ``nrt_overlap``
  days with NRT values (different positions, FRP and confidence, as NRT and archive differ);
* every file starts and ends on a day with a detection, so its coverage reads back exactly.
"""

from __future__ import annotations

import pathlib

import attrs
import numpy as np
import pandas as pd

from mrframe_osint.world import World
from mrframe_osint.writers import outage_days

MAIN_BOX = (33.0, 46.0, 40.0, 50.5)  # west, south, east, north: where most detections are
WIDE_BOX = (22.0, 44.5, 40.0, 52.0)  # the rest fall here, mostly outside MAIN_BOX
BASE_RATE = {"VIIRS": 1.5, "MODIS": 0.3}
ARCHIVE_OVERLAP = 7
NEAR_FRONT = 0.7
FRONT_SPREAD = 0.2  # degrees of longitude


@attrs.frozen(eq=False)
class Front:
    """Where detections cluster: the front line's ``longitudes [days, points]`` at ``latitudes [points]``
    (evenly spaced) and the generator that places detections along it."""

    latitudes: np.ndarray
    longitudes: np.ndarray
    placement: np.random.Generator

    def place(self, t: np.ndarray, latitude: np.ndarray, longitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Move a share :data:`NEAR_FRONT` of the detections on world days ``t`` next to the line."""
        n = len(t)
        near = self.placement.random(n) < NEAR_FRONT
        position = self.placement.random(n) * (len(self.latitudes) - 1)
        below = np.minimum(position.astype(np.int64), len(self.latitudes) - 2)
        share = position - below
        line = self.longitudes[t, below] * (1 - share) + self.longitudes[t, below + 1] * share
        along = self.latitudes[0] + position * (self.latitudes[1] - self.latitudes[0])
        across = line + FRONT_SPREAD * self.placement.standard_normal(n)
        return np.where(near, along, latitude), np.where(near, across, longitude)


def detections(world: World, days: np.ndarray, counts: np.ndarray, instrument: str, nrt: bool,
               rng: np.random.Generator, front: Front | None = None) -> pd.DataFrame:
    """FIRMS rows for ``counts[i]`` detections on world day positions ``days[i]``."""
    t = np.repeat(days, counts)
    n = len(t)
    main = rng.random(n) < 0.95
    box = np.where(main[:, None], np.array(MAIN_BOX), np.array(WIDE_BOX))
    longitude = box[:, 0] + rng.random(n) * (box[:, 2] - box[:, 0])
    latitude = box[:, 1] + rng.random(n) * (box[:, 3] - box[:, 1])
    if front is not None:
        latitude, longitude = front.place(t, latitude, longitude)
    log_frp = 1.5 + 0.3 * world.intensity[t] + rng.standard_normal(n)
    frp = np.round(np.exp(log_frp), 2)
    daytime = rng.random(n) < 0.4
    minutes = np.where(daytime, rng.integers(600, 690, n), rng.integers(1380, 1500, n)) % 1440
    frame = {"latitude": np.round(latitude, 5 if instrument == "VIIRS" else 4),
             "longitude": np.round(longitude, 5 if instrument == "VIIRS" else 4)}
    hot = np.clip(305 + 8 * log_frp + 6 * rng.standard_normal(n), 295, 367)
    if instrument == "VIIRS":
        frame["bright_ti4"] = np.round(hot, 2)
    else:
        frame["brightness"] = np.round(hot + 5, 1)
    frame |= {"scan": np.round(0.4 + rng.random(n) * 0.3, 2), "track": np.round(0.37 + rng.random(n) * 0.2, 2),
              "acq_date": np.asarray(world.days.strftime("%Y-%m-%d"))[t],
              "acq_time": [f"{m // 60:02d}{m % 60:02d}" for m in minutes] if nrt else (minutes // 60) * 100 + minutes % 60}
    if instrument == "VIIRS":
        frame |= {"satellite": "N", "instrument": "VIIRS"}
        level = np.where(frp > 15, 2, np.where(frp < 2, 0, 1))
        names = ["low", "nominal", "high"] if nrt else ["l", "n", "h"]
        frame |= {"confidence": np.array(names)[level], "version": "2.0NRT" if nrt else "2",
                  "bright_ti5": np.round(285 + 4 * log_frp + 4 * rng.standard_normal(n), 2)}
    else:
        satellite = rng.random(n) < 0.5
        frame |= {"satellite": np.where(satellite, "T" if nrt else "Terra", "A" if nrt else "Aqua"), "instrument": "MODIS",
                  "confidence": np.clip(np.round(40 + 12 * log_frp + 10 * rng.standard_normal(n)), 0, 100).astype(int),
                  "version": "6.1NRT" if nrt else "6.1",
                  "bright_t31": np.round(290 + 3 * log_frp + 3 * rng.standard_normal(n), 1)}
    frame |= {"frp": frp, "daynight": np.where(daytime, "D", "N")}
    if not nrt:
        frame["type"] = 0
    return pd.DataFrame(frame)


def _segments(covered: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in ``covered`` as ``(first, last)`` positions."""
    edges = np.diff(np.concatenate([[0], covered.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1, strict=True))


def write_firms(world: World, folder: pathlib.Path, rng: np.random.Generator, instrument: str = "VIIRS",
                missing: float = 0.09, outages: int = 2, nrt_days: int = 45, nrt_overlap: int = 10,
                front: Front | None = None) -> list[pathlib.Path]:
    """Write FIRMS downloads of ``instrument`` for ``world`` into ``folder`` (detections clustering along
    ``front`` when given); returns the written files."""
    rate = np.exp(BASE_RATE[instrument] + 0.7 * world.intensity + 0.25 * world.z[:, 1])
    counts = rng.poisson(rate)
    gaps = max(outages, 1) if missing > 0 else 0
    covered = ~outage_days(world.n, gaps, max(1, round(missing * world.n / max(gaps, 1))), rng)
    files: list[tuple[int, int, bool]] = []  # first, last, nrt
    for k, (first, last) in enumerate(_segments(covered)):
        if k == 0 and last - first > 3 * ARCHIVE_OVERLAP:
            middle = (first + last) // 2
            files += [(first, middle + ARCHIVE_OVERLAP, False), (middle, last, False)]
        else:
            files.append((first, last, False))
    if nrt_days and files and files[-1][1] - files[-1][0] > 2 * nrt_days:
        first, last, _ = files.pop()
        cut = last - nrt_days + 1
        files += [(first, cut - 1, False), (cut - nrt_overlap, last, True)]
    for first, last, _ in files:
        counts[[first, last]] = np.maximum(counts[[first, last]], 1)
    covered_days = np.flatnonzero(covered)
    archive = detections(world, covered_days, counts[covered_days], instrument, False, rng, front)
    archive_day = np.repeat(covered_days, counts[covered_days])
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tag = "SV-C2" if instrument == "VIIRS" else "M-C61"
    paths = []
    for first, last, nrt in files:
        if nrt:
            days = np.arange(first, last + 1)
            rows = detections(world, days, counts[days], instrument, True, rng, front)
        else:  # a day's archive rows are the same in every download that holds the day
            rows = archive.loc[(archive_day >= first) & (archive_day <= last)]
        name = f"fire_{'nrt' if nrt else 'archive'}_{tag}_{world.days[first]:%Y-%m-%d}.csv{'' if nrt else '.gz'}"
        rows.to_csv(folder / name, index=False, compression=None if nrt else {"method": "gzip", "mtime": 0})
        paths.append(folder / name)
    return paths
