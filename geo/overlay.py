"""Overlays of a grid layout against itself, its communities and its buildings: the geometric core of the
coverage analysis (:mod:`geo.coverage`), pure and vectorised (shapely 2 over numpy arrays).

Every overlay snaps to a precision grid (``grid_size``, default :data:`GRID_SIZE`, 1e-7°, about 1 cm), so that
neighbouring grids sharing their vertices intersect in lines only; every area is measured in metres
(:func:`geo.crs.area_m2`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.crs import area_m2, m2_per_deg2

#: The precision grid (degrees) every overlay snaps to: about 1 cm, what the sample and the import store.
GRID_SIZE = 1e-7


def polygonal(geoms: ArrayLike) -> NDArray[np.object_]:
    """Keep only the polygonal parts of overlay results (which may add lines and points).

    >>> from shapely import GeometryCollection, LineString, box
    >>> [g.wkt for g in polygonal([GeometryCollection([box(0, 0, 1, 1), LineString([(1, 1), (2, 2)])]),
    ...                            LineString([(0, 0), (1, 1)])])]
    ['MULTIPOLYGON (((1 0, 1 1, 0 1, 0 0, 1 0)))', 'MULTIPOLYGON EMPTY']
    """
    arr = np.asarray(geoms, dtype=object)
    out = np.empty(len(arr), dtype=object)
    for i, g in enumerate(arr):
        if g is None or g.is_empty:
            out[i] = shapely.MultiPolygon()
            continue
        t = shapely.get_type_id(g)
        if t == 6:
            out[i] = g
        elif t == 3:
            out[i] = shapely.MultiPolygon([g])
        else:
            parts = [p for p in shapely.get_parts(g) if shapely.get_type_id(p) in (3, 6)]
            polys = [q for p in parts for q in shapely.get_parts(p)]
            out[i] = shapely.MultiPolygon(polys) if polys else shapely.MultiPolygon()
    return out



# ----------------------------------------------------------------------------------------------
# Pairwise predicates


def assign_points(points: ArrayLike, polygons: ArrayLike) -> NDArray[np.int64]:
    """Index of the first polygon that covers each point (ST_Covers), or -1.

    Ties (a point on a shared edge, or in an overlap) go to the lowest index: with polygons
    sorted by code, that is the grid with the smallest code, as routing decides.

    >>> from shapely import box, points
    >>> assign_points(points([[0.5, 0.5], [1, 0.5], [1.5, 0.5], [9, 9]]), [box(0, 0, 1, 1), box(1, 0, 2, 1)]).tolist()
    [0, 0, 1, -1]
    """
    pts = np.asarray(points, dtype=object)
    out = np.full(len(pts), np.iinfo(np.int64).max, dtype=np.int64)
    if len(pts) and len(polygons):
        tree = shapely.STRtree(pts)
        poly_idx, pt_idx = tree.query(np.asarray(polygons, dtype=object), predicate="covers")
        np.minimum.at(out, pt_idx, poly_idx)
    out[out == np.iinfo(np.int64).max] = -1
    return out


def interiors_intersect(a: ArrayLike, b: ArrayLike) -> NDArray[np.bool_]:
    """DE-9IM ``T********``: the interiors share an area (touching edges do not count).

    >>> from shapely import box
    >>> interiors_intersect([box(0, 0, 1, 1), box(0, 0, 1, 1)], [box(1, 0, 2, 1), box(0.5, 0, 2, 1)]).tolist()
    [False, True]
    """
    return shapely.relate_pattern(np.asarray(a, dtype=object), np.asarray(b, dtype=object), "T********")


def grid_overlaps(
    grids: ArrayLike, *, grid_size: float = GRID_SIZE
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.object_], NDArray[np.float64]]:
    """Pairs ``(i, j)`` (i < j) of polygons whose interiors intersect, their shared polygon and its m².

    >>> from shapely import box
    >>> i, j, shared, a = grid_overlaps([box(116.0, 39.0, 116.01, 39.01), box(116.01, 39.0, 116.02, 39.01),
    ...                                  box(116.019, 39.0, 116.03, 39.01)])
    >>> i.tolist(), j.tolist(), [round(float(x)) for x in a]
    ([1], [2], [96179])
    """
    g = np.asarray(grids, dtype=object)
    if len(g) < 2:
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.empty(0, dtype=object), np.zeros(0)
    tree = shapely.STRtree(g)
    i, j = tree.query(g, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    inside = interiors_intersect(g[i], g[j])
    i, j = i[inside], j[inside]
    shared = polygonal(shapely.intersection(g[i], g[j], grid_size=grid_size))
    nonempty = ~shapely.is_empty(shared) if len(shared) else np.zeros(0, bool)
    i, j, shared = i[nonempty], j[nonempty], shared[nonempty]
    return i, j, shared, area_m2(shared)


def covering_pairs(container: ArrayLike, items: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Pairs ``(c, k)`` where ``container[c]`` covers ``items[k]`` (each container prepared once).

    >>> from shapely import box
    >>> c, k = covering_pairs([box(0, 0, 2, 2)], [box(0, 0, 1, 1), box(1.5, 1.5, 3, 3)])
    >>> c.tolist(), k.tolist()
    ([0], [0])
    """
    items = np.asarray(items, dtype=object)
    container = np.asarray(container, dtype=object)
    if len(items) == 0 or len(container) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e
    tree = shapely.STRtree(items)
    c, k = tree.query(container, predicate="covers")
    return c.astype(np.int64), k.astype(np.int64)


