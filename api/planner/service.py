"""Draft layouts and their edits: copy or import a draft, edit it under a revision number, undo.

Every edit runs in the caller's transaction after locking the layout row (``FOR UPDATE``), which
serialises edits, undos and the publish of one draft; the edit names the revision it was made
against and a stale one is refused (:class:`RevisionConflict`), so nothing is overwritten silently.
An edit reads the affected grids, computes their new rows in ``geo.edit`` (pure shapely), checks
them, and replaces the rows (delete + insert in a savepoint, so that a constraint the checks did not
foresee refuses the edit and leaves the draft as it was). The rows as they were (``before``) and as
they are (``after``) go to ``layout_edit``: undo writes ``before`` back.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
import shapely
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.errors import (
    BadCode,
    DuplicateCode,
    EditRefused,
    ImportFailed,
    InvalidGeometry,
    LayoutNotDraft,
    MergeFailed,
    NotFound,
    NothingToUndo,
    OutsideCommunity,
    RevisionConflict,
)
from api.core.geojson import DECIMALS
from api.grids.service import layout_in_force
from api.imports.files import FileLimits
from api.planner import schemas as s
from api.planner.geometry import (  # check_inside_community is imported from here by the proposals
    check_code_free,
    check_inside_community,
    community_row,
    next_code,
    read_geometry,
    read_polygon,
    refusal,
    snap_reference,
)
from geo.edit import (
    EditError,
    assign_footprint,
    check_line,
    clip_to_free,
    keep_buildings_whole,
    merge_polygons,
    metres_to_degrees,
    snap,
    split_polygon,
)
from geo.validate import first_over_vertex_limit

STAFF_ROLES = ("grid_leader", "grid_worker")
UPLOAD_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip")
# ----------------------------------------------------------------------------------------------
# Rows


@dataclass
class GridRow:
    code: str
    name: str
    name_en: str | None
    community_code: str | None
    households: int
    population: int
    properties: dict[str, Any] = field(default_factory=dict)
    geom: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "name_en": self.name_en, "community_code": self.community_code,
                "households": self.households, "population": self.population, "properties": self.properties,
                "boundary": shapely.to_wkb(self.geom, hex=True)}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> GridRow:
        return cls(d["code"], d["name"], d.get("name_en"), d.get("community_code"), int(d["households"]),
                   int(d["population"]), d.get("properties") or {}, shapely.from_wkb(d["boundary"]))

    def copy(self, **changes: Any) -> GridRow:
        out = GridRow(**{**self.__dict__, "properties": dict(self.properties)})
        for k, v in changes.items():
            setattr(out, k, v)
        return out


def load_rows(session: Session, layout_id: int, codes: list[str]) -> dict[str, GridRow]:
    rows = session.execute(text("""
        SELECT code, name, name_en, community_code, households, population, properties,
               ST_AsBinary(boundary) AS wkb
        FROM grid WHERE layout_id = :l AND code = ANY(:codes)"""), {"l": layout_id, "codes": list(codes)}).all()
    return {r.code: GridRow(r.code, r.name, r.name_en, r.community_code, r.households, r.population,
                            dict(r.properties or {}), shapely.from_wkb(bytes(r.wkb))) for r in rows}


def _require_rows(session: Session, layout_id: int, codes: list[str]) -> dict[str, GridRow]:
    found = load_rows(session, layout_id, codes)
    missing = [c for c in codes if c not in found]
    if missing:
        raise NotFound(f"no grid {missing[0]} in layout {layout_id}", field="code", code_missing=missing[0])
    return found


def write_rows(session: Session, layout_id: int, delete_codes: list[str], rows: list[GridRow]) -> None:
    """Replace grids: delete ``delete_codes``, insert ``rows``, in a savepoint; a constraint violation
    becomes a refusal with the draft unchanged."""
    try:
        with session.begin_nested():
            if delete_codes:
                session.execute(text("DELETE FROM grid WHERE layout_id = :l AND code = ANY(:codes)"),
                                {"l": layout_id, "codes": list(delete_codes)})
            if rows:
                session.execute(text("""
                    INSERT INTO grid (layout_id, code, name, name_en, community_code, households, population,
                                      properties, boundary)
                    VALUES (:l, :code, :name, :name_en, :community_code, :households, :population,
                            CAST(:properties AS jsonb), ST_Multi(ST_GeomFromWKB(:wkb, 4326)))"""),
                    [{"l": layout_id, "code": r.code, "name": r.name, "name_en": r.name_en,
                      "community_code": r.community_code, "households": r.households, "population": r.population,
                      "properties": orjson.dumps(r.properties).decode(), "wkb": shapely.to_wkb(r.geom)}
                     for r in rows])
    except IntegrityError as exc:
        diag = getattr(exc.orig, "diag", None)
        constraint = getattr(diag, "constraint_name", None) or ""
        if constraint == "uq_grid_layout_code":
            raise DuplicateCode("a grid code is used twice in this layout") from None
        if constraint == "ck_grid_code_in_community":
            raise BadCode("a grid code must start with its community code") from None
        if "boundary" in constraint or "valid" in str(exc.orig).lower():
            raise InvalidGeometry("the database refused the geometry as invalid",
                                  reason=constraint or "invalid") from None
        raise EditRefused(f"the database refused the edit ({constraint or type(exc.orig).__name__})",
                          reason="constraint_violation") from None


# ----------------------------------------------------------------------------------------------
# Layouts


def lock_layout(session: Session, layout_id: int, *, base_revision: int | None, draft: bool = True) -> Any:
    """Lock the layout row for the rest of the transaction and check it is a draft at ``base_revision``."""
    row = session.execute(text("SELECT id, name, status, revision FROM grid_layout WHERE id = :id FOR UPDATE"),
                          {"id": layout_id}).first()
    if row is None:
        raise NotFound(f"no grid layout with id {layout_id}", field="layout_id")
    if draft and row.status != "draft":
        raise LayoutNotDraft(f"layout {layout_id} is {row.status}; only drafts are edited (copy it into a new draft)",
                             layout_status=row.status)
    if base_revision is not None and row.revision != base_revision:
        raise RevisionConflict(
            f"the draft is at revision {row.revision}, not {base_revision}: someone else has edited it; "
            "reload it and make the edit again", revision=row.revision, base_revision=base_revision)
    return row


def create_copy(session: Session, *, name: str, copy_of: int | None, note: str | None) -> int:
    """A new draft holding a copy of a layout's grids (default: the layout in force now), with each grid's
    staff (grid leader and workers) copied into it, so that the draft's staff can be edited apart."""
    src = copy_of if copy_of is not None else layout_in_force(session)
    if src is None:
        raise NotFound("no grid layout is in force now; name one with copy_of", field="copy_of")
    status = session.execute(text("SELECT status FROM grid_layout WHERE id = :id"), {"id": src}).scalar()
    if status is None:
        raise NotFound(f"no grid layout with id {src}", field="copy_of")
    new = session.execute(text("""
        INSERT INTO grid_layout (name, status, parent_id, note) VALUES (:name, 'draft', :src, :note) RETURNING id"""),
        {"name": name, "src": src, "note": note}).scalar_one()
    session.execute(text("""
        INSERT INTO grid (layout_id, code, name, name_en, community_code, households, population, properties, boundary)
        SELECT :new, g.code, g.name, g.name_en, g.community_code, g.households, g.population,
               CASE WHEN :draft AND g.properties ? 'staff' THEN g.properties
                    ELSE g.properties || jsonb_build_object('staff', coalesce(
                        (SELECT jsonb_agg(p.id ORDER BY p.id) FROM person p
                          WHERE p.grid_code = g.code AND p.active AND p.role = ANY(:roles)), '[]'::jsonb)) END,
               g.boundary
        FROM grid g WHERE g.layout_id = :src"""),
        {"new": new, "src": src, "draft": status == "draft", "roles": list(STAFF_ROLES)})
    return new


