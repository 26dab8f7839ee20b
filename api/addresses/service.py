"""Address resolution: search, locate-by-address, reverse lookup, the operator's confirmation queue, import.

An address resolves to a registry entry, the entry to its building's point, and the point to a grid
through the same routing index as a coordinate (``api/locate``), so an address routes in any layout,
past or draft. Nothing is guessed: an ambiguous or unknown address comes back with its candidates,
and a report carrying one is stored and queued in ``address_review`` for an operator to confirm.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.addresses.index import AddressIndex, Resolution, load_index
from api.addresses.normalize import normalize
from api.core.errors import Conflict, ImportFailed, InvalidParameter, MalformedBody, NotFound, ValidationFailed
from api.locate.index import IndexCache
from api.locate.service import answer, normalise, pick_layout
from api.people.service import DUTY_WORKER_ID_SQL

#: A report's coordinates and its address more than this far apart (metres) are flagged.
DISAGREEMENT_M = 300.0
MAX_QUERY = 200


class AddressIndexCache:
    """The in-memory address index of each database this process serves, rebuilt when the registry's
    version moves (one tiny query per request tells)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: dict[str, AddressIndex] = {}
        self.builds = 0

    def get(self, session: Session) -> AddressIndex:
        db, version = session.execute(text("SELECT current_database(), version FROM address_registry")).one()
        idx = self._indexes.get(db)
        if idx is not None and idx.version == version:
            return idx
        with self._lock:
            idx = self._indexes.get(db)
            if idx is None or idx.version != version:
                idx = self._indexes[db] = load_index(session, version=version)
                self.builds += 1
            return idx


#: One per process: the app and the report intake share it (tests build many apps on one database).
ADDRESS_CACHE = AddressIndexCache()


def _check_query(q: str, field: str = "q") -> str:
    q = (q or "").strip()
    if not q:
        raise ValidationFailed("the address is empty", field=field)
    if len(q) > MAX_QUERY:
        raise ValidationFailed(f"an address is at most {MAX_QUERY} characters", field=field)
    return q


def resolution_dict(res: Resolution) -> dict:
    p = res.parsed
    return {
        "query": res.query, "normalized": res.normalized, "status": res.status, "reason": res.reason,
        "parsed": {k: getattr(p, k) for k in ("name", "door", "building", "unit", "floor", "room", "number",
                                               "street", "community") if getattr(p, k)}
        | ({"roads": list(p.roads)} if p.roads else {}) | ({"extra": p.extra} if p.extra else {}),
        "score": (res.candidates[0].score if res.status == "matched" and res.candidates
                  else res.intersection["score"] if res.intersection else None),
        "candidates": [c.as_dict() for c in res.candidates],
        "intersection": res.intersection,
    }


def resolve(session: Session, *, q: str, limit: int = 5) -> Resolution:
    return ADDRESS_CACHE.get(session).resolve(_check_query(q), limit=limit)


def search(session: Session, *, q: str, limit: int = 5) -> dict:
    """Ranked candidates for a typed address, with what matched; the index engine."""
    out = resolution_dict(resolve(session, q=q, limit=limit))
    out["engine"] = "index"
    return out


