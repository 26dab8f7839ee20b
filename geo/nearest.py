"""The nearest grid to points that no grid covers, within a tolerance in metres on the WGS84 ellipsoid.

Why a lattice of its own: a point outside every grid is within the tolerance of a grid only if it is within it
of the **coverage boundary** (the boundary of the union of the grids), and that boundary is a small share of all
ring segments (a tiled district has only its outer edge and its gaps). So the segments that can be nearest are
listed per cell of a lattice about twice the tolerance across, for the cells within reach of that boundary only;
a point in any other cell is farther than the tolerance from every grid (unrouted by one lookup), and a point in
a listed cell is measured against its cell's few segments in numpy, with no spatial-tree search and no geodesic
iteration per candidate.

Which segments: those of the coverage boundary (a segment is inside the union when another ring runs along it
the other way, rings oriented alike), plus every segment that shares an end with one of them, so that all grids
meeting at a boundary vertex take part when that vertex is the nearest point (ties go to the smallest code).

Distances: the nearest point of each candidate segment is found in a local metric frame at the point's latitude
(metres per degree east and north on the ellipsoid), then the winner's distance is measured with the radii of
curvature at the mid-latitude: within 1e-8 of the geodesic for the tens of metres a tolerance spans.

Examples
--------
>>> from shapely import box
>>> near = NearLattice(np.array([box(0, 0, 1e-3, 1e-3), box(1e-3, 0, 2e-3, 1e-3)]), 50.0)
>>> grid, metres = near.nearest(np.array([1e-3, 5e-4, 0.5]), np.array([1.2e-3, -1e-4, 0.5]))
>>> grid.tolist(), [round(float(m), 2) for m in metres[:2]], bool(np.isinf(metres[2]))
([0, 0, -1], [22.11, 11.06], True)

The first point is as near to both grids (their shared corner): the smaller index wins.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import shapely
from numpy.typing import NDArray

from geo.segments import cut_segments, pairs_unique, ring_segments

_A = 6_378_137.0  # WGS84 semi-major axis (m)
_E2 = 6.694379990141317e-3  # first eccentricity squared
_RAD = math.pi / 180.0


def metres_per_degree(lat: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Metres per degree of longitude and of latitude at ``lat`` on the WGS84 ellipsoid.

    >>> east, north = metres_per_degree(np.array([0.0, 60.0]))
    >>> [round(float(v)) for v in east], [round(float(v)) for v in north]
    ([111319, 55800], [110574, 111412])
    """
    s = np.sin(lat * _RAD)
    w2 = 1.0 - _E2 * s * s
    n = _A / np.sqrt(w2)  # prime vertical radius
    m = _A * (1.0 - _E2) / (w2 * np.sqrt(w2))  # meridian radius
    return n * np.cos(lat * _RAD) * _RAD, m * _RAD


def reach_degrees(lat_abs_max: float, metres: float) -> float:
    """Degrees (in either axis) never shorter than ``metres`` anywhere up to latitude ``lat_abs_max``: divided by
    the fewest metres a degree has there (the meridian degree at the equator, or the parallel's nearer the pole),
    with 1 % to spare for the curvature over the span.

    >>> round(reach_degrees(0.0, 110_574.0), 3), round(reach_degrees(60.0, 55_800.0), 3)
    (1.01, 1.01)
    """
    lat = min(abs(lat_abs_max), 89.0)
    east, north = metres_per_degree(np.array([lat]))
    return metres / float(min(east[0], north[0])) * 1.01


def near_cell(reach: float) -> float:
    """The lists' cell size for a reach in degrees: the power of two in [2 reach, 4 reach), so that a piece of a
    cell widened by the reach on both sides overlaps at most 3 x 3 cells (a smaller cell lists fewer segments a
    point but marks twice as many cells to build).

    >>> near_cell(0.0006)
    0.001953125
    """
    return 2.0 ** math.ceil(math.log2(max(2.0 * reach, 1e-12)))


def local_metres(x0: NDArray, y0: NDArray, x1: NDArray, y1: NDArray) -> NDArray[np.float64]:
    """Metres between (x0, y0) and (x1, y1), with the ellipsoid's radii at the mid-latitude (for short spans).

    >>> round(float(local_metres(np.array([116.4]), np.array([39.9]), np.array([116.4005]), np.array([39.9]))[0]), 6)
    42.759147

    (pyproj's geodesic: 42.759147 m.)
    """
    east, north = metres_per_degree((y0 + y1) * 0.5)
    return np.hypot((x1 - x0) * east, (y1 - y0) * north)