def import_draft(session: Session, *, content: bytes | IO[bytes], filename: str, name: str, crs: str | None,
                 code_field: str | None, name_field: str | None, code_prefix: str | None,
                 layer: str | None, limits: FileLimits | None = None) -> tuple[int, dict[str, Any]]:
    """A new draft from an uploaded file (GeoJSON, GeoPackage, zipped Shapefile), via the import path the
    CLI uses: the file lands whole or not at all (a savepoint), the CRS converted, small repairs listed. The
    upload is copied to disk in chunks within ``limits`` (api/imports/files.py), never held whole in memory."""
    from api.imports.files import save_upload
    from api.imports.service import import_layer

    suffix = Path(filename or "").suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise ImportFailed(f"{filename or 'the file'}: unsupported file type; send GeoJSON, a GeoPackage (.gpkg) "
                           "or a zipped Shapefile (.zip)", reason="unsupported_format")
    with tempfile.TemporaryDirectory() as tmp:
        # the planner's own file name, so that an error names the file they sent
        stem = re.sub(r"[^\w.\-]+", "_", Path(filename).stem)[:80].strip("._") or "upload"
        path = Path(tmp) / f"{stem}{suffix}"
        if not save_upload(content, path, max_bytes=limits.max_bytes if limits else None):
            raise ImportFailed("the file is empty", reason="empty_file")
        with session.begin_nested():
            new = session.execute(text("INSERT INTO grid_layout (name, status) VALUES (:n, 'draft') RETURNING id"),
                                  {"n": name}).scalar_one()
            res = import_layer(session, layer="grids", path=path, source_layer=layer or None,
                               code_field=code_field or None, name_field=name_field or None, crs=crs or None,
                               layout=str(new), code_prefix=code_prefix or None, limits=limits)
    return new, {"rows": res.rows_imported, "repaired": [{"row": r, "reason": why} for r, why in res.repaired],
                 "crs_assumed": res.crs_assumed, "crs_source": res.crs_source, "crs_read_from": res.crs_read_from,
                 "notes": res.notes}


