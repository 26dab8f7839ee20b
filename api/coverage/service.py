"""Coverage analysis of a layout: set-based SQL fetches the layout and what lies around it, geo/ analyses.

One fetch per table (WKB out of PostGIS, ``shapely.from_wkb`` in), so the cost is a few scans
whatever the number of grids; the analysis itself is :func:`geo.coverage.analyse`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.errors import InvalidParameter, NotFound
from geo.catchment import CatchmentParams
from geo.coverage import CoverageResult, LayoutData, Tolerances, analyse, analyse_shard, merge

#: Reports and cases count over this many days back when no period is given.
DEFAULT_DAYS = 90
DECIMALS = 7


@dataclass(frozen=True)
class Window:
    since: datetime | None
    until: datetime | None


def layout_row(session: Session, layout_id: int) -> dict[str, Any]:
    row = session.execute(text("""
        SELECT id, name, status, effective_from, effective_to,
               (SELECT count(*) FROM grid g WHERE g.layout_id = l.id) AS grid_count
        FROM grid_layout l WHERE id = :id"""), {"id": layout_id}).mappings().first()
    if row is None:
        raise NotFound(f"no grid layout with id {layout_id}", field="layout_id")
    return dict(row)


def _frame(session: Session, sql: str, params: dict[str, Any], geom: str = "wkb") -> pd.DataFrame:
    res = session.execute(text(sql), params)
    df = pd.DataFrame(res.fetchall(), columns=list(res.keys()))
    df["geometry"] = shapely.from_wkb(df.pop(geom).map(bytes).to_numpy()) if len(df) else np.empty(0, object)
    return df


def window(since: datetime | None, until: datetime | None, *, now: datetime | None = None) -> Window:
    now = now or datetime.now().astimezone()
    if since is None and until is None:
        since = now - timedelta(days=DEFAULT_DAYS)
    if since is not None and until is not None and since >= until:
        raise InvalidParameter("since must be before until", field="since")
    return Window(since, until)


def load_layout(
    session: Session,
    *,
    layout_id: int,
    community: str | None = None,
    win: Window | None = None,
    reach_m: float = 0.0,
) -> LayoutData:
    """Fetch a layout (or the part of it about one community) with its communities, streets,
    buildings, facilities and reports, marking what is analysed (``owned``) and what is context."""
    layout_row(session, layout_id)
    p: dict[str, Any] = {"layout": layout_id, "community": community}
    if community is not None:
        if session.execute(text("SELECT 1 FROM community WHERE code = :c"), {"c": community}).scalar() is None:
            raise NotFound(f"no community with code {community}", field="code")
        # the community's own grids, and any grid of the layout that reaches into it
        scope_grids = """SELECT g.* FROM grid g, community c WHERE c.code = :community AND g.layout_id = :layout
                         AND (g.community_code = c.code OR ST_Intersects(g.boundary, c.boundary))"""
    else:
        scope_grids = "SELECT g.* FROM grid g WHERE g.layout_id = :layout"
    if community is None:
        grids = _frame(session, """
            SELECT code, name, community_code, households, population, ST_AsBinary(boundary) AS wkb, true AS owned
            FROM grid WHERE layout_id = :layout ORDER BY code""", p)
    else:
        grids = _frame(session, f"""
            WITH sg AS ({scope_grids}),
            near AS (  -- grids touching the scope's grids (overlap partners), for context
                SELECT DISTINCT g.id FROM grid g JOIN sg ON g.layout_id = :layout AND g.boundary && sg.boundary
                       AND ST_Intersects(g.boundary, sg.boundary))
            SELECT code, name, community_code, households, population, ST_AsBinary(boundary) AS wkb, false AS owned
            FROM grid WHERE id IN (SELECT id FROM near) OR id IN (SELECT id FROM sg) ORDER BY code""", p)
    if community is not None:
        grids["owned"] = grids["community_code"].eq(community).to_numpy(dtype=bool)
    p["codes"] = grids["code"].tolist()
    # candidates by bounding box in SQL (index only), the exact test vectorised in shapely
    gg = np.asarray(grids["geometry"], dtype=object)
    gext = shapely.total_bounds(gg) if len(gg) else np.array([0.0, 0.0, 0.0, 0.0])
    box = {"x0": gext[0], "y0": gext[1], "x1": gext[2], "y1": gext[3]}
    comms = _frame(session, """
        SELECT c.code, c.name, c.street_code, ST_AsBinary(c.boundary) AS wkb FROM community c
        WHERE c.boundary && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) OR c.code = :community
           OR c.code IN (SELECT community_code FROM grid WHERE layout_id = :layout AND code = ANY(:codes))
        ORDER BY c.code""", {**p, **box})
    if len(comms) and len(gg):
        touch = np.zeros(len(comms), dtype=bool)
        touch[shapely.STRtree(gg).query(np.asarray(comms["geometry"], dtype=object), predicate="intersects")[0]] = True
        named = comms["code"].isin(set(grids["community_code"].dropna()) | {community}).to_numpy()
        comms = comms[touch | named].reset_index(drop=True)
    if community is not None:
        comms["owned"] = comms["code"].eq(community).to_numpy(dtype=bool)
    else:
        own_codes = set(grids.loc[grids.owned, "community_code"].dropna())
        comms["owned"] = comms["code"].isin(own_codes).to_numpy(dtype=bool)
    p["comms"] = comms.loc[comms.owned, "code"].tolist()
    streets = _frame(session, """
        SELECT code, name, ST_AsBinary(boundary) AS wkb FROM street
        WHERE code IN (SELECT street_code FROM community WHERE code = ANY(:comms)) ORDER BY code""", p)
    # buildings: in the owned communities or touching an owned grid
    scope = np.concatenate([np.asarray(comms.loc[comms.owned, "geometry"], dtype=object),
                            np.asarray(grids.loc[grids.owned, "geometry"], dtype=object)])
    sext = shapely.total_bounds(scope) if len(scope) else np.array([0.0, 0.0, 0.0, 0.0])
    blds = _frame(session, """
        SELECT b.code, b.households, b.population, ST_AsBinary(b.footprint) AS wkb
        FROM building b WHERE b.footprint && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)
        ORDER BY b.code""", {"x0": sext[0], "y0": sext[1], "x1": sext[2], "y1": sext[3]})
    if len(blds):
        inside = np.zeros(len(blds), dtype=bool)
        if len(scope):
            inside[shapely.STRtree(np.asarray(blds["geometry"], dtype=object)).query(
                scope, predicate="intersects")[1]] = True
        blds = blds[inside].reset_index(drop=True)
    if community is not None and len(blds):
        cgeom = comms.loc[comms.code == community, "geometry"].iloc[0]
        pts = shapely.point_on_surface(np.asarray(blds["geometry"], dtype=object))
        blds["owned"] = shapely.covers(cgeom, pts)
    ext = shapely.total_bounds(np.asarray(grids["geometry"], dtype=object)) if len(grids) else None
    deg = reach_m / 80_000.0 + 1e-6  # metres → degrees of longitude up to ~45°N, generously
    p_ext = None
    if ext is not None:
        p_ext = {"x0": ext[0] - deg, "y0": ext[1] - deg, "x1": ext[2] + deg, "y1": ext[3] + deg}
    if p_ext is None:
        fac = pd.DataFrame({"code": [], "kind": [], "geometry": []})
        reps = pd.DataFrame({"reported_at": [], "category": [], "has_case": [], "case_open": [], "geometry": []})
    else:
        fac = _frame(session, """
            SELECT f.code, f.kind, ST_AsBinary(f.location) AS wkb FROM facility f
            WHERE f.location && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326) ORDER BY f.code""", p_ext)
        win = win or window(None, None)
        reps = _frame(session, """
            SELECT r.reported_at, coalesce(cat.major_code, left(r.category_code, 3)) AS category,
                   (k.id IS NOT NULL) AS has_case,
                   (k.id IS NOT NULL AND k.status NOT IN ('closed', 'rejected')) AS case_open,
                   ST_AsBinary(r.location) AS wkb
            FROM report r
            LEFT JOIN category cat ON cat.code = r.category_code
            LEFT JOIN (SELECT DISTINCT ON (report_id) report_id, id, status FROM cases
                       ORDER BY report_id, id DESC) k ON k.report_id = r.id
            WHERE r.location && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)
              AND (CAST(:since AS timestamptz) IS NULL OR r.reported_at >= :since)
              AND (CAST(:until AS timestamptz) IS NULL OR r.reported_at < :until)""",
            {**p_ext, "since": win.since, "until": win.until})
        if len(reps):
            reps["reported_at"] = pd.to_datetime(reps["reported_at"], utc=True)
    fac["owned"] = True
    reps["owned"] = True
    return LayoutData(communities=comms, grids=grids, buildings=blds, facilities=fac, reports=reps,
                      streets=streets, meta={"layout_id": layout_id, "community": community})


def run(data: LayoutData, tol: Tolerances, catchment: CatchmentParams | None = None) -> CoverageResult:
    if "owned" in data.grids.columns and not data.grids["owned"].all():
        part = analyse_shard(data, tol, catchment=catchment)
        return merge([part], data.grids, tol, catchment=catchment)
    return analyse(data, tol, catchment=catchment)


# ----------------------------------------------------------------------------------------------
# Output


def _round(geom: Any) -> Any:
    return shapely.transform(geom, lambda c: np.round(c, DECIMALS))


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def findings_geojson(findings: pd.DataFrame) -> dict[str, Any]:
    """The findings as a GeoJSON FeatureCollection (one Feature a finding, ``id`` = its position)."""
    feats = []
    geoms = np.asarray(findings["geometry"], dtype=object) if len(findings) else []
    gj = shapely.to_geojson(_round(geoms)) if len(findings) else []
    for k, (row, g) in enumerate(zip(findings.drop(columns="geometry").to_dict("records"), gj, strict=True)):
        feats.append({"type": "Feature", "id": k + 1, "geometry": orjson.loads(g), "properties": _jsonable(row)})
    return {"type": "FeatureCollection", "features": feats}


def for_grids(res: CoverageResult, grids: list[str] | None) -> CoverageResult:
    """The analysis as a principal held to ``grids`` may read it (None: whole). A worker reads the rows and
    findings of its own grids only; the summary stays the layout's (totals and the balance index, no other
    grid's figures)."""
    if grids is None:
        return res
    keep = set(grids)
    findings = res.findings[[bool(keep.intersection(c)) for c in res.findings["codes"]]] if len(res.findings) \
        else res.findings
    periods = res.report_periods[res.report_periods["code"].isin(keep)] if len(res.report_periods) \
        else res.report_periods
    catchment = res.catchment
    if catchment is not None and len(catchment) and "code" in catchment:
        catchment = catchment[catchment["code"].isin(keep)]
    return dataclasses.replace(res, findings=findings, workload=res.workload[res.workload["code"].isin(keep)],
                               report_periods=periods, catchment=catchment)


