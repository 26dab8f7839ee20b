"""Coverage analysis of a grid layout: 纵向到底、横向到边、不留空白、不交叉重叠.

Everything here is pure and vectorised (shapely 2 over numpy arrays): the caller fetches the layout
(set-based SQL in ``api/coverage``, files in tests and benchmarks) and gets back tables.

Geometry is handled in WGS84 degrees, **snapped to a precision grid** (``grid_size``, default
1e-7°, about 1 cm, the precision the sample and the import store): neighbouring grids that share
their vertices then intersect in lines only, so an exact tiling produces no floating-point
slivers at all. Every area is measured in metres, in the CGCS2000 Gauss-Kruger zone of the
geometry's own centroid (:func:`geo.crs.metric_crs`, :func:`geo.crs.area_m2`), so the answer for one geometry does not
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
(everything owned) followed by :func:`merge`; :func:`geo.shards.split_shards` cuts a layout into shards by street
with the halo each needs, so that ``merge([analyse_shard(s) for s in split_shards(data)])`` gives the
very same tables (see ``geo/cluster.py`` for running the shards on Dask).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike, NDArray

from geo.catchment import CatchmentParams, catchment_counts, finish_catchment
from geo.crs import area_m2
from geo.numbering import ROW_HEIGHT_DEG, reading_order, sequence_violations
from geo.overlay import (
    GRID_SIZE,
    BuildingCover,
    assign_points,
    building_cover,
    community_gaps,
    grid_overlaps,
    grids_outside_own,
)

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
        """Households below or above this band make a grid a finding (the norm widened by the factors)."""
        lo, hi = self.households_norm
        return lo * self.underload_factor, hi * self.overload_factor


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


def geoms_of(df: pd.DataFrame) -> NDArray[np.object_]:
    """The ``geometry`` column as an object array (what shapely's vectorised functions take)."""
    return np.asarray(df["geometry"].to_numpy(), dtype=object)


def owned_of(df: pd.DataFrame) -> NDArray[np.bool_]:
    """Which rows the shard owns (the ``owned`` column; all when there is none)."""
    return df["owned"].to_numpy(dtype=bool) if "owned" in df.columns else np.ones(len(df), dtype=bool)


def sorted_by_code(df: pd.DataFrame, key: str = "code") -> pd.DataFrame:
    """The frame sorted by ``key`` (stable) and renumbered: every shard sees rows in the same order."""
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


@dataclass
class _Shard:
    """One shard's communities and grids sorted by code, as arrays, and what its findings are collected in."""

    data: LayoutData
    tol: Tolerances
    comms: pd.DataFrame
    grids: pd.DataFrame
    cg: NDArray[np.object_]
    gg: NDArray[np.object_]
    c_owned: NDArray[np.bool_]
    g_owned: NDArray[np.bool_]
    gcodes: NDArray[np.object_]
    ccodes: NDArray[np.object_]
    gcomm: NDArray[np.object_]
    cindex: dict[str, int]
    findings: list[dict[str, Any]] = field(default_factory=list)
    slivers: dict[str, list[float]] = field(default_factory=lambda: {
        "gap": [], "overlap": [], "grid_crosses_community": [], "grid_outside_communities": [],
        "building_uncovered": []})

    @classmethod
    def of(cls, data: LayoutData, tol: Tolerances) -> _Shard:
        comms, grids = sorted_by_code(data.communities), sorted_by_code(data.grids)
        ccodes = comms["code"].to_numpy(dtype=object)
        return cls(data, tol, comms, grids, geoms_of(comms), geoms_of(grids), owned_of(comms), owned_of(grids),
                   grids["code"].to_numpy(dtype=object), ccodes, grids["community_code"].to_numpy(dtype=object),
                   {c: k for k, c in enumerate(ccodes)})


def _overlaps(s: _Shard) -> NDArray[np.object_]:
    """``overlap``: the pair belongs to the shard that owns its first grid (smallest code). Returns every
    overlap's geometry (the gaps leave them out).
    """
    gg, gcodes, small = s.gg, s.gcodes, s.tol.min_area_m2
    oi, oj, ogeom, oarea = grid_overlaps(gg, grid_size=s.tol.grid_size)
    for i, j, geom, a in zip(oi, oj, ogeom, oarea, strict=True):
        if not s.g_owned[i]:
            continue
        if a < small:
            s.slivers["overlap"].append(float(a))
            continue
        s.findings.append(_finding("overlap", [gcodes[i], gcodes[j]], geom, community=s.grids.community_code[i],
                                   area=a, share_of=[round(float(a / area_m2([gg[i]])[0]), 4),
                                                     round(float(a / area_m2([gg[j]])[0]), 4)]))
    return ogeom


def _gaps(s: _Shard, overlap_geoms: NDArray[np.object_]) -> None:
    """``gap``: parts of owned communities that no grid covers."""
    ci, parts, pa = community_gaps(s.cg, s.gg, overlap_geoms=overlap_geoms, grid_size=s.tol.grid_size,
                                   targets=s.c_owned)
    for c, geom, a in zip(ci, parts, pa, strict=True):
        if a < s.tol.min_area_m2:
            s.slivers["gap"].append(float(a))
            continue
        s.findings.append(_finding("gap", [], geom, community=s.ccodes[c], area=a))


def _grids_against_communities(s: _Shard) -> None:
    """``grid_without_community``, ``grid_crosses_community``, ``grid_outside_communities`` and the
    ``code_hierarchy`` of a grid lying mostly outside the community its code names.
    """
    gg, gcodes, gcomm, small = s.gg, s.gcodes, s.gcomm, s.tol.min_area_m2
    own = np.array([s.cindex.get(c, -1) if isinstance(c, str) else -1 for c in gcomm], dtype=np.int64)
    known = set(s.ccodes) | set(s.data.meta.get("all_community_codes", ()))
    gi_out, other, nowhere, share = grids_outside_own(gg, own, s.cg, grid_size=s.tol.grid_size, targets=s.g_owned)
    oa, na = area_m2(other), area_m2(nowhere)
    for k, i in enumerate(gi_out):
        if not s.g_owned[i]:
            continue
        code, cc = gcodes[i], gcomm[i]
        if own[i] < 0:
            if isinstance(cc, str) and cc in known:
                continue  # its community is outside this shard's data: cannot happen with split_shards
            s.findings.append(_finding("grid_without_community", [code], gg[i], community=cc,
                                       area=area_m2([gg[i]])[0], community_code_given=cc))
        if oa[k] >= small and own[i] >= 0:
            s.findings.append(_finding("grid_crosses_community", [code], other[k], community=cc, area=oa[k],
                                       share_inside=round(float(share[k]), 4)))
        elif own[i] >= 0 and oa[k] > 0:
            s.slivers["grid_crosses_community"].append(float(oa[k]))
        if na[k] >= small:
            s.findings.append(_finding("grid_outside_communities", [code], nowhere[k], community=cc, area=na[k]))
        elif na[k] > 0:
            s.slivers["grid_outside_communities"].append(float(na[k]))
        if own[i] >= 0 and share[k] < 0.5:
            s.findings.append(_finding("code_hierarchy", [code], gg[i], community=cc,
                                       reason="the grid lies mostly outside the community its code names",
                                       share_inside=round(float(share[k]), 4)))


def _code_text(s: _Shard) -> None:
    """``code_hierarchy`` by the text of the code: 15 digits, starting with the community's code."""
    for i in np.flatnonzero(s.g_owned):
        code, cc = s.gcodes[i], s.gcomm[i]
        if not (isinstance(code, str) and len(code) == 15 and code.isdigit()):
            s.findings.append(_finding("code_hierarchy", [str(code)], s.gg[i], community=cc,
                                       reason="a grid code has 15 digits"))
        elif isinstance(cc, str) and code[:12] != cc:
            s.findings.append(_finding("code_hierarchy", [code], s.gg[i], community=cc,
                                       reason=f"the code does not start with its community code {cc}"))


def _code_sequence(s: _Shard) -> None:
    """``code_sequence``: an owned community's grids not numbered west→east, north→south."""
    gcodes, tol = s.gcodes, s.tol
    cen = shapely.centroid(s.gg)
    cx, cy = shapely.get_x(cen), shapely.get_y(cen)
    if not len(s.grids):
        return
    by_comm = pd.Series(np.arange(len(s.grids))).groupby(pd.Series(s.gcomm).fillna("")).indices
    for cc, idx in by_comm.items():
        if not cc or s.cindex.get(cc, -1) < 0 or not s.c_owned[s.cindex[cc]] or len(idx) < 2:
            continue
        seq = np.array([int(c[12:]) if isinstance(c, str) and c[12:].isdigit() else -1 for c in gcodes[idx]])
        bad = sequence_violations(cx[idx], cy[idx], seq, row_height_deg=tol.row_height_deg,
                                  tolerance_deg=tol.order_tolerance_deg)
        if len(bad):
            involved = np.unique(bad.ravel())
            order = reading_order(cx[idx], cy[idx], row_height_deg=tol.row_height_deg)
            s.findings.append(_finding(
                "code_sequence", sorted(gcodes[idx[involved]]),
                shapely.MultiPoint(np.column_stack([cx[idx[involved]], cy[idx[involved]]])), community=cc,
                expected_order=[str(gcodes[idx[k]]) for k in order],
                pairs=[[str(gcodes[idx[a]]), str(gcodes[idx[b]])] for a, b in bad]))


@dataclass
class _Buildings:
    """The shard's buildings sorted by code, and how the grids cover them."""

    frame: pd.DataFrame
    owned: NDArray[np.bool_]
    geoms: NDArray[np.object_]
    cover: BuildingCover
    codes: NDArray[np.object_]
    households: NDArray[np.int64]


def _buildings(s: _Shard) -> _Buildings:
    """``building_split``, ``building_uncovered`` and ``building_double_covered``, for owned buildings."""
    gg, gcodes, gcomm, tol = s.gg, s.gcodes, s.gcomm, s.tol
    blds = sorted_by_code(s.data.buildings)
    b_owned = owned_of(blds)
    bg = geoms_of(blds)
    bc = building_cover(bg, gg, grid_size=tol.grid_size)
    bcodes = blds["code"].to_numpy(dtype=object)
    bhh = blds["households"].to_numpy(dtype=np.int64) if len(blds) else np.zeros(0, np.int64)
    if len(bc.pair_building):
        pb = pd.DataFrame({"b": bc.pair_building, "g": bc.pair_grid, "s": bc.pair_share})
        for b, grp in pb.groupby("b", sort=True):
            if not b_owned[b]:
                continue
            real = grp[grp.s >= tol.min_building_share]
            if len(real) >= 2:
                parts = [shapely.intersection(bg[b], gg[g], grid_size=tol.grid_size) for g in real.g]
                s.findings.append(_finding(
                    "building_split", [bcodes[b], *[gcodes[g] for g in real.g]], bg[b],
                    community=gcomm[bc.grid[b]] if bc.grid[b] >= 0 else None, area=area_m2([bg[b]])[0],
                    households=int(bhh[b]), counted_in=gcodes[bc.grid[b]] if bc.grid[b] >= 0 else None,
                    shares={gcodes[g]: round(float(sh), 4) for g, sh in zip(real.g, real.s, strict=True)},
                    parts_m2={gcodes[g]: round(float(a), 2) for g, a in zip(real.g, area_m2(parts), strict=True)}))
    for b in np.flatnonzero(b_owned & (bc.uncovered_share > 0)):
        whole = area_m2([bg[b]])[0]
        a = whole * bc.uncovered_share[b]
        if a < tol.min_area_m2 or bc.uncovered_share[b] < tol.min_building_share:
            s.slivers["building_uncovered"].append(float(a))
            continue
        s.findings.append(_finding("building_uncovered", [bcodes[b]], bg[b], area=a,
                                   uncovered_share=round(float(bc.uncovered_share[b]), 4),
                                   households=int(bhh[b])))
    for b in np.flatnonzero(b_owned & (bc.n_covering >= 2)):
        s.findings.append(_finding("building_double_covered", [bcodes[b]], bg[b], area=area_m2([bg[b]])[0],
                                   households=int(bhh[b]), grids=int(bc.n_covering[b])))
    return _Buildings(blds, b_owned, bg, bc, bcodes, bhh)


def _workload(s: _Shard, b: _Buildings) -> Partial:
    """Per grid: owned buildings, households, population, facilities (and by kind), reports and cases (and by
    period and category). Grids may be halo: :func:`merge` adds the shards up.
    """
    grids, gg, gcodes, tol = s.grids, s.gg, s.gcodes, s.tol
    counts = pd.DataFrame({"code": gcodes})
    bo = b.owned & (b.cover.grid >= 0)
    bgrid = b.cover.grid[bo]
    counts["buildings"] = np.bincount(bgrid, minlength=len(grids)).astype(np.int64)
    counts["households"] = np.bincount(bgrid, weights=b.households[bo], minlength=len(grids)).astype(np.int64)
    bpop = b.frame["population"].to_numpy(dtype=np.int64) if len(b.frame) else np.zeros(0, np.int64)
    counts["population"] = np.bincount(bgrid, weights=bpop[bo], minlength=len(grids)).astype(np.int64)

    fac = s.data.facilities.reset_index(drop=True)
    f_owned = owned_of(fac)
    fgrid = assign_points(geoms_of(fac), gg) if len(fac) else np.zeros(0, np.int64)
    fo = f_owned & (fgrid >= 0)
    counts["facilities"] = np.bincount(fgrid[fo], minlength=len(grids)).astype(np.int64)
    fk = pd.DataFrame({"code": gcodes[fgrid[fo]], "kind": fac["kind"].to_numpy(dtype=object)[fo]})
    facility_kinds = fk.groupby(["code", "kind"]).size().rename("n").reset_index()

    rep = s.data.reports.reset_index(drop=True)
    r_owned = owned_of(rep)
    rgrid = assign_points(geoms_of(rep), gg) if len(rep) else np.zeros(0, np.int64)
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
    counts = counts[(counts.drop(columns="code").to_numpy().sum(1) > 0) | s.g_owned]
    return Partial(s.findings, counts, facility_kinds, report_periods, s.slivers)


def _catchment(s: _Shard, b: _Buildings, catchment: CatchmentParams) -> pd.DataFrame:
    """Per owned building, its households and grid against the nearest facility of each kind."""
    fac = s.data.facilities.reset_index(drop=True)
    if catchment.kinds is None:  # every kind of the whole layout, even one this shard has none of
        kinds = s.data.meta.get("facility_kinds") or (sorted(set(fac["kind"])) if len(fac) else ())
        catchment = replace(catchment, kinds=tuple(kinds))
    owned_b = np.flatnonzero(b.owned)
    grid = b.cover.grid[owned_b]
    return catchment_counts(
        shapely.point_on_surface(b.geoms[owned_b]), b.households[owned_b],
        np.where(grid >= 0, s.gcodes[np.maximum(grid, 0)], None),
        geoms_of(fac), fac["kind"].to_numpy(dtype=object) if len(fac) else np.zeros(0, object), catchment)


def analyse_shard(data: LayoutData, tol: Tolerances = Tolerances(), *,
                  catchment: CatchmentParams | None = None) -> Partial:
    """Analyse the owned rows of one shard (the whole layout is one shard with everything owned): one
    function per kind of finding, in the order the findings are listed, then the workload counts.
    """
    s = _Shard.of(data, tol)
    _gaps(s, _overlaps(s))
    _grids_against_communities(s)
    _code_text(s)
    _code_sequence(s)
    b = _buildings(s)
    part = _workload(s, b)
    if catchment is not None:
        part.catchment = _catchment(s, b, catchment)
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
          catchment: CatchmentParams | None = None) -> CoverageResult:
    """Add up shards: findings are concatenated, counts summed, then the layout-wide figures computed."""
    grids = sorted_by_code(data_grids[owned_of(data_grids)] if "owned" in data_grids.columns else data_grids)
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
    geoms = geoms_of(grids)
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
        catch = finish_catchment(pd.concat(cparts, ignore_index=True), wl[["code", "community_code"]], catchment)
    return CoverageResult(fdf, wl, rp, summary, catch)


def analyse(data: LayoutData, tol: Tolerances = Tolerances(), *,
            catchment: CatchmentParams | None = None) -> CoverageResult:
    """The whole layout on one machine: one shard that owns everything."""
    return merge([analyse_shard(data, tol, catchment=catchment)], data.grids, tol, catchment=catchment)


def with_tolerances(tol: Tolerances, **changes: Any) -> Tolerances:
    """A copy of ``tol`` with some fields changed (None values ignored)."""
    return replace(tol, **{k: v for k, v in changes.items() if v is not None})