def delete_draft(session: Session, *, layout_id: int) -> None:
    lock_layout(session, layout_id, base_revision=None)
    session.execute(text("DELETE FROM grid_layout WHERE id = :id"), {"id": layout_id})


# ----------------------------------------------------------------------------------------------
# Grids as GeoJSON


def grid_features(session: Session, *, layout_id: int, codes: list[str] | None = None) -> str:
    """The layout's grids (or some of them) as a FeatureCollection, assembled in PostgreSQL. Buildings
    count for the grid holding their representative point; staff is the draft's own list (drafts) or the
    people assigned to the grid (published and retired layouts)."""
    row = session.execute(text("SELECT status, revision FROM grid_layout WHERE id = :id"), {"id": layout_id}).first()
    if row is None:
        raise NotFound(f"no grid layout with id {layout_id}", field="layout_id")
    session.execute(text("SET LOCAL jit = off"))  # compiling costs more than the query saves
    return session.execute(text(f"""
        WITH g AS MATERIALIZED (
            SELECT * FROM grid WHERE layout_id = :l AND (CAST(:codes AS text[]) IS NULL OR code = ANY(:codes))),
        bc AS (SELECT g.code, count(*) AS n FROM g JOIN building b ON ST_Intersects(g.boundary, b.rep_point)
               GROUP BY g.code),
        sr AS (
            SELECT g.code, (jsonb_array_elements_text(g.properties -> 'staff'))::bigint AS pid
            FROM g WHERE :draft AND g.properties ? 'staff'
            UNION ALL
            SELECT g.code, p.id FROM g JOIN person p ON p.grid_code = g.code AND p.active AND p.role = ANY(:roles)
            WHERE NOT (:draft AND g.properties ? 'staff')),
        st AS (
            SELECT sr.code, jsonb_agg(jsonb_build_object('id', p.id, 'name', p.name, 'role', p.role)
                                      ORDER BY p.role, p.id) AS staff
            FROM sr JOIN person p ON p.id = sr.pid GROUP BY sr.code)
        SELECT jsonb_build_object(
            'type', 'FeatureCollection', 'layout_id', CAST(:l AS bigint), 'revision', CAST(:rev AS int),
            'features', coalesce(jsonb_agg(jsonb_build_object(
                'type', 'Feature', 'id', g.code,
                'geometry', ST_AsGeoJSON(g.boundary, {DECIMALS})::jsonb,
                'properties', jsonb_build_object(
                    'code', g.code, 'name', g.name, 'name_en', g.name_en, 'community_code', g.community_code,
                    'households', g.households, 'population', g.population, 'buildings', coalesce(bc.n, 0),
                    'staff', coalesce(st.staff, '[]'::jsonb))) ORDER BY g.code), '[]'::jsonb))::text
        FROM g LEFT JOIN bc ON bc.code = g.code LEFT JOIN st ON st.code = g.code"""),
        {"l": layout_id, "codes": codes, "draft": row.status == "draft", "rev": row.revision,
         "roles": list(STAFF_ROLES)}).scalar_one()


