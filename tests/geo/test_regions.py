"""geo.regions: proposed layouts tile the community exactly, keep buildings whole, are contiguous and within the
households norm wherever the buildings allow; a building above the maximum is a grid of its own."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo import regions

# an L-shaped community about 1.1 km across (not convex: a cell can fall apart in it)
COMMUNITY = shapely.Polygon([(116.400, 39.900), (116.412, 39.900), (116.412, 39.905), (116.406, 39.905),
                             (116.406, 39.910), (116.400, 39.910)])


def town(seed: int = 3, n: int = 180) -> tuple[np.ndarray, np.ndarray]:
    """Random rectangular footprints inside the community, not overlapping, 5-60 households each."""
    rng = np.random.default_rng(seed)
    fps: list = []
    while len(fps) < n:
        x, y = rng.uniform(116.400, 116.412), rng.uniform(39.900, 39.910)
        f = shapely.box(x, y, x + rng.uniform(0.0002, 0.0005), y + rng.uniform(0.00015, 0.0003))
        if COMMUNITY.contains(f.buffer(0.00005)) and not any(f.buffer(0.00003).intersects(g) for g in fps):
            fps.append(f)
    return np.array(fps, dtype=object), rng.integers(5, 60, n)


@pytest.fixture(scope="module")
def world() -> tuple[np.ndarray, np.ndarray]:
    fps, hh = town()
    hh[7] = 640  # one tower above the maximum
    return fps, hh


def test_tiles_exactly_keeps_buildings_whole_and_is_contiguous(world) -> None:
    fps, hh = world
    lay = regions.propose(COMMUNITY, fps, hh, 300, 500)
    polys = np.array(lay.polygons, dtype=object)
    assert shapely.area(shapely.symmetric_difference(shapely.union_all(polys), COMMUNITY)) < 1e-12 * COMMUNITY.area
    overlap = sum(shapely.area(shapely.intersection(polys[i], polys[j]))
                  for i in range(len(polys)) for j in range(i + 1, len(polys)))
    assert overlap < 1e-9 * COMMUNITY.area
    assert all(shapely.within(shapely.buffer(p, -1e-9), COMMUNITY) for p in polys)
    # every footprint lies in the region it is counted for, and in no other
    for b, f in enumerate(fps):
        share = shapely.area(shapely.intersection(polys, f)) / f.area
        assert share[lay.labels[b]] > 1 - 1e-6 and np.sort(share)[-2] < 1e-6 if len(polys) > 1 else True
    assert all(p.geom_type == "Polygon" for p in polys), [p.geom_type for p in polys]
    assert lay.households.sum() == hh.sum()


def test_within_the_norm_and_the_tower_is_its_own_grid(world) -> None:
    fps, hh = world
    lay = regions.propose(COMMUNITY, fps, hh, 300, 500)
    tower = lay.labels[7]
    assert lay.oversize[tower] and lay.households[tower] == 640 and (lay.labels == tower).sum() == 1
    others = [h for i, h in enumerate(lay.households) if not lay.oversize[i]]
    assert all(300 <= h <= 500 for h in others), others


def test_beats_the_baseline_on_balance_and_splits_nothing(world) -> None:
    fps, hh = world
    lay = regions.assign_codes(regions.propose(COMMUNITY, fps, hh, 300, 500), "110101001001", [], [])
    base = regions.baseline(COMMUNITY, fps, hh, len(lay.polygons))
    base.codes = [str(i) for i in range(len(base.polygons))]
    kw = {"footprints": fps, "households": hh, "old_codes": [], "old_polygons": []}
    ours, theirs = regions.scores(lay, **kw), regions.scores(base, **kw)
    assert ours["cv"] < theirs["cv"] and ours["split_buildings"] == 0


def test_codes_kept_for_a_grid_that_barely_changes_and_new_ones_in_reading_order(world) -> None:
    fps, hh = world
    lay = regions.propose(COMMUNITY, fps, hh, 300, 500, seed=1)
    old = [shapely.buffer(lay.polygons[0], -0.00001)]
    lay = regions.assign_codes(lay, "110101001001", ["110101001001007"], old)
    assert lay.codes[0] == "110101001001007" and lay.kept[0] and not any(lay.kept[1:])
    new = [i for i in range(len(lay.codes)) if not lay.kept[i]]
    c = shapely.centroid(np.array(lay.polygons, dtype=object)[new])
    order = regions.reading_order(shapely.get_x(c), shapely.get_y(c))
    assert [lay.codes[new[i]] for i in order] == sorted(lay.codes[i] for i in new)
    assert sorted(lay.codes[i] for i in new)[0] == "110101001001001"


def test_deterministic_for_a_seed(world) -> None:
    fps, hh = world
    a = regions.propose(COMMUNITY, fps, hh, 300, 500, seed=2)
    b = regions.propose(COMMUNITY, fps, hh, 300, 500, seed=2)
    assert (a.labels == b.labels).all()
    assert all(p.equals_exact(q, 0) for p, q in zip(a.polygons, b.polygons, strict=True))
