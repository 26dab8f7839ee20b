"""Coverage analysis of a grid layout: 纵向到底、横向到边、不留空白、不交叉重叠.

Everything here is pure and vectorised (shapely 2 over numpy arrays): the caller fetches the layout
(set-based SQL in ``api/coverage``, files in tests and benchmarks) and gets back tables.

Geometry is handled in WGS84 degrees, **snapped to a precision grid** (``grid_size``, default
1e-7°, about 1 cm, the precision the sample and the import store): neighbouring grids that share
their vertices then intersect in lines only, so an exact tiling produces no floating-point
slivers at all. Every area is measured in metres, in the CGCS2000 Gauss-Kruger zone of the
geometry's own centroid (:func:`geo.crs.metric_crs`), so the answer for one geometry does not
depend on what else is analysed with it (which is what makes the sharded run identical).

Findings (one row each, with a polygon or point to draw):

========================  ==================================================================
``gap``                   area inside a community that no grid covers (one row per part)
``overlap``               two grids whose interiors intersect, with the shared polygon
``grid_crosses_community``  the part of a grid that lies in another community
``grid_outside_communities``  the part of a grid that lies in no community at all
``grid_without_community``  a grid with no (or an unknown) community code
``building_uncovered``    a footprint (or the part of one) that no grid covers
``building_split``        a footprint shared by several grids, with each grid's share
``building_double_covered``  a footprint wholly inside two or more (overlapping) grids
``overloaded`` / ``underloaded``  households beyond the tolerance band around the norm
``code_hierarchy``        the code does not start with the grid's community code, or the grid lies
                          mostly in another community than its code says
``code_sequence``         a community's grids are not numbered west→east, north→south
========================  ==================================================================

Areas below ``min_area_m2`` (default 1 m²) are *slivers*: not reported, but counted in the summary.

The households norm (default 300-500 a grid, from ``GRIDMAP_HOUSEHOLDS_NORM_MIN/_MAX``) is the band
most city guidelines give for an urban community grid. Every grid's deviation from it is in the
workload table; only grids beyond a tolerance band (below 50 % of the minimum or above 130 % of the
maximum, i.e. 150-650 households for the default norm) are *findings*, because a grid slightly off
the norm is a planning choice, not a defect.

The balance index of a layout is the **coefficient of variation** (standard deviation / mean) of
households per grid: scale-free, so a district and a province compare; it reads directly as "the
typical grid is this far from the average grid"; and it is sensitive to the single overloaded grid
that planners need to see (the Gini coefficient, also given, is dominated by the bulk of the
distribution and moves little for one outlier).

The analysis of a whole layout is :func:`analyse`. It runs as :func:`analyse_shard` on one shard
(everything owned) followed by :func:`merge`; :func:`split_shards` cuts a layout into shards by street
with the halo each needs, so that ``merge([analyse_shard(s) for s in split_shards(data)])`` gives the
very same tables (see ``geo/cluster.py`` for running the shards on Dask).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.crs import metric_crs

GRID_SIZE = 1e-7
#: Rows of the numbering rule (the sample's generator and the import use rows of ~300 m).
ROW_HEIGHT_DEG = 0.0027

FINDING_KINDS = (
    "gap", "overlap", "grid_crosses_community", "grid_outside_communities", "grid_without_community",
    "building_uncovered", "building_split", "building_double_covered", "overloaded", "underloaded",
    "code_hierarchy", "code_sequence",
)
FINDING_COLUMNS = ["kind", "codes", "community_code", "area_m2", "value", "detail", "geometry"]


@dataclass(frozen=True)
class Tolerances:
    """What counts as a finding.

    ``grid_size``: precision grid (degrees) every overlay snaps to; ``min_area_m2``: gaps, overlaps
    and crossings smaller than this are slivers (counted, not reported); ``min_building_share``: a
    grid's part of a footprint below this share is a sliver; ``households_norm``: the norm band;
    ``underload_factor``/``overload_factor``: the finding band around it; ``row_height_deg`` and
    ``order_tolerance_deg``: the numbering rule (rows from the northernmost grid centroid, west to
    east within a row) and how far (degrees) two centroids may be out of order before it counts.
    """

    grid_size: float = GRID_SIZE
    min_area_m2: float = 1.0
    min_building_share: float = 0.01
    households_norm: tuple[int, int] = (300, 500)
    underload_factor: float = 0.5
    overload_factor: float = 1.3
    row_height_deg: float = ROW_HEIGHT_DEG
    order_tolerance_deg: float = 0.0002
    period: str = "month"

    @property
    def finding_band(self) -> tuple[float, float]:
        lo, hi = self.households_norm
        return lo * self.underload_factor, hi * self.overload_factor


# ----------------------------------------------------------------------------------------------
# Measuring in metres


def metric_zones(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.int64]:
    """EPSG code of :func:`geo.crs.metric_crs` for many points at once.

    >>> metric_zones([116.4, 24.94, 121.47], [39.9, 60.17, 31.23]).tolist()
    [4548, 32635, 4549]
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    china = (lon >= 73.5) & (lon <= 136.5) & (lat >= 0) & (lat <= 54)
    gk = 4534 + (np.round(lon / 3.0).astype(np.int64) * 3 - 75) // 3
    utm = np.where(lat >= 0, 32600, 32700) + ((lon + 180) // 6).astype(np.int64) + 1
    return np.where(china, gk, utm)


@lru_cache(maxsize=128)
def _to_metric(epsg: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs("EPSG:4326", pyproj.CRS.from_epsg(epsg), always_xy=True)


def to_metric(geoms: ArrayLike, zones: ArrayLike | None = None) -> NDArray[np.object_]:
    """Project WGS84 geometries to metres, each into ``zones`` (default: the zone of its own centroid)."""
    arr = np.asarray(geoms, dtype=object)
    out = np.empty(len(arr), dtype=object)
    if len(arr) == 0:
        return out
    if zones is None:
        c = shapely.centroid(arr)
        zones = metric_zones(shapely.get_x(c), shapely.get_y(c))
    zones = np.asarray(zones)
    for z in np.unique(zones):
        sel = zones == z
        tr = _to_metric(int(z))
        out[sel] = shapely.transform(arr[sel], lambda xy, tr=tr: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    return out


def area_m2(geoms: ArrayLike) -> NDArray[np.float64]:
    """Area in m² of WGS84 geometries, each measured in the Gauss-Kruger zone of its centroid.

    >>> from shapely import box
    >>> a = area_m2([box(116.4, 39.9, 116.401, 39.901), None])
    >>> round(float(a[0])), float(a[1])
    (9496, 0.0)
    >>> round(float(a[0])) == round(float(metric_area_check()))
    True
    """
    arr = np.asarray(geoms, dtype=object)
    out = np.zeros(len(arr))
    ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr)) if len(arr) else np.zeros(0, bool)
    if ok.any():
        out[ok] = shapely.area(to_metric(arr[ok]))
    return out


def metric_area_check() -> float:
    """The doctest's reference: the same box measured with geo.crs.metric_crs directly."""
    tr = pyproj.Transformer.from_crs("EPSG:4326", metric_crs(116.4005, 39.9005), always_xy=True)
    return shapely.transform(shapely.box(116.4, 39.9, 116.401, 39.901), lambda xy: np.column_stack(
        tr.transform(xy[:, 0], xy[:, 1]))).area


def m2_per_deg2(lat: ArrayLike) -> NDArray[np.float64]:
    """Approximate m² in one square degree at a latitude (only to pre-filter; findings use :func:`area_m2`)."""
    phi = np.radians(np.asarray(lat, dtype=float))
    return (111412.84 * np.cos(phi)) * (111132.92 - 559.82 * np.cos(2 * phi))


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


# ----------------------------------------------------------------------------------------------
# Workload


def balance_index(households: ArrayLike) -> dict[str, float]:
    """Balance of a layout: coefficient of variation (the index) and Gini of households per grid.

    >>> balance_index([400, 400, 400, 400])
    {'cv': 0.0, 'gini': 0.0, 'mean': 400.0, 'std': 0.0}
    >>> balance_index([200, 400, 600])
    {'cv': 0.408, 'gini': 0.222, 'mean': 400.0, 'std': 163.3}
    """
    h = np.sort(np.asarray(households, dtype=float))
    if len(h) == 0 or h.sum() == 0:
        return {"cv": 0.0, "gini": 0.0, "mean": float(h.mean()) if len(h) else 0.0, "std": 0.0}
    mean, std = h.mean(), h.std()
    n = len(h)
    gini = (2 * np.arange(1, n + 1) - n - 1) @ h / (n * h.sum())
    return {"cv": round(float(std / mean), 3), "gini": round(float(gini), 3), "mean": round(float(mean), 1),
            "std": round(float(std), 1)}


def norm_deviation(households: ArrayLike, norm: tuple[int, int]) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
    """Where each grid stands against the norm: ``below``/``within``/``above`` and by how many households.

    >>> s, d = norm_deviation([250, 400, 921], (300, 500))
    >>> s.tolist(), d.tolist()
    (['below', 'within', 'above'], [-50, 0, 421])
    """
    h = np.asarray(households, dtype=np.int64)
    lo, hi = norm
    dev = np.where(h < lo, h - lo, np.where(h > hi, h - hi, 0))
    status = np.where(h < lo, "below", np.where(h > hi, "above", "within")).astype(object)
    return status, dev


# ----------------------------------------------------------------------------------------------
# Grid codes


def reading_order(lon: ArrayLike, lat: ArrayLike, *, row_height_deg: float = ROW_HEIGHT_DEG) -> NDArray[np.int64]:
    """The numbering rule of the sample's generator: rows of ``row_height_deg`` counted south from the
    northernmost point, then west→east. Returns the order (indices) of the points.

    >>> reading_order([116.40, 116.41, 116.40, 116.41], [39.91, 39.9105, 39.90, 39.90]).tolist()
    [0, 1, 2, 3]
    """
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    row = np.floor((y.max() - y) / row_height_deg)
    return np.lexsort((x, row))


def sequence_violations(
    lon: ArrayLike, lat: ArrayLike, seq: ArrayLike, *, row_height_deg: float = ROW_HEIGHT_DEG,
    tolerance_deg: float = 0.0002,
) -> NDArray[np.int64]:
    """Pairs numbered against reading order, beyond a tolerance: rows ``(a, b)`` where ``a`` has the
    smaller sequence number but ``b`` clearly comes first (a row further north by more than
    ``tolerance_deg``, or the same row and further west by more than it). A pair whose centroids are
    within the tolerance of a row boundary or of each other is ambiguous and passes.

    >>> sequence_violations([116.40, 116.41, 116.40], [39.91, 39.91, 39.90], [1, 2, 3]).tolist()
    []
    >>> sequence_violations([116.40, 116.41, 116.40], [39.91, 39.91, 39.90], [2, 1, 3]).tolist()
    [[1, 0]]
    """
    x, y, s = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), np.asarray(seq)
    if len(x) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    top = y.max()
    row_lo = np.maximum(np.floor((top - y - tolerance_deg) / row_height_deg), 0)
    row_hi = np.floor((top - y + tolerance_deg) / row_height_deg)
    a, b = np.triu_indices(len(x), 1)
    swap = s[a] > s[b]
    a, b = np.where(swap, b, a), np.where(swap, a, b)  # now s[a] < s[b]
    earlier_row = row_hi[b] < row_lo[a]
    same_row = (row_lo[a] == row_hi[a]) & (row_lo[b] == row_hi[b]) & (row_lo[a] == row_lo[b])
    bad = earlier_row | (same_row & (x[a] - x[b] > tolerance_deg))
    return np.column_stack([a[bad], b[bad]]).astype(np.int64)