# ----------------------------------------------------------------------------------------------
# The operations: each returns (codes to delete, rows to insert, params to record)

Plan = tuple[list[GridRow], list[GridRow], dict[str, Any]]


def _mean_lat(geom: Any) -> float:
    return (geom.bounds[1] + geom.bounds[3]) / 2


def op_update_geometry(session: Session, layout_id: int, body: s.UpdateGeometry) -> Plan:
    items = body.items()
    codes = [c for c, _ in items]
    if len(set(codes)) != len(codes):
        raise EditRefused("a grid appears twice in one edit", reason="repeated_code")
    old = _require_rows(session, layout_id, codes)
    after = []
    for code, gj in items:
        geom = read_polygon(gj)
        tol = metres_to_degrees(body.snap_m, _mean_lat(geom))
        if tol > 0:
            ref = snap_reference(session, layout_id=layout_id, geom=geom, exclude=codes, tol_deg=tol)
            geom = snap(geom, ref, tol, keep=old[code].geom)
        after.append(old[code].copy(geom=geom))
    return [old[c] for c in codes], after, {"codes": codes, "snap_m": body.snap_m}


def op_split(session: Session, layout_id: int, body: s.Split) -> Plan:
    old = _require_rows(session, layout_id, [body.code])[body.code]
    try:
        line = check_line(read_geometry(body.line, what="line"))
        keep, other = split_polygon(old.geom, line, extend_deg=metres_to_degrees(body.snap_m, _mean_lat(old.geom)))
        moved: list[dict[str, Any]] = []
        if not body.cut_buildings:
            keep, other, moved = keep_buildings_whole(keep, other, _crossed_buildings(session, keep, other))
    except EditError as err:
        raise refusal(err) from None
    community = old.community_code or old.code[:12]
    new_code = next_code(session, layout_id=layout_id, community=community)
    a_keep, a_other = shapely.area(keep), shapely.area(other)
    share = a_other / (a_keep + a_other)
    hh_other, pop_other = round(old.households * share), round(old.population * share)
    props = {k: v for k, v in old.properties.items() if k != "staff"}
    props["staff"] = []
    kept = old.copy(geom=keep, households=old.households - hh_other, population=old.population - pop_other)
    new = GridRow(new_code, f"{old.name}-2", f"{old.name_en}-2" if old.name_en else None, old.community_code,
                  hh_other, pop_other, props, other)
    buildings = [{"building_code": m["building_code"], "code": (body.code, new_code)[m["piece"]], "share": m["share"]}
                 for m in moved]
    return [old], [kept, new], {"code": body.code, "new_code": new_code, "line": body.line,
                                "cut_buildings": body.cut_buildings, "buildings_kept_whole": buildings}


def _crossed_buildings(session: Session, a: Any, b: Any) -> list[tuple[str, Any]]:
    """The footprints lying partly in each of two pieces of a split (the buildings the line crossed)."""
    rows = session.execute(text("""
        SELECT code, ST_AsBinary(footprint) AS wkb FROM building
        WHERE ST_Intersects(footprint, ST_GeomFromWKB(:a, 4326)) AND ST_Intersects(footprint, ST_GeomFromWKB(:b, 4326))
        ORDER BY code"""), {"a": shapely.to_wkb(a), "b": shapely.to_wkb(b)}).all()
    return [(r.code, shapely.from_wkb(bytes(r.wkb))) for r in rows]


