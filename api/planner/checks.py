"""Validation of a draft (the coverage analysis, findings graded blocking or warning), the impact of
publishing it (who changes grid) and the comparison of two layouts.

Validation runs the whole-layout coverage analysis (``api/coverage`` + ``geo/coverage``) without reports
(findings do not depend on them) and caches the answer per (layout, revision, norm, buildings stamp):
every edit bumps the revision, so a cached answer is never stale for a draft. The impact and the
comparison are set-based SQL (one index probe per building, facility and open case).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
import shapely
import shapely.geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.errors import InvalidParameter, NotFound
from api.coverage.service import Window, findings_geojson, run
from api.grids.service import layout_in_force
from api.planner.service import STAFF_ROLES
from geo.coverage import LayoutData, Tolerances

BLOCKING = ("gap", "overlap", "grid_crosses_community", "grid_outside_communities", "grid_without_community",
            "building_uncovered", "building_split", "building_double_covered", "code_hierarchy")
WARNING = ("overloaded", "underloaded", "code_sequence")
#: A report window that holds no report: validation needs none, and loading 50,000 would cost seconds.
NO_REPORTS = Window(datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC))

MESSAGES: dict[str, tuple[str, str]] = {
    "gap": ("社区 {community} 内有 {area} m² 未被任何网格覆盖", "{area} m² of community {community} is in no grid"),
    "overlap": ("网格 {codes} 重叠 {area} m²", "grids {codes} overlap by {area} m²"),
    "grid_crosses_community": ("网格 {codes} 有 {area} m² 越出所属社区", "{area} m² of grid {codes} lies in "
                               "another community"),
    "grid_outside_communities": ("网格 {codes} 有 {area} m² 不在任何社区内", "{area} m² of grid {codes} lies in no "
                                 "community"),
    "grid_without_community": ("网格 {codes} 没有（有效的）所属社区", "grid {codes} has no (known) community"),
    "building_uncovered": ("楼栋 {codes} 有 {area} m² 不在任何网格内", "{area} m² of building {codes} is in no grid"),
    "building_split": ("楼栋 {codes0} 被网格 {codes1} 分割", "building {codes0} is split between grids {codes1}"),
    "building_double_covered": ("楼栋 {codes} 同时位于多个网格", "building {codes} lies wholly in several grids"),
    "code_hierarchy": ("网格编码 {codes} 与所属社区不符", "grid code {codes} does not match its community"),
    "code_sequence": ("社区 {community} 的网格编号未按自西向东、自北向南排列", "the grids of community {community} "
                      "are not numbered west→east, north→south"),
    "overloaded": ("网格 {codes} 有 {value} 户，超出定额", "grid {codes} has {value} households, above the norm"),
    "underloaded": ("网格 {codes} 只有 {value} 户，低于定额", "grid {codes} has only {value} households, below the "
                    "norm"),
}

_cache: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
_cache_lock = threading.Lock()
CACHE_SIZE = 16


def _message(kind: str, props: dict[str, Any]) -> tuple[str, str]:
    zh, en = MESSAGES.get(kind, ("{kind}", "{kind}"))
    codes = props.get("codes") or []
    area = props.get("area_m2")
    fields = {"kind": kind, "codes": "、".join(codes) if codes else "-",
              "community": props.get("community_code") or "-",
              "area": "-" if area is None else f"{area:,.1f}", "value": props.get("value"),
              "codes0": codes[0] if codes else "-", "codes1": "、".join(codes[1:]) or "-"}
    en_fields = {**fields, "codes": ", ".join(codes) if codes else "-", "codes1": ", ".join(codes[1:]) or "-"}
    return zh.format(**fields), en.format(**en_fields)


_world: dict[tuple, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, shapely.STRtree]] = {}


def world(session: Session) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, shapely.STRtree]:
    """Communities, streets and buildings, cached per process while they do not change (a stamp of each
    table is read on every call): they are what every validation of every draft is checked against, and
    fetching 24,000 footprints is most of the cost of a validation."""
    stamp = session.execute(text("""
        SELECT (SELECT count(*) FROM building), (SELECT coalesce(max(id), 0) FROM building),
               (SELECT count(*) FROM community), (SELECT md5(string_agg(code || md5(ST_AsEWKB(boundary)::text), ','
                                                                   ORDER BY code)) FROM community)""")).one()
    key = (session.get_bind().engine.url.database, *stamp)
    with _cache_lock:
        hit = _world.get(key)
    if hit is not None:
        return hit
    comms = _geo_frame(session, "SELECT code, name, street_code, ST_AsBinary(boundary) FROM community ORDER BY code",
                       ["code", "name", "street_code"])
    streets = _geo_frame(session, "SELECT code, name, ST_AsBinary(boundary) FROM street ORDER BY code",
                         ["code", "name"])
    blds = _geo_frame(session, "SELECT code, households, population, ST_AsBinary(footprint) FROM building "
                      "ORDER BY code", ["code", "households", "population"])
    out = (comms, streets, blds, shapely.STRtree(np.asarray(blds["geometry"], dtype=object)))
    with _cache_lock:
        _world.clear()
        _world[key] = out
    return out


def _geo_frame(session: Session, sql: str, columns: list[str], params: dict[str, Any] | None = None
               ) -> pd.DataFrame:
    rows = session.execute(text(sql), params or {}).all()
    df = pd.DataFrame([r[:-1] for r in rows], columns=columns)
    df["geometry"] = shapely.from_wkb([bytes(r[-1]) for r in rows]) if rows else np.empty(0, dtype=object)
    return df


def layout_data(session: Session, *, layout_id: int) -> LayoutData:
    """What :func:`api.coverage.service.load_layout` fetches for a whole layout, minus reports and facilities
    (validation needs neither), with the unchanging part from :func:`world`: only the grids are read."""
    comms, streets, blds, tree = world(session)
    grids = _geo_frame(session, """SELECT code, name, community_code, households, population, ST_AsBinary(boundary)
                                   FROM grid WHERE layout_id = :l ORDER BY code""",
                       ["code", "name", "community_code", "households", "population"], {"l": layout_id})
    grids["owned"] = True
    gg = np.asarray(grids["geometry"], dtype=object)
    if len(gg) and len(comms):
        touch = np.zeros(len(comms), dtype=bool)
        touch[shapely.STRtree(gg).query(np.asarray(comms["geometry"], dtype=object), predicate="intersects")[0]] = True
        named = comms["code"].isin(set(grids["community_code"].dropna())).to_numpy()
        comms = comms[touch | named].reset_index(drop=True)
    else:
        comms = comms.iloc[0:0]
    comms = comms.copy()
    comms["owned"] = comms["code"].isin(set(grids["community_code"].dropna())).to_numpy(dtype=bool)
    streets = streets[streets["code"].isin(set(comms.loc[comms.owned, "street_code"]))].reset_index(drop=True)
    scope = np.concatenate([np.asarray(comms.loc[comms.owned, "geometry"], dtype=object), gg])
    if len(scope) and len(blds):
        inside = np.zeros(len(blds), dtype=bool)
        inside[tree.query(scope, predicate="intersects")[1]] = True
        blds = blds[inside].reset_index(drop=True)
    else:
        blds = blds.iloc[0:0]
    fac = pd.DataFrame({"code": [], "kind": [], "geometry": [], "owned": []})
    reps = pd.DataFrame({"reported_at": pd.to_datetime([], utc=True), "category": [], "has_case": [],
                         "case_open": [], "geometry": [], "owned": []})
    return LayoutData(communities=comms, grids=grids, buildings=blds, facilities=fac, reports=reps,
                      streets=streets, meta={"layout_id": layout_id, "community": None})


def _graded(session: Session, *, layout_id: int, row: Any, settings: Settings) -> dict[str, Any]:
    """The layout's own findings graded blocking or warning, cached per (layout, revision, status, norm,
    buildings); callers copy before they change anything."""
    stamp = session.execute(text("SELECT count(*), coalesce(max(id), 0) FROM building")).one()
    norm = (settings.households_norm_min, settings.households_norm_max)
    key = (session.get_bind().engine.url.database, layout_id, row.revision, row.status, norm, tuple(stamp))
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    data = layout_data(session, layout_id=layout_id)
    res = run(data, Tolerances(households_norm=norm))
    fc = findings_geojson(res.findings)
    counts: dict[str, int] = {}
    blocking_counts: dict[str, int] = {}
    for f in fc["features"]:
        p = f["properties"]
        kind = p["kind"]
        p["severity"] = "blocking" if kind in BLOCKING else "warning"
        p["message_zh"], p["message_en"] = _message(kind, p)
        if kind.startswith("building_") and p.get("codes"):
            p["detail"] = {**(p.get("detail") or {}), "building_code": p["codes"][0]}
        counts[kind] = counts.get(kind, 0) + 1
        if p["severity"] == "blocking":
            blocking_counts[kind] = blocking_counts.get(kind, 0) + 1
    body = {"layout_id": layout_id, "revision": row.revision, "blocking": bool(blocking_counts), "counts": counts,
            "blocking_counts": blocking_counts, "findings": fc,
            "summary": {k: res.summary[k] for k in ("grids", "findings", "gap_area_m2", "overlap_area_m2",
                                                    "households", "within_norm", "norm", "finding_band")}}
    with _cache_lock:
        _cache[key] = body
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return body


#: A finding of the draft that adds less than this to the same kind of finding of the layout in force is the
#: same finding (the sliver threshold of the coverage check: below it nothing is reported at all).
KNOWN_SLACK_M2 = 1.0


def _inherited(props: dict[str, Any], geometry: dict[str, Any] | None, base: list[dict[str, Any]]) -> bool:
    """Whether a blocking finding of the draft is one the layout in force has too, no worse: a building finding
    about the same building; an area finding (gap, overlap, a grid outside its community...) that adds less
    than :data:`KNOWN_SLACK_M2` to the area the layout in force already has; otherwise the same grid codes."""
    if not base:
        return False
    codes = props.get("codes") or []
    if props["kind"].startswith("building_"):
        return bool(codes) and any((b["properties"].get("codes") or [None])[0] == codes[0] for b in base)
    mine = shapely.geometry.shape(geometry) if geometry else None
    theirs = [shapely.geometry.shape(b["geometry"]) for b in base if b.get("geometry")]
    if mine is not None and mine.area > 0 and theirs:
        extra = shapely.difference(mine, shapely.union_all(theirs))
        lat = (mine.bounds[1] + mine.bounds[3]) / 2
        return extra.area * 111_320.0 ** 2 * math.cos(math.radians(lat)) < KNOWN_SLACK_M2
    return any(sorted(b["properties"].get("codes") or []) == sorted(codes) for b in base)


def _relative_to(own: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The draft's findings with those it inherits from the layout in force graded ``known`` (listed, not
    blocking): a draft is held to what it introduces or worsens, so that a copy of the published layout, known
    defects and all, can be published (issue 24)."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for f in base["findings"]["features"]:
        if f["properties"]["severity"] == "blocking":
            by_kind.setdefault(f["properties"]["kind"], []).append(f)
    feats, blocking_counts, known_counts = [], {}, {}
    for f in own["findings"]["features"]:
        p = dict(f["properties"])
        kind = p["kind"]
        if p["severity"] == "blocking":
            if _inherited(p, f.get("geometry"), by_kind.get(kind, [])):
                p["severity"], p["inherited"] = "known", True
                known_counts[kind] = known_counts.get(kind, 0) + 1
            else:
                blocking_counts[kind] = blocking_counts.get(kind, 0) + 1
        feats.append({**f, "properties": p})
    return {**own, "blocking": bool(blocking_counts), "blocking_counts": blocking_counts,
            "known_counts": known_counts, "against": base["layout_id"],
            "findings": {**own["findings"], "features": feats}}


def validation(session: Session, *, layout_id: int, settings: Settings) -> dict[str, Any]:
    """A layout's findings; for a draft, graded against the layout in force (``against``): what the draft
    inherits unchanged is ``known`` and does not block. ``unstaffed`` lists the grids with nobody on duty
    (read fresh: a person deactivated does not change the draft's revision)."""
    row = session.execute(text("SELECT revision, status FROM grid_layout WHERE id = :id"), {"id": layout_id}).first()
    if row is None:
        raise NotFound(f"no grid layout with id {layout_id}", field="layout_id")
    own = _graded(session, layout_id=layout_id, row=row, settings=settings)
    against = layout_in_force(session) if row.status == "draft" else None
    if against is None or against == layout_id:
        body = {**own, "known_counts": {}, "against": None}
    else:
        arow = session.execute(text("SELECT revision, status FROM grid_layout WHERE id = :id"), {"id": against}).one()
        body = _relative_to(own, _graded(session, layout_id=against, row=arow, settings=settings))
    return {**body, "unstaffed": unstaffed_grids(session, layout_id=layout_id)}


def unstaffed_grids(session: Session, *, layout_id: int) -> list[dict[str, Any]]:
    """Grids of a layout with nobody on duty: no active grid leader or worker in the draft's staff list (a
    draft) or assigned to the grid (a published layout). Reports in them would open cases with no assignee."""
    rows = session.execute(text("""
        SELECT g.code, g.name, g.households FROM grid g JOIN grid_layout l ON l.id = g.layout_id
        WHERE g.layout_id = :l AND NOT EXISTS (
            SELECT 1 FROM person p WHERE p.active AND p.role = ANY(:roles) AND CASE
                WHEN l.status = 'draft' AND g.properties ? 'staff'
                THEN p.id IN (SELECT (jsonb_array_elements_text(g.properties -> 'staff'))::bigint)
                ELSE p.grid_code = g.code END)
        ORDER BY g.code"""), {"l": layout_id, "roles": list(STAFF_ROLES)}).all()
    return [{"code": r.code, "name": r.name, "households": r.households} for r in rows]


# ----------------------------------------------------------------------------------------------
# Impact


def _layout_exists(session: Session, layout_id: int, field: str) -> None:
    if session.execute(text("SELECT 1 FROM grid_layout WHERE id = :id"), {"id": layout_id}).scalar() is None:
        raise NotFound(f"no grid layout with id {layout_id}", field=field)


def _frame(session: Session, sql: str, params: dict[str, Any], columns: list[str]) -> pd.DataFrame:
    """Rows into columns directly (pandas probing SQLAlchemy rows for attributes costs seconds at 50k rows)."""
    rows = session.execute(text(sql), params).all()
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    return pd.DataFrame({c: np.asarray(v, dtype=object) for c, v in zip(columns, cols, strict=True)})


def _assignment(session: Session, layout_id: int, kind: str) -> pd.Series:
    """id → grid code in a layout, joined grid by grid (each polygon prepared once, the points found through
    their GiST index); on a shared edge the smallest code wins, as routing does."""
    sql = {
        "facility": "SELECT DISTINCT ON (f.id) f.id, g.code FROM grid g JOIN facility f "
                    "ON ST_Intersects(g.boundary, f.location) WHERE g.layout_id = :l ORDER BY f.id, g.code",
        # (a correlated lookup a case looks better but the planner walks the code index of the layout instead)
        "case": "SELECT DISTINCT ON (k.id) k.id, g.code FROM grid g JOIN report r "
                "ON ST_Intersects(g.boundary, r.location) JOIN cases k ON k.report_id = r.id "
                "AND k.status NOT IN ('closed', 'rejected') WHERE g.layout_id = :l ORDER BY k.id, g.code",
    }[kind]
    df = _frame(session, sql, {"l": layout_id}, ["id", "code"])
    return pd.Series(df["code"].to_numpy(dtype=object), index=df["id"].to_numpy(), dtype=object)


def _building_moves(session: Session, *, against: int, layout_id: int) -> tuple[dict[str, list[int]], pd.DataFrame]:
    """Per grid code [households before, after, buildings before, after], and the buildings that change grid;
    added up in PostgreSQL so that only the movers cross the wire."""
    sql = """
        WITH fa AS (SELECT DISTINCT ON (b.id) b.id, g.code FROM grid g JOIN building b
                    ON ST_Intersects(g.boundary, b.rep_point) WHERE g.layout_id = :a ORDER BY b.id, g.code),
        fd AS (SELECT DISTINCT ON (b.id) b.id, g.code FROM grid g JOIN building b
               ON ST_Intersects(g.boundary, b.rep_point) WHERE g.layout_id = :d ORDER BY b.id, g.code),
        bb AS MATERIALIZED (
            SELECT b.id, b.code, b.households, b.rep_point, fa.code AS f, fd.code AS t
            FROM building b LEFT JOIN fa ON fa.id = b.id LEFT JOIN fd ON fd.id = b.id),
        agg AS (
            SELECT code, sum(hb) AS hb, sum(ha) AS ha, sum(nb) AS nb, sum(na) AS na FROM (
                SELECT f AS code, households AS hb, 0 AS ha, 1 AS nb, 0 AS na FROM bb WHERE f IS NOT NULL
                UNION ALL SELECT t, 0, households, 0, 1 FROM bb WHERE t IS NOT NULL) x GROUP BY code)
        SELECT jsonb_build_object(
            'agg', coalesce((SELECT jsonb_object_agg(code, jsonb_build_array(hb, ha, nb, na)) FROM agg), '{}'),
            'moves', coalesce((SELECT jsonb_agg(jsonb_build_array(id, code, households, f, t, ST_X(rep_point),
                                                                  ST_Y(rep_point)) ORDER BY id)
                               FROM bb WHERE f IS DISTINCT FROM t), '[]'))::text"""
    doc = orjson.loads(session.execute(text(sql), {"a": against, "d": layout_id}).scalar_one())
    moves = pd.DataFrame(doc["moves"], columns=["id", "code", "households", "from_code", "to_code", "x", "y"])
    return {k: [int(v) for v in vals] for k, vals in doc["agg"].items()}, moves


def impact(session: Session, *, layout_id: int, against: int | None) -> dict[str, Any]:
    _layout_exists(session, layout_id, "layout_id")
    if against is None:
        against = layout_in_force(session)
        if against is None:
            raise NotFound("no layout is in force now; pass against=<layout id>", field="against")
    else:
        _layout_exists(session, against, "against")
    p = {"a": against, "d": layout_id}
    session.execute(text("SET LOCAL jit = off"))
    bsum, bm = _building_moves(session, against=against, layout_id=layout_id)
    f = _frame(session, "SELECT id, code, kind, ST_X(location), ST_Y(location) FROM facility", {},
               ["id", "code", "kind", "x", "y"])
    f["from_code"] = f["id"].map(_assignment(session, against, "facility"))
    f["to_code"] = f["id"].map(_assignment(session, layout_id, "facility"))
    c = _frame(session, """
        SELECT k.id, k.status, k.grid_code, ST_X(r.location), ST_Y(r.location)
        FROM cases k JOIN report r ON r.id = k.report_id
        WHERE k.status NOT IN ('closed', 'rejected') AND r.location IS NOT NULL""", {},
        ["id", "status", "from_code", "x", "y"])
    c["to_code"] = c["id"].map(_assignment(session, layout_id, "case"))
    # An open case whose point lies in no grid of the new layout cannot be re-routed: it keeps its grid.
    c["after_code"] = c["to_code"].where(c["to_code"].notna(), c["from_code"])
    grids = session.execute(text("""
        SELECT coalesce(d.code, a.code) AS code, coalesce(d.name, a.name) AS name,
               CASE WHEN a.code IS NULL THEN 'added' WHEN d.code IS NULL THEN 'removed'
                    WHEN ST_AsEWKB(a.boundary) <> ST_AsEWKB(d.boundary) OR a.name IS DISTINCT FROM d.name
                      OR a.households <> d.households OR a.population <> d.population
                      OR a.community_code IS DISTINCT FROM d.community_code THEN 'changed'
                    ELSE 'same' END AS status
        FROM (SELECT * FROM grid WHERE layout_id = :a) a FULL JOIN (SELECT * FROM grid WHERE layout_id = :d) d
             ON a.code = d.code ORDER BY 1"""), p).mappings().all()

    def per(df: pd.DataFrame, col: str, value: str | None = None) -> dict[str, int]:
        d = df[df[col].notna()]
        if value is None:
            return {k: int(v) for k, v in d.groupby(col).size().items()}
        return {k: int(v) for k, v in d.groupby(col)[value].sum().items()}

    cb, ca = per(c, "from_code"), per(c, "after_code")
    zero = [0, 0, 0, 0]
    rows = [{"code": g["code"], "name": g["name"], "status": g["status"],
             "households_before": bsum.get(g["code"], zero)[0], "households_after": bsum.get(g["code"], zero)[1],
             "buildings_before": bsum.get(g["code"], zero)[2], "buildings_after": bsum.get(g["code"], zero)[3],
             "open_cases_before": cb.get(g["code"], 0), "open_cases_after": ca.get(g["code"], 0)} for g in grids]
    fm = f[f["from_code"].fillna("") != f["to_code"].fillna("")]
    cm = c[c["to_code"].notna() & (c["to_code"] != c["from_code"].fillna(""))]
    feats: list[dict[str, Any]] = []

    def add(df: pd.DataFrame, kind: str, extra: tuple[str, ...]) -> None:
        for r in df.to_dict("records"):
            props = {"kind": kind, "id": int(r["id"]), "from_code": _none(r["from_code"]),
                     "to_code": _none(r["to_code"])}
            props.update({k: _none(r[k]) for k in extra})
            feats.append({"type": "Feature", "id": f"{kind}:{r['id']}", "properties": props,
                          "geometry": {"type": "Point", "coordinates": [round(r["x"], 7), round(r["y"], 7)]}})

    add(bm, "building", ("code", "households"))
    add(fm, "facility", ("code", "kind"))
    add(cm, "open_case", ("status",))
    return {"layout_id": layout_id, "against": against,
            "summary": {"buildings": len(bm), "households": int(bm["households"].sum()) if len(bm) else 0,
                        "facilities": len(fm), "open_cases": len(cm)},
            "grids": rows, "moves": {"type": "FeatureCollection", "features": feats}}


def _none(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.integer):
        return int(v)
    return v


# ----------------------------------------------------------------------------------------------
# Compare


def compare(session: Session, *, a: int, b: int) -> dict[str, Any]:
    _layout_exists(session, a, "a")
    _layout_exists(session, b, "b")
    if a == b:
        raise InvalidParameter("compare two different layouts", field="b")
    body = session.execute(text("""
        WITH j AS (
            SELECT coalesce(y.code, x.code) AS code, x.name AS name_a, y.name AS name_b,
                   x.boundary AS ga, y.boundary AS gb,
                   CASE WHEN x.code IS NULL THEN 'added' WHEN y.code IS NULL THEN 'removed'
                        WHEN ST_AsEWKB(x.boundary) = ST_AsEWKB(y.boundary) OR ST_Equals(x.boundary, y.boundary)
                        THEN 'same' ELSE 'changed' END AS status
            FROM (SELECT * FROM grid WHERE layout_id = :a) x FULL JOIN (SELECT * FROM grid WHERE layout_id = :b) y
                 ON x.code = y.code),
        m AS (
            SELECT code, name_a, name_b, status,
                   round(CAST(ST_Area(CAST(ga AS geography)) AS numeric), 1) AS area_a_m2,
                   round(CAST(ST_Area(CAST(gb AS geography)) AS numeric), 1) AS area_b_m2,
                   CASE WHEN status = 'changed' THEN ST_SymDifference(ga, gb)
                        WHEN status = 'added' THEN gb WHEN status = 'removed' THEN ga END AS diff
            FROM j)
        SELECT jsonb_build_object(
            'a', CAST(:a AS bigint), 'b', CAST(:b AS bigint),
            'summary', jsonb_build_object(
                'added', count(*) FILTER (WHERE status = 'added'),
                'removed', count(*) FILTER (WHERE status = 'removed'),
                'changed', count(*) FILTER (WHERE status = 'changed'),
                'same', count(*) FILTER (WHERE status = 'same')),
            'grids', coalesce(jsonb_agg(jsonb_build_object(
                'code', code, 'status', status, 'name_a', name_a, 'name_b', name_b, 'area_a_m2', area_a_m2,
                'area_b_m2', area_b_m2, 'area_change_m2', coalesce(area_b_m2, 0) - coalesce(area_a_m2, 0))
                ORDER BY code), '[]'::jsonb),
            'changes', jsonb_build_object('type', 'FeatureCollection', 'features', coalesce(jsonb_agg(
                jsonb_build_object('type', 'Feature', 'id', code, 'geometry', ST_AsGeoJSON(diff, 7)::jsonb,
                                   'properties', jsonb_build_object(
                                       'code', code, 'status', status,
                                       'area_change_m2', coalesce(area_b_m2, 0) - coalesce(area_a_m2, 0)))
                ORDER BY code)
                FILTER (WHERE status <> 'same' AND diff IS NOT NULL AND NOT ST_IsEmpty(diff)), '[]'::jsonb)))::text
        FROM m"""), {"a": a, "b": b}).scalar_one()
    return orjson.loads(body)