def search_postgis(session: Session, *, q: str, limit: int = 5) -> dict:
    """The reference engine: pg_trgm similarity of the normalised text (and aliases) in PostGIS.

    Typo-tolerant but unaware of structure (it cannot tell 3号楼 from 13号楼 reliably); kept as a
    baseline and for registries too big to hold in memory."""
    norm = normalize(_check_query(q))
    rows = session.execute(text("""
        SELECT a.id, a.code, a.kind, a.full_text, a.building_id, b.code AS building_code, a.street, a.community,
               ST_X(a.location) AS lon, ST_Y(a.location) AS lat,
               greatest(similarity(a.normalized, :q),
                        coalesce((SELECT max(similarity(x, :q)) FROM unnest(a.aliases) x), 0)) AS score
        FROM address a LEFT JOIN building b ON b.id = a.building_id
        WHERE a.normalized % :q OR a.aliases && ARRAY[CAST(:q AS text)]
        ORDER BY score DESC, a.id LIMIT :limit"""), {"q": norm, "limit": limit}).all()
    cands = [{"id": r.id, "code": r.code, "kind": r.kind, "full_text": r.full_text, "score": round(float(r.score), 3),
              "matched": {"trigram": round(float(r.score), 3)}, "building_id": r.building_id,
              "building_code": r.building_code, "street": r.street, "community": r.community,
              "point": {"lon": r.lon, "lat": r.lat} if r.lon is not None else None} for r in rows]
    status = "not_found" if not cands else (
        "matched" if cands[0]["score"] >= 0.6 and (len(cands) == 1 or cands[0]["score"] - cands[1]["score"] >= 0.1)
        else "ambiguous")
    return {"query": q, "normalized": norm, "status": status, "reason": None,
            "score": cands[0]["score"] if status == "matched" else None, "candidates": cands,
            "intersection": None, "engine": "postgis"}


def _point_of(res: Resolution) -> tuple[float, float] | None:
    if res.intersection:
        return res.intersection["point"]["lon"], res.intersection["point"]["lat"]
    best = res.best
    if best and best.entry.lon is not None:
        return best.entry.lon, best.entry.lat
    return None


