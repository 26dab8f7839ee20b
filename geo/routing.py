"""Point-in-grid routing: which grid covers each point, exactly as PostGIS ``ST_Covers`` would say.

The index answers most points with a few array lookups and tests only the rest exactly. Its cost does not
depend on how grid sizes vary (a 0.01 km² hutong grid beside a 1,000 km² township) or on where points fall
(deep inside, near edges, in the sea):

1. **Adaptive cells** (a quadtree with 4 × 4 children a cell). A coarse lattice covers the grids' extent.
   A cell that some grid boundary passes through (found conservatively, in numpy, from the boundaries cut
   into pieces of half a cell, widened by a hair) is split into 16 children, and so on, until the cell is
   small *for the grids whose boundaries pass through it* (about 1/16 of their size across); so every grid
   is resolved at its own scale and a dense town and a rural county cost alike. A cell no boundary passes
   through lies wholly inside the same set of grids: one grid → answered by lookup; none → outside; several
   (overlapping grids) → exact test. Which grids hold a child is learnt from its parent's few candidate grids
   (a grid that holds the parent holds the child; a grid whose boundary crosses the parent but not the child
   holds it iff it covers the child's centre), never from a search over all grids.
2. Points in cells crossed by a boundary are tested exactly against that cell's candidate grids with
   prepared shapely polygons (``intersects``: interior or boundary, i.e. ``ST_Covers``).
3. Points covered by no grid go to the nearest grid if it is within a tolerance (default 50 m, measured on
   the WGS84 ellipsoid), else they are unrouted: never an error, never dropped. Every outside coarse cell
   knows how far (at least) it is from every grid (a distance transform over the lattice), so a point in the
   sea or abroad is answered "unrouted" by lookup, without a nearest-grid search.

A point covered by several grids (on a shared edge or vertex, or inside an overlap) goes to the grid
with the **smallest code**, a rule anyone can check by hand; the others are returned as candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import Geod
from scipy import ndimage

from geo.segments import cut_segments, isin_sorted, pairs_unique, ring_segments

INSIDE, EDGE, NEAREST, UNROUTED = 0, 1, 2, 3
METHODS = ("inside", "edge", "nearest", "unrouted")
_GEOD = Geod(ellps="WGS84")
#: Cell values: >= 0 a grid; _OUTSIDE no grid; v <= -2 codes c = -2 - v: c even → exact-test slot c >> 1,
#: c odd → child block c >> 1 at the next level.
_OUTSIDE = -1
_B = 4  # children per axis: a power of two, so a child's cell is its parent's exactly (x * 4 is exact)
_EPS = 1e-6  # boundaries mark cells within this share of a cell: floating-point slack in finding a cell


@dataclass(slots=True)
class Routed:
    """Results aligned with the input points.

    ``grid``: index into the index's codes, or -1 when unrouted; ``method``: 0 inside, 1 edge,
    2 nearest, 3 unrouted (names in :data:`METHODS`); ``distance_m``: 0 when covered, metres to the
    nearest grid otherwise (NaN when there is none within reach); ``candidates``: for edge points,
    the other grids that also cover them.
    """

    grid: NDArray[np.int64]
    method: NDArray[np.int8]
    distance_m: NDArray[np.float64]
    candidates: dict[int, list[int]] = field(default_factory=dict)


def _reach(y: NDArray[np.float64], tolerance_m: float) -> NDArray[np.float64]:
    """Degrees never shorter than ``tolerance_m`` near latitude ``y`` (a degree of longitude is at least
    111,319 m × cos(lat); the 1.5 covers the nearest grid lying a little nearer the pole)."""
    lat = np.clip(np.abs(y), 0, 89)
    return tolerance_m / (111_320.0 * np.cos(np.radians(lat))) * 1.5


class RoutingIndex:
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
        self._build(resolution, max_levels, coarse_cells)

    # ----------------------------------------------------------------------------------- build

    def _build(self, resolution: float, max_levels: int, coarse_cells: int) -> None:
        n = len(self.polygons)
        minx, miny, maxx, maxy = self.bounds
        width, height = max(maxx - minx, 1e-9), max(maxy - miny, 1e-9)
        target = min(4_000_000, max(64, n * coarse_cells))
        # A power-of-two cell size, so that every level's cell size and its inverse are exact.
        cell = 2.0 ** math.ceil(math.log2(math.sqrt(width * height / target)))
        self.x0, self.y0, self.cell = minx - cell, miny - cell, cell
        self.nx = int(np.ceil(width / cell)) + 3
        self.ny = int(np.ceil(height / cell)) + 3
        self.inv = [1.0 / cell * _B**k for k in range(max_levels + 1)]
        # Per grid, the cell size below which its boundary cells are no longer split.
        fine = np.sqrt(np.maximum(shapely.area(self.polygons), 0.0)) / resolution if n else np.zeros(0)
        self._fine = np.maximum(fine, 1e-12)
        seg = ring_segments(self.polygons)
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
        # Clearance of outside cells, divided by the reach of 1 m at the pole-most latitude of the cell's row: a
        # point is proven farther than tolerance_m from every grid when its cell's figure exceeds tolerance_m.
        lo = self.y0 + np.arange(self.ny) * self.cell
        per_m = _reach(np.maximum(np.abs(lo), np.abs(lo + self.cell)), 1.0)
        clear = self._outside_clearance(self.lut.reshape(self.ny, self.nx) == _OUTSIDE, self.cell)
        # One more cell, off the lattice: "outside", 0 (then the distance to the bounds decides).
        self._far = np.r_[clear / np.repeat(per_m, self.nx), 0.0]
        fine = self._fine_outside() if self.levels else None
        self._fine_far = None
        if fine is not None:
            clear = self._outside_clearance(fine, self.cell / _B, exact_band=False)
            self._fine_far = clear / np.repeat(per_m, self.nx * _B * _B)
        self._lut_ext = np.r_[self.lut, np.int32(_OUTSIDE)].astype(np.int64)
        self.cells = int(sum(b.size for b in self.blocks))
        self.nbytes = int(sum(b.nbytes for b in self.blocks) + self._cand.nbytes + self._cand_start.nbytes
                          + self._far.nbytes + (0 if fine is None else self._fine_far.nbytes))

    def _corners(self, seg: tuple[NDArray, ...], level: int) -> list[tuple[NDArray, NDArray]]:
        """The (up to four) cells of ``level`` each piece (shorter than half a cell) touches, widened by a hair."""
        ax, ay, bx, by, _ = seg
        inv = self.inv[level]
        eps = _EPS / inv
        lo_x = np.floor((np.minimum(ax, bx) - eps - self.x0) * inv).astype(np.int64)
        lo_y = np.floor((np.minimum(ay, by) - eps - self.y0) * inv).astype(np.int64)
        hi_x = np.floor((np.maximum(ax, bx) + eps - self.x0) * inv).astype(np.int64)
        hi_y = np.floor((np.maximum(ay, by) + eps - self.y0) * inv).astype(np.int64)
        # Most pieces lie in one cell: the other corners only where they differ (a quarter of the work after).
        dx, dy = hi_x != lo_x, hi_y != lo_y
        both = dx & dy
        return [(lo_x, lo_y), (lo_x[dy], hi_y[dy]), (hi_x[dx], lo_y[dx]), (hi_x[both], hi_y[both])], [
            None, dy, dx, both]

    def _coarse(self, seg: tuple[NDArray, ...]) -> tuple[NDArray[np.int32], NDArray, NDArray]:
        """The coarse lattice: cells no boundary crosses labelled; the crossed ones' (cell, grid) marks."""
        n = len(self.polygons)
        nx, ny = self.nx, self.ny
        seg = cut_segments(seg, self.cell / 2.0)
        self._seg = seg
        cs, gs = [], []
        corners, which = self._corners(seg, 0)
        for (cx, cy), w in zip(corners, which, strict=True):
            cs.append(np.clip(cy, 0, ny - 1) * nx + np.clip(cx, 0, nx - 1))
            gs.append(seg[4] if w is None else seg[4][w])
        marks_c, marks_p = pairs_unique(np.concatenate(cs), np.concatenate(gs), max(n, 1))
        crossed = np.zeros(ny * nx, dtype=bool)
        crossed[marks_c] = True
        lut = np.full(ny * nx, _OUTSIDE, dtype=np.int32)
        # Cells no ring crosses, joined through shared edges, form regions that no boundary crosses: every
        # cell of a region lies in the same grids (or in none). One point test per region labels them all.
        regions, n_regions = ndimage.label(~crossed.reshape(ny, nx))
        flat = regions.ravel()
        free = np.flatnonzero(flat)
        region_of = flat[free] - 1
        _, first = np.unique(region_of, return_index=True)
        cy, cx = np.divmod(free[first], nx)
        hit_r, hit_g = self.tree.query(self._centres(cx, cy, 0), predicate="intersects") if n else (
            np.zeros(0, np.int64),) * 2
        counts = np.bincount(hit_r, minlength=n_regions)
        label = np.full(n_regions, _OUTSIDE, dtype=np.int64)
        single = counts[hit_r] == 1
        label[hit_r[single]] = hit_g[single]
        # Overlapping grids: the region's cells are exact-test cells whose candidates are those grids.
        multi = counts > 1
        self._overlap = (hit_r[multi[hit_r]], hit_g[multi[hit_r]], free, region_of, multi)
        label[multi] = -2
        lut[free] = label[region_of]
        return lut, marks_c, marks_p

    def _centres(self, ix: NDArray, iy: NDArray, level: int) -> NDArray:
        s = 1.0 / self.inv[level]
        return shapely.points(self.x0 + (ix + 0.5) * s, self.y0 + (iy + 0.5) * s)

    def _coarse_candidates(self, lut: NDArray, marks_c: NDArray, marks_p: NDArray) -> tuple[NDArray, ...]:
        """(cell, grid, holds-it-wholly) candidates of coarse cells: the crossing grids, plus grids holding a
        crossed cell wholly (found at its centre), plus the grids of overlap regions."""
        n = max(len(self.polygons), 1)
        crossed = np.unique(marks_c)
        cy, cx = np.divmod(crossed, self.nx)
        if len(self.polygons) and crossed.size:
            hc, hg = self.tree.query(self._centres(cx, cy, 0), predicate="intersects")
            hc = crossed[hc]
        else:
            hc = hg = np.zeros(0, np.int64)
        key_m = marks_c * n + marks_p
        holds = ~isin_sorted(hc * n + hg, key_m)
        hc, hg = hc[holds], hg[holds]
        o_r, o_g, free, region_of, multi = self._overlap
        del self._overlap
        cells_multi = free[multi[region_of]]
        if cells_multi.size:
            # Every cell of an overlap region, with each grid of its region.
            reg = region_of[multi[region_of]]
            order = np.argsort(o_r, kind="stable")
            o_r, o_g = o_r[order], o_g[order]
            lo = np.searchsorted(o_r, reg)
            hi = np.searchsorted(o_r, reg, side="right")
            per = hi - lo
            cell_rep = np.repeat(cells_multi, per)
            off = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
            hc = np.concatenate([hc, cell_rep])
            hg = np.concatenate([hg, o_g[np.repeat(lo, per) + off]])
        return self._union(marks_c, marks_p, hc, hg)

    @staticmethod
    def _union(mc: NDArray, mp: NDArray, hc: NDArray, hg: NDArray) -> tuple[NDArray, ...]:
        """Marks ∪ holders as (cell, grid, holds) sorted by cell then grid."""
        c = np.concatenate([mc, hc]).astype(np.int64)
        g = np.concatenate([mp, hg]).astype(np.int64)
        h = np.concatenate([np.zeros(mc.size, bool), np.ones(hc.size, bool)])
        order = np.lexsort((g, c))
        return c[order], g[order], h[order]

    def _refine_mask(self, size: int, marks_c: NDArray, marks_p: NDArray, level: int, max_levels: int) -> NDArray:
        """Crossed cells still wider than the finest of the grids crossing them."""
        out = np.zeros(size, dtype=bool)
        if level >= max_levels or not marks_c.size:
            return out
        starts = np.flatnonzero(np.r_[True, marks_c[1:] != marks_c[:-1]])  # marks are sorted by cell
        finest = np.minimum.reduceat(self._fine[marks_p], starts)
        out[marks_c[starts]] = finest < 1.0 / self.inv[level]
        return out

    @staticmethod
    def _needs_exact(size: int, marks_c: NDArray, cand_c: NDArray) -> NDArray:
        """Cells crossed by a boundary, or held by several grids."""
        out = np.zeros(size, dtype=bool)
        out[marks_c] = True
        counts = np.bincount(cand_c, minlength=size)
        out |= counts > 1
        return out

    def _add_slots(self, leaf: NDArray, cand_c: NDArray, cand_p: NDArray, lut_of: NDArray,
                   slot_cells: list, slot_start: list) -> None:
        if not leaf.size:
            return
        lo = np.searchsorted(cand_c, leaf)
        hi = np.searchsorted(cand_c, leaf, side="right")
        per = hi - lo
        off = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
        self._cand_parts.append(cand_p[np.repeat(lo, per) + off])
        base = slot_start[-1]
        slot_start.extend((base + np.cumsum(per)).tolist())
        lut_of[leaf] = -2 - 2 * (self._n_slots + np.arange(leaf.size, dtype=np.int32))
        self._n_slots += leaf.size
        slot_cells.append(leaf)

    def _keep_segments(self, seg: tuple[NDArray, ...], level: int, ref_keys: NDArray) -> tuple[NDArray, ...]:
        """The pieces that touch a cell being split (the others are not needed below this level)."""
        nxl = self.nx * _B**level
        keep = np.zeros(seg[0].size, dtype=bool)
        corners, which = self._corners(seg, level)
        for (cx, cy), w in zip(corners, which, strict=True):
            hit = isin_sorted(cy * nxl + cx, ref_keys)
            if w is None:
                keep |= hit
            else:
                keep[w] |= hit
        return tuple(a[keep] for a in seg)

    def _mark_children(self, seg: tuple[NDArray, ...], level: int, ref_keys: NDArray) -> tuple[NDArray, ...]:
        """Cut the pieces to half a child cell; mark the children they touch, as (child id, grid)."""
        n = max(len(self.polygons), 1)
        seg = cut_segments(seg, 0.5 / self.inv[level])
        self._seg = seg
        nxp = self.nx * _B ** (level - 1)
        cs, gs = [], []
        corners, which = self._corners(seg, level)
        for (cx, cy), w in zip(corners, which, strict=True):
            pk = (cy // _B) * nxp + (cx // _B)
            pos = np.clip(np.searchsorted(ref_keys, pk), 0, max(ref_keys.size - 1, 0))
            ok = ref_keys[pos] == pk
            child = pos * (_B * _B) + (cy % _B) * _B + (cx % _B)
            cs.append(np.where(ok, child, -1))
            gs.append(seg[4] if w is None else seg[4][w])
        c = np.concatenate(cs)
        g = np.concatenate(gs)
        ok = c >= 0
        marks_c, marks_p = pairs_unique(c[ok], g[ok], n)
        # Child ids → their global keys at this level (for the next split).
        b = np.arange(ref_keys.size * _B * _B, dtype=np.int64)
        blk, rest = np.divmod(b, _B * _B)
        ly, lx = np.divmod(rest, _B)
        py, px = np.divmod(ref_keys[blk], nxp)
        nxl = nxp * _B
        child_keys = (py * _B + ly) * nxl + (px * _B + lx)
        return child_keys, marks_c, marks_p

    def _inherit(self, block_of: NDArray, cand_c: NDArray, cand_p: NDArray, cont: NDArray, level: int,
                 ref_keys: NDArray, marks_c: NDArray, marks_p: NDArray) -> tuple[NDArray, NDArray]:
        """(child, grid) pairs of grids holding each child wholly, from its parent's candidates."""
        n = max(len(self.polygons), 1)
        # Parent candidates, per refined block.
        pos = block_of[cand_c]
        in_ref = pos >= 0
        blk, grid, holds = pos[in_ref], cand_p[in_ref], cont[in_ref]
        bb = _B * _B
        child = (np.repeat(blk * bb, bb) + np.tile(np.arange(bb), blk.size)).astype(np.int64)
        g = np.repeat(grid, bb)
        h = np.repeat(holds, bb)
        crossing = isin_sorted(child * n + g, marks_c * n + marks_p)
        test = ~h & ~crossing
        if test.any():
            tc, tg = child[test], g[test]
            nxl = self.nx * _B**level
            b, rest = np.divmod(tc, bb)
            ly, lx = np.divmod(rest, _B)
            py, px = np.divmod(ref_keys[b], nxl // _B)
            s = 1.0 / self.inv[level]
            cx = self.x0 + (px * _B + lx + 0.5) * s
            cy = self.y0 + (py * _B + ly + 0.5) * s
            by_grid = np.argsort(tg, kind="stable")
            hit = np.empty(tg.size, dtype=bool)
            hit[by_grid] = shapely.intersects_xy(self.polygons[tg[by_grid]], cx[by_grid], cy[by_grid])
            h = h.copy()
            h[np.flatnonzero(test)[hit]] = True
        return child[h], g[h]

    @staticmethod
    def _label(size: int, marks_c: NDArray, in_c: NDArray, in_p: NDArray) -> NDArray[np.int32]:
        """Children no boundary crosses: their one grid, or outside; the rest are decided later."""
        block = np.full(size, _OUTSIDE, dtype=np.int32)
        counts = np.bincount(in_c, minlength=size)
        one = counts[in_c] == 1
        block[in_c[one]] = in_p[one]
        block[marks_c] = -2  # placeholder: becomes a slot or a block
        block[counts > 1] = -2
        return block

    def _outside_clearance(self, out: NDArray[np.bool_], cell: float, *, exact_band: bool = True
                           ) -> NDArray[np.float64]:
        """Per cell of a lattice (``out``: outside every grid), degrees that every point of the cell is at least
        from every grid (0 if not outside): the distance transform, then for the band next to the grids the
        exact distance from the cell's box to the nearest grid."""
        if out.all():
            return np.full(out.size, np.inf)
        clear = np.maximum(0.0, (ndimage.distance_transform_edt(out) - math.sqrt(2.0)) * cell).ravel()
        band = np.flatnonzero(out.ravel() & (clear == 0))
        if exact_band and band.size:
            cy, cx = np.divmod(band, out.shape[1])
            boxes = shapely.box(self.x0 + cx * cell, self.y0 + cy * cell, self.x0 + (cx + 1) * cell,
                                self.y0 + (cy + 1) * cell)
            (i, _), d = self.tree.query_nearest(boxes, return_distance=True, all_matches=False)
            clear[band[i]] = np.maximum(clear[band[i]], d)
        return clear

    def _fine_outside(self) -> NDArray[np.bool_] | None:
        """"Outside every grid" at the first split level's resolution (B x B a coarse cell), or None if too big."""
        ny, nx = self.ny, self.nx
        if ny * nx * _B * _B > 16_000_000:
            return None
        lut = self.lut.reshape(ny, nx)
        fine = np.repeat(np.repeat(lut == _OUTSIDE, _B, axis=0), _B, axis=1)
        split = np.flatnonzero((self.lut <= -2) & ((-2 - self.lut) & 1 == 1))
        if split.size:
            cy, cx = np.divmod(split, nx)
            children = self.blocks[1].reshape(-1, _B, _B)[(-2 - self.lut[split]) >> 1] == _OUTSIDE
            fine.reshape(ny, _B, nx, _B).transpose(0, 2, 1, 3)[cy, cx] = children
        return fine

    # ----------------------------------------------------------------------------------- routing

    def covers(self, x: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """All (point, grid) pairs where the grid covers the point: the exact ``ST_Covers`` relation."""
        pts = shapely.points(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        return self.tree.query(pts, predicate="intersects")

    def _cells(self, x: NDArray, y: NDArray) -> tuple[NDArray, NDArray]:
        """Each point's cell value (a grid, outside, or an exact slot) and its coarse cell (``nx * ny`` off the
        lattice, and for NaN or infinite coordinates: that index holds "outside")."""
        fx = (x - self.x0) * self.inv[0]
        fy = (y - self.y0) * self.inv[0]
        np.floor(fx, out=fx)
        np.floor(fy, out=fy)
        # Compared as floats: NaN compares false, so NaN and inf land off the lattice before any cast.
        on = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)
        fx[~on] = 0.0
        fy[~on] = 0.0
        ix = fx.astype(np.int64)
        iy = fy.astype(np.int64)
        coarse = iy * self.nx + ix
        coarse[~on] = self.nx * self.ny
        value = self._lut_ext.take(coarse)
        # Down the levels: points in split cells find their child, B x B a block.
        idx = np.flatnonzero((value <= -2) & ((-2 - value) & 1 == 1))
        ix, iy = ix[idx], iy[idx]
        level = 1
        while idx.size:
            blk = (-2 - value[idx]) >> 1
            inv = self.inv[level]
            gx = np.floor((x[idx] - self.x0) * inv).astype(np.int64)
            gy = np.floor((y[idx] - self.y0) * inv).astype(np.int64)
            lx = np.clip(gx - ix * _B, 0, _B - 1)
            ly = np.clip(gy - iy * _B, 0, _B - 1)
            v = self.blocks[level][blk * (_B * _B) + ly * _B + lx]
            value[idx] = v
            deeper = (v <= -2) & ((-2 - v) & 1 == 1)
            idx, ix, iy = idx[deeper], (ix * _B + lx)[deeper], (iy * _B + ly)[deeper]
            level += 1
        return value, coarse

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
        value, coarse = self._cells(x, y)
        quick = value >= 0
        grid = np.where(quick, value, -1)
        method = np.where(quick, np.int8(INSIDE), np.int8(UNROUTED))
        distance = np.where(quick, 0.0, np.nan)

        exact = np.flatnonzero(value <= -2)
        if exact.size:
            self._exact(x, y, exact, (-2 - value[exact]) >> 1, grid, method, distance, candidates)

        if tolerance_m > 0 and len(self.polygons):
            loose = np.flatnonzero(grid < 0)
            # Outside points whose cell is proven farther than the tolerance from every grid: unrouted, by lookup
            # (coarse cells, then cells four times finer for the band next to the grids).
            c = coarse[loose]
            near = self._far.take(c) <= tolerance_m
            loose, c = loose[near], c[near]
            if self._fine_far is not None and loose.size:
                on = c < self.nx * self.ny
                fx = np.floor((x[loose[on]] - self.x0) * self.inv[1]).astype(np.int64)
                fy = np.floor((y[loose[on]] - self.y0) * self.inv[1]).astype(np.int64)
                far = np.zeros(loose.size, dtype=bool)
                far[on] = self._fine_far[fy * (self.nx * _B) + fx] > tolerance_m
                loose = loose[~far]
            if loose.size:
                lx, ly = x[loose], y[loose]
                minx, miny, maxx, maxy = self.bounds
                # Off the lattice: the distance to the grids' bounds decides; NaN and inf never route.
                with np.errstate(invalid="ignore"):
                    d = np.hypot(np.maximum(0.0, np.maximum(minx - lx, lx - maxx)),
                                 np.maximum(0.0, np.maximum(miny - ly, ly - maxy)))
                    keep = np.isfinite(lx) & np.isfinite(ly) & (d <= _reach(ly, tolerance_m))
                loose = loose[keep]
            if loose.size:
                self._nearest(x, y, loose, tolerance_m, grid, method, distance)
        return Routed(grid, method, distance, candidates)

    def _exact(self, x: NDArray, y: NDArray, exact: NDArray, slot: NDArray, grid: NDArray, method: NDArray,
               distance: NDArray, candidates: dict[int, list[int]]) -> None:
        lo, hi = self._cand_start[slot], self._cand_start[slot + 1]
        per = hi - lo
        pair_pt = np.repeat(np.arange(exact.size), per)
        offsets = np.arange(per.sum()) - np.repeat(np.cumsum(per) - per, per)
        pair_grid = self._cand[np.repeat(lo, per) + offsets]
        # Tested grid by grid: each prepared polygon's edge index is then walked while it is in the CPU
        # cache, instead of jumping between thousands of them (4-5x faster at 20,000 grids).
        by_grid = np.argsort(pair_grid, kind="stable")
        hit = np.empty(pair_grid.size, dtype=bool)
        hit[by_grid] = shapely.intersects_xy(self.polygons[pair_grid[by_grid]], x[exact][pair_pt[by_grid]],
                                             y[exact][pair_pt[by_grid]])
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
        arithmetic is :meth:`_cells`', in the same IEEE doubles, so both give the same cell."""
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
            lx = min(max(math.floor((x - self.x0) * inv) - ix * _B, 0), _B - 1)
            ly = min(max(math.floor((y - self.y0) * inv) - iy * _B, 0), _B - 1)
            value = int(self.blocks[level][((-2 - value) >> 1) * (_B * _B) + ly * _B + lx])
            ix, iy = ix * _B + lx, iy * _B + ly
            level += 1
        if value < 0:
            return None
        return Routed(np.array([value], dtype=np.int64), np.array([INSIDE], dtype=np.int8), np.zeros(1), {})

    def _nearest(self, x: NDArray, y: NDArray, idx: NDArray, tolerance_m: float, grid: NDArray,
                 method: NDArray, distance: NDArray) -> None:
        # A degree threshold per point that is never shorter than the tolerance at its latitude, then the
        # true ellipsoidal distance to the nearest point of the polygon decides.
        reach = _reach(y[idx], tolerance_m)
        pts = shapely.points(x[idx], y[idx])
        # The nearest grid on the ellipsoid among those within reach (ties: the smallest code).
        p_idx, g_idx = self.tree.query(pts, predicate="dwithin", distance=reach)
        if not p_idx.size:
            return
        lines = shapely.shortest_line(pts[p_idx], self.polygons[g_idx])
        c = shapely.get_coordinates(lines).reshape(-1, 4)
        _, _, metres = _GEOD.inv(c[:, 0], c[:, 1], c[:, 2], c[:, 3])
        order = np.lexsort((g_idx, metres, p_idx))
        p_idx, g_idx, metres = p_idx[order], g_idx[order], metres[order]
        first = np.r_[True, p_idx[1:] != p_idx[:-1]]
        p_idx, g_idx, metres = p_idx[first], g_idx[first], metres[first]
        ok = metres <= tolerance_m
        target = idx[p_idx]
        distance[target] = metres
        grid[target[ok]] = g_idx[ok]
        method[target[ok]] = NEAREST
