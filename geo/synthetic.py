"""Synthetic layouts of any size, made in a second or two, with the sample's four planted defects.

A lattice: streets of ``cx × cy`` communities, each community ``gx × gy`` grids of 0.003° (about
330 m × 255 m at 30°N, taller than the 0.0027° rows of the numbering rule), each grid with
``per_grid`` building footprints on a regular sub-lattice. Codes follow the rule (rows north→south,
west→east). Coordinates are rounded to 1e-7° as the sample's are. Planted (when ``defects``): a 100 m
square hole in one grid, a strip of one grid extended into its eastern neighbour, a footprint
straddling a grid edge 60/40, and one grid whose buildings hold 921 households.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geo.coverage import LayoutData

CELL = 0.003


def _r(a: np.ndarray) -> np.ndarray:
    return np.round(a, 7)


def make_world(
    *, streets: int = 4, cx: int = 3, cy: int = 3, gx: int = 3, gy: int = 3, per_grid: int = 9,
    reports: int = 0, defects: bool = True, seed: int = 1, lon0: float = 116.0, lat0: float = 31.0,
    district: str = "900001",
) -> LayoutData:
    """A seeded synthetic layout: ``streets`` streets of ``cx`` x ``cy`` communities of ``gx`` x ``gy`` grids, each
    with ``per_grid`` buildings (and ``reports`` reports), with the planted defects when ``defects``.
    """
    rng = np.random.default_rng(seed)
    per_row = max(1, int(np.ceil(np.sqrt(streets))))
    sw, sh = cx * gx * CELL, cy * gy * CELL
    # grid lattice: (street, community col/row, grid col/row)
    s = np.arange(streets)
    s_x0 = lon0 + (s % per_row) * sw
    s_y1 = lat0 - (s // per_row) * sh  # top edge
    street_codes = np.array([f"{district}{k + 1:03d}" for k in s], dtype=object)
    street_geoms = shapely.box(_r(s_x0), _r(s_y1 - sh), _r(s_x0 + sw), _r(s_y1))
    cs, ccol, crow = np.meshgrid(s, np.arange(cx), np.arange(cy), indexing="ij")
    cs, ccol, crow = cs.ravel(), ccol.ravel(), crow.ravel()
    c_x0 = s_x0[cs] + ccol * gx * CELL
    c_y1 = s_y1[cs] - crow * gy * CELL
    corder = np.lexsort((ccol, crow, cs))
    cs, ccol, crow, c_x0, c_y1 = cs[corder], ccol[corder], crow[corder], c_x0[corder], c_y1[corder]
    cseq = np.arange(len(cs)) - np.searchsorted(cs, cs)  # 0.. within street
    comm_codes = np.array([f"{street_codes[a]}{b + 1:03d}" for a, b in zip(cs, cseq, strict=True)], dtype=object)
    comm_geoms = shapely.box(_r(c_x0), _r(c_y1 - gy * CELL), _r(c_x0 + gx * CELL), _r(c_y1))
    nc = len(cs)
    gc, gcol, grow = np.meshgrid(np.arange(nc), np.arange(gx), np.arange(gy), indexing="ij")
    gc, gcol, grow = gc.ravel(), gcol.ravel(), grow.ravel()
    order = np.lexsort((gcol, grow, gc))
    gc, gcol, grow = gc[order], gcol[order], grow[order]
    g_x0 = _r(c_x0[gc] + gcol * CELL)
    g_y1 = _r(c_y1[gc] - grow * CELL)
    g_x1, g_y0 = _r(g_x0 + CELL), _r(g_y1 - CELL)
    gseq = np.arange(len(gc)) - np.searchsorted(gc, gc)
    grid_codes = np.array([f"{comm_codes[a]}{b + 1:03d}" for a, b in zip(gc, gseq, strict=True)], dtype=object)
    grid_geoms = shapely.box(g_x0, g_y0, g_x1, g_y1)
    ng = len(gc)
    # buildings on a k × k sub-lattice, 20 m × 16 m, well inside their grid
    k = max(1, int(np.ceil(np.sqrt(per_grid))))
    bi, bj = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    slots = np.column_stack([bi.ravel(), bj.ravel()])[:per_grid]
    step = CELL / (k + 1)
    bx = (g_x0[:, None] + (slots[None, :, 0] + 1) * step).ravel()
    by = (g_y0[:, None] + (slots[None, :, 1] + 1) * step).ravel()
    bgrid = np.repeat(np.arange(ng), len(slots))
    w, h = 0.0001, 0.00007
    mean = 400 / max(per_grid, 1)  # ±40 % a building keeps every grid inside 150-650 households
    hh = rng.integers(int(0.6 * mean), int(1.4 * mean) + 1, len(bx))
    bgeoms = shapely.box(_r(bx - w), _r(by - h), _r(bx + w), _r(by + h))
    bcodes = np.array([f"{district}{i + 1:07d}" for i in range(len(bx))], dtype=object)
    keep = np.ones(len(bx), dtype=bool)
    grid_geoms = np.asarray(grid_geoms, dtype=object)
    extra_b: list[tuple[str, object, int]] = []
    if defects and ng >= 12:
        # 1. gap: a 100 m hole in grid 0 of community 1; its buildings removed
        g = int(np.flatnonzero(gc == 1)[0])
        cxm, cym = (g_x0[g] + g_x1[g]) / 2, (g_y0[g] + g_y1[g]) / 2
        hole = shapely.box(_r(cxm - 0.00059), _r(cym - 0.00045), _r(cxm + 0.00059), _r(cym + 0.00045))
        grid_geoms[g] = shapely.difference(grid_geoms[g], hole, grid_size=1e-7)
        keep &= ~shapely.intersects(bgeoms, hole)
        # 2. overlap: grid 0 of community 2 extended 40 m into its eastern neighbour (grid 1)
        a = int(np.flatnonzero(gc == 2)[0])
        strip = shapely.box(g_x1[a], _r(g_y0[a] + CELL / 4), _r(g_x1[a] + 0.0004), _r(g_y1[a] - CELL / 4))
        grid_geoms[a] = shapely.union(grid_geoms[a], strip, grid_size=1e-7)
        keep &= ~shapely.intersects(bgeoms, strip)
        # 3. split building on the edge between grids 0 and 1 of community 3: 60 % west
        sg = int(np.flatnonzero(gc == 3)[0])
        ex, ey = g_x1[sg], (g_y0[sg] + g_y1[sg]) / 2
        fp = shapely.box(_r(ex - 0.00018), _r(ey - 0.0001), _r(ex + 0.00012), _r(ey + 0.0001))
        keep &= ~shapely.intersects(bgeoms, fp.buffer(0.0001))
        extra_b.append((f"{district}9999999", fp, 24))
        # 4. over-loaded grid: grid 0 of community 4 holds 921 households
        og = int(np.flatnonzero(gc == 4)[0])
        mine = np.flatnonzero(bgrid == og)
        hh[mine] = 0
        hh[mine[: 921 % len(mine)]] = 921 // len(mine) + 1
        hh[mine[921 % len(mine):]] = 921 // len(mine)
    bcodes, bgeoms, hh, bgrid = bcodes[keep], np.asarray(bgeoms, dtype=object)[keep], hh[keep], bgrid[keep]
    if extra_b:
        bcodes = np.append(bcodes, [e[0] for e in extra_b])
        bgeoms = np.append(bgeoms, np.array([e[1] for e in extra_b], dtype=object))
        hh = np.append(hh, [e[2] for e in extra_b])
    gh = np.bincount(bgrid, weights=hh[: len(bgrid)], minlength=ng).astype(int)
    communities = pd.DataFrame({"code": comm_codes, "street_code": [c[:9] for c in comm_codes],
                                "name": [f"社区{c[-3:]}" for c in comm_codes], "geometry": comm_geoms})
    grids = pd.DataFrame({"code": grid_codes, "name": [f"网格{c[-6:]}" for c in grid_codes],
                          "community_code": comm_codes[gc], "households": gh, "population": (gh * 2.4).astype(int),
                          "geometry": grid_geoms})
    buildings = pd.DataFrame({"code": bcodes, "households": hh.astype(int), "population": (hh * 2.4).astype(int),
                              "geometry": bgeoms})
    nf = max(1, nc // 2)
    fpt = shapely.points(_r(c_x0[:nf] + CELL * 0.5), _r(c_y1[:nf] - CELL * 0.5))
    kinds = np.array(["clinic", "school", "elderly_care", "market"], dtype=object)[np.arange(nf) % 4]
    facilities = pd.DataFrame({"code": [f"F{i:06d}" for i in range(nf)], "kind": kinds, "geometry": fpt})
    x0, y0, x1, y1 = shapely.total_bounds(street_geoms)
    rx, ry = rng.uniform(x0, x1, reports), rng.uniform(y0, y1, reports)
    t0 = pd.Timestamp("2026-09-01T00:00:00Z")
    reps = pd.DataFrame({
        "reported_at": t0 + pd.to_timedelta(rng.uniform(0, 80 * 86400, reports), unit="s"),
        "category": np.array(["E01", "E04", "C01", "G01"], dtype=object)[rng.integers(0, 4, reports)],
        "has_case": np.ones(reports, dtype=bool), "case_open": rng.random(reports) < 0.1,
        "geometry": shapely.points(rx, ry)})
    street_df = pd.DataFrame({"code": street_codes, "geometry": street_geoms})
    return LayoutData(communities, grids, buildings, facilities, reps, streets=street_df,
                      meta={"synthetic": True, "grids": ng, "buildings": len(buildings)})