def oriented_segments(polygons: NDArray) -> tuple[NDArray, ...]:
    """Every ring segment (:func:`geo.segments.ring_segments`) with shells counter-clockwise and holes clockwise,
    so that two grids sharing an edge run along it in opposite directions.
    """
    return ring_segments(shapely.orient_polygons(polygons, exterior_cw=False))


def boundary_segments(seg: tuple[NDArray, ...]) -> tuple[NDArray, ...]:
    """Of :func:`oriented_segments`, those that can hold the nearest point of a grid to an outside point (see the
    module docstring).
    """
    ax, ay, bx, by, g = seg
    if not ax.size:
        return seg
    # Directed keys: a segment is inside the union when its reverse is in the set.
    # Vertex ids (x + iy as complex: np.unique sorts them as pairs, 6x faster than unique rows).
    _, vid = np.unique(np.concatenate([ax + 1j * ay, bx + 1j * by]), return_inverse=True)
    a, b = vid[: ax.size].astype(np.int64), vid[ax.size:].astype(np.int64)
    nv = int(vid.max()) + 1
    fwd = np.sort(a * nv + b)
    rev = b * nv + a
    pos = np.clip(np.searchsorted(fwd, rev), 0, fwd.size - 1)
    outer = fwd[pos] != rev
    on_edge = np.zeros(nv, dtype=bool)
    on_edge[a[outer]] = True
    on_edge[b[outer]] = True
    keep = outer | on_edge[a] | on_edge[b]
    return tuple(arr[keep] for arr in seg)


def closest(px: NDArray, py: NDArray, pt: NDArray, per: NDArray, ax: NDArray, ay: NDArray, bx: NDArray,
            by: NDArray, g: NDArray) -> tuple[NDArray, ...]:
    """Per point, the candidate segment nearest in metres (ties: the smallest ``g``), its nearest point and the
    metres to it.

    Candidates come grouped by point: ``pt`` (the point of each, ascending) with ``per`` of them a point (each
    ``per`` > 0). The nearest point of a segment is found in metres east/north of the point (GEOS's rule:
    project, and take an end exactly when the projection falls outside the segment). Returns the index of the
    winning candidate per point, its nearest point's x and y, and metres.

    >>> one = np.array([0.0])
    >>> closest(one, one, np.array([0, 0]), np.array([2]), np.array([1e-3, -1e-3]), np.array([-1.0, -1.0]),
    ...         np.array([1e-3, -1e-3]), np.array([1.0, 1.0]), np.array([5, 4]))[0].tolist()
    [1]
    """
    east, north = metres_per_degree(py)
    ke, kn, qx, qy = east[pt], north[pt], px[pt], py[pt]
    ux, uy = (ax - qx) * ke, (ay - qy) * kn
    dx, dy = (bx - ax) * ke, (by - ay) * kn
    len2 = dx * dx + dy * dy
    with np.errstate(invalid="ignore", divide="ignore"):
        t = -(ux * dx + uy * dy) / len2
    mid = (len2 > 0) & (t > 0) & (t < 1)
    vx, vy = ux + dx, uy + dy
    end_b = ~mid & (vx * vx + vy * vy < ux * ux + uy * uy)
    ex = np.where(mid, ux + t * dx, np.where(end_b, vx, ux))
    ey = np.where(mid, uy + t * dy, np.where(end_b, vy, uy))
    d2 = ex * ex + ey * ey
    # Per point: the smallest distance, then the smallest g (no sort: candidates are grouped by point).
    starts = np.r_[0, np.cumsum(per)[:-1]]
    best = np.minimum.reduceat(d2, starts)
    at_best = d2 == best[pt]
    g_best = np.minimum.reduceat(np.where(at_best, g, np.int64(np.iinfo(np.int64).max)), starts)
    win = np.flatnonzero(at_best & (g == g_best[pt]))
    first = win[np.r_[True, pt[win][1:] != pt[win][:-1]]]
    tw, mw, bw = t[first], mid[first], end_b[first]
    wx = np.where(mw, ax[first] + tw * (bx[first] - ax[first]), np.where(bw, bx[first], ax[first]))
    wy = np.where(mw, ay[first] + tw * (by[first] - ay[first]), np.where(bw, by[first], ay[first]))
    return first, wx, wy, local_metres(px[pt[first]], py[pt[first]], wx, wy)


