"""Cutting a layout into shards by street, each with the halo it needs, so that the coverage analysis of the
shards added up equals the analysis of the whole (:func:`geo.coverage.analyse_shard`, :func:`geo.coverage.merge`;
``geo/cluster.py`` runs the shards on Dask).

Ownership is deterministic (every worker computes the same partition) and built from bounds and a few small
geometry arrays, never from the building footprints (:class:`ShardPlan`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.coverage import LayoutData, geoms_of, owned_of, sorted_by_code


def _bbox_query(tree: shapely.STRtree, boxes: NDArray[np.float64]) -> NDArray[np.int64]:
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(tree.query(shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]))[1])


def _compact(boxes: NDArray[np.float64], around: NDArray[np.float64], margin: float = 0.01) -> NDArray[np.float64]:
    """Boxes near ``around`` merged into their common bounding box (a superset: the halo may only grow),
    the few far ones kept apart, so that a shard's halo query costs a few boxes, not one a building.
    """
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
        return sorted_by_code(streets)[["code", "geometry"]]
    codes = sorted(set(communities["street_code"].dropna())) if len(communities) else []
    sc = communities["street_code"].to_numpy(dtype=object) if len(communities) else np.zeros(0, object)
    cg = geoms_of(communities) if len(communities) else np.zeros(0, object)
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
        """Index each frame's rows by the street that owns them."""
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
        sg = geoms_of(streets)
        spos = {s: k for k, s in enumerate(streets["code"])}
        cg, gg = geoms_of(communities), geoms_of(grids)
        fg = geoms_of(facilities) if len(facilities) else np.zeros(0, object)
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
        owner = {"communities": np.where(owned_of(communities), c_st, -1), "grids": np.where(owned_of(grids), g_st, -1),
                 "facilities": np.where(owned_of(facilities), centre_street(bounds["facilities"]), -1),
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
    comms, grids, blds = sorted_by_code(data.communities), sorted_by_code(data.grids), sorted_by_code(data.buildings)
    fac, rep = data.facilities.reset_index(drop=True), data.reports.reset_index(drop=True)
    streets = street_table(comms, data.streets)
    if len(streets) == 0:
        return [data]
    bg, rg = geoms_of(blds), geoms_of(rep)
    plan = ShardPlan.build(
        streets=streets, communities=comms, grids=grids, facilities=fac,
        building_bounds=shapely.bounds(bg) if len(bg) else np.zeros((0, 4)), building_owned=owned_of(blds),
        report_xy=np.column_stack([shapely.get_x(rg), shapely.get_y(rg)]) if len(rg) else np.zeros((0, 2)),
        report_owned=owned_of(rep))
    frames = {"communities": comms, "grids": grids, "buildings": blds, "facilities": fac, "reports": rep}
    out = []
    for s, code in enumerate(streets["code"]):
        rows = plan.rows([s], halo_m=halo_m)
        if not any(owned.any() for _, owned in rows.values()):
            continue
        parts = {k: frames[k].iloc[idx].assign(owned=owned) for k, (idx, owned) in rows.items()}
        out.append(LayoutData(**parts, meta=shard_meta(data.meta, comms, fac, str(code))))
    return out