# ----------------------------------------------------------------------------------------------
# The whole analysis


@dataclass
class LayoutData:
    """One layout and what lies around it, WGS84.

    ``communities``: code, street_code, geometry; ``grids``: code, community_code, households,
    population, geometry; ``buildings``: code, households, population, geometry; ``facilities``: code,
    kind, geometry; ``reports``: geometry (point), reported_at (tz-aware), category (major class),
    case_open (bool), has_case (bool). Every frame may carry a boolean ``owned`` column: rows that
    are only context (the halo of a shard) have ``owned`` False.
    """

    communities: pd.DataFrame
    grids: pd.DataFrame
    buildings: pd.DataFrame
    facilities: pd.DataFrame
    reports: pd.DataFrame
    streets: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Partial:
    """What one shard found (owned rows only); :func:`merge` adds shards up."""

    findings: list[dict[str, Any]]
    grid_counts: pd.DataFrame  # code -> buildings, households, population, facilities, reports, cases...
    facility_kinds: pd.DataFrame  # code, kind, n
    report_periods: pd.DataFrame  # code, period, category, reports, cases
    slivers: dict[str, list[float]]
    catchment: pd.DataFrame | None = None


def _geoms(df: pd.DataFrame) -> NDArray[np.object_]:
    return np.asarray(df["geometry"].to_numpy(), dtype=object)