class NearLattice:
    """Per cell (about twice ``tolerance_m`` across), the boundary segments within reach of it.

    Parameters
    ----------
    polygons : array of shapely (Multi)Polygons
        The grids, in the routing index's order (a segment carries its grid's index).
    tolerance_m : float
        The largest tolerance the lists answer for; a larger one needs a search (``covers``).
    origin : (float, float)
        Lower-left corner the cells are counted from (the routing lattice's, so that cells nest).
    segments : tuple of arrays, optional
        :func:`oriented_segments` of ``polygons``, when the caller has them already.
    where : callable, optional
        ``where(ax, ay, bx, by)`` -> mask of the boundary segments to list (the others are never asked about).
    """

    def __init__(self, polygons: NDArray, tolerance_m: float, origin: tuple[float, float] | None = None,
                 segments: tuple[NDArray, ...] | None = None, where: Callable | None = None) -> None:
        self.tolerance_m = float(tolerance_m)
        bounds = shapely.total_bounds(polygons) if len(polygons) else np.zeros(4)
        lat = float(max(abs(bounds[1]), abs(bounds[3])))
        reach = reach_degrees(lat + 1.0, self.tolerance_m) if self.tolerance_m > 0 else 0.0
        self.reach = reach
        self.cell = near_cell(reach)
        self.x0, self.y0 = origin if origin is not None else (float(bounds[0]) - self.cell,
                                                              float(bounds[1]) - self.cell)
        if len(polygons):
            seg = boundary_segments(segments if segments is not None else oriented_segments(polygons))
            if where is not None:
                keep = where(*seg[:4])
                seg = tuple(a[keep] for a in seg)
        else:
            seg = (np.zeros(0),) * 5
        self.ax, self.ay, self.bx, self.by, self.grid = seg
        self.grid = self.grid.astype(np.int32)
        self._lists()

    def _lists(self) -> None:
        """(cell, segment) pairs: each segment, cut into pieces of a cell, lists itself in the cells its pieces'
        boxes widened by the reach overlap (at most 3 × 3 a piece).
        """
        n = self.ax.size
        self.stride = 1 << 31  # keys: iy * stride + ix, with ix and iy small non-negative integers
        if not n or self.reach <= 0:
            self.keys = np.zeros(0, np.int64)
            self.start = np.zeros(1, np.int64)
            self.seg = np.zeros(0, np.int64)
            return
        cx, cy, sid = self.marks(self.cell)
        keys, seg = pairs_unique(cy * self.stride + cx, sid, n)
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        self.keys = keys[starts]
        self.start = np.r_[starts, keys.size].astype(np.int64)
        self.seg = seg.astype(np.int32)

    def marks(self, cell: float, most: int = 3) -> tuple[NDArray[np.int64], ...]:
        """(ix, iy, segment) of the cells of size ``cell`` (counted from the origin) that each boundary segment
        lists itself in: cut into pieces of a cell, each piece's box widened by the reach; None when that would
        mark more than ``most`` x ``most`` cells a piece.
        """
        k = math.ceil((2.0 * self.reach + cell) / cell) + 1
        if k > most:
            return None
        ids = np.arange(self.ax.size, dtype=np.int64)
        ax, ay, bx, by, sid = cut_segments((self.ax, self.ay, self.bx, self.by, ids), cell)
        inv = 1.0 / cell
        lo_x = np.floor((np.minimum(ax, bx) - self.reach - self.x0) * inv).astype(np.int64)
        lo_y = np.floor((np.minimum(ay, by) - self.reach - self.y0) * inv).astype(np.int64)
        hi_x = np.floor((np.maximum(ax, bx) + self.reach - self.x0) * inv).astype(np.int64)
        hi_y = np.floor((np.maximum(ay, by) + self.reach - self.y0) * inv).astype(np.int64)
        xs, ys, ss = [], [], []
        for dy in range(k):
            for dx in range(k):
                cx, cy = lo_x + dx, lo_y + dy
                ok = (cx <= hi_x) & (cy <= hi_y)
                xs.append(cx[ok])
                ys.append(cy[ok])
                ss.append(sid[ok])
        return np.concatenate(xs), np.concatenate(ys), np.concatenate(ss)

    def search(self, tree: shapely.STRtree, polygons: NDArray, x: NDArray, y: NDArray, tolerance_m: float
               ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """As :meth:`nearest` for any tolerance (beyond the one the lists answer for): the grids within a degree reach
        never shorter than the tolerance, found in the tree, then all their segments measured alike.
        """
        grid = np.full(x.size, -1, dtype=np.int64)
        metres = np.full(x.size, np.inf)
        idx = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        if not idx.size:
            return grid, metres
        reach = reach_degrees(float(np.abs(y[idx]).max()) + 1.0, tolerance_m)
        p_idx, g_idx = tree.query(shapely.points(x[idx], y[idx]), predicate="dwithin", distance=reach)
        if not p_idx.size:
            return grid, metres
        if not hasattr(self, "_by_grid"):  # every ring segment, grouped by grid (ring_segments keeps grid order)
            seg = ring_segments(polygons)
            self._by_grid = (*seg[:4], np.searchsorted(seg[4], np.arange(len(polygons) + 1)))
        ax, ay, bx, by, gstart = self._by_grid
        order = np.argsort(p_idx, kind="stable")
        p_idx, g_idx = p_idx[order], g_idx[order]
        n_seg = gstart[g_idx + 1] - gstart[g_idx]
        pair = np.repeat(np.arange(p_idx.size), n_seg)
        s = np.repeat(gstart[g_idx], n_seg) + (np.arange(n_seg.sum()) - np.repeat(np.cumsum(n_seg) - n_seg, n_seg))
        pt = p_idx[pair]
        per = np.bincount(pt, minlength=idx.size)
        has = per > 0
        # closest() wants every point to have candidates: renumber the points that have some.
        new_id = np.cumsum(has) - 1
        first, _, _, metres_w = closest(x[idx[has]], y[idx[has]], new_id[pt], per[has], ax[s], ay[s], bx[s], by[s],
                                        g_idx[pair])
        target = idx[has]
        grid[target] = g_idx[pair[first]]
        metres[target] = metres_w
        return grid, metres

    def cell_keys(self, x: NDArray, y: NDArray) -> NDArray[np.int64]:
        """Each point's cell key (finite coordinates near the lattice)."""
        ix = np.floor((x - self.x0) / self.cell).astype(np.int64)
        iy = np.floor((y - self.y0) / self.cell).astype(np.int64)
        return iy * self.stride + ix

    def near_cells(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(ix, iy) of the cells that hold a list."""
        return self.keys % self.stride, self.keys // self.stride

    def nearest(self, x: NDArray, y: NDArray) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The nearest grid (-1 if none within the tolerance's reach) and metres to it (inf if none) for points
        that no grid covers; ties go to the smallest grid index.
        """
        grid = np.full(x.size, -1, dtype=np.int64)
        metres = np.full(x.size, np.inf)
        ok = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        if not ok.size or not self.keys.size:
            return grid, metres
        px, py = x[ok], y[ok]
        k = self.cell_keys(px, py)
        pos = np.clip(np.searchsorted(self.keys, k), 0, self.keys.size - 1)
        hit = self.keys[pos] == k
        ok, px, py, pos = ok[hit], px[hit], py[hit], pos[hit]
        if not ok.size:
            return grid, metres
        lo, hi = self.start[pos], self.start[pos + 1]
        per = hi - lo
        pt = np.repeat(np.arange(ok.size), per)
        s = self.seg[np.repeat(lo, per) + (np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per))]
        first, w_x, w_y, metres_w = closest(px, py, pt, per, self.ax[s], self.ay[s], self.bx[s], self.by[s],
                                            self.grid[s])
        target = ok[pt[first]]
        grid[target] = self.grid[s[first]]
        metres[target] = metres_w
        return grid, metres

    @property
    def nbytes(self) -> int:
        """Memory the lists hold, in bytes."""
        return int(sum(a.nbytes for a in (self.keys, self.start, self.seg, self.ax, self.ay, self.bx, self.by,
                                           self.grid)))
