"""Scores of a proposed layout (issue 20), side by side with the current grids and the baseline: balance,
compactness, what moves, the expected case load, and how much of the new edges run along roads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.crs import metric_zones
from geo.overlay import assign_points

if TYPE_CHECKING:
    from geo.regions import Layout

ROAD_NEAR_M = 15.0  # an edge this close to a road centre line runs along the road


def polsby_popper(polygons: ArrayLike) -> NDArray[np.float64]:
    """Compactness 4πA/P² of WGS84 polygons, measured in metres (1 for a disc, 0.785 for a square).

    >>> round(float(polsby_popper([shapely.box(116.4, 39.9, 116.401, 39.901)])[0]), 2)
    0.77
    """
    from geo.crs import to_metric

    m = to_metric(np.asarray(polygons, dtype=object))
    a, p = shapely.area(m), shapely.length(m)
    return np.where(p > 0, 4 * np.pi * a / np.maximum(p, 1e-12) ** 2, 0.0)


def boundary_on_roads(polygons: ArrayLike, roads: ArrayLike, *, near_m: float = ROAD_NEAR_M) -> float | None:
    """Share of the edges drawn between the regions (their outer boundary, the community's, left out) that run
    within ``near_m`` metres of a road centre line; None where there is no inner edge.

    >>> r = boundary_on_roads([shapely.box(116.40, 39.90, 116.41, 39.91), shapely.box(116.41, 39.90, 116.42, 39.91)],
    ...                       [shapely.LineString([(116.41, 39.90), (116.41, 39.905)])])
    >>> round(r, 2)
    0.51
    """
    from geo.crs import to_metric

    polys = np.asarray(polygons, dtype=object)
    if len(polys) < 2:
        return None
    zone = metric_zones(*shapely.get_coordinates(shapely.centroid(shapely.union_all(polys))).T)
    m = shapely.make_valid(to_metric(polys, np.repeat(zone, len(polys))))
    try:  # on a 1 cm grid: grids as drawn by hand (the sample's planted overlap) can defeat exact overlay
        outer = shapely.buffer(shapely.boundary(shapely.union_all(m, grid_size=0.01)), 0.5)
        inner = shapely.difference(shapely.union_all(shapely.boundary(m), grid_size=0.01), outer, grid_size=0.01)
    except shapely.errors.GEOSException:
        return None
    total = shapely.length(inner)
    rd = np.asarray(roads, dtype=object)
    if total <= 0:
        return None
    if not len(rd):
        return 0.0
    near = shapely.buffer(shapely.union_all(to_metric(rd, np.repeat(zone, len(rd)))), near_m)
    return float(shapely.length(shapely.intersection(inner, near)) / total)


def scores(layout: Layout, *, footprints: ArrayLike, households: ArrayLike, old_codes: list[str],
           old_polygons: ArrayLike, case_points: ArrayLike = (), open_points: ArrayLike = (),
           months: float = 12.0, roads: ArrayLike | None = None) -> dict[str, Any]:
    """Balance (min, max, coefficient of variation of households), compactness (Polsby–Popper), buildings
    and households changing grid, open cases that would move, expected monthly cases per grid (from
    ``case_points`` over ``months``), buildings split between grids, and (given ``roads``) the share of the
    inner edges that run along a road.

    >>> from geo.regions import Layout
    >>> lay = Layout([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], np.array([0, 1]), np.array([10, 30]),
    ...              codes=["a", "b"])
    >>> s = scores(lay, footprints=[shapely.box(0.1, 0.1, 0.2, 0.2), shapely.box(1.1, 0.1, 1.2, 0.2)],
    ...            households=[10, 30], old_codes=["a"], old_polygons=[shapely.box(0, 0, 2, 1)])
    >>> s["households"], s["cv"], s["buildings_moving"], s["households_moving"], s["split_buildings"]
    ({'min': 10, 'max': 30, 'mean': 20.0}, 0.5, 1, 30, 0)
    """
    fp = np.asarray(footprints, dtype=object)
    hh = np.asarray(households, dtype=np.int64)
    polys = np.asarray(layout.polygons, dtype=object)
    h = np.asarray(layout.households, dtype=float)
    pp = polsby_popper(polys)
    reps = shapely.point_on_surface(fp) if len(fp) else fp
    new_of = np.asarray(layout.codes, dtype=object)[assign_points(reps, polys)] if len(fp) else np.array([])
    old_idx = assign_points(reps, old_polygons) if len(fp) else np.array([], dtype=np.int64)
    old_of = np.where(old_idx >= 0, np.asarray(list(old_codes) + [None], dtype=object)[old_idx], None)
    moving = new_of != old_of
    split = 0
    if len(fp):
        tree = shapely.STRtree(polys)
        bi, _ = tree.query(fp, predicate="intersects")
        inter = np.bincount(bi, minlength=len(fp))
        for b in np.flatnonzero(inter > 1):
            parts = shapely.area(shapely.intersection(polys, fp[b]))
            split += int((parts > 1e-4 * shapely.area(fp[b])).sum() > 1)

    def per_grid(points: ArrayLike) -> NDArray:
        p = np.asarray(points, dtype=object)
        if not len(p):
            return np.zeros(len(polys), dtype=np.int64)
        i = assign_points(p, polys)
        return np.bincount(i[i >= 0], minlength=len(polys))

    open_moving = 0
    if len(open_points):
        op = np.asarray(open_points, dtype=object)
        a, b = assign_points(op, polys), assign_points(op, old_polygons)
        new_c = np.asarray(layout.codes + [None], dtype=object)[a]
        old_c = np.asarray(list(old_codes) + [None], dtype=object)[b]
        open_moving = int((new_c != old_c).sum())
    load = per_grid(case_points) / months
    return {
        "grids": len(polys),
        "households": {"min": int(h.min()), "max": int(h.max()), "mean": round(float(h.mean()), 1)},
        "cv": round(float(h.std() / h.mean()), 3) if h.mean() else 0.0,
        "polsby_popper": {"mean": round(float(pp.mean()), 3), "min": round(float(pp.min()), 3)},
        "buildings_moving": int(moving.sum()), "households_moving": int(hh[moving].sum()),
        "open_cases_moving": open_moving, "split_buildings": split,
        "cases_per_month": {c: round(float(v), 2) for c, v in zip(layout.codes, load, strict=True)},
        "boundary_on_roads": None if roads is None or (on := boundary_on_roads(polys, roads)) is None
        else round(on, 3),
    }