def _owned(df: pd.DataFrame) -> NDArray[np.bool_]:
    return df["owned"].to_numpy(dtype=bool) if "owned" in df.columns else np.ones(len(df), dtype=bool)


def _sorted(df: pd.DataFrame, key: str = "code") -> pd.DataFrame:
    return df.sort_values(key, kind="stable").reset_index(drop=True) if len(df) else df.reset_index(drop=True)


def _finding(kind: str, codes: Sequence[str], geometry: Any, *, community: str | None = None,
             area: float | None = None, value: float | None = None, **detail: Any) -> dict[str, Any]:
    return {"kind": kind, "codes": list(codes), "community_code": community,
            "area_m2": None if area is None else round(float(area), 3),
            "value": value, "detail": detail, "geometry": geometry}


def period_label(ts: pd.Series, period: str) -> pd.Series:
    """Calendar period of timestamps in Beijing time: ``month`` 2026-09, ``week`` 2026-W37, ``day``.

    >>> period_label(pd.Series(pd.to_datetime(["2026-09-30T17:00:00Z"])), "month").tolist()
    ['2026-10']
    """
    local = pd.to_datetime(ts, utc=True).dt.tz_convert("Asia/Shanghai")
    if period == "month":
        return local.dt.strftime("%Y-%m")
    if period == "week":
        iso = local.dt.isocalendar()
        return iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)
    if period == "day":
        return local.dt.strftime("%Y-%m-%d")
    raise ValueError(f"period must be month, week or day, not {period!r}")


