"""Point-in-grid routing: which grid covers each point, exactly as PostGIS ``ST_Covers`` would say.

The index answers most points with a few array lookups and tests only the rest exactly. Its cost does not
depend on how grid sizes vary (a 0.01 km² hutong grid beside a 1,000 km² township) or on where points fall
(deep inside, near edges, in the sea):

1. **Adaptive cells** (geo/lattice.py): a coarse lattice whose cells crossed by a boundary are split 4 × 4,
   and again, until a cell is small for the grids crossing it (about 1/16 of their size across), so every grid
   is resolved at its own scale and a dense town and a rural county cost alike. A cell no boundary crosses lies
   in one grid (answered by lookup), in none (outside) or in several (overlaps: exact test). The levels down to
   the deepest whose whole lattice fits :data:`FLAT_CELLS` are flattened into one array: one lookup answers
   most points, and only points in cells split further walk down the blocks.
2. Points in cells crossed by a boundary are tested exactly against that cell's candidate grids with
   prepared shapely polygons (``intersects``: interior or boundary, i.e. ``ST_Covers``).
3. Points covered by no grid go to the nearest grid if it is within a tolerance (default 50 m, measured on
   the WGS84 ellipsoid), else they are unrouted: never an error, never dropped. Only cells within reach of the
   coverage boundary carry a list of the boundary segments that can be nearest (geo/nearest.py), so a point in
   the sea or abroad is answered "unrouted" by lookup, and one near the coverage measured against a few segments.

A point covered by several grids (on a shared edge or vertex, or inside an overlap) goes to the grid
with the **smallest code**, a rule anyone can check by hand; the others are returned as candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from geo.lattice import OUTSIDE, AdaptiveCells, B
from geo.nearest import NearLattice, near_cell, oriented_segments, reach_degrees
from geo.segments import cut_segments

INSIDE, EDGE, NEAREST, UNROUTED = 0, 1, 2, 3
#: Cells of the flat lattice at most (int32 each: 16 MB); see RoutingIndex._flatten.
FLAT_CELLS = 4_000_000
METHODS = ("inside", "edge", "nearest", "unrouted")


@dataclass(slots=True)
class Routed:
    """Results aligned with the input points.

    ``grid``: index into the index's codes, or -1 when unrouted; ``method``: 0 inside, 1 edge,
    2 nearest, 3 unrouted (names in :data:`METHODS`); ``distance_m``: 0 when covered, metres to the
    nearest grid when it is within the tolerance (NaN when none is); ``candidates``: for edge points,
    the other grids that also cover them.
    """

    grid: NDArray[np.int64]
    method: NDArray[np.int8]
    distance_m: NDArray[np.float64]
    candidates: dict[int, list[int]] = field(default_factory=dict)


class RoutingIndex(AdaptiveCells):
    """An in-memory index over one layout's grid polygons (WGS84 lon/lat).

    Parameters
    ----------
    codes : array of str
        Grid codes, aligned with ``polygons``.
    polygons : array of shapely (Multi)Polygons
    resolution : float
        A cell crossed by a boundary is split while it is wider than the smallest crossing grid's
        ``sqrt(area) / resolution``. More, fewer exact tests and a bigger index.
    max_levels : int
        Levels of splitting below the coarse lattice at most (each divides a cell by 4 across).
    coarse_cells : int
        Cells of the coarse lattice per grid (bounded to 64 .. 4,000,000 in all).
    tolerance_m : float
        The largest nearest-grid tolerance answered from lists per cell (geo/nearest.py); a larger one at
        :meth:`route` searches the tree instead.

    Examples
    --------
    >>> from shapely import box
    >>> index = RoutingIndex(["001", "002"], [box(0, 0, 1, 1), box(1, 0, 2, 1)])
    >>> r = index.route([0.5, 1.0, 1.5, 2.0002, 5.0], [0.5, 0.5, 0.5, 0.5, 5.0])
    >>> [index.codes[g] if g >= 0 else None for g in r.grid]
    ['001', '001', '002', '002', None]
    >>> [METHODS[m] for m in r.method]
    ['inside', 'edge', 'inside', 'nearest', 'unrouted']
    >>> r.candidates
    {1: [1]}
    >>> round(float(r.distance_m[3]), 1)
    22.3

    Grids of very different sizes are each resolved at their own scale: a 10 m square beside a
    100 km one, and points in both, on the shared edge and far out at sea.

    >>> small, big = box(0, 0, 1e-4, 1e-4), box(-1, -1, 0, 0)
    >>> index = RoutingIndex(["s", "b"], [small, big])
    >>> r = index.route([5e-5, -0.5, 0.0, 30.0], [5e-5, -0.5, 0.0, 30.0])
    >>> [METHODS[m] for m in r.method], [index.codes[g] for g in r.grid[:3]]
    (['inside', 'inside', 'edge', 'unrouted'], ['s', 'b', 'b'])
    >>> index.levels >= 4
    True
    """

    def __init__(
        self,
        codes: ArrayLike,
        polygons: ArrayLike,
        *,
        resolution: float = 16.0,
        max_levels: int = 10,
        coarse_cells: int = 64,
        tolerance_m: float = 50.0,
    ) -> None:
        codes = np.asarray(codes, dtype=object)
        polygons = np.asarray(polygons, dtype=object)
        if len(codes) != len(polygons):
            raise ValueError("codes and polygons differ in length")
        # Sort by code once, so "smallest code wins" is "smallest index wins".
        order = np.argsort(codes.astype(str), kind="stable")
        self.codes = codes[order]
        self.polygons = polygons[order]
        shapely.prepare(self.polygons)
        self.tree = shapely.STRtree(self.polygons)
        n = len(self.polygons)
        self.bounds = tuple(shapely.total_bounds(self.polygons)) if n else (0.0, 0.0, 1.0, 1.0)
        self.tolerance_m = float(tolerance_m)
        self._build(resolution, max_levels, coarse_cells)

    # ----------------------------------------------------------------------------------- build

    def _build(self, resolution: float, max_levels: int, coarse_cells: int) -> None:
        n = len(self.polygons)
        minx, miny, maxx, maxy = self.bounds
        width, height = max(maxx - minx, 1e-9), max(maxy - miny, 1e-9)
        target = min(4_000_000, max(64, n * coarse_cells))
        # A power-of-two cell size, so that every level's cell size and its inverse are exact.
        cell = 2.0 ** math.ceil(math.log2(math.sqrt(width * height / target)))
        # A margin wider than the nearest-grid lists reach (geo/nearest.py), so that every point off the lattice
        # is proven farther than the tolerance from every grid.
        reach = reach_degrees(max(abs(miny), abs(maxy)) + 1.0, self.tolerance_m) if self.tolerance_m > 0 else 0.0
        margin = max(1, math.ceil((reach + near_cell(reach)) / cell) + 1)
        self.x0, self.y0, self.cell = minx - margin * cell, miny - margin * cell, cell
        self.nx = int(np.ceil(width / cell)) + 2 * margin + 1
        self.ny = int(np.ceil(height / cell)) + 2 * margin + 1
        self.inv = [1.0 / cell * B**k for k in range(max_levels + 1)]
        # Per grid, the cell size below which its boundary cells are no longer split.
        fine = np.sqrt(np.maximum(shapely.area(self.polygons), 0.0)) / resolution if n else np.zeros(0)
        self._fine = np.maximum(fine, 1e-12)
        seg = oriented_segments(self.polygons)
        rings = seg
        lut, marks_c, marks_p = self._coarse(seg)
        seg = self._seg
        # Exact-test slots (CSR over grid candidates), filled level by level.
        slot_cells: list[NDArray] = []
        slot_start = [0]
        self._cand_parts: list[NDArray] = []
        self._n_slots = 0
        self.blocks: list[NDArray[np.int32]] = [lut]
        cand_c, cand_p, cont = self._coarse_candidates(lut, marks_c, marks_p)
        level = 0
        cells = np.arange(lut.size, dtype=np.int64)  # level-0 cells are their own keys
        keys = cells
        lut_of = lut
        while True:
            refine = self._refine_mask(keys.size, marks_c, marks_p, level, max_levels)
            # Candidates per cell of this level (marks ∪ containers), for the exact slots and the children.
            leaf = np.flatnonzero(self._needs_exact(keys.size, marks_c, cand_c) & ~refine)
            self._add_slots(leaf, cand_c, cand_p, lut_of, slot_cells, slot_start)
            ref = np.flatnonzero(refine)
            if not ref.size:
                break
            ref = ref[np.argsort(keys[ref], kind="stable")]  # blocks in key order: found by binary search
            ref_keys = keys[ref]
            lut_of[ref] = -2 - (2 * np.arange(ref.size, dtype=np.int32) + 1)
            block_of = np.full(keys.size, -1, dtype=np.int64)
            block_of[ref] = np.arange(ref.size)
            # Children: ref.size blocks of B x B at the next level.
            seg = self._keep_segments(seg, level, ref_keys)
            level += 1
            child_keys, marks_c, marks_p = self._mark_children(seg, level, ref_keys)
            seg = self._seg
            in_c, in_p = self._inherit(block_of, cand_c, cand_p, cont, level, ref_keys, marks_c, marks_p)
            block = self._label(child_keys.size, marks_c, in_c, in_p)
            self.blocks.append(block)
            cand_c, cand_p, cont = self._union(marks_c, marks_p, in_c, in_p)
            keys, lut_of = child_keys, block
        del self._seg
        self.levels = level
        self._cand = np.concatenate(self._cand_parts).astype(np.int32) if self._cand_parts else np.zeros(0, np.int32)
        self._cand_start = np.array(slot_start, dtype=np.int64) if len(slot_start) > 1 else np.zeros(1, np.int64)
        del self._cand_parts
        self.lut = self.blocks[0]
        self._flatten()
        near_out, keep = self._near_outside(reach)
        self.near = NearLattice(self.polygons, self.tolerance_m, origin=(self.x0, self.y0), segments=rings,
                                where=keep)
        # Per flat cell, what an uncovered point there needs: 0 nothing (unrouted), 1 the lists, 2 a tree search.
        crossed = self._flat_ext != OUTSIDE
        self._near_flag = np.where(near_out, self._near_cells().astype(np.int8), np.where(crossed, 2, 0)).astype(
            np.int8)
        self.cells = int(sum(b.size for b in self.blocks))
        self.nbytes = int(sum(b.nbytes for b in self.blocks) + self._cand.nbytes + self._cand_start.nbytes
                          + self.near.nbytes + self._near_flag.nbytes + self._flat_ext.nbytes)

    def _flatten(self) -> None:
        """The levels down to the deepest one whose whole lattice fits :data:`FLAT_CELLS`, as one array: a point's
        first lookup then lands at that level, and only points in cells split further walk down the blocks.
        """
        flat = self.lut.reshape(self.ny, self.nx)
        level = 0
        while level < self.levels and flat.size * B * B <= FLAT_CELLS:
            level += 1
            h, w = flat.shape
            code = -2 - flat
            py, px = np.nonzero((flat <= -2) & (code & 1 == 1))
            flat = np.repeat(np.repeat(flat, B, axis=0), B, axis=1)
            flat.reshape(h, B, w, B)[py, :, px, :] = self.blocks[level].reshape(-1, B, B)[code[py, px] >> 1]
        self.flat_level = level
        self.fny, self.fnx = flat.shape
        # One more cell, off the lattice (and for NaN or infinite coordinates): outside.
        self._flat_ext = np.r_[flat.ravel(), np.int32(OUTSIDE)].astype(np.int32)

    def _near_outside(self, reach: float) -> tuple[NDArray[np.bool_], object]:
        """Flat cells within reach of an outside flat cell (one more, off the lattice: False), and a test keeping the
        segments within twice that reach of one (only they can be nearest to an uncovered point of those cells).

        An uncovered point elsewhere is either in an outside cell far from every grid (unrouted by lookup) or in
        a cell crossed by boundaries deep inside the coverage (a sliver between grids that do not quite meet):
        those few are searched in the tree. So a tiled layout whose neighbours' vertices differ, where every
        segment looks like a boundary, lists only the segments near its outer edge.
        """
        cell = self.cell / B**self.flat_level
        outside = (self._flat_ext[:-1] == OUTSIDE).reshape(self.fny, self.fnx)
        k = math.ceil(reach / cell) + 1 if reach > 0 else 0
        near = ndimage.maximum_filter(outside, size=2 * k + 1, mode="constant") if k else outside
        near2 = ndimage.maximum_filter(outside, size=4 * k + 1, mode="constant") if k else outside
        flag = np.r_[near.ravel(), False]
        near2 = near2.ravel()

        def keep(ax: NDArray, ay: NDArray, bx: NDArray, by: NDArray) -> NDArray[np.bool_]:
            pieces = cut_segments((ax, ay, bx, by, np.arange(ax.size)), cell)
            out = np.zeros(ax.size, dtype=bool)
            for px, py in ((pieces[0], pieces[1]), (pieces[2], pieces[3])):
                ix = np.clip(np.floor((px - self.x0) / cell).astype(np.int64), 0, self.fnx - 1)
                iy = np.clip(np.floor((py - self.y0) / cell).astype(np.int64), 0, self.fny - 1)
                out[pieces[4][near2[iy * self.fnx + ix]]] = True
            return out

        return flag, keep

    def _near_cells(self) -> NDArray[np.bool_]:
        """Per cell of the flat lattice (and one more, off it: False), whether it is within reach of a listed
        segment (or, where flat cells are coarser than the lists', overlaps a list).
        """
        flag = np.zeros(self.fnx * self.fny + 1, dtype=bool)
        ix, iy = self.near.near_cells()
        if not ix.size:
            return flag
        cell = self.cell / B**self.flat_level
        # Flat cells finer than the lists' (the sample: 12 m and 200 m): those within reach of a boundary segment,
        # when that is at most 12 x 12 cells a piece of one; else the flat cells the lists' cells overlap.
        marks = self.near.marks(cell, most=12) if cell < self.near.cell else None
        if marks is not None:
            cx, cy, _ = marks
            ok = (cx >= 0) & (cx < self.fnx) & (cy >= 0) & (cy < self.fny)
            flag[cy[ok] * self.fnx + cx[ok]] = True
            return flag
        if self.near.cell >= cell:  # each list cell spans r x r flat cells (both powers of two)
            r = int(round(self.near.cell / cell))
            off = np.arange(r)
            cx = (ix[:, None] * r + off[None, :])[:, None, :]
            cy = (iy[:, None] * r + off[None, :])[:, :, None]
            cx, cy = np.broadcast_arrays(cx, cy)
        else:
            r = int(round(cell / self.near.cell))
            cx, cy = ix // r, iy // r
        cx, cy = cx.ravel(), cy.ravel()
        ok = (cx >= 0) & (cx < self.fnx) & (cy >= 0) & (cy < self.fny)
        flag[cy[ok] * self.fnx + cx[ok]] = True
        return flag

    # ----------------------------------------------------------------------------------- routing

    def covers(self, x: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """All (point, grid) pairs where the grid covers the point: the exact ``ST_Covers`` relation."""
        pts = shapely.points(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        return self.tree.query(pts, predicate="intersects")

    def _cells(self, x: NDArray, y: NDArray) -> tuple[NDArray, NDArray]:
        """Each point's cell value (a grid, outside, or an exact slot) and its cell of the flat lattice
        (``fnx * fny`` off the lattice, and for NaN or infinite coordinates: that index holds "outside").
        """
        inv = self.inv[self.flat_level]
        fx = x - self.x0
        fx *= inv
        fy = y - self.y0
        fy *= inv
        np.floor(fx, out=fx)
        np.floor(fy, out=fy)
        # Compared as floats: NaN compares false, so NaN and inf land off the lattice before any cast.
        on = (fx >= 0) & (fx < self.fnx) & (fy >= 0) & (fy < self.fny)
        off = not on.all()
        if off:
            fx[~on] = 0.0
            fy[~on] = 0.0
        ix = fx.astype(np.int64)
        iy = fy.astype(np.int64)
        flat = iy * self.fnx
        flat += ix
        if off:
            flat[~on] = self.fnx * self.fny
        value = self._flat_ext.take(flat)
        # Down the levels: points in cells split below the flat lattice find their child, B x B a block.
        idx = np.flatnonzero((value <= -2) & ((-2 - value) & 1 == 1))
        ix, iy = ix[idx], iy[idx]
        level = self.flat_level + 1
        while idx.size:
            blk = (-2 - value[idx]) >> 1
            inv = self.inv[level]
            gx = np.floor((x[idx] - self.x0) * inv).astype(np.int64)
            gy = np.floor((y[idx] - self.y0) * inv).astype(np.int64)
            lx = np.clip(gx - ix * B, 0, B - 1)
            ly = np.clip(gy - iy * B, 0, B - 1)
            v = self.blocks[level][blk * (B * B) + ly * B + lx]
            value[idx] = v
            deeper = (v <= -2) & ((-2 - v) & 1 == 1)
            idx, ix, iy = idx[deeper], (ix * B + lx)[deeper], (iy * B + ly)[deeper]
            level += 1
        return value, flat

    def route(self, x: ArrayLike, y: ArrayLike, *, tolerance_m: float = 50.0) -> Routed:
        """Route WGS84 points; see the class docstring for the rules."""
        x = np.asarray(x, dtype=float).ravel()
        y = np.asarray(y, dtype=float).ravel()
        n = len(x)
        if n == 1:  # one point (GET /locate, intake): the usual answer is a few lookups, in plain floats
            one = self._route_one_inside(float(x[0]), float(y[0]))
            if one is not None:
                return one
        candidates: dict[int, list[int]] = {}
        if n == 0:
            return Routed(np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0), candidates)
        value, flat = self._cells(x, y)
        quick = value >= 0
        grid = np.where(quick, value, np.int64(-1))
        method = np.where(quick, np.int8(INSIDE), np.int8(UNROUTED))
        distance = np.where(quick, 0.0, np.nan)

        exact = np.flatnonzero(value <= -2)
        if exact.size:
            self._exact(x, y, exact, (-2 - value[exact]) >> 1, grid, method, distance, candidates)

        if tolerance_m > 0 and len(self.polygons):
            loose = np.flatnonzero(grid < 0)
            if tolerance_m <= self.near.tolerance_m:
                # Uncovered points far from the coverage boundary are unrouted by lookup; the rest are measured
                # against their cell's list of boundary segments (geo/nearest.py).
                need = self._near_flag.take(flat[loose])
                # Uncovered points in crossed cells far from the outside (slivers between grids): a tree search.
                inner = loose[need == 2]
                loose = loose[need == 1]
                g, metres = self.near.nearest(x[loose], y[loose])
                if inner.size:
                    g2, m2 = self.near.search(self.tree, self.polygons, x[inner], y[inner], tolerance_m)
                    loose, g, metres = np.r_[loose, inner], np.r_[g, g2], np.r_[metres, m2]
            else:  # beyond what the lists answer for: a search in the tree
                g, metres = self.near.search(self.tree, self.polygons, x[loose], y[loose], tolerance_m)
            ok = metres <= tolerance_m
            hit = loose[ok]
            grid[hit] = g[ok]
            method[hit] = NEAREST
            distance[hit] = metres[ok]
        return Routed(grid, method, distance, candidates)

    def _exact(self, x: NDArray, y: NDArray, exact: NDArray, slot: NDArray, grid: NDArray, method: NDArray,
               distance: NDArray, candidates: dict[int, list[int]]) -> None:
        # Points taken cell by cell: the same few prepared polygons are then tested one after the other while
        # their edge indexes are in the CPU cache (sorting the pairs by grid did that too, at twice the cost).
        order = np.argsort(slot, kind="stable")
        exact, slot = exact[order], slot[order]
        lo, hi = self._cand_start[slot], self._cand_start[slot + 1]
        per = hi - lo
        pair_pt = np.repeat(np.arange(exact.size), per)
        offsets = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
        pair_grid = self._cand[np.repeat(lo, per) + offsets]
        hit = shapely.intersects_xy(self.polygons[pair_grid], np.repeat(x[exact], per), np.repeat(y[exact], per))
        p_idx, g_idx = pair_pt[hit], pair_grid[hit]
        if not p_idx.size:
            return
        # Candidates are stored by ascending grid index, i.e. ascending code: the first hit
        # of each point is the smallest code.
        first = np.ones(len(p_idx), dtype=bool)
        first[1:] = p_idx[1:] != p_idx[:-1]
        pts = exact[p_idx[first]]
        grid[pts] = g_idx[first]
        per_point = np.bincount(p_idx, minlength=exact.size)
        multi = per_point[p_idx[first]] > 1
        method[pts] = np.where(multi, EDGE, INSIDE)
        distance[pts] = 0.0
        if multi.any():
            starts = np.flatnonzero(first)
            for s_, p in zip(starts[multi], pts[multi], strict=True):
                k = per_point[p_idx[s_]]
                candidates[int(p)] = g_idx[s_ + 1:s_ + k].tolist()

    def _route_one_inside(self, x: float, y: float) -> Routed | None:
        """A point in a cell wholly inside one grid, answered without numpy's per-call overhead (which was most
        of the cost of routing one point); None for everything else, which the vectorised path decides. The
        arithmetic is :meth:`_cells`', in the same IEEE doubles, so both give the same cell.
        """
        if not (math.isfinite(x) and math.isfinite(y)):
            return None
        ix = math.floor((x - self.x0) * self.inv[0])
        iy = math.floor((y - self.y0) * self.inv[0])
        if not (0 <= ix < self.nx and 0 <= iy < self.ny):
            return None
        value = int(self.lut[iy * self.nx + ix])
        level = 1
        while value <= -2 and (-2 - value) & 1:
            inv = self.inv[level]
            lx = min(max(math.floor((x - self.x0) * inv) - ix * B, 0), B - 1)
            ly = min(max(math.floor((y - self.y0) * inv) - iy * B, 0), B - 1)
            value = int(self.blocks[level][((-2 - value) >> 1) * (B * B) + ly * B + lx])
            ix, iy = ix * B + lx, iy * B + ly
            level += 1
        if value < 0:
            return None
        return Routed(np.array([value], dtype=np.int64), np.array([INSIDE], dtype=np.int8), np.zeros(1), {})