def op_merge(session: Session, layout_id: int, body: s.Merge) -> Plan:
    codes = list(dict.fromkeys(body.codes))
    if len(codes) < 2:
        raise MergeFailed("merge needs at least two different grids", reason="too_few")
    if body.keep not in codes:
        raise MergeFailed("keep must be one of the codes merged", reason="keep_not_listed")
    old = _require_rows(session, layout_id, codes)
    communities = {old[c].community_code for c in codes}
    if len(communities) != 1:
        raise MergeFailed("grids of different communities cannot be merged", reason="different_communities",
                          communities=sorted(c or "" for c in communities))
    try:
        geom = merge_polygons([old[c].geom for c in codes])
    except EditError as err:
        raise refusal(err) from None
    keep = old[body.keep]
    staff: list[int] = []
    for c in [body.keep, *[c for c in codes if c != body.keep]]:
        for pid in old[c].properties.get("staff", []):
            if pid not in staff:
                staff.append(pid)
    props = dict(keep.properties)
    props["staff"] = staff
    merged = keep.copy(geom=geom, households=sum(old[c].households for c in codes),
                       population=sum(old[c].population for c in codes), properties=props)
    return [old[c] for c in codes], [merged], {"codes": codes, "keep": body.keep}


def op_create(session: Session, layout_id: int, body: s.Create) -> Plan:
    geom = read_polygon(body.geometry)
    tol = metres_to_degrees(body.snap_m, _mean_lat(geom))
    if tol > 0:
        ref = snap_reference(session, layout_id=layout_id, geom=geom, exclude=[], tol_deg=tol, buildings=False)
        geom = snap(geom, ref, tol)
    x0, y0, x1, y1 = geom.bounds
    occupied = [shapely.from_wkb(bytes(w)) for (w,) in session.execute(text("""
        SELECT ST_AsBinary(boundary) FROM grid WHERE layout_id = :l
        AND boundary && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"""),
        {"l": layout_id, "x0": x0, "y0": y0, "x1": x1, "y1": y1}).all()]
    try:
        geom = clip_to_free(geom, shapely.union_all(occupied) if occupied else None)
    except EditError as err:
        raise refusal(err) from None
    comm = session.execute(text("""
        SELECT c.code FROM community c WHERE ST_Intersects(c.boundary, ST_GeomFromWKB(:w, 4326))
        ORDER BY ST_Area(ST_Intersection(c.boundary, ST_GeomFromWKB(:w, 4326))) DESC, c.code LIMIT 1"""),
        {"w": shapely.to_wkb(geom)}).scalar()
    if comm is None:
        raise OutsideCommunity("the new grid lies in no community", area_m2=None, community_code=None)
    if body.code is not None:
        if body.code[:12] != comm:
            raise BadCode(f"the code must start with the community code {comm}", community_code=comm)
        check_code_free(session, layout_id, body.code)
        code = body.code
    else:
        code = next_code(session, layout_id=layout_id, community=comm)
    info = community_row(session, comm)
    seq = int(code[12:])
    name = body.name or f"{info[1]}第{seq}网格"
    name_en = body.name_en or (f"{info[2]} Grid {seq}" if info[2] else None)
    row = GridRow(code, name, name_en, comm, 0, 0, {"staff": []}, geom)
    return [], [row], {"code": code, "geometry": body.geometry, "snap_m": body.snap_m}


def op_delete(session: Session, layout_id: int, body: s.Delete) -> Plan:
    old = _require_rows(session, layout_id, [body.code])[body.code]
    return [old], [], {"code": body.code}