def analyse_shard(data: LayoutData, tol: Tolerances = Tolerances(), *, catchment: Any = None) -> Partial:
    """Analyse the owned rows of one shard (the whole layout is one shard with everything owned)."""
    gs = tol.grid_size
    comms = _sorted(data.communities)
    grids = _sorted(data.grids)
    cg, gg = _geoms(comms), _geoms(grids)
    c_owned, g_owned = _owned(comms), _owned(grids)
    gcodes = grids["code"].to_numpy(dtype=object)
    ccodes = comms["code"].to_numpy(dtype=object)
    findings: list[dict[str, Any]] = []
    slivers: dict[str, list[float]] = {"gap": [], "overlap": [], "grid_crosses_community": [],
                                       "grid_outside_communities": [], "building_uncovered": []}
    small = tol.min_area_m2

    # overlaps: the pair belongs to the shard that owns its first grid (smallest code)
    oi, oj, ogeom, oarea = grid_overlaps(gg, grid_size=gs)
    for i, j, geom, a in zip(oi, oj, ogeom, oarea, strict=True):
        if not g_owned[i]:
            continue
        if a < small:
            slivers["overlap"].append(float(a))
            continue
        findings.append(_finding("overlap", [gcodes[i], gcodes[j]], geom, community=grids.community_code[i],
                                 area=a, share_of=[round(float(a / area_m2([gg[i]])[0]), 4),
                                                   round(float(a / area_m2([gg[j]])[0]), 4)]))

    # gaps inside owned communities
    ci, parts, pa = community_gaps(cg, gg, overlap_geoms=ogeom, grid_size=gs, targets=c_owned)
    for c, geom, a in zip(ci, parts, pa, strict=True):
        if a < small:
            slivers["gap"].append(float(a))
            continue
        findings.append(_finding("gap", [], geom, community=ccodes[c], area=a))

    # grids against communities
    cindex = {c: k for k, c in enumerate(ccodes)}
    gcomm = grids["community_code"].to_numpy(dtype=object)
    own = np.array([cindex.get(c, -1) if isinstance(c, str) else -1 for c in gcomm], dtype=np.int64)
    known = set(ccodes) | set(data.meta.get("all_community_codes", ()))
    gi_out, other, nowhere, share = grids_outside_own(gg, own, cg, grid_size=gs, targets=g_owned)
    oa, na = area_m2(other), area_m2(nowhere)
    for k, i in enumerate(gi_out):
        if not g_owned[i]:
            continue
        code, cc = gcodes[i], gcomm[i]
        if own[i] < 0:
            if isinstance(cc, str) and cc in known:
                continue  # its community is outside this shard's data: cannot happen with split_shards
            findings.append(_finding("grid_without_community", [code], gg[i], community=cc,
                                     area=area_m2([gg[i]])[0], community_code_given=cc))
        if oa[k] >= small and own[i] >= 0:
            findings.append(_finding("grid_crosses_community", [code], other[k], community=cc, area=oa[k],
                                     share_inside=round(float(share[k]), 4)))
        elif own[i] >= 0 and oa[k] > 0:
            slivers["grid_crosses_community"].append(float(oa[k]))
        if na[k] >= small:
            findings.append(_finding("grid_outside_communities", [code], nowhere[k], community=cc, area=na[k]))
        elif na[k] > 0:
            slivers["grid_outside_communities"].append(float(na[k]))
        if own[i] >= 0 and share[k] < 0.5:
            findings.append(_finding("code_hierarchy", [code], gg[i], community=cc,
                                     reason="the grid lies mostly outside the community its code names",
                                     share_inside=round(float(share[k]), 4)))

    # code hierarchy (text) and sequence, per owned community
    for i in np.flatnonzero(g_owned):
        code, cc = gcodes[i], gcomm[i]
        if not (isinstance(code, str) and len(code) == 15 and code.isdigit()):
            findings.append(_finding("code_hierarchy", [str(code)], gg[i], community=cc,
                                     reason="a grid code has 15 digits"))
        elif isinstance(cc, str) and code[:12] != cc:
            findings.append(_finding("code_hierarchy", [code], gg[i], community=cc,
                                     reason=f"the code does not start with its community code {cc}"))
    cen = shapely.centroid(gg)
    cx, cy = shapely.get_x(cen), shapely.get_y(cen)
    if len(grids):
        by_comm = pd.Series(np.arange(len(grids))).groupby(pd.Series(gcomm).fillna("")).indices
        for cc, idx in by_comm.items():
            if not cc or cindex.get(cc, -1) < 0 or not c_owned[cindex[cc]] or len(idx) < 2:
                continue
            seq = np.array([int(c[12:]) if isinstance(c, str) and c[12:].isdigit() else -1 for c in gcodes[idx]])
            bad = sequence_violations(cx[idx], cy[idx], seq, row_height_deg=tol.row_height_deg,
                                      tolerance_deg=tol.order_tolerance_deg)
            if len(bad):
                involved = np.unique(bad.ravel())
                order = reading_order(cx[idx], cy[idx], row_height_deg=tol.row_height_deg)
                findings.append(_finding(
                    "code_sequence", sorted(gcodes[idx[involved]]),
                    shapely.MultiPoint(np.column_stack([cx[idx[involved]], cy[idx[involved]]])), community=cc,
                    expected_order=[str(gcodes[idx[k]]) for k in order],
                    pairs=[[str(gcodes[idx[a]]), str(gcodes[idx[b]])] for a, b in bad]))

    # buildings
    blds = _sorted(data.buildings)
    b_owned = _owned(blds)
    bg = _geoms(blds)
    bc = building_cover(bg, gg, grid_size=gs)
    bcodes = blds["code"].to_numpy(dtype=object)
    bhh = blds["households"].to_numpy(dtype=np.int64) if len(blds) else np.zeros(0, np.int64)
    if len(bc.pair_building):
        bareas = {}
        for b in np.unique(bc.pair_building):
            bareas[b] = None
        pb = pd.DataFrame({"b": bc.pair_building, "g": bc.pair_grid, "s": bc.pair_share})
        for b, grp in pb.groupby("b", sort=True):
            if not b_owned[b]:
                continue
            real = grp[grp.s >= tol.min_building_share]
            if len(real) >= 2:
                parts = [shapely.intersection(bg[b], gg[g], grid_size=gs) for g in real.g]
                findings.append(_finding(
                    "building_split", [bcodes[b], *[gcodes[g] for g in real.g]], bg[b],
                    community=gcomm[bc.grid[b]] if bc.grid[b] >= 0 else None, area=area_m2([bg[b]])[0],
                    households=int(bhh[b]), counted_in=gcodes[bc.grid[b]] if bc.grid[b] >= 0 else None,
                    shares={gcodes[g]: round(float(s), 4) for g, s in zip(real.g, real.s, strict=True)},
                    parts_m2={gcodes[g]: round(float(a), 2) for g, a in zip(real.g, area_m2(parts), strict=True)}))
    for b in np.flatnonzero(b_owned & (bc.uncovered_share > 0)):
        whole = area_m2([bg[b]])[0]
        a = whole * bc.uncovered_share[b]
        if a < small or bc.uncovered_share[b] < tol.min_building_share:
            slivers["building_uncovered"].append(float(a))
            continue
        findings.append(_finding("building_uncovered", [bcodes[b]], bg[b], area=a,
                                 uncovered_share=round(float(bc.uncovered_share[b]), 4),
                                 households=int(bhh[b])))
    for b in np.flatnonzero(b_owned & (bc.n_covering >= 2)):
        findings.append(_finding("building_double_covered", [bcodes[b]], bg[b], area=area_m2([bg[b]])[0],
                                 households=int(bhh[b]), grids=int(bc.n_covering[b])))

    # workload counts per grid (owned buildings/facilities/reports; grids may be halo: merge adds up)
    counts = pd.DataFrame({"code": gcodes})
    bo = b_owned & (bc.grid >= 0)
    bgrid = bc.grid[bo]
    counts["buildings"] = np.bincount(bgrid, minlength=len(grids)).astype(np.int64)
    counts["households"] = np.bincount(bgrid, weights=bhh[bo], minlength=len(grids)).astype(np.int64)
    bpop = blds["population"].to_numpy(dtype=np.int64) if len(blds) else np.zeros(0, np.int64)
    counts["population"] = np.bincount(bgrid, weights=bpop[bo], minlength=len(grids)).astype(np.int64)

    fac = data.facilities.reset_index(drop=True)
    f_owned = _owned(fac)
    fgrid = assign_points(_geoms(fac), gg) if len(fac) else np.zeros(0, np.int64)
    fo = f_owned & (fgrid >= 0)
    counts["facilities"] = np.bincount(fgrid[fo], minlength=len(grids)).astype(np.int64)
    fk = pd.DataFrame({"code": gcodes[fgrid[fo]], "kind": fac["kind"].to_numpy(dtype=object)[fo]})
    facility_kinds = fk.groupby(["code", "kind"]).size().rename("n").reset_index()

    rep = data.reports.reset_index(drop=True)
    r_owned = _owned(rep)
    rgrid = assign_points(_geoms(rep), gg) if len(rep) else np.zeros(0, np.int64)
    ro = r_owned & (rgrid >= 0)
    has_case = rep["has_case"].to_numpy(dtype=bool) if len(rep) else np.zeros(0, bool)
    case_open = rep["case_open"].to_numpy(dtype=bool) if len(rep) else np.zeros(0, bool)
    counts["reports"] = np.bincount(rgrid[ro], minlength=len(grids)).astype(np.int64)
    counts["cases"] = np.bincount(rgrid[ro], weights=has_case[ro], minlength=len(grids)).astype(np.int64)
    counts["cases_open"] = np.bincount(rgrid[ro], weights=case_open[ro], minlength=len(grids)).astype(np.int64)
    if ro.any():
        rp = pd.DataFrame({
            "code": gcodes[rgrid[ro]], "period": period_label(rep["reported_at"][ro], tol.period).to_numpy(),
            "category": rep["category"].to_numpy(dtype=object)[ro], "cases": has_case[ro].astype(np.int64)})
        rp["category"] = rp["category"].fillna("unknown")
        report_periods = rp.groupby(["code", "period", "category"]).agg(
            reports=("cases", "size"), cases=("cases", "sum")).reset_index()
    else:
        report_periods = pd.DataFrame(columns=["code", "period", "category", "reports", "cases"])
    counts = counts[(counts.drop(columns="code").to_numpy().sum(1) > 0) | g_owned]

    part = Partial(findings, counts, facility_kinds, report_periods, slivers)
    if catchment is not None:
        from geo.catchment import catchment_counts

        if catchment.kinds is None:  # every kind of the whole layout, even one this shard has none of
            kinds = data.meta.get("facility_kinds") or (sorted(set(fac["kind"])) if len(fac) else ())
            catchment = replace(catchment, kinds=tuple(kinds))

        owned_b = np.flatnonzero(b_owned)
        part.catchment = catchment_counts(
            shapely.point_on_surface(bg[owned_b]), bhh[owned_b], np.where(bc.grid[owned_b] >= 0,
                                                                         gcodes[np.maximum(bc.grid[owned_b], 0)], None),
            _geoms(fac), fac["kind"].to_numpy(dtype=object) if len(fac) else np.zeros(0, object), catchment)
    return part


