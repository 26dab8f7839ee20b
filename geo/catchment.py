"""Facility catchments: which homes lie within a walk of each kind of facility (15 分钟生活圈).

The default reach is 1,000 m in a straight line, the outer radius of the 15-minute life circle in
GB 50180-2018 (城市居住区规划设计标准: 15-minute circle 800-1,000 m, 10-minute 500 m, 5-minute 300 m).
A straight line overstates what a walk reaches (streets are not straight), so the figure is an upper
bound of service; pass a shorter distance per kind (e.g. kindergarten 300 m, the 5-minute circle) to
be stricter. The data has no road network yet; when it does, a network distance replaces the line.

Distances are in metres: each building and the facilities near it are projected into the
Gauss-Kruger zone of the building (:func:`geo.crs.metric_zones`), so a building's answer never
depends on which other buildings are analysed with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.crs import metric_zones, to_metric

DEFAULT_WALK_M = 1000.0


@dataclass(frozen=True)
class CatchmentParams:
    """``distance_m``: the reach for every kind, unless ``per_kind`` names one; ``min_share``: a grid
    is under-served for a kind when less than this share of its households is within reach;
    ``kinds``: the kinds to analyse (default every kind in the data).
    """

    distance_m: float = DEFAULT_WALK_M
    per_kind: dict[str, float] = field(default_factory=dict)
    min_share: float = 0.5
    kinds: tuple[str, ...] | None = None

    def reach(self, kind: str) -> float:
        """The distance (metres) within which a facility of ``kind`` serves a building."""
        return float(self.per_kind.get(kind, self.distance_m))

    @property
    def max_reach(self) -> float:
        """The longest reach of any kind: how far a search must look."""
        return max([self.distance_m, *self.per_kind.values()])


def nearest_distance_m(points: ArrayLike, targets: ArrayLike, *, max_distance_m: float) -> NDArray[np.float64]:
    """Metres from each point to the nearest target, or ``inf`` when none is within ``max_distance_m``.

    >>> from shapely import points
    >>> d = nearest_distance_m(points([[116.40, 39.90], [116.50, 39.90]]), points([[116.401, 39.90]]),
    ...                        max_distance_m=1000)
    >>> round(float(d[0]), 1), float(d[1])
    (85.5, inf)
    """
    pts = np.asarray(points, dtype=object)
    tg = np.asarray(targets, dtype=object)
    out = np.full(len(pts), np.inf)
    if len(pts) == 0 or len(tg) == 0:
        return out
    zones = metric_zones(shapely.get_x(pts), shapely.get_y(pts))
    for z in np.unique(zones):
        sel = np.flatnonzero(zones == z)
        pm = to_metric(pts[sel], np.full(len(sel), z))
        tm = to_metric(tg, np.full(len(tg), z))
        tree = shapely.STRtree(tm)
        (pi, _ti), dist = tree.query_nearest(pm, max_distance=max_distance_m, return_distance=True,
                                             all_matches=False)
        out[sel[pi]] = dist
    return out


def catchment_counts(
    building_points: ArrayLike,
    households: ArrayLike,
    building_grid: ArrayLike,
    facility_points: ArrayLike,
    facility_kinds: ArrayLike,
    params: CatchmentParams,
) -> pd.DataFrame:
    """Per grid and facility kind: buildings and households, and how many of them are within reach.

    Rows ``code, kind, buildings, buildings_covered, households, households_covered`` (sums, so that
    shards add up). ``building_grid`` holds the grid code each building counts for (None: no grid).

    >>> from shapely import points
    >>> df = catchment_counts(points([[116.40, 39.90], [116.42, 39.90]]), [10, 30], ["A", "A"],
    ...                       points([[116.401, 39.90]]), ["clinic"], CatchmentParams())
    >>> [int(v) if not isinstance(v, str) else v for v in df.iloc[0]]
    ['A', 'clinic', 2, 1, 40, 10]
    """
    pts = np.asarray(building_points, dtype=object)
    hh = np.asarray(households, dtype=np.int64)
    grid = np.asarray(building_grid, dtype=object)
    fpts = np.asarray(facility_points, dtype=object)
    fk = np.asarray(facility_kinds, dtype=object)
    kinds = params.kinds if params.kinds is not None else tuple(sorted(set(fk.tolist())))
    has = np.array([g is not None and g == g for g in grid], dtype=bool) if len(grid) else np.zeros(0, bool)
    rows = []
    for kind in kinds:
        d = nearest_distance_m(pts[has], fpts[fk == kind], max_distance_m=params.reach(kind))
        covered = np.isfinite(d)
        df = pd.DataFrame({"code": grid[has], "hh": hh[has], "cov": covered})
        df["hh_cov"] = np.where(covered, df["hh"], 0)
        agg = df.groupby("code").agg(buildings=("hh", "size"), buildings_covered=("cov", "sum"),
                                     households=("hh", "sum"), households_covered=("hh_cov", "sum")).reset_index()
        agg.insert(1, "kind", kind)
        rows.append(agg)
    cols = ["code", "kind", "buildings", "buildings_covered", "households", "households_covered"]
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.concat(rows, ignore_index=True)[cols]
    for c in cols[2:]:
        out[c] = out[c].astype(np.int64)
    return out


def finish_catchment(counts: pd.DataFrame, grids: pd.DataFrame, params: CatchmentParams | None = None) -> pd.DataFrame:
    """Add shards up and judge each grid: ``share`` of households within reach, ``underserved``.

    A grid with no households is never under-served (its share is NaN).

    >>> c = pd.DataFrame({"code": ["A", "A", "B"], "kind": ["clinic"] * 3, "buildings": [1, 1, 2],
    ...                   "buildings_covered": [1, 0, 2], "households": [10, 30, 5], "households_covered": [10, 0, 5]})
    >>> out = finish_catchment(c, pd.DataFrame({"code": ["A", "B"], "community_code": ["x", "x"]}))
    >>> out[["code", "share", "underserved"]].to_dict("records")
    [{'code': 'A', 'share': 0.25, 'underserved': True}, {'code': 'B', 'share': 1.0, 'underserved': False}]
    """
    params = params or CatchmentParams()
    num = ["buildings", "buildings_covered", "households", "households_covered"]
    kinds = sorted(set(counts["kind"])) if len(counts) else []
    base = pd.MultiIndex.from_product([grids["code"].tolist(), kinds], names=["code", "kind"])
    agg = counts.groupby(["code", "kind"])[num].sum().reindex(base, fill_value=0).reset_index()
    for c in num:
        agg[c] = agg[c].astype(np.int64)
    agg = agg.merge(grids[["code", "community_code"]], on="code", how="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        agg["share"] = np.round(agg["households_covered"] / agg["households"].where(agg["households"] > 0), 4)
    agg["reach_m"] = [params.reach(k) for k in agg["kind"]]
    agg["underserved"] = (agg["households"] > 0) & (agg["share"] < params.min_share)
    return agg[["code", "community_code", "kind", "reach_m", *num, "share", "underserved"]]
