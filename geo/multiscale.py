"""Multi-scale layouts for routing tests and benchmarks: grids of every size, and points in three regimes.

Why: the sample district's grids are all about the same size, and nearly every point falls inside one. Real
layouts are not like that: a national set of administrative polygons runs from a 0.01 km² hutong grid to a
1,000 km² rural township, towns sit in a sea of big rural polygons, coasts and borders leave gaps, and
geocoders send points into the sea. An index tuned to one shape of layout looks fast on it and slow on the
others, so routing is measured on layouts of this shape too (bench/routing.py).

The layout: Voronoi cells of sites drawn in three densities (dense towns, a suburban ring around each, sparse
countryside), clipped to "land" (a few large blobs and small islands; the rest of the extent is sea); some
cells get a lake (a hole); cells cut by the coast into pieces are multipolygons. Each boundary is cut into
segments so that the vertex count follows a log-normal around ``median_vertices``.

Examples
--------
>>> codes, polygons = make_layout(n_towns=3, per_town=40, rural=30, seed=2)
>>> len(codes) == len(polygons) > 100
True
>>> area = km2(polygons)
>>> bool(area.min() < 0.5 and area.max() > 100)
True
>>> x, y = make_points(polygons, 1000, "uniform", seed=2)
>>> x.shape
(1000,)
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray

REGIMES = ("clustered", "mixed", "uniform")


def km2(polygons: NDArray) -> NDArray[np.float64]:
    """Approximate areas in km² (degrees scaled at each polygon's latitude; enough to describe a layout)."""
    lat = shapely.get_y(shapely.centroid(polygons))
    return shapely.area(polygons) * 111.32**2 * np.cos(np.radians(lat))


def _land(rng: np.random.Generator, extent: tuple[float, float, float, float]) -> shapely.Geometry:
    x0, y0, x1, y1 = extent
    w, h = x1 - x0, y1 - y0
    blobs = []
    for _ in range(5):
        cx, cy = rng.uniform(x0 + 0.2 * w, x1 - 0.2 * w), rng.uniform(y0 + 0.2 * h, y1 - 0.2 * h)
        r = rng.uniform(0.12, 0.2) * min(w, h)
        # An irregular blob: a circle whose radius wobbles.
        t = np.linspace(0, 2 * np.pi, 90, endpoint=False)
        rr = r * (1 + 0.25 * np.sin(3 * t + rng.uniform(0, 6)) + 0.1 * np.sin(7 * t + rng.uniform(0, 6)))
        blobs.append(shapely.Polygon(np.column_stack([cx + rr * np.cos(t), cy + rr * np.sin(t)])))
    islands = shapely.buffer(shapely.points(rng.uniform(x0, x1, 12), rng.uniform(y0, y1, 12)),
                             rng.uniform(0.01, 0.05, 12) * min(w, h), quad_segs=4)
    return shapely.union_all(np.concatenate([blobs, islands]))


def make_layout(*, n_towns: int = 14, per_town: int = 180, suburban: int = 25, rural: int = 260,
                median_vertices: int = 130, lakes: float = 0.02, seed: int = 21,
                extent: tuple[float, float, float, float] = (104.0, 28.0, 110.0, 33.0)
                ) -> tuple[NDArray[np.object_], NDArray[np.object_]]:
    """Codes and (multi)polygons of a multi-scale layout (a few thousand polygons with the defaults).

    Town grids come out around 0.01-1 km², suburban ones 1-50 km², rural ones 100-1,500 km².
    """
    rng = np.random.default_rng(seed)
    land = _land(rng, extent)
    x0, y0, x1, y1 = extent
    # Towns on land.
    cand = shapely.points(rng.uniform(x0, x1, n_towns * 20), rng.uniform(y0, y1, n_towns * 20))
    towns = shapely.get_coordinates(cand[shapely.contains(land, cand)][:n_towns])
    sites = []
    for tx, ty in towns:
        sigma = rng.uniform(0.012, 0.03)
        sites.append(np.column_stack([rng.normal(tx, sigma, per_town), rng.normal(ty, sigma, per_town)]))
        s2 = sigma * 8
        sites.append(np.column_stack([rng.normal(tx, s2, suburban), rng.normal(ty, s2, suburban)]))
    sites.append(np.column_stack([rng.uniform(x0, x1, rural * 3), rng.uniform(y0, y1, rural * 3)]))
    pts = np.vstack(sites)
    pts = np.unique(np.round(pts, 7), axis=0)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=shapely.box(*extent)))
    cells = shapely.intersection(cells, land)
    cells = cells[~shapely.is_empty(cells)]
    cells = cells[shapely.area(cells) > 1e-8]
    # Only polygonal parts (a clip can leave lines or points on its own boundary).
    cells = np.array([_polygonal(c) for c in cells], dtype=object)
    cells = cells[[c is not None for c in cells]]
    # Lakes: a hole well inside a few cells.
    lake = rng.random(len(cells)) < lakes
    inner = shapely.buffer(cells[lake], -np.sqrt(shapely.area(cells[lake])) * 0.3)
    ok = ~shapely.is_empty(inner)
    holes = shapely.buffer(shapely.point_on_surface(inner[ok]), np.sqrt(shapely.area(cells[lake][ok])) * 0.08,
                           quad_segs=6)
    idx = np.flatnonzero(lake)[ok]
    cells[idx] = [_polygonal(g) for g in shapely.difference(cells[idx], holes)]
    # Vertices: log-normal around the median, by cutting the boundary into equal pieces.
    target = np.clip(rng.lognormal(np.log(median_vertices), 0.5, len(cells)), 8, 2000)
    have = shapely.get_num_coordinates(cells)
    need = np.maximum(target, have)
    cells = shapely.segmentize(cells, shapely.length(cells) / need)
    order = rng.permutation(len(cells))
    cells = cells[order]
    codes = np.array([f"{510100000000 + 1000 * (i % 97) + i:015d}" for i in range(len(cells))], dtype=object)
    return codes, cells