@dataclass
class CoverageResult:
    """The merged analysis of a layout."""

    findings: pd.DataFrame  # FINDING_COLUMNS, sorted by kind then codes
    workload: pd.DataFrame  # one row per grid
    report_periods: pd.DataFrame
    summary: dict[str, Any]
    catchment: pd.DataFrame | None = None


def _dicts_by_code(counts: pd.Series, codes: pd.Series) -> list[dict[str, int]]:
    """``{key: count}`` of each code (keys in order, zero counts left out) from a ``(code, key)`` series.

    >>> s = pd.Series([2, 0, 1], index=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y"), ("b", "y")]))
    >>> _dicts_by_code(s, pd.Series(["a", "b", "c"]))
    [{'x': 2}, {'y': 1}, {}]
    """
    counts = counts[counts.to_numpy() != 0]
    out: dict[Any, dict[str, int]] = {}
    # plain lists, not pandas iteration (a string column yields item by item through pandas: 10× slower)
    level = counts.index.get_level_values
    for code, key, v in zip(level(0).to_numpy(dtype=object).tolist(), level(1).to_numpy(dtype=object).tolist(),
                            counts.to_numpy().tolist(), strict=True):
        out.setdefault(code, {})[key] = int(v)
    return [out.get(c, {}) for c in codes.to_numpy(dtype=object).tolist()]


