"""Locating points: normalise their coordinates, pick the layout, route them through the index."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import orjson
from numpy.typing import NDArray
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.errors import InvalidParameter, MalformedBody, NotFound, ValidationFailed
from api.core.observe import record_routing
from api.core.params import has_bool
from api.grids.service import layout_in_force
from api.locate.decide import OUTSIDE_COVERAGE, decide
from api.locate.index import IndexCache, LayoutIndex
from api.people.service import mask_phone
from geo.crs import UnknownCRS, parse_crs, to_wgs84
from geo.routing import METHODS, Routed

GEOGRAPHIC = ("wgs84", "cgcs2000", "gcj02", "bd09")
WGS84_NAME = parse_crs(None).name


@dataclass(slots=True)
class Normalised:
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    crs: str


def parse_time(value: str | datetime | None, *, tz: str) -> datetime:
    """An ISO time; one without an offset is read in ``tz`` (Beijing time by default)."""
    if value is None:
        return datetime.now(ZoneInfo(tz))
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidParameter(f"not an ISO 8601 time: {value!r}", field="at") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=ZoneInfo(tz))


def normalise(x: NDArray, y: NDArray, crs: str | None, *, field: str = "points") -> Normalised:
    """Convert to WGS84, refusing what cannot be a place: NaN, out of range, swapped lat/lon."""
    if crs in (None, "", "wgs84") and len(x) == 1:  # one WGS84 point (GET /locate's usual): no numpy overhead
        fx, fy = float(x[0]), float(y[0])
        if -180.0 <= fx <= 180.0 and -90.0 <= fy <= 90.0:  # false for NaN: the checks below explain those
            return Normalised(np.array([fx]), np.array([fy]), WGS84_NAME)
    try:
        name = parse_crs(crs).name
    except UnknownCRS as exc:
        raise InvalidParameter(str(exc), field="crs") from None
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationFailed(f"{field}[{i}]: coordinates must be finite numbers", field=field, index=i)
    if name in GEOGRAPHIC:
        out = (np.abs(x) > 180) | (np.abs(y) > 90)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            hint = ""
            if abs(y[i]) <= 180 and abs(x[i]) <= 90:
                hint = "; it looks like latitude,longitude: send longitude first"
            elif abs(x[i]) > 1000 or abs(y[i]) > 1000:
                hint = "; it looks projected: pass its crs, e.g. EPSG:4547"
            raise ValidationFailed(
                f"{field}[{i}]: ({x[i]}, {y[i]}) is not a longitude/latitude in {name}{hint}", field=field, index=i
            )
    lon, lat = to_wgs84(x, y, name)
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    bad = ~(np.isfinite(lon) & np.isfinite(lat)) | (np.abs(lon) > 180) | (np.abs(lat) > 90)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationFailed(f"{field}[{i}]: ({x[i]}, {y[i]}) is outside the area where {name} is defined",
                               field=field, index=i)
    return Normalised(lon, lat, name)


def pick_layout(cache: IndexCache, session: Session, *, layout_id: int | None, at: datetime) -> LayoutIndex:
    if layout_id is None:
        period = cache.layout_at(session, at)
        if period is None:
            raise NotFound(f"no grid layout was in force at {at.isoformat()}", field="at")
        layout_id = period.layout_id
    found = cache.get(session, layout_id)
    if found is None:
        raise NotFound(f"no grid layout with id {layout_id}", field="layout")
    return found


def grid_summary(li: LayoutIndex, g: int) -> dict:
    return {"code": li.grids[g]["code"], "name": li.grids[g]["name"], "name_en": li.grids[g]["name_en"]}


def answer(li: LayoutIndex, routed: Routed, i: int, *, detail: bool) -> dict:
    g = int(routed.grid[i])
    d = routed.distance_m[i]
    out: dict = {
        "method": METHODS[int(routed.method[i])],
        "distance_m": None if np.isnan(d) else round(float(d), 2),
        "grid": None,
        "candidates": [grid_summary(li, c) for c in routed.candidates.get(i, [])],
        "reason": OUTSIDE_COVERAGE if g < 0 else None,
    }
    if g >= 0:
        grid = dict(li.grids[g]) if detail else grid_summary(li, g)
        if detail:
            grid["staff_on_duty"] = li.staff.get(li.grids[g]["code"], [])
        out["grid"] = grid
    return out


def locate_one(cache: IndexCache, session: Session | None, *, x: float, y: float, crs: str | None,
               at: datetime, layout_id: int | None, tolerance_m: float) -> dict:
    """Locate one point. With ``session=None`` it answers only from the cache and returns None on a miss."""
    pt = normalise(np.array([x]), np.array([y]), crs, field="lon/lat")
    if session is None:
        li = cache.peek(at, layout_id)
        if li is None:
            return None  # type: ignore[return-value]
    else:
        li = pick_layout(cache, session, layout_id=layout_id, at=at)
    t0 = time.perf_counter()
    routed = li.index.route(pt.lon, pt.lat, tolerance_m=tolerance_m)
    record_routing(routed.method, via="locate", seconds=time.perf_counter() - t0)
    return {
        "point": {"lon": round(float(pt.lon[0]), 8), "lat": round(float(pt.lat[0]), 8)},
        "input": {"x": x, "y": y, "crs": crs or "wgs84"},
        "crs_assumed": pt.crs,
        "layout": {"id": li.layout_id, "name": li.name},
        "at": at.isoformat(),
        **answer(li, routed, 0, detail=True),
    }


def locate_postgis(session: Session, *, x: float, y: float, crs: str | None, at: datetime, layout_id: int | None,
                   tolerance_m: float) -> dict:
    """The reference path: ask PostGIS directly, bypassing the in-memory index.

    Same answer as :func:`locate_one` (tests hold them equal); kept for operators who want to check a
    decision against the database, and as the baseline the benchmark compares the index with.
    """
    pt = normalise(np.array([x]), np.array([y]), crs, field="lon/lat")
    lon, lat = float(pt.lon[0]), float(pt.lat[0])
    if layout_id is None:
        layout_id = layout_in_force(session, at=at)
        if layout_id is None:
            raise NotFound(f"no grid layout was in force at {at.isoformat()}", field="at")
    layout = session.execute(text("SELECT id, name FROM grid_layout WHERE id = :l"), {"l": layout_id}).first()
    if layout is None:
        raise NotFound(f"no grid layout with id {layout_id}", field="layout")
    rows = session.execute(text("""
        WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g)
        SELECT g.code, g.name, g.name_en, 0.0 AS d FROM grid g, p
        WHERE g.layout_id = :l AND ST_Covers(g.boundary, p.g)
        ORDER BY g.code"""), {"lon": lon, "lat": lat, "l": layout_id}).all()
    method = "inside" if len(rows) == 1 else "edge" if rows else "unrouted"
    distance: float | None = 0.0 if rows else None
    if not rows:
        near = session.execute(text("""
            WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g)
            SELECT g.code, g.name, g.name_en, ST_Distance(g.boundary::geography, p.g::geography) AS d
            FROM grid g, p WHERE g.layout_id = :l AND ST_DWithin(g.boundary::geography, p.g::geography, :tol)
            ORDER BY d, g.code LIMIT 1"""), {"lon": lon, "lat": lat, "l": layout_id, "tol": tolerance_m}).all()
        if near:
            rows, method, distance = near, "nearest", round(float(near[0].d), 2)
    grid = None
    if rows:
        code = rows[0].code
        grid = session.execute(text("""
            SELECT g.code, g.name, g.name_en, c.code AS community_code, c.name AS community_name,
                   c.name_en AS community_name_en, s.code AS street_code, s.name AS street_name,
                   s.name_en AS street_name_en
            FROM grid g LEFT JOIN community c ON c.code = g.community_code LEFT JOIN street s ON s.code = c.street_code
            WHERE g.layout_id = :l AND g.code = :c"""), {"l": layout_id, "c": code}).mappings().one()
        staff = session.execute(text("""
            SELECT name, role, phone FROM person WHERE active AND grid_code = :c AND (on_duty OR role = 'grid_leader')
            ORDER BY role, name"""), {"c": code}).all()
        grid = {
            "code": grid["code"], "name": grid["name"], "name_en": grid["name_en"],
            "community": {"code": grid["community_code"], "name": grid["community_name"],
                          "name_en": grid["community_name_en"]} if grid["community_code"] else None,
            "street": {"code": grid["street_code"], "name": grid["street_name"],
                       "name_en": grid["street_name_en"]} if grid["street_code"] else None,
            "staff_on_duty": [{"name": s.name, "role": s.role, "phone": mask_phone(s.phone)} for s in staff],
        }
    return {
        "point": {"lon": round(lon, 8), "lat": round(lat, 8)},
        "input": {"x": x, "y": y, "crs": crs or "wgs84"},
        "crs_assumed": pt.crs,
        "layout": {"id": layout.id, "name": layout.name},
        "at": at.isoformat(),
        "method": method,
        "distance_m": distance,
        "grid": grid,
        "candidates": [{"code": r.code, "name": r.name, "name_en": r.name_en} for r in rows[1:]] if method == "edge"
        else [],
        "reason": None if rows else OUTSIDE_COVERAGE,
        "engine": "postgis",
    }


def parse_batch(body: bytes, *, max_points: int) -> tuple[NDArray, NDArray, str | None]:
    """``{"crs": …, "points": [[x, y], …]}`` or a GeoJSON FeatureCollection of Points."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}", field="body") from None
    if not isinstance(doc, dict):
        raise ValidationFailed("the body must be a JSON object", field="body")
    crs = doc.get("crs")
    if crs is not None and not isinstance(crs, str):
        crs = (crs.get("properties") or {}).get("name") if isinstance(crs, dict) else None
    if doc.get("type") == "FeatureCollection":
        feats = doc.get("features")
        if not isinstance(feats, list):
            raise ValidationFailed("features must be a list", field="features")
        coords = []
        for i, f in enumerate(feats):
            geom = f.get("geometry") if isinstance(f, dict) else None
            if not isinstance(geom, dict) or geom.get("type") != "Point":
                raise ValidationFailed(f"features[{i}]: each feature must have a Point geometry",
                                       field="features", index=i)
            coords.append(geom.get("coordinates"))
        field = "features"
    else:
        coords = doc.get("points")
        field = "points"
        if not isinstance(coords, list):
            raise ValidationFailed("send {'points': [[lon, lat], …]} or a GeoJSON FeatureCollection",
                                   field="points")
    if len(coords) > max_points:
        raise ValidationFailed(f"at most {max_points} points in one call", field=field)
    try:
        arr = np.array(coords, dtype=float)
    except (TypeError, ValueError):
        arr = None
    if arr is not None and (b"true" in body or b"false" in body) and has_bool(coords):
        arr = None  # numpy reads true as 1.0: a boolean is no coordinate (issue 17 #12)
    if arr is None or arr.ndim != 2 or (len(arr) and arr.shape[1] < 2):
        for i, c in enumerate(coords):
            if not (isinstance(c, list) and len(c) >= 2 and all(isinstance(v, int | float) for v in c[:2])
                    and not has_bool(c[:2])):
                raise ValidationFailed(f"{field}[{i}]: expected [lon, lat] numbers, got {c!r}"[:300],
                                       field=field, index=i)
        raise ValidationFailed(f"{field}: expected a list of [lon, lat]", field=field)
    if len(arr) == 0:
        return np.empty(0), np.empty(0), crs
    return arr[:, 0], arr[:, 1], crs