def coverage_body(layout: dict[str, Any], res: CoverageResult, *, community: str | None = None) -> dict[str, Any]:
    return {
        "layout": _jsonable({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in layout.items()}),
        "community": community,
        "summary": _jsonable(res.summary),
        "findings": findings_geojson(res.findings),
    }


WORKLOAD_COLUMNS = ["code", "name", "community_code", "households", "households_recorded", "population",
                    "population_recorded", "buildings", "facilities", "reports", "cases", "cases_open",
                    "norm_status", "deviation"]


def workload_rows(res: CoverageResult) -> list[dict[str, Any]]:
    wl = res.workload
    rows = []
    periods = res.report_periods
    by_code = {c: g for c, g in periods.groupby("code")} if len(periods) else {}
    for r in wl.to_dict("records"):
        out = {k: r[k] for k in WORKLOAD_COLUMNS}
        out["facilities_by_kind"] = r["facilities_by_kind"]
        out["reports_by_category"] = r["reports_by_category"]
        g = by_code.get(r["code"])
        out["reports_by_period"] = {} if g is None else {
            p: {c: int(n) for c, n in zip(pg["category"], pg["reports"], strict=True)} for p, pg in g.groupby("period")}
        rows.append(_jsonable(out))
    return rows


def workload_csv(res: CoverageResult) -> str:
    """One row a grid; facility kinds and report categories spread into columns (``facility_clinic``,
    ``reports_E04``). UTF-8 with a byte-order mark, so that Excel shows the Chinese names."""
    wl = res.workload
    kinds = sorted({k for d in wl["facilities_by_kind"] for k in d})
    cats = sorted({k for d in wl["reports_by_category"] for k in d})
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([*WORKLOAD_COLUMNS, *(f"facility_{k}" for k in kinds), *(f"reports_{c}" for c in cats)])
    for r in wl.to_dict("records"):
        w.writerow([*("" if r[k] is None else r[k] for k in WORKLOAD_COLUMNS),
                    *(r["facilities_by_kind"].get(k, 0) for k in kinds),
                    *(r["reports_by_category"].get(c, 0) for c in cats)])
    return buf.getvalue()


def catchment_body(layout: dict[str, Any], res: CoverageResult, params: CatchmentParams) -> dict[str, Any]:
    c = res.catchment
    kinds = []
    if c is not None and len(c):
        for kind, g in c.groupby("kind", sort=True):
            hh = int(g["households"].sum())
            cov = int(g["households_covered"].sum())
            kinds.append({
                "kind": kind, "reach_m": params.reach(kind), "households": hh, "households_covered": cov,
                "share": round(cov / hh, 4) if hh else None,
                "underserved_grids": sorted(g.loc[g["underserved"], "code"].tolist()),
            })
    rows = [] if c is None else [_jsonable(r) for r in c.to_dict("records")]
    return {"layout": {"id": layout["id"], "name": layout["name"]},
            "params": {"distance_m": params.distance_m, "per_kind": params.per_kind, "min_share": params.min_share},
            "kinds": kinds, "grids": rows}