def op_update_attrs(session: Session, layout_id: int, body: s.UpdateAttrs) -> Plan:
    old = _require_rows(session, layout_id, [body.code])[body.code]
    new = old.copy()
    changes: dict[str, Any] = {"code": body.code}
    for attr in ("name", "name_en", "households", "population"):
        value = getattr(body, attr)
        if value is not None or attr in body.model_fields_set:
            if attr == "name" and value is None:
                continue
            if attr in ("households", "population") and value is None:
                continue
            setattr(new, attr, value)
            changes[attr] = value
    if body.new_code is not None and body.new_code != old.code:
        nc = body.new_code
        if not (len(nc) == 15 and nc.isdigit()):
            raise BadCode(f"a grid code has 15 digits, not {nc!r}", field="new_code")
        if old.community_code and nc[:12] != old.community_code:
            raise BadCode(f"the code must start with the community code {old.community_code}", field="new_code",
                          community_code=old.community_code)
        check_code_free(session, layout_id, nc)
        new.code = nc
        changes["new_code"] = nc
    if body.staff is not None:
        ids = list(dict.fromkeys(body.staff))
        known = set(session.execute(text("SELECT id FROM person WHERE id = ANY(:ids)"), {"ids": ids}).scalars())
        missing = [i for i in ids if i not in known]
        if missing:
            raise NotFound(f"no person with id {missing[0]}", field="staff", person_id=missing[0])
        new.properties["staff"] = ids
        changes["staff"] = ids
    if len(changes) == 1:
        raise EditRefused("nothing to change: give name, name_en, new_code, households, population or staff",
                          reason="no_change")
    return [old], [new], changes


def op_assign_building(session: Session, layout_id: int, body: s.AssignBuilding) -> Plan:
    b = session.execute(text("""SELECT id, code, ST_AsBinary(footprint) AS wkb FROM building
                                WHERE id = :id OR code = :code"""),
                        {"id": body.building_id, "code": body.building_code}).first()
    if b is None:
        which = body.building_code if body.building_id is None else body.building_id
        raise NotFound(f"no building {which}", field="building_code" if body.building_id is None else "building_id")
    footprint = shapely.from_wkb(bytes(b.wkb))
    target = _require_rows(session, layout_id, [body.code])[body.code]
    other_codes = [c for (c,) in session.execute(text("""
        SELECT code FROM grid WHERE layout_id = :l AND code <> :c AND boundary && ST_GeomFromWKB(:w, 4326)
          AND ST_Area(ST_Intersection(boundary, ST_GeomFromWKB(:w, 4326))) > 0 ORDER BY code"""),
        {"l": layout_id, "c": body.code, "w": bytes(b.wkb)}).all()]
    others = load_rows(session, layout_id, other_codes)
    try:
        new_target, rest = assign_footprint(target.geom, [others[c].geom for c in other_codes], footprint)
    except EditError as err:
        raise refusal(err) from None
    after = [target.copy(geom=new_target)]
    for c, g in zip(other_codes, rest, strict=True):
        if g is None:
            raise EditRefused(f"grid {c} would be left empty; delete or merge it instead", reason="grid_emptied",
                              grid_code=c)
        after.append(others[c].copy(geom=g))
    return [target, *[others[c] for c in other_codes]], after, {
        "building_id": b.id, "building_code": b.code, "code": body.code, "from": other_codes}


OPS = {"update_geometry": op_update_geometry, "split": op_split, "merge": op_merge, "create": op_create,
       "delete": op_delete, "update_attrs": op_update_attrs, "assign_building": op_assign_building}


# ----------------------------------------------------------------------------------------------
# Edit, undo, history


def _record(session: Session, *, layout_id: int, op: str, params: dict[str, Any], before: list[GridRow],
            after: list[GridRow], actor: str) -> dict[str, Any]:
    rev = session.execute(text("UPDATE grid_layout SET revision = revision + 1 WHERE id = :l RETURNING revision"),
                          {"l": layout_id}).scalar_one()
    row = session.execute(text("""
        INSERT INTO layout_edit (layout_id, revision, op, params, before, after, actor)
        VALUES (:l, :rev, :op, CAST(:params AS jsonb), CAST(:before AS jsonb), CAST(:after AS jsonb), :actor)
        RETURNING id, at"""),
        {"l": layout_id, "rev": rev, "op": op, "params": orjson.dumps(params).decode(),
         "before": orjson.dumps([r.to_json() for r in before]).decode(),
         "after": orjson.dumps([r.to_json() for r in after]).decode(), "actor": actor}).one()
    codes = list(dict.fromkeys([r.code for r in after] + [r.code for r in before]))
    return {"id": row.id, "op": op, "revision": rev, "params": params, "actor": actor, "at": row.at.isoformat(),
            "codes": codes}