def _polygonal(g: shapely.Geometry) -> shapely.Geometry | None:
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon") and p.area > 1e-10]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(
        [q for p in parts for q in shapely.get_parts(p)])


def make_points(polygons: NDArray, n: int, regime: str, *, seed: int = 5,
                margin: float = 0.05) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``n`` points in a regime of :data:`REGIMES`.

    ``clustered``: around the densest spots (the smallest grids: towns), a few km across; ``uniform``: uniform
    over the layout's extent (with ``margin`` of it added on every side), so most fall in big grids or
    outside every grid; ``mixed``: half each. A few points in every regime land exactly on vertices and
    edges, and a few at (0, 0), as geocoders send.
    """
    if regime not in REGIMES:
        raise ValueError(f"regime must be one of {REGIMES}")
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = shapely.total_bounds(polygons)
    w, h = maxx - minx, maxy - miny
    n_clu = {"clustered": n, "mixed": n // 2, "uniform": 0}[regime]
    # Town centres: the centroids of the smallest grids; spread a few to a dozen of those grids across.
    area = shapely.area(polygons)
    small = np.argsort(area)[: max(1, len(area) // 10)]
    centres = shapely.get_coordinates(shapely.centroid(polygons[small]))
    pick = rng.integers(0, len(centres), n_clu)
    size = np.sqrt(np.median(area[small]))
    sigma = rng.uniform(3, 12, len(centres))[pick] * size
    cx = centres[pick, 0] + rng.normal(0, 1, n_clu) * sigma
    cy = centres[pick, 1] + rng.normal(0, 1, n_clu) * sigma
    n_uni = n - n_clu
    ux = rng.uniform(minx - margin * w, maxx + margin * w, n_uni)
    uy = rng.uniform(miny - margin * h, maxy + margin * h, n_uni)
    x, y = np.concatenate([cx, ux]), np.concatenate([cy, uy])
    # 0.2 % on vertices, 0.2 % on edge midpoints, 0.01 % at (0, 0).
    verts = shapely.get_coordinates(polygons)
    k = max(1, n // 500)
    at = rng.integers(0, len(verts) - 1, k)
    sel = rng.choice(n, 3 * k, replace=False)
    x[sel[:k]], y[sel[:k]] = verts[at, 0], verts[at, 1]
    mid = (verts[at] + verts[at + 1]) / 2
    x[sel[k:2 * k]], y[sel[k:2 * k]] = mid[:, 0], mid[:, 1]
    z = sel[2 * k: 2 * k + max(1, n // 10_000)]
    x[z], y[z] = 0.0, 0.0
    order = rng.permutation(n)
    return x[order], y[order]
