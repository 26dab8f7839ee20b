"""How the routing index's adaptive cells are built (a mixin of :class:`geo.routing.RoutingIndex`).

A coarse lattice covers the grids' extent. A cell that some grid boundary passes through (found conservatively,
in numpy, from the boundaries cut into pieces of half a cell, widened by a hair) is split into 4 x 4 children,
and so on, until the cell is small *for the grids whose boundaries pass through it* (about 1/16 of their size
across). A cell no boundary passes through lies wholly inside the same set of grids: one grid -> answered by
lookup; none -> outside; several (overlapping grids) -> exact test. Which grids hold a child is learnt from its
parent's few candidate grids (a grid that holds the parent holds the child; a grid whose boundary crosses the
parent but not the child holds it iff it covers the child's centre), never from a search over all grids.

Cell values: >= 0 a grid; ``OUTSIDE`` no grid; v <= -2 codes c = -2 - v: c even -> exact-test slot c >> 1,
c odd -> child block c >> 1 at the next level. The doctests are the routing index's (geo/routing.py).
"""

from __future__ import annotations

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy import ndimage

from geo.segments import cut_segments, isin_sorted, pairs_unique

OUTSIDE = -1
B = 4  # children per axis: a power of two, so a child's cell is its parent's exactly (x * 4 is exact)
EPS = 1e-6  # boundaries mark cells within this share of a cell: floating-point slack in finding a cell


class AdaptiveCells:
    """The build steps of the adaptive cells; the attributes they read (``polygons``, ``tree``, ``x0``, ``y0``,
    ``nx``, ``ny``, ``inv``, ``_fine``) are set by :class:`geo.routing.RoutingIndex` before it calls them.
    """

    def _corners(self, seg: tuple[NDArray, ...], level: int) -> list[tuple[NDArray, NDArray]]:
        """The (up to four) cells of ``level`` each piece (shorter than half a cell) touches, widened by a hair."""
        ax, ay, bx, by, _ = seg
        inv = self.inv[level]
        eps = EPS / inv
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
        lut = np.full(ny * nx, OUTSIDE, dtype=np.int32)
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
        label = np.full(n_regions, OUTSIDE, dtype=np.int64)
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
        crossed cell wholly (found at its centre), plus the grids of overlap regions.
        """
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
        nxl = self.nx * B**level
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
        nxp = self.nx * B ** (level - 1)
        cs, gs = [], []
        corners, which = self._corners(seg, level)
        for (cx, cy), w in zip(corners, which, strict=True):
            pk = (cy // B) * nxp + (cx // B)
            pos = np.clip(np.searchsorted(ref_keys, pk), 0, max(ref_keys.size - 1, 0))
            ok = ref_keys[pos] == pk
            child = pos * (B * B) + (cy % B) * B + (cx % B)
            cs.append(np.where(ok, child, -1))
            gs.append(seg[4] if w is None else seg[4][w])
        c = np.concatenate(cs)
        g = np.concatenate(gs)
        ok = c >= 0
        marks_c, marks_p = pairs_unique(c[ok], g[ok], n)
        # Child ids → their global keys at this level (for the next split).
        b = np.arange(ref_keys.size * B * B, dtype=np.int64)
        blk, rest = np.divmod(b, B * B)
        ly, lx = np.divmod(rest, B)
        py, px = np.divmod(ref_keys[blk], nxp)
        nxl = nxp * B
        child_keys = (py * B + ly) * nxl + (px * B + lx)
        return child_keys, marks_c, marks_p

    def _inherit(self, block_of: NDArray, cand_c: NDArray, cand_p: NDArray, cont: NDArray, level: int,
                 ref_keys: NDArray, marks_c: NDArray, marks_p: NDArray) -> tuple[NDArray, NDArray]:
        """(child, grid) pairs of grids holding each child wholly, from its parent's candidates."""
        n = max(len(self.polygons), 1)
        # Parent candidates, per refined block.
        pos = block_of[cand_c]
        in_ref = pos >= 0
        blk, grid, holds = pos[in_ref], cand_p[in_ref], cont[in_ref]
        bb = B * B
        child = (np.repeat(blk * bb, bb) + np.tile(np.arange(bb), blk.size)).astype(np.int64)
        g = np.repeat(grid, bb)
        h = np.repeat(holds, bb)
        crossing = isin_sorted(child * n + g, marks_c * n + marks_p)
        test = ~h & ~crossing
        if test.any():
            tc, tg = child[test], g[test]
            nxl = self.nx * B**level
            b, rest = np.divmod(tc, bb)
            ly, lx = np.divmod(rest, B)
            py, px = np.divmod(ref_keys[b], nxl // B)
            s = 1.0 / self.inv[level]
            cx = self.x0 + (px * B + lx + 0.5) * s
            cy = self.y0 + (py * B + ly + 0.5) * s
            by_grid = np.argsort(tg, kind="stable")
            hit = np.empty(tg.size, dtype=bool)
            hit[by_grid] = shapely.intersects_xy(self.polygons[tg[by_grid]], cx[by_grid], cy[by_grid])
            h = h.copy()
            h[np.flatnonzero(test)[hit]] = True
        return child[h], g[h]

    @staticmethod
    def _label(size: int, marks_c: NDArray, in_c: NDArray, in_p: NDArray) -> NDArray[np.int32]:
        """Children no boundary crosses: their one grid, or outside; the rest are decided later."""
        block = np.full(size, OUTSIDE, dtype=np.int32)
        counts = np.bincount(in_c, minlength=size)
        one = counts[in_c] == 1
        block[in_c[one]] = in_p[one]
        block[marks_c] = -2  # placeholder: becomes a slot or a block
        block[counts > 1] = -2
        return block