def merge(parts: Sequence[Partial], data_grids: pd.DataFrame, tol: Tolerances = Tolerances(), *,
          catchment: Any = None) -> CoverageResult:
    """Add up shards: findings are concatenated, counts summed, then the layout-wide figures computed."""
    grids = _sorted(data_grids[_owned(data_grids)] if "owned" in data_grids.columns else data_grids)
    findings = [f for p in parts for f in p.findings]
    zero = ["buildings", "households", "population", "facilities", "reports", "cases", "cases_open"]
    counts = pd.concat([p.grid_counts for p in parts], ignore_index=True).groupby("code")[zero].sum()
    wl = pd.DataFrame({
        "code": grids["code"].to_numpy(dtype=object),
        "name": grids["name"].to_numpy(dtype=object) if "name" in grids.columns else None,
        "community_code": grids["community_code"].to_numpy(dtype=object),
        "households_recorded": grids["households"].to_numpy(dtype=np.int64),
        "population_recorded": grids["population"].to_numpy(dtype=np.int64),
    })
    wl = wl.join(counts, on="code").fillna({c: 0 for c in zero})
    for c in zero:
        wl[c] = wl[c].astype(np.int64)
    # The measure: households of the buildings in the grid; the recorded figure when there are no buildings.
    source = "buildings" if wl["buildings"].sum() > 0 else "recorded"
    if source == "recorded":
        wl["households"] = wl["households_recorded"]
        wl["population"] = wl["population_recorded"]
    fk = pd.concat([p.facility_kinds for p in parts], ignore_index=True)
    if len(fk):
        wl["facilities_by_kind"] = _dicts_by_code(fk.groupby(["code", "kind"])["n"].sum(), wl["code"])
    else:
        wl["facilities_by_kind"] = [{} for _ in range(len(wl))]
    rp = pd.concat([p.report_periods for p in parts], ignore_index=True)
    if len(rp):
        rp = rp.groupby(["code", "period", "category"])[["reports", "cases"]].sum().reset_index()
        rp = rp.sort_values(["code", "period", "category"], kind="stable").reset_index(drop=True)
        wl["reports_by_category"] = _dicts_by_code(rp.groupby(["code", "category"])["reports"].sum(), wl["code"])
    else:
        wl["reports_by_category"] = [{} for _ in range(len(wl))]
    status, dev = norm_deviation(wl["households"].to_numpy(), tol.households_norm)
    wl["norm_status"] = status
    wl["deviation"] = dev
    lo, hi = tol.finding_band
    geoms = _geoms(grids)
    gpos = {c: k for k, c in enumerate(grids["code"].to_numpy(dtype=object).tolist())}
    hh_all = wl["households"].to_numpy()
    off = np.flatnonzero((hh_all > hi) | (hh_all < lo))
    for code, cc, hh in zip(wl["code"].to_numpy()[off], wl["community_code"].to_numpy()[off], hh_all[off],
                            strict=True):
        if hh > hi:
            findings.append(_finding("overloaded", [code], geoms[gpos[code]], community=cc, value=int(hh),
                                     band=[lo, hi], norm=list(tol.households_norm)))
        elif hh < lo:
            findings.append(_finding("underloaded", [code], geoms[gpos[code]], community=cc, value=int(hh),
                                     band=[lo, hi], norm=list(tol.households_norm)))
    fdf = pd.DataFrame(findings, columns=FINDING_COLUMNS)
    if len(fdf):
        fdf["_k"] = fdf["kind"].map({k: i for i, k in enumerate(FINDING_KINDS)})
        fdf["_c"] = fdf["codes"].map(lambda c: ",".join(c))
        fdf["_a"] = fdf["community_code"].fillna("")
        fdf["_w"] = shapely.to_wkb(np.asarray(fdf["geometry"], dtype=object), hex=True)
        fdf = fdf.sort_values(["_k", "_c", "_a", "_w"], kind="stable").drop(columns=["_k", "_c", "_a", "_w"])
        fdf = fdf.reset_index(drop=True)
    slivers: dict[str, list[float]] = {}
    for p in parts:
        for k, v in p.slivers.items():
            slivers.setdefault(k, []).extend(v)
    by_kind = {k: int((fdf["kind"] == k).sum()) for k in FINDING_KINDS} if len(fdf) else dict.fromkeys(
        FINDING_KINDS, 0)
    summary = {
        "grids": len(wl),
        "findings": int(len(fdf)),
        "by_kind": by_kind,
        "slivers": {k: {"count": len(v), "area_m2": round(float(np.sum(np.sort(v))), 4)}
                    for k, v in sorted(slivers.items())},
        "gap_area_m2": round(float(fdf.loc[fdf.kind == "gap", "area_m2"].sum()), 2) if len(fdf) else 0.0,
        "overlap_area_m2": round(float(fdf.loc[fdf.kind == "overlap", "area_m2"].sum()), 2) if len(fdf) else 0.0,
        "households": int(wl["households"].sum()),
        "households_source": source,
        "norm": list(tol.households_norm),
        "finding_band": [lo, hi],
        "within_norm": int((wl["norm_status"] == "within").sum()),
        "balance": {"index": "cv", **balance_index(wl["households"].to_numpy())},
        "tolerances": {"grid_size_deg": tol.grid_size, "min_area_m2": tol.min_area_m2,
                       "min_building_share": tol.min_building_share, "row_height_deg": tol.row_height_deg,
                       "order_tolerance_deg": tol.order_tolerance_deg},
    }
    catch = None
    cparts = [p.catchment for p in parts if p.catchment is not None]
    if cparts:
        from geo.catchment import finish_catchment

        catch = finish_catchment(pd.concat(cparts, ignore_index=True), wl[["code", "community_code"]], catchment)
    return CoverageResult(fdf, wl, rp, summary, catch)


def analyse(data: LayoutData, tol: Tolerances = Tolerances(), *, catchment: Any = None) -> CoverageResult:
    """The whole layout on one machine: one shard that owns everything."""
    return merge([analyse_shard(data, tol, catchment=catchment)], data.grids, tol, catchment=catchment)


# ----------------------------------------------------------------------------------------------
# Shards


def _bbox_query(tree: shapely.STRtree, boxes: NDArray[np.float64]) -> NDArray[np.int64]:
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(tree.query(shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]))[1])


def _compact(boxes: NDArray[np.float64], around: NDArray[np.float64], margin: float = 0.01) -> NDArray[np.float64]:
    """Boxes near ``around`` merged into their common bounding box (a superset: the halo may only grow),
    the few far ones kept apart, so that a shard's halo query costs a few boxes, not one a building."""
    if len(boxes) == 0:
        return boxes
    near = ((boxes[:, 0] >= around[0] - margin) & (boxes[:, 1] >= around[1] - margin)
            & (boxes[:, 2] <= around[2] + margin) & (boxes[:, 3] <= around[3] + margin))
    out = boxes[~near]
    if near.any():
        b = boxes[near]
        out = np.vstack([out, [[b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()]]])
    return out


def street_table(communities: pd.DataFrame, streets: pd.DataFrame | None) -> pd.DataFrame:
    """The streets that shard a layout, sorted by code: ``streets`` when given, else one per street
    code of the communities (the union of their boundaries). The shard numbers of
    :class:`ShardPlan` are positions in this table.

    >>> comms = pd.DataFrame({"code": ["a1", "b1", "a2"], "street_code": ["b", "a", "b"],
    ...                       "geometry": [shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3, 1), shapely.box(1, 0, 2, 1)]})
    >>> t = street_table(comms, None)
    >>> t["code"].tolist(), t.geometry[1].bounds
    (['a', 'b'], (0.0, 0.0, 2.0, 1.0))
    """
    if streets is not None and len(streets):
        return _sorted(streets)[["code", "geometry"]]
    codes = sorted(set(communities["street_code"].dropna())) if len(communities) else []
    sc = communities["street_code"].to_numpy(dtype=object) if len(communities) else np.zeros(0, object)
    cg = _geoms(communities) if len(communities) else np.zeros(0, object)
    geoms = [shapely.union_all(cg[sc == s]) for s in codes]
    return pd.DataFrame({"code": pd.Series(codes, dtype=object), "geometry": pd.Series(geoms, dtype=object)})


