"""The region table of spatial sources: validation, distances, nearest neighbours."""

from __future__ import annotations

import numpy as np
import pytest

from mrframe.regions import Regions, haversine_km


def test_haversine_matches_known_distances():
    # Kyiv (50.45, 30.52) to Kharkiv (49.99, 36.23): about 410 km; a degree of latitude: about 111.2 km
    assert haversine_km(50.45, 30.52, 49.99, 36.23) == pytest.approx(410, abs=5)
    assert haversine_km(0.0, 0.0, 1.0, 0.0) == pytest.approx(111.19, abs=0.01)


def test_distances_are_symmetric_with_zero_diagonal_and_nearest_starts_with_itself():
    regions = Regions(["a", "b", "c"], ["A", "B", "C"], [50.0, 50.0, 51.0], [30.0, 31.0, 30.0])
    d = regions.distances_km()
    assert np.allclose(d, d.T) and np.all(np.diag(d) == 0)
    assert regions.nearest(2).tolist() == [[0, 1], [1, 0], [2, 0]]  # a degree of longitude is shorter here
    assert regions.nearest(10).shape == (3, 3)
    assert regions.index("c") == 2


def test_nearest_distance_is_the_smallest_distance_to_another_region_without_an_r_by_r_matrix(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    regions = Regions([f"r{i}" for i in range(n)], [f"R{i}" for i in range(n)], rng.uniform(-80, 80, n),
                      rng.uniform(-180, 180, n))
    brute = regions.distances_km() + np.diag(np.full(n, np.inf))
    np.testing.assert_allclose(regions.nearest_distance_km(), brute.min(axis=1), rtol=1e-9, atol=1e-9)
    twin = Regions(["a", "b", "c"], ["A", "B", "C"], [50.0, 50.0, 51.0], [30.0, 30.0, 30.0])  # a and b coincide
    assert twin.nearest_distance_km().tolist() == [0.0, 0.0, pytest.approx(111.19, abs=0.01)]
    assert np.isinf(Regions(["a"], ["A"], [50.0], [30.0]).nearest_distance_km()).all()

    from mrframe.data.maps import plot_region_map

    def quadratic(self):  # noqa: ANN001, ANN202
        raise AssertionError("the map built an R x R distance matrix")

    monkeypatch.setattr(Regions, "distances_km", quadratic)
    plot_region_map(regions, rng.random(n), tmp_path / "map.png", "title", "value")
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ids": ["a", "a"]}, "region id 'a' appears more than once"),
        ({"lat": [91.0, 0.0]}, "latitude in \\[-90, 90\\]"),
        ({"lon": [np.nan, 0.0]}, "must be finite"),
        ({"names": ["only one"]}, "has 1 names"),
        ({"ids": [], "names": [], "lat": [], "lon": []}, "at least one region"),
    ],
)
def test_a_bad_region_table_is_refused_with_a_message(kwargs, message):
    table = {"ids": ["a", "b"], "names": ["A", "B"], "lat": [50.0, 51.0], "lon": [30.0, 31.0]} | kwargs
    with pytest.raises(ValueError, match=message):
        Regions(**table)


def test_unknown_region_id_is_a_key_error_naming_it():
    with pytest.raises(KeyError, match="'z'"):
        Regions(["a"], ["A"], [0.0], [0.0]).index("z")