def locate_address(session: Session, *, cache: IndexCache, q: str, at: datetime, layout_id: int | None,
                   tolerance_m: float, limit: int = 5, lon: float | None = None, lat: float | None = None,
                   crs: str | None = None, max_disagreement_m: float = DISAGREEMENT_M) -> dict:
    """Which grid is this address in? Method ``address`` with the score when confident; otherwise the
    candidates (each with its grid) and ``unrouted``. With coordinates as well, they decide the grid and
    the address is checked against them."""
    res = resolve(session, q=q, limit=limit)
    li = pick_layout(cache, session, layout_id=layout_id, at=at)
    addr = resolution_dict(res)
    # every candidate's grid, so an operator can see where each would go
    pts = [(c["point"]["lon"], c["point"]["lat"]) if c["point"] else (np.nan, np.nan) for c in addr["candidates"]]
    if pts:
        arr = np.array(pts, dtype=float)
        routed = li.index.route(arr[:, 0], arr[:, 1], tolerance_m=tolerance_m)
        for i, c in enumerate(addr["candidates"]):
            g = int(routed.grid[i])
            c["grid"] = {"code": li.grids[g]["code"], "name": li.grids[g]["name"]} if g >= 0 else None
    out: dict = {"layout": {"id": li.layout_id, "name": li.name}, "at": at.isoformat(), "address": addr}
    point = _point_of(res)
    given = None
    if lon is not None and lat is not None:
        pt = normalise(np.array([lon]), np.array([lat]), crs, field="lon/lat")
        given = (float(pt.lon[0]), float(pt.lat[0]))
    if given is not None:
        routed = li.index.route(np.array([given[0]]), np.array([given[1]]), tolerance_m=tolerance_m)
        out |= {"point": {"lon": round(given[0], 8), "lat": round(given[1], 8)}, **answer(li, routed, 0, detail=True)}
        if point is not None:
            d = distance_m(given, point)
            out["address"]["distance_m"] = round(d, 1)
            out["address"]["disagrees"] = d > max_disagreement_m
        return out
    if point is None:
        grids = {c["grid"]["code"] for c in addr["candidates"] if c.get("grid")}
        out |= {"point": None, "method": "unrouted", "distance_m": None, "grid": None,
                "candidates": sorted(grids), "reason": f"address_{res.status}"}
        return out
    routed = li.index.route(np.array([point[0]]), np.array([point[1]]), tolerance_m=tolerance_m)
    found = answer(li, routed, 0, detail=True)
    if found["grid"] is not None:
        found["method"] = "address"
    out |= {"point": {"lon": round(point[0], 8), "lat": round(point[1], 8)}, **found}
    out["score"] = addr["score"]
    return out


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres (haversine).

    >>> round(distance_m((116.4, 39.9), (116.4, 39.91)))
    1112
    """
    lon1, lat1, lon2, lat2 = map(np.radians, (a[0], a[1], b[0], b[1]))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return float(2 * 6_371_008.8 * np.arcsin(np.sqrt(h)))


def reverse(session: Session, *, lon: float, lat: float, crs: str | None, limit: int = 5,
            radius_m: float = 300.0) -> dict:
    """The nearest registry addresses (building level) and the building the point is in, for field apps."""
    pt = normalise(np.array([lon]), np.array([lat]), crs, field="lon/lat")
    x, y = float(pt.lon[0]), float(pt.lat[0])
    params = {"x": x, "y": y, "limit": limit, "r": radius_m}
    building = session.execute(text("""
        SELECT b.id, b.code, b.address, b.kind FROM building b
        WHERE ST_Covers(b.footprint, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) ORDER BY b.code LIMIT 1"""),
        params).first()
    rows = session.execute(text("""
        WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:x, :y), 4326) AS g)
        SELECT a.id, a.code, a.kind, a.full_text, a.building_id, b.code AS building_code, a.street, a.community,
               ST_X(a.location) AS lon, ST_Y(a.location) AS lat,
               ST_Distance(a.location::geography, p.g::geography) AS d
        FROM address a LEFT JOIN building b ON b.id = a.building_id, p
        WHERE a.kind IN ('building', 'landmark') AND a.location IS NOT NULL
          AND ST_DWithin(a.location::geography, p.g::geography, :r)
        ORDER BY a.location <-> p.g, a.id LIMIT :limit"""), params).all()
    return {
        "point": {"lon": round(x, 8), "lat": round(y, 8)}, "crs_assumed": pt.crs,
        "building": {"id": building.id, "code": building.code, "address": building.address, "kind": building.kind}
        if building else None,
        "addresses": [{"id": r.id, "code": r.code, "kind": r.kind, "full_text": r.full_text,
                       "building_id": r.building_id, "building_code": r.building_code, "street": r.street,
                       "community": r.community, "point": {"lon": r.lon, "lat": r.lat},
                       "distance_m": round(float(r.d), 1)} for r in rows],
    }


def get_address(session: Session, *, address_id: int) -> dict:
    r = session.execute(text("""
        SELECT a.*, b.code AS building_code, ST_X(a.location) AS lon, ST_Y(a.location) AS lat
        FROM address a LEFT JOIN building b ON b.id = a.building_id WHERE a.id = :id"""), {"id": address_id}
    ).mappings().first()
    if r is None:
        raise NotFound(f"no address with id {address_id}")
    keys = ("id", "code", "kind", "building_id", "building_code", "district", "street", "community", "road",
            "door_number", "estate", "building_no", "unit", "room", "full_text", "normalized")
    return {**{k: r[k] for k in keys}, "aliases": list(r["aliases"] or []),
            "point": {"lon": r["lon"], "lat": r["lat"]} if r["lon"] is not None else None}


# ---------------------------------------------------------------------------------- review queue


def queue_review(session: Session, *, report_id: int, query: str, res: Resolution | None, reason: str,
                 candidates: list[dict], distance: float | None = None) -> int:
    return session.execute(text("""
        INSERT INTO address_review (report_id, query, normalized, reason, candidates, distance_m)
        VALUES (:r, :q, :n, :reason, CAST(:c AS jsonb), :d)
        ON CONFLICT (report_id) WHERE status = 'pending' DO UPDATE SET reason = EXCLUDED.reason
        RETURNING id"""), {"r": report_id, "q": query, "n": res.normalized if res else None, "reason": reason,
                           "c": orjson.dumps(candidates).decode(), "d": distance}).scalar_one()


def list_reviews(session: Session, *, status: str | None, limit: int, offset: int,
                 scope: list[str] | None = None) -> dict:
    """The review queue; ``scope`` (grid codes) limits it to reports whose latest routing is in those grids."""
    params = {"s": status, "limit": limit, "offset": offset, "scope": scope}
    where = """WHERE (CAST(:s AS text) IS NULL OR v.status = :s)
               AND (CAST(:scope AS text[]) IS NULL OR (SELECT x.grid_code FROM routing x WHERE x.report_id = v.report_id
                                                       ORDER BY x.id DESC LIMIT 1) = ANY(CAST(:scope AS text[])))"""
    total = session.execute(text(f"SELECT count(*) FROM address_review v {where}"), params).scalar_one()
    rows = session.execute(text(f"""
        SELECT v.*, r.source, r.description, r.category_code FROM address_review v JOIN report r ON r.id = v.report_id
        {where} ORDER BY v.created_at, v.id LIMIT :limit OFFSET :offset"""), params).mappings().all()
    items = [{"id": r["id"], "report_id": r["report_id"], "query": r["query"], "normalized": r["normalized"],
              "reason": r["reason"], "candidates": r["candidates"], "distance_m": r["distance_m"],
              "status": r["status"], "address_id": r["address_id"], "decided_by": r["decided_by"],
              "decided_at": r["decided_at"], "created_at": r["created_at"], "source": r["source"],
              "description": r["description"], "category": r["category_code"]} for r in rows]
    return {"items": items, "total": total}


def decide_review(session: Session, *, cache: IndexCache, review_id: int, address_id: int | None, actor: str,
                  tolerance_m: float) -> dict:
    """An operator confirms the address (re-routing the report to its building's grid, method
    ``address``) or rejects the queue entry (``address_id`` None: the report stays as it was routed)."""
    review = session.execute(text("SELECT * FROM address_review WHERE id = :id FOR UPDATE"),
                             {"id": review_id}).mappings().first()
    if review is None:
        raise NotFound(f"no address review with id {review_id}")
    if review["status"] != "pending":
        raise Conflict(f"address review {review_id} was already {review['status']}", field="status")
    if address_id is None:
        session.execute(text("""UPDATE address_review SET status = 'rejected', decided_by = :a, decided_at = now()
                                WHERE id = :id"""), {"a": actor, "id": review_id})
        return {"id": review_id, "status": "rejected", "routing": None}
    addr = session.execute(text("SELECT id, ST_X(location) AS lon, ST_Y(location) AS lat FROM address WHERE id = :id"),
                           {"id": address_id}).first()
    if addr is None:
        raise ValidationFailed(f"no address with id {address_id}", field="address_id")
    if addr.lon is None:
        raise InvalidParameter(f"address {address_id} has no location to route", field="address_id")
    report = session.execute(text("SELECT id, reported_at, location IS NULL AS no_point FROM report WHERE id = :r"),
                             {"r": review["report_id"]}).one()
    period = cache.layout_at(session, report.reported_at)
    grid_code = layout_id = None
    if period is not None:
        li = cache.get(session, period.layout_id)
        layout_id = li.layout_id
        routed = li.index.route(np.array([addr.lon]), np.array([addr.lat]), tolerance_m=tolerance_m)
        g = int(routed.grid[0])
        grid_code = str(li.index.codes[g]) if g >= 0 else None
    method, reason = ("address", None) if grid_code else ("unrouted", "outside_coverage")
    if report.no_point:
        session.execute(text("UPDATE report SET location = ST_SetSRID(ST_MakePoint(:x, :y), 4326) WHERE id = :r"),
                        {"x": addr.lon, "y": addr.lat, "r": report.id})
    session.execute(text("""
        INSERT INTO routing (report_id, layout_id, grid_code, method, distance_m, candidates, reason)
        VALUES (:r, :l, :g, :m, NULL, '[]'::jsonb, :reason)"""),
        {"r": report.id, "l": layout_id, "g": grid_code, "m": method, "reason": reason})
    if grid_code:
        # the case follows its report to the confirmed grid (and that grid's worker) unless someone already took it
        session.execute(text("""
            UPDATE cases SET layout_id = :l, grid_code = :g, updated_at = now(),
                   assignee_id = coalesce(assignee_id, {duty})
            WHERE report_id = :r AND (grid_code IS NULL OR grid_code <> :g)""".format(
                duty=DUTY_WORKER_ID_SQL.format(grid=":g"))),
            {"l": layout_id, "g": grid_code, "r": report.id})
    session.execute(text("""UPDATE address_review SET status = 'confirmed', address_id = :a, decided_by = :who,
                            decided_at = now() WHERE id = :id"""), {"a": address_id, "who": actor, "id": review_id})
    return {"id": review_id, "status": "confirmed", "address_id": address_id,
            "routing": {"layout_id": layout_id, "grid_code": grid_code, "method": method, "reason": reason}}


# ---------------------------------------------------------------------------------------- import

IMPORT_FIELDS = ("code", "kind", "building_code", "district", "street", "community", "road", "door_number", "estate",
                 "building_no", "unit", "room", "full_text", "aliases", "lon", "lat")


def import_addresses(session: Session, *, path: Path, source_layer: str | None = None, crs: str | None = None,
                     replace: bool = False) -> dict:
    """Import a registry file (CSV with lon/lat columns, or GeoPackage/GeoJSON of points) in the caller's
    transaction: every row is checked first and the first bad one is named (its 1-based data row);
    nothing lands unless all rows do. ``aliases`` is a ``|``-separated list. Rows without a point take
    their building's point."""
    import pandas as pd
    import pyogrio
    import shapely

    from api.imports.service import check_shapefile

    if not path.exists():
        raise ImportFailed(f"{path} does not exist", reason="file_not_found")
    if path.suffix.lower() in (".zip", ".shp"):
        check_shapefile(path)  # a missing part, or GBK names without a .cpg: refused by name, not mojibake
    try:
        if path.suffix.lower() == ".csv":
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            lon = pd.to_numeric(df.get("lon", pd.Series([""] * len(df))).replace("", None), errors="coerce")
            lat = pd.to_numeric(df.get("lat", pd.Series([""] * len(df))).replace("", None), errors="coerce")
        else:
            gdf = pyogrio.read_dataframe(path, layer=source_layer)
            geoms = np.asarray(gdf.geometry.values, dtype=object)
            df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).astype(object).where(gdf.notna(), "").astype(str)
            lon = pd.Series(shapely.get_x(geoms)).where(~shapely.is_missing(geoms))
            lat = pd.Series(shapely.get_y(geoms)).where(~shapely.is_missing(geoms))
    except UnicodeDecodeError:
        raise ImportFailed(f"{path.name} is not UTF-8 text (a GBK export?); save it as UTF-8 (Excel: \"CSV UTF-8\")",
                           reason="unknown_encoding") from None
    except Exception as exc:  # pyogrio/GDAL/GEOS raise many kinds; each means "cannot read this file"
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImportFailed(f"{path.name} cannot be read: {msg}", reason="unreadable") from None
    if "full_text" not in df.columns:
        raise ImportFailed("the file needs a full_text column", reason="missing_field", field="full_text")
    lon_arr, lat_arr = np.array(lon, dtype=float), np.array(lat, dtype=float)
    has = np.isfinite(lon_arr) & np.isfinite(lat_arr)
    if has.any():
        try:
            pts = normalise(lon_arr[has], lat_arr[has], crs, field="lon/lat")
        except (ValidationFailed, InvalidParameter) as exc:
            i = int(np.flatnonzero(has)[exc.extra.get("index", 0)]) if "index" in exc.extra else 0
            raise ImportFailed(f"row {i + 1}: {exc.detail}", row=i + 1, reason="bad_coordinates") from None
        lon_arr[has], lat_arr[has] = pts.lon, pts.lat
    codes = {r.code: r.id for r in session.execute(text("SELECT code, id FROM building"))}
    rows, seen = [], set()
    for i, rec in enumerate(df.to_dict("records")):
        row = i + 1

        def get(k: str, rec: dict = rec) -> str | None:
            v = str(rec.get(k, "") or "").strip()
            return v or None

        full = get("full_text")
        if not full:
            raise ImportFailed(f"row {row}: full_text is missing", row=row, reason="missing_value", field="full_text")
        kind = get("kind") or "building"
        if kind not in ("building", "unit", "room", "landmark"):
            raise ImportFailed(f"row {row}: kind must be building, unit, room or landmark, got {kind!r}", row=row,
                               reason="bad_value", field="kind")
        bcode = get("building_code")
        bid = None
        if bcode:
            bid = codes.get(bcode)
            if bid is None:
                raise ImportFailed(f"row {row}: no building with code {bcode!r}", row=row, reason="unknown_building",
                                   field="building_code")
        code = get("code")
        if code and code in seen:
            raise ImportFailed(f"row {row}: code {code!r} appears twice in the file", row=row, reason="duplicate",
                               field="code")
        seen.add(code)
        norm = normalize(full)
        if not norm:
            raise ImportFailed(f"row {row}: full_text {full!r} has nothing left to match on", row=row,
                               reason="bad_value", field="full_text")
        rows.append({"code": code, "kind": kind, "building_id": bid, "district": get("district"),
                     "street": get("street"), "community": get("community"), "road": get("road"),
                     "door_number": get("door_number"), "estate": get("estate"), "building_no": get("building_no"),
                     "unit": get("unit"), "room": get("room"), "full_text": full, "normalized": norm,
                     "aliases": [normalize(a) for a in (get("aliases") or "").split("|") if a.strip()],
                     "lon": float(lon_arr[i]) if has[i] else None, "lat": float(lat_arr[i]) if has[i] else None})
    cols = ["code", "kind", "building_id", "district", "street", "community", "road", "door_number", "estate",
            "building_no", "unit", "room", "full_text", "normalized", "aliases", "location"]
    session.execute(text("DROP TABLE IF EXISTS pg_temp._addr"))
    session.execute(text(f"CREATE TEMP TABLE _addr ON COMMIT DROP AS SELECT {', '.join(cols)} FROM address "
                         "WITH NO DATA"))
    from api.core.pgload import copy_rows

    copy_rows(session, "_addr", cols, [tuple(r[c] for c in cols[:-1]) + (
        None if r["lon"] is None else f"SRID=4326;POINT({r['lon']:.7f} {r['lat']:.7f})",) for r in rows], None)
    session.execute(text("""UPDATE _addr a SET location = ST_PointOnSurface(b.footprint) FROM building b
                            WHERE a.location IS NULL AND b.id = a.building_id"""))
    existing = session.execute(text("SELECT count(*) FROM _addr t JOIN address a ON a.code = t.code")).scalar_one()
    if existing and not replace:
        first = session.execute(text("SELECT t.code FROM _addr t JOIN address a ON a.code = t.code LIMIT 1")).scalar()
        row = next(i + 1 for i, r in enumerate(rows) if r["code"] == first)
        raise ImportFailed(f"row {row}: an address with code {first!r} exists (use --replace to update)", row=row,
                           reason="duplicate", field="code")
    set_cols = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c != "code")
    session.execute(text(f"""
        INSERT INTO address ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _addr
        ON CONFLICT (code) DO UPDATE SET {set_cols}"""))
    return {"rows_read": len(rows), "rows_imported": len(rows) - existing, "rows_updated": existing}