def street_of_points(x: ArrayLike, y: ArrayLike, streets: ArrayLike) -> NDArray[np.int64]:
    """The street each point belongs to: the first (lowest index) street polygon that covers it, else
    the nearest one (ties: the lowest index); a point without coordinates goes to the first street.
    Deterministic, so every worker computes the same partition.

    >>> from shapely import box
    >>> street_of_points([0.5, 1.0, 1.5, 5.0], [0.5, 0.5, 0.5, 0.5], [box(0, 0, 1, 1), box(1, 0, 2, 1)]).tolist()
    [0, 0, 1, 1]
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    sg = np.asarray(streets, dtype=object)
    out = np.full(len(x), -1, dtype=np.int64)
    if len(x) == 0 or len(sg) == 0:
        return out
    order = np.argsort(x, kind="stable")
    xs = x[order]
    for s, (x0, y0, x1, y1) in enumerate(shapely.bounds(sg)):
        lo, hi = np.searchsorted(xs, x0, "left"), np.searchsorted(xs, x1, "right")
        cand = order[lo:hi]
        cand = cand[(y[cand] >= y0) & (y[cand] <= y1) & (out[cand] < 0)]
        if len(cand):
            out[cand[shapely.intersects_xy(sg[s], x[cand], y[cand])]] = s
    out[~(np.isfinite(x) & np.isfinite(y))] = 0
    miss = np.flatnonzero(out < 0)
    if len(miss):
        pi, si = shapely.STRtree(sg).query_nearest(shapely.points(x[miss], y[miss]), all_matches=True)
        best = np.full(len(miss), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, pi, si)
        out[miss] = best
    return out


@dataclass
class ShardPlan:
    """Which street owns each row of a layout, and what each shard must hold besides (its halo).

    Built once per layout from bounds and a few small geometry arrays (communities, grids, streets,
    facilities), never from the building footprints, so a Dask worker can build it from the packed
    arrays (``geo/cluster.py``) and cut its own shards. Ownership: a community by its street code (an
    unknown street: where its box centre lies), a grid by its community (none known: its box centre),
    a building, facility or report by the centre of its box (:func:`street_of_points`). Rows whose
    input ``owned`` flag is False are context: owned by no shard. Any partition gives the same answer;
    the halo is what makes it so.

    >>> from geo.synthetic import make_world
    >>> w = make_world(streets=2)
    >>> b, r = shapely.bounds(np.asarray(w.buildings.geometry)), np.zeros((0, 2))
    >>> plan = ShardPlan.build(streets=street_table(w.communities, w.streets), communities=w.communities,
    ...                        grids=w.grids, facilities=w.facilities, building_bounds=b,
    ...                        building_owned=np.ones(len(b), bool), report_xy=r, report_owned=np.zeros(0, bool))
    >>> rows = plan.rows([0])
    >>> int(rows["grids"][1].sum()), len(rows["grids"][0]), len(plan.owned_rows("buildings", 1))
    (81, 90, 729)
    """

    street_bounds: NDArray[np.float64]
    bounds: dict[str, NDArray[np.float64]]  # frame -> (n, 4)
    owner: dict[str, NDArray[np.int64]]  # frame -> street position, -1 for rows no shard owns
    grid_community: NDArray[np.int64]  # position of each grid's community, -1 for none known
    grid_tree: shapely.STRtree
    comm_tree: shapely.STRtree
    fac_tree: shapely.STRtree | None
    by_street: dict[str, tuple[NDArray[np.int64], NDArray[np.int64]]] = field(init=False)

    def __post_init__(self) -> None:
        # per frame: rows sorted by owner (stable: by position within a street) and where each street starts
        n = len(self.street_bounds)
        self.by_street = {k: (np.argsort(v, kind="stable"), np.searchsorted(np.sort(v), np.arange(n + 1)))
                          for k, v in self.owner.items()}

    def owned_rows(self, frame: str, street: int) -> NDArray[np.int64]:
        """Positions (ascending) of the rows of ``frame`` that ``street`` owns."""
        order, start = self.by_street[frame]
        return order[start[street]:start[street + 1]]

    @classmethod
    def build(cls, *, streets: pd.DataFrame, communities: pd.DataFrame, grids: pd.DataFrame,
              facilities: pd.DataFrame, building_bounds: NDArray[np.float64], building_owned: NDArray[np.bool_],
              report_xy: NDArray[np.float64], report_owned: NDArray[np.bool_]) -> ShardPlan:
        """``streets``: :func:`street_table`; the frames as in :class:`LayoutData`, sorted by code."""
        sg = _geoms(streets)
        spos = {s: k for k, s in enumerate(streets["code"])}
        cg, gg = _geoms(communities), _geoms(grids)
        fg = _geoms(facilities) if len(facilities) else np.zeros(0, object)
        bounds = {"communities": shapely.bounds(cg).reshape(-1, 4), "grids": shapely.bounds(gg).reshape(-1, 4),
                  "facilities": shapely.bounds(fg).reshape(-1, 4),
                  "buildings": np.asarray(building_bounds, dtype=float).reshape(-1, 4),
                  "reports": np.repeat(np.asarray(report_xy, dtype=float).reshape(-1, 2), 2, axis=0).reshape(-1, 4)}

        def centre_street(b: NDArray[np.float64]) -> NDArray[np.int64]:
            return street_of_points((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, sg)

        def values(col: pd.Series) -> list[Any]:  # plain objects: iterating a pandas string column is slow
            return col.to_numpy(dtype=object).tolist()

        c_st = np.array([spos.get(s, -1) for s in values(communities["street_code"])], dtype=np.int64)
        lost = np.flatnonzero(c_st < 0)
        c_st[lost] = centre_street(bounds["communities"][lost])
        cpos = {c: k for k, c in enumerate(values(communities["code"]))}
        g_comm = np.array([cpos.get(c, -1) if isinstance(c, str) else -1 for c in values(grids["community_code"])],
                          dtype=np.int64)
        g_st = np.where(g_comm >= 0, c_st[np.maximum(g_comm, 0)] if len(c_st) else -1, -1)
        lost = np.flatnonzero(g_st < 0)
        g_st[lost] = centre_street(bounds["grids"][lost])
        b_st = np.where(building_owned, centre_street(bounds["buildings"]), -1)
        xy = bounds["reports"]
        r_st = np.where(report_owned, street_of_points(xy[:, 0], xy[:, 1], sg), -1)
        owner = {"communities": np.where(_owned(communities), c_st, -1), "grids": np.where(_owned(grids), g_st, -1),
                 "facilities": np.where(_owned(facilities), centre_street(bounds["facilities"]), -1),
                 "buildings": b_st, "reports": r_st}
        return cls(shapely.bounds(sg).reshape(-1, 4), bounds, owner, g_comm, shapely.STRtree(gg), shapely.STRtree(cg),
                   shapely.STRtree(fg) if len(fg) else None)

    def rows(self, group: Sequence[int], *, halo_m: float = 0.0) -> dict[str, tuple[NDArray[np.int64],
                                                                                   NDArray[np.bool_]]]:
        """The rows of the shard of the streets in ``group``: per frame, ``(row positions, owned)``.

        It holds the owned rows and every other row an owned row's analysis looks at: the grids that
        touch any owned row (overlap partners, the grids of a community's gaps, of a building), the
        communities an owned grid touches or names, and the facilities within ``halo_m`` (the
        catchment reach, doubled) of its buildings.
        """
        group = np.asarray(sorted(group), dtype=np.int64)
        b = self.bounds
        mine = {}
        for k, v in self.owner.items():
            mine[k] = np.zeros(len(v), dtype=bool)
            for s in group:
                mine[k][self.owned_rows(k, s)] = True
        boxes = []
        for s in group:  # compacted street by street: a group's streets need not be neighbours
            sel = np.concatenate([b[k][self.owned_rows(k, s)] for k in ("communities", "grids", "buildings",
                                                                         "reports", "facilities")])
            boxes.append(_compact(sel, self.street_bounds[s]))
        owned_boxes = np.concatenate(boxes) if boxes else np.zeros((0, 4))
        og, oc = np.flatnonzero(mine["grids"]), np.flatnonzero(mine["communities"])
        # every grid touching an owned row: overlap partners of the owned grids, the grids of the owned
        # communities' gaps, the grids a building, facility or report may fall in
        g_need = np.union1d(_bbox_query(self.grid_tree, owned_boxes), og)
        # the communities an owned grid may cross, and the one its code names
        named = self.grid_community[og]
        c_need = np.union1d(np.union1d(_bbox_query(self.comm_tree, owned_boxes), oc), named[named >= 0])
        f_need = np.flatnonzero(mine["facilities"])
        ob = mine["buildings"]
        if self.fac_tree is not None and halo_m > 0 and ob.any():
            bb = b["buildings"][ob]
            lat = np.abs(bb[:, [1, 3]]).max()
            dy = halo_m / 110_000.0
            dx = halo_m / (111_000.0 * max(np.cos(np.radians(min(lat, 89.0))), 0.01))
            box = np.array([[bb[:, 0].min() - dx, bb[:, 1].min() - dy, bb[:, 2].max() + dx, bb[:, 3].max() + dy]])
            f_need = np.union1d(f_need, _bbox_query(self.fac_tree, box))
        out = {"communities": c_need, "grids": g_need, "facilities": f_need,
               "buildings": np.flatnonzero(ob), "reports": np.flatnonzero(mine["reports"])}
        return {k: (v.astype(np.int64), mine[k][v]) for k, v in out.items()}


def shard_meta(data_meta: dict[str, Any], communities: pd.DataFrame, facilities: pd.DataFrame,
               shard: str) -> dict[str, Any]:
    """What every shard must know of the whole layout: its community codes and facility kinds."""
    return {**data_meta, "shard": shard, "all_community_codes": tuple(communities["code"]),
            "facility_kinds": tuple(sorted(set(facilities["kind"]))) if len(facilities) else ()}


def split_shards(data: LayoutData, *, halo_m: float = 0.0) -> list[LayoutData]:
    """Cut a layout into one shard per street (:func:`street_table`), each with the halo its rows need
    (:class:`ShardPlan`); ``merge([analyse_shard(s) for s in split_shards(data)])`` is :func:`analyse`.

    >>> from geo.synthetic import make_world
    >>> w = make_world(streets=2)
    >>> shards = split_shards(w)
    >>> [s.meta["shard"] for s in shards], sum(int(s.grids["owned"].sum()) for s in shards) == len(w.grids)
    (['900001001', '900001002'], True)
    """
    comms, grids, blds = _sorted(data.communities), _sorted(data.grids), _sorted(data.buildings)
    fac, rep = data.facilities.reset_index(drop=True), data.reports.reset_index(drop=True)
    streets = street_table(comms, data.streets)
    if len(streets) == 0:
        return [data]
    bg, rg = _geoms(blds), _geoms(rep)
    plan = ShardPlan.build(
        streets=streets, communities=comms, grids=grids, facilities=fac,
        building_bounds=shapely.bounds(bg) if len(bg) else np.zeros((0, 4)), building_owned=_owned(blds),
        report_xy=np.column_stack([shapely.get_x(rg), shapely.get_y(rg)]) if len(rg) else np.zeros((0, 2)),
        report_owned=_owned(rep))
    frames = {"communities": comms, "grids": grids, "buildings": blds, "facilities": fac, "reports": rep}
    out = []
    for s, code in enumerate(streets["code"]):
        rows = plan.rows([s], halo_m=halo_m)
        if not any(owned.any() for _, owned in rows.values()):
            continue
        parts = {k: frames[k].iloc[idx].assign(owned=owned) for k, (idx, owned) in rows.items()}
        out.append(LayoutData(**parts, meta=shard_meta(data.meta, comms, fac, str(code))))
    return out


def with_tolerances(tol: Tolerances, **changes: Any) -> Tolerances:
    """A copy of ``tol`` with some fields changed (None values ignored)."""
    return replace(tol, **{k: v for k, v in changes.items() if v is not None})
