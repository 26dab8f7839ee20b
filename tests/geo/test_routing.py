"""The adaptive routing index equals shapely's exact ``covers`` on multi-scale layouts (issue 21), in every regime.

Small sizes (a few hundred grids, tens of thousands of points): the full-scale measure is in ``make bench``.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo.multiscale import REGIMES, km2, make_layout, make_points
from geo.routing import EDGE, INSIDE, NEAREST, UNROUTED, RoutingIndex


@pytest.fixture(scope="module")
def layout() -> tuple[np.ndarray, np.ndarray]:
    return make_layout(n_towns=4, per_town=60, suburban=10, rural=40, seed=7)


def _smallest_cover(index: RoutingIndex, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, g = index.covers(x, y)
    first = np.full(len(x), np.iinfo(np.int64).max)
    np.minimum.at(first, p, g)
    count = np.bincount(p, minlength=len(x))
    return np.where(count > 0, first, -1), count


def test_the_layout_is_multi_scale(layout: tuple[np.ndarray, np.ndarray]) -> None:
    _, polys = layout
    area = km2(polys)
    assert area.max() / area.min() > 1e4  # four orders of magnitude
    assert (shapely.get_num_interior_rings(polys) > 0).any()  # holes
    assert any(p.geom_type == "MultiPolygon" for p in polys)


@pytest.mark.parametrize("regime", REGIMES)
def test_route_equals_covers_in_every_regime(layout: tuple[np.ndarray, np.ndarray], regime: str) -> None:
    codes, polys = layout
    index = RoutingIndex(codes, polys)
    assert index.levels >= 3  # the adaptive cells were used, not one flat lattice
    x, y = make_points(polys, 40_000, regime, seed=3)
    # Every vertex and edge midpoint of a few grids too: shared edges, vertices, holes.
    verts = shapely.get_coordinates(polys[:60])
    x = np.r_[x, verts[:, 0], (verts[:-1, 0] + verts[1:, 0]) / 2, np.nan, np.inf, 0.0]
    y = np.r_[y, verts[:, 1], (verts[:-1, 1] + verts[1:, 1]) / 2, 1.0, 2.0, np.nan]
    truth, count = _smallest_cover(index, x, y)
    r = index.route(x, y, tolerance_m=0)
    assert (r.grid == truth).all()
    assert ((r.method == EDGE) == (count > 1)).all() and ((r.method == INSIDE) == (count == 1)).all()
    assert ((r.method == UNROUTED) == (count == 0)).all()
    assert (count > 1).sum() > 100 and (count == 0).sum() > 100  # edges and outside points were exercised
    # With a tolerance: covered points keep their grid; outside ones go to the nearest grid within 50 m on the
    # ellipsoid (checked against shapely's nearest in degrees, then metres), else stay unrouted.
    r50 = index.route(x, y, tolerance_m=50)
    assert (r50.grid[count > 0] == truth[count > 0]).all()
    near = np.flatnonzero(r50.method == NEAREST)
    assert (r50.distance_m[near] <= 50).all() and (count[near] == 0).all()
    far = np.flatnonzero((count == 0) & (r50.method == UNROUTED) & np.isfinite(x) & np.isfinite(y))
    pts = shapely.points(x[far], y[far])
    _, dist = index.tree.query_nearest(pts, return_distance=True, all_matches=False)
    assert (dist > 50 / 111_320 / 1.01).all()  # no unrouted point is within 50 m of a grid


def test_one_point_at_a_time_equals_together(layout: tuple[np.ndarray, np.ndarray]) -> None:
    codes, polys = layout
    index = RoutingIndex(codes, polys)
    x, y = make_points(polys, 600, "mixed", seed=9)
    together = index.route(x, y)
    for i in range(len(x)):
        one = index.route(x[i:i + 1], y[i:i + 1])
        assert (int(one.grid[0]), int(one.method[0])) == (int(together.grid[i]), int(together.method[i])), i
        d1, d2 = float(one.distance_m[0]), float(together.distance_m[i])
        assert d1 == d2 or (d1 != d1 and d2 != d2), i


def test_overlapping_grids_and_an_empty_layout() -> None:
    a, b = shapely.box(0, 0, 2, 2), shapely.box(1, 1, 3, 3)  # overlap in [1, 2]²
    index = RoutingIndex(["b", "a"], [b, a])
    r = index.route([1.5, 0.5, 2.5, 1.0], [1.5, 0.5, 2.5, 1.5], tolerance_m=0)
    assert [index.codes[g] for g in r.grid] == ["a", "a", "b", "a"]
    assert [int(m) for m in r.method] == [EDGE, INSIDE, INSIDE, EDGE]
    empty = RoutingIndex([], [])
    r = empty.route([1.0, 2.0], [1.0, 2.0])
    assert (r.grid == -1).all() and (r.method == UNROUTED).all()


def test_a_sliver_deep_inside_the_coverage_goes_to_the_nearest_grid() -> None:
    # 5 x 5 grids of 0.01°, the middle one shrunk by 1e-6° (about 0.1 m): a sliver far from the outer edge, whose
    # points are uncovered in cells crossed by boundaries (the tree search), not in outside cells (the lists).
    boxes = [shapely.box(i * 0.01, j * 0.01, (i + 1) * 0.01, (j + 1) * 0.01) for i in range(5) for j in range(5)]
    boxes[12] = shapely.box(0.02 + 1e-6, 0.02 + 1e-6, 0.03 - 1e-6, 0.03 - 1e-6)
    index = RoutingIndex([f"{k:02d}" for k in range(25)], boxes)
    x = np.array([0.02 + 5e-7, 0.025, -0.0003, 0.025])
    y = np.array([0.025, 0.03 - 5e-7, 0.025, -0.01])
    r = index.route(x, y, tolerance_m=50)
    assert [int(m) for m in r.method] == [NEAREST, NEAREST, NEAREST, UNROUTED]
    assert r.distance_m[0] < 0.1 and r.distance_m[1] < 0.1 and 30 < r.distance_m[2] < 35
    # Each goes to the nearer of the two grids beside it (the shrunk middle one, 12, is 5e-7° away, as is 7).
    assert index.codes[r.grid[0]] in ("07", "12") and index.codes[r.grid[1]] in ("12", "13")
    flat = index._cells(x, y)[1]
    assert index._near_flag[flat[0]] == 2  # the sliver point really took the search