def locate_batch(cache: IndexCache, session: Session, *, x: NDArray, y: NDArray, crs: str | None, at: datetime,
                 layout_id: int | None, tolerance_m: float, chunk: int = 20_000) -> Iterator[bytes]:
    pts = normalise(x, y, crs, field="points")
    li = pick_layout(cache, session, layout_id=layout_id, at=at)
    t0 = time.perf_counter()
    routed = li.index.route(pts.lon, pts.lat, tolerance_m=tolerance_m)
    record_routing(routed.method, via="locate_batch", seconds=time.perf_counter() - t0)
    codes = li.index.codes
    head = {"crs_assumed": pts.crs, "layout": {"id": li.layout_id, "name": li.name}, "at": at.isoformat(),
            "count": int(len(x))}

    def gen() -> Iterator[bytes]:
        yield orjson.dumps(head)[:-1] + b',"results":['
        found = decide(routed, codes)
        dist = np.round(found.distance_m, 2)
        for start in range(0, len(x), chunk):
            items = []
            for i in range(start, min(start + chunk, len(x))):
                d = dist[i]
                item = {"i": i, "grid": found.grid[i], "method": found.method[i],
                        "distance_m": None if d != d else float(d)}
                cand = found.candidates.get(i)
                if cand:
                    item["candidates"] = cand
                items.append(item)
            body = orjson.dumps(items)[1:-1]
            yield (b"," if start else b"") + body
        yield b"]}"

    return gen()