# ------------------------------------------------------------------------------------ report intake


class ReportAddress:
    """What report intake learns from a report's address (issue 10): a confident point, or a reason to
    queue the report for an operator. Used by ``api.reports.service.create_report`` in its transaction."""

    def __init__(self, session: Session, *, cache: IndexCache, address: str, lon: float | None,
                 lat: float | None, at: datetime, tolerance_m: float) -> None:
        self.query = address
        self.res: Resolution | None = None
        self.point: tuple[float, float] | None = None
        self.from_address = False
        self.distance: float | None = None
        self.review_reason: str | None = None
        self.candidate_grids: list[str] = []
        try:
            self.res = resolve(session, q=address, limit=5)
        except ValidationFailed:
            self.res = None
        found = _point_of(self.res) if self.res else None
        status = self.res.status if self.res else "not_found"
        if lon is not None and lat is not None:
            if found is not None:
                self.distance = round(distance_m((lon, lat), found), 1)
                if self.distance > DISAGREEMENT_M:
                    self.review_reason = "disagreement"
            return
        if found is not None:
            self.point, self.from_address = found, True
            return
        self.review_reason = "ambiguous" if status == "ambiguous" else "not_found"
        period = cache.layout_at(session, at)
        if period is not None and self.res and self.res.candidates:
            li = cache.get(session, period.layout_id)
            pts = np.array([(c.entry.lon, c.entry.lat) for c in self.res.candidates if c.entry.lon is not None])
            if len(pts):
                routed = li.index.route(pts[:, 0], pts[:, 1], tolerance_m=tolerance_m)
                self.candidate_grids = sorted({str(li.index.codes[g]) for g in routed.grid if g >= 0})

    def routing(self, method: str, reason: str | None, candidates: list, grid_code: str | None) -> tuple:
        """The routing row's (method, reason, candidates), adjusted for the address."""
        if self.from_address:
            return ("address", None, candidates) if grid_code else (method, reason, candidates)
        if self.review_reason in ("ambiguous", "not_found"):
            return "unrouted", f"address_{self.review_reason}", self.candidate_grids
        return method, reason, candidates

    def queue(self, session: Session, *, report_id: int) -> int | None:
        if self.review_reason is None:
            return None
        cands = [c.as_dict() for c in self.res.candidates] if self.res else []
        return queue_review(session, report_id=report_id, query=self.query, res=self.res, reason=self.review_reason,
                            candidates=cands, distance=self.distance)

    def summary(self, review_id: int | None) -> dict:
        best = self.res.best if self.res else None
        return {"status": self.res.status if self.res else "not_found",
                "score": round(best.score, 3) if best else (self.res.intersection or {}).get("score")
                if self.res else None,
                "address_id": best.entry.id if best else None,
                "full_text": best.entry.full_text if best else None,
                "distance_m": self.distance, "disagrees": self.review_reason == "disagreement",
                "review_id": review_id}