# ----------------------------------------------------------------------------------------------
# Gaps


def community_gaps(
    communities: ArrayLike,
    grids: ArrayLike,
    *,
    overlap_geoms: ArrayLike = (),
    grid_size: float = GRID_SIZE,
    targets: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.object_], NDArray[np.float64]]:
    """Parts of each community that no grid covers: ``(community index, polygon, m²)``, one row a part.

    A community is computed exactly (union of the grids that touch it, then a difference) only when a
    cheap bound says it may have a gap: the community's area minus the area its grids cover, plus the
    overlaps among them, is at least the uncovered area (the Bonferroni bound), so a community whose
    bound is below a square centimetre is tiled and skipped. ``overlap_geoms`` are the layout's
    overlap polygons (:func:`grid_overlaps`); ``targets`` restricts which communities are analysed.

    >>> from shapely import box
    >>> comm = [box(116.0, 39.0, 116.02, 39.01)]
    >>> grids = [box(116.0, 39.0, 116.01, 39.01), box(116.01, 39.0, 116.02, 39.005)]
    >>> c, parts, a = community_gaps(comm, grids)
    >>> c.tolist(), parts[0].bounds, round(float(a[0]))
    ([0], (116.01, 39.005, 116.02, 39.01), 480880)
    >>> community_gaps(comm, [box(116.0, 39.0, 116.01, 39.01), box(116.01, 39.0, 116.02, 39.01)])[0].tolist()
    []
    """
    cm = np.asarray(communities, dtype=object)
    g = np.asarray(grids, dtype=object)
    nc = len(cm)
    if targets is None:
        targets = np.ones(nc, dtype=bool)
    empty = (np.zeros(0, dtype=np.int64), np.empty(0, dtype=object), np.zeros(0))
    if nc == 0 or not targets.any():
        return empty
    covered = np.zeros(nc)
    if len(g):
        tree = shapely.STRtree(g)
        ci, gi = tree.query(cm, predicate="contains")
        np.add.at(covered, ci, shapely.area(g[gi]))
        ci2, gi2 = tree.query(cm, predicate="overlaps")
        if len(ci2):
            part = shapely.intersection(cm[ci2], g[gi2], grid_size=grid_size)
            np.add.at(covered, ci2, shapely.area(part))
        ov = np.asarray(overlap_geoms, dtype=object)
        if len(ov):
            oc, oi = shapely.STRtree(ov).query(cm, predicate="intersects")
            np.add.at(covered, oc, -shapely.area(ov[oi]))  # Bonferroni: subtract, so the bound stays >= gap
    cen = shapely.centroid(cm)
    deficit_m2 = (shapely.area(cm) - covered) * m2_per_deg2(shapely.get_y(cen))
    suspect = np.flatnonzero(targets & (deficit_m2 > 1e-4))
    out_c, out_g = [], []
    for c in suspect:
        near = np.sort(shapely.STRtree(g).query(cm[c], predicate="intersects")) if len(g) else np.zeros(0, int)
        cover = shapely.union_all(g[near], grid_size=grid_size) if len(near) else shapely.Polygon()
        rest = polygonal([shapely.difference(cm[c], cover, grid_size=grid_size)])[0]
        for p in shapely.get_parts(rest):
            out_c.append(c)
            out_g.append(p)
    if not out_c:
        return empty
    parts = np.asarray(out_g, dtype=object)
    return np.asarray(out_c, dtype=np.int64), parts, area_m2(parts)


# ----------------------------------------------------------------------------------------------
# Grids against communities