def _answer(session: Session, layout_id: int, edit: dict[str, Any], before: list[GridRow],
            after: list[GridRow]) -> dict[str, Any]:
    now = {r.code for r in after}
    changed = orjson.loads(grid_features(session, layout_id=layout_id, codes=sorted(now))) if now else {
        "type": "FeatureCollection", "features": []}
    return {"revision": edit["revision"], "edit": edit, "changed": changed,
            "removed": sorted({r.code for r in before} - now)}


def apply_edit(session: Session, *, layout_id: int, body: Any, actor: str, settings: Settings) -> dict[str, Any]:
    lock_layout(session, layout_id, base_revision=body.base_revision)
    before, after, params = OPS[body.op](session, layout_id, body)
    geometry_changed = [r for r in after if body.op != "update_attrs"]
    check_inside_community(session, geometry_changed, settings)
    for r in after:
        if r.geom is None or r.geom.is_empty:
            raise EditRefused(f"grid {r.code} would be empty", reason="empty")
    over = first_over_vertex_limit([r.geom for r in after], settings.import_max_vertices)
    if over is not None:  # issue 17: the import's vertex cap holds for drawn grids too
        i, count = over
        raise InvalidGeometry(f"grid {after[i].code} would have {count:,} vertices; at most "
                              f"{settings.import_max_vertices:,} are accepted (GRIDMAP_IMPORT_MAX_VERTICES)",
                              reason="too_many_vertices", limit=settings.import_max_vertices,
                              setting="GRIDMAP_IMPORT_MAX_VERTICES")
    write_rows(session, layout_id, [r.code for r in before], after)
    edit = _record(session, layout_id=layout_id, op=body.op, params=params, before=before, after=after, actor=actor)
    return _answer(session, layout_id, edit, before, after)


def undo(session: Session, *, layout_id: int, base_revision: int, actor: str) -> dict[str, Any]:
    lock_layout(session, layout_id, base_revision=base_revision)
    last = session.execute(text("""
        SELECT id, op, before, after FROM layout_edit
        WHERE layout_id = :l AND op <> 'undo' AND undone_by IS NULL ORDER BY revision DESC LIMIT 1"""),
        {"l": layout_id}).first()
    if last is None:
        raise NothingToUndo("every edit of this draft has been undone already")
    now_rows = [GridRow.from_json(d) for d in last.after]
    restore = [GridRow.from_json(d) for d in last.before]
    write_rows(session, layout_id, [r.code for r in now_rows], restore)
    edit = _record(session, layout_id=layout_id, op="undo", params={"undoes": last.id, "op": last.op},
                   before=now_rows, after=restore, actor=actor)
    session.execute(text("UPDATE layout_edit SET undone_by = :u WHERE id = :id"), {"u": edit["id"], "id": last.id})
    return _answer(session, layout_id, edit, now_rows, restore)


def edits(session: Session, *, layout_id: int, limit: int = 500) -> dict[str, Any]:
    rev = session.execute(text("SELECT revision FROM grid_layout WHERE id = :id"), {"id": layout_id}).scalar()
    if rev is None:
        raise NotFound(f"no grid layout with id {layout_id}", field="layout_id")
    rows = session.execute(text("""
        SELECT id, revision, op, params, actor, at, undone_by,
               ARRAY(SELECT DISTINCT x ->> 'code' FROM jsonb_array_elements(after || before) x ORDER BY 1) AS codes
        FROM layout_edit WHERE layout_id = :l ORDER BY revision DESC LIMIT :n"""),
        {"l": layout_id, "n": limit}).mappings().all()
    return {"layout_id": layout_id, "revision": rev, "items": [
        {**dict(r), "at": r["at"].isoformat(), "codes": list(r["codes"])} for r in rows]}


def checksum(session: Session, layout_id: int) -> str:
    """A digest of every grid row of a layout (for tests and for clients that want to know "changed?")."""
    return session.execute(text("""
        SELECT md5(coalesce(string_agg(concat_ws('|', code, name, name_en, community_code, households, population,
                                                 properties::text, encode(ST_AsEWKB(boundary), 'hex')), ';'
                                       ORDER BY code), ''))
        FROM grid WHERE layout_id = :l"""), {"l": layout_id}).scalar_one()