def is_address_body(body: bytes) -> bool:
    """Whether a ``POST /locate`` body asks for addresses (``{"address": …}`` or ``{"addresses": […]}``) rather
    than points: told from the raw bytes, before a batch of a million points is parsed for nothing."""
    return (body.lstrip()[:1] == b"{" and (b'"address"' in body or b'"addresses"' in body)
            and b'"points"' not in body and b'"FeatureCollection"' not in body)


def locate_address_body(session: Session, *, cache: IndexCache, body: bytes, at: datetime,
                        layout_id: int | None, tolerance_m: float) -> dict:
    """``{"address": "…", "lon"?, "lat"?, "crs"?}`` → one answer; ``{"addresses": ["…", …]}`` → ``results``."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}", field="body") from None
    if "addresses" in doc:
        items = doc["addresses"]
        if not isinstance(items, list) or not all(isinstance(a, str) for a in items):
            raise ValidationFailed("addresses must be a list of strings", field="addresses")
        if len(items) > 10_000:
            raise ValidationFailed("at most 10,000 addresses in one call", field="addresses")
        results = []
        for i, a in enumerate(items):
            try:
                results.append({"i": i, **locate_address(session, cache=cache, q=a, at=at, layout_id=layout_id,
                                                         tolerance_m=tolerance_m, limit=3)})
            except ValidationFailed as exc:
                raise ValidationFailed(f"addresses[{i}]: {exc.detail}", field="addresses", index=i) from None
        return {"count": len(results), "results": results}
    if not isinstance(doc.get("address"), str):
        raise ValidationFailed("address must be a string", field="address")
    for name in ("lon", "lat"):
        if isinstance(doc.get(name), bool):
            raise ValidationFailed(f"{name} must be a number, not a boolean", field=name)
    return locate_address(session, cache=cache, q=doc["address"], at=at, layout_id=layout_id,
                          tolerance_m=tolerance_m, lon=doc.get("lon"), lat=doc.get("lat"), crs=doc.get("crs"))