def grids_outside_own(
    grids: ArrayLike,
    own: NDArray[np.int64],
    communities: ArrayLike,
    *,
    grid_size: float = GRID_SIZE,
    targets: NDArray[np.bool_] | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.object_], NDArray[np.object_], NDArray[np.float64]]:
    """For grids not covered by their own community (``own`` index, -1 for none): the part of the grid
    in other communities and the part in no community.

    Returns ``(grid index, part in other communities, part in no community, share of the grid inside
    its own community)``; grids wholly inside their community are not listed.

    >>> from shapely import box
    >>> comms = [box(0, 0, 1, 1), box(1, 0, 2, 1)]
    >>> gi, other, nowhere, share = grids_outside_own([box(0, 0, 1.2, 1), box(0.2, 0, 0.8, 1)], [0, 0], comms)
    >>> gi.tolist(), round(other[0].area, 3), nowhere[0].is_empty, [round(float(s), 3) for s in share]
    ([0], 0.2, True, [0.833])
    """
    g = np.asarray(grids, dtype=object)
    cm = np.asarray(communities, dtype=object)
    own = np.asarray(own, dtype=np.int64)
    inside = np.zeros(len(g), dtype=bool)
    has = own >= 0
    if has.any():
        shapely.prepare(cm)
        inside[has] = shapely.covers(cm[own[has]], g[has])
    idx = np.flatnonzero(~inside & (True if targets is None else targets))
    other = np.empty(len(idx), dtype=object)
    nowhere = np.empty(len(idx), dtype=object)
    share = np.zeros(len(idx))
    tree = shapely.STRtree(cm) if len(cm) else None
    for k, i in enumerate(idx):
        geom = g[i]
        if own[i] >= 0:
            out = shapely.difference(geom, cm[own[i]], grid_size=grid_size)
            inner = shapely.intersection(geom, cm[own[i]], grid_size=grid_size)
            share[k] = shapely.area(inner) / geom.area if geom.area else 0.0
        else:
            out = geom
        near = np.sort(tree.query(out, predicate="intersects")) if tree is not None else np.zeros(0, int)
        near = near[near != own[i]]
        if len(near):
            allc = shapely.union_all(cm[near], grid_size=grid_size)
            other[k] = polygonal([shapely.intersection(out, allc, grid_size=grid_size)])[0]
            nowhere[k] = polygonal([shapely.difference(out, allc, grid_size=grid_size)])[0]
        else:
            other[k] = shapely.MultiPolygon()
            nowhere[k] = polygonal([out])[0]
    return idx, other, nowhere, share


# ----------------------------------------------------------------------------------------------
# Buildings against grids


@dataclass(slots=True)
class BuildingCover:
    """How the grids cover each footprint.

    ``grid``: the grid a building counts for (the one covering its representative point, lowest
    index on ties; -1 for none); ``n_covering``: how many grids cover it wholly; ``pairs``: for
    footprints not wholly inside exactly one grid, rows ``(building, grid, share)`` of every grid
    that has a part of it; ``uncovered_share``: the share of each footprint no grid covers.
    """

    grid: NDArray[np.int64]
    n_covering: NDArray[np.int64]
    pair_building: NDArray[np.int64]
    pair_grid: NDArray[np.int64]
    pair_share: NDArray[np.float64]
    uncovered_share: NDArray[np.float64]


def building_cover(buildings: ArrayLike, grids: ArrayLike, *, grid_size: float = GRID_SIZE) -> BuildingCover:
    """Vectorised footprint-in-grid analysis: whole, split (with shares) or uncovered.

    >>> from shapely import box
    >>> grids = [box(0, 0, 1, 1), box(1, 0, 2, 1)]
    >>> bc = building_cover([box(0.1, 0.1, 0.2, 0.2), box(0.9, 0.1, 1.3, 0.2), box(5, 5, 6, 6)], grids)
    >>> bc.grid.tolist(), bc.n_covering.tolist()
    ([0, 1, -1], [1, 0, 0])
    >>> list(zip(bc.pair_building.tolist(), bc.pair_grid.tolist(), [round(float(s), 2) for s in bc.pair_share]))
    [(1, 0, 0.25), (1, 1, 0.75)]
    >>> [round(float(s), 2) for s in bc.uncovered_share]
    [0.0, 0.0, 1.0]
    """
    b = np.asarray(buildings, dtype=object)
    g = np.asarray(grids, dtype=object)
    n = len(b)
    big = np.iinfo(np.int64).max
    first = np.full(n, big, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    gi, bi = covering_pairs(g, b)
    np.minimum.at(first, bi, gi)
    np.add.at(count, bi, 1)
    grid = np.where(count > 0, first, -1)
    rest = np.flatnonzero(count == 0)
    pb = np.zeros(0, dtype=np.int64)
    pg = np.zeros(0, dtype=np.int64)
    ps = np.zeros(0)
    uncovered = np.zeros(n)
    if len(rest):
        if len(g):
            tree = shapely.STRtree(g)
            ri, pgi = tree.query(b[rest], predicate="intersects")
            pbi = rest[ri]
            inter = shapely.intersection(b[pbi], g[pgi], grid_size=grid_size)
            share = shapely.area(inter) / shapely.area(b[pbi])
            keep = share > 0
            pb, pg, ps = pbi[keep], pgi[keep].astype(np.int64), share[keep]
            order = np.lexsort((pg, pb))
            pb, pg, ps = pb[order], pg[order], ps[order]
        tot = np.zeros(n)
        np.add.at(tot, pb, ps)
        uncovered[rest] = np.clip(1.0 - tot[rest], 0.0, 1.0)
        # the grid of a building not wholly in one grid: the one covering its representative point
        pts = shapely.point_on_surface(b[rest])
        grid[rest] = assign_points(pts, g)
    return BuildingCover(grid, count, pb, pg, ps, uncovered)
