"""The feature collections /ogc serves, each described once: its SQL, properties, queryables and readers.

A collection is data, not code: ``items`` (service.py), ``queryables`` and the CQL2 translation (cql.py) and the
OpenAPI document all read the same :class:`Collection`. Scoping and masking are the API's own: a worker sees cases
of its grids only (``api.cases.service.scope_sql``), reporters' names and phones go only to the roles of
``Can.SEE_CALLER`` (api/auth/roles.py), and a draft layout only to the roles that may edit drafts (the planner's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.roles import TABLE, Can, can
from api.auth.service import Principal
from api.cases.service import OVERDUE_SQL, scope_sql
from api.core.errors import Forbidden, GridmapError, NotFound, Unauthorized
from api.grids.service import layout_in_force

#: Who reads what through /ogc: the API's own capabilities (api/auth/roles.py), never a role list of its own.
MAP_READERS = TABLE[Can.READ_MAP]
CASE_READERS = TABLE[Can.READ_CASES]
#: Roles that read anything at all through /ogc (intake systems do not).
ANY_READER = MAP_READERS | CASE_READERS
#: Drafts are the planners' (the planner workspace's capability).
DRAFT_READERS = TABLE[Can.PLAN]
LAYOUT_PREFIX = "grids-layout-"


@dataclass(frozen=True, slots=True)
class Prop:
    """One property: its name, the SQL that yields it, its JSON Schema type (``format`` for date-time)."""

    name: str
    sql: str
    type: str = "string"
    format: str | None = None
    title: str = ""

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "title": self.title or self.name}
        if self.format:
            out["format"] = self.format
        return out


@dataclass(frozen=True, slots=True)
class Collection:
    id: str
    title: str
    description: str
    from_sql: str
    id_sql: str  # also the order of the features (pages are stable)
    id_type: str  # "string" or "integer"
    geom_sql: str
    geometry_type: str  # the JSON Schema / OGC geometry type name (Point, MultiPolygon …)
    props: tuple[Prop, ...]
    readers: frozenset[str]
    where_sql: str = "TRUE"
    params: dict[str, Any] = field(default_factory=dict)
    #: the property that ``datetime=`` filters (None: no temporal property)
    temporal: str | None = None
    #: grids: ``datetime=`` picks the layout in force then (the ``layout`` parameter)
    layout_by_time: bool = False
    layout_id: int | None = None
    layout_status: str | None = None
    #: properties given only to the roles that may see the caller (``Can.SEE_CALLER``: reporters' personal data)
    personal: tuple[Prop, ...] = ()
    #: Part 4 writes (draft layouts only)
    editable: bool = False
    #: the layer of the API's vector tiles (api/tiles) that draws this collection, if any
    tiles: str | None = None
    extent_sql: str | None = None

    def visible_props(self, principal: Principal | None) -> tuple[Prop, ...]:
        if principal is not None and can(principal.role, Can.SEE_CALLER):
            return self.props + self.personal
        return self.props

    def prop(self, name: str, principal: Principal | None) -> Prop | None:
        return next((p for p in self.visible_props(principal) if p.name == name), None)


_GRID_PROPS = (
    Prop("code", "t.code", title="grid code (网格编码)"),
    Prop("name", "t.name"),
    Prop("name_en", "t.name_en"),
    Prop("community_code", "t.community_code"),
    Prop("street_code", "left(t.code, 9)"),
    Prop("households", "t.households", "integer"),
    Prop("population", "t.population", "integer"),
    Prop("layout_id", "t.layout_id", "integer"),
)


def _grids(id_: str, title: str, description: str, **kw: Any) -> Collection:
    return Collection(
        id=id_, title=title, description=description, from_sql="FROM grid t", id_sql="t.code", id_type="string",
        geom_sql="t.boundary", geometry_type="MultiPolygon", props=_GRID_PROPS,
        where_sql="t.layout_id = :layout", tiles="grids",
        extent_sql="SELECT ST_Extent(boundary) FROM grid WHERE layout_id = :layout",
        **kw)


STATIC: dict[str, Collection] = {c.id: c for c in (
    Collection(
        id="streets", title="Streets (街道)", description="Sub-district (街道) boundaries.",
        from_sql="FROM street t", id_sql="t.code", id_type="string", geom_sql="t.boundary",
        geometry_type="MultiPolygon", readers=MAP_READERS,
        props=(Prop("code", "t.code"), Prop("name", "t.name"), Prop("name_en", "t.name_en")),
        extent_sql="SELECT ST_Extent(boundary) FROM street"),
    Collection(
        id="communities", title="Communities (社区)", description="Community (社区) boundaries.",
        from_sql="FROM community t", id_sql="t.code", id_type="string", geom_sql="t.boundary",
        geometry_type="MultiPolygon", readers=MAP_READERS,
        props=(Prop("code", "t.code"), Prop("name", "t.name"), Prop("name_en", "t.name_en"),
               Prop("street_code", "t.street_code")),
        extent_sql="SELECT ST_Extent(boundary) FROM community"),
    _grids("grids", "Grids in force (网格)",
           "The grids of the layout in force; `datetime=<instant>` gives the layout in force at that moment.",
           readers=MAP_READERS, layout_by_time=True),
    Collection(
        id="buildings", title="Buildings (楼栋)", description="Building footprints.",
        from_sql="FROM building t", id_sql="t.id", id_type="integer", geom_sql="t.footprint",
        geometry_type="Polygon", readers=MAP_READERS,
        props=(Prop("code", "t.code"), Prop("address", "t.address"), Prop("kind", "t.kind"),
               Prop("floors", "t.floors", "integer"), Prop("units", "t.units", "integer"),
               Prop("households", "t.households", "integer"), Prop("population", "t.population", "integer")),
        tiles="buildings", extent_sql="SELECT ST_Extent(footprint) FROM building"),
    Collection(
        id="facilities", title="Facilities (设施)",
        description="Service facilities (党群服务中心, clinics, elderly care, schools …).",
        from_sql="FROM facility t", id_sql="t.code", id_type="string", geom_sql="t.location",
        geometry_type="Point", readers=MAP_READERS,
        props=(Prop("code", "t.code"), Prop("kind", "t.kind"), Prop("name", "t.name"),
               Prop("name_en", "t.name_en"), Prop("address", "t.address")),
        extent_sql="SELECT ST_Extent(location) FROM facility"),
    Collection(
        id="addresses", title="Standard addresses (标准地址)", description="The standard address registry.",
        from_sql="FROM address t", id_sql="t.id", id_type="integer", geom_sql="t.location",
        geometry_type="Point", readers=MAP_READERS,
        props=(Prop("full_text", "t.full_text"), Prop("district", "t.district"), Prop("street", "t.street"),
               Prop("community", "t.community"), Prop("road", "t.road"), Prop("door_number", "t.door_number"),
               Prop("estate", "t.estate"), Prop("building_no", "t.building_no"), Prop("unit", "t.unit"),
               Prop("room", "t.room"), Prop("building_id", "t.building_id", "integer")),
        extent_sql="SELECT ST_Extent(location) FROM address"),
    Collection(
        id="cases", title="Cases (案件)",
        description="Cases at their report's location, scoped as the API scopes them (a worker: its own grids); "
                    "reporters' names and phones only for the roles that call residents back (Can.SEE_CALLER).",
        from_sql="FROM cases c JOIN report r ON r.id = c.report_id "
                 "LEFT JOIN category cat ON cat.code = c.category_code",
        id_sql="c.id", id_type="integer", geom_sql="r.location", geometry_type="Point",
        readers=CASE_READERS, temporal="reported_at",
        props=(Prop("status", "c.status"), Prop("overdue", OVERDUE_SQL, "boolean"),
               Prop("category_code", "c.category_code"), Prop("category_name", "cat.name"),
               Prop("grid_code", "c.grid_code"), Prop("community_code", "left(c.grid_code, 12)"),
               Prop("street_code", "left(c.grid_code, 9)"), Prop("layout_id", "c.layout_id", "integer"),
               Prop("source", "r.source"), Prop("address", "r.address_text"), Prop("description", "r.description"),
               Prop("reported_at", "r.reported_at", "string", "date-time"),
               Prop("deadline", "c.deadline", "string", "date-time"),
               Prop("created_at", "c.created_at", "string", "date-time"),
               Prop("closed_at", "c.closed_at", "string", "date-time")),
        personal=(Prop("reporter_name", "r.reporter_name"), Prop("reporter_phone", "r.reporter_phone")),
        extent_sql="SELECT ST_Extent(location) FROM report"),
)}


def layout_collection(session: Session, layout_id: int) -> Collection:
    row = session.execute(text("SELECT id, name, status FROM grid_layout WHERE id = :id"), {"id": layout_id}).first()
    if row is None:
        raise NotFound(f"no collection {LAYOUT_PREFIX}{layout_id}")
    draft = row.status == "draft"
    return _grids(
        f"{LAYOUT_PREFIX}{row.id}", f"Grids of layout {row.id}: {row.name} ({row.status})",
        f"Every grid of layout {row.id} ({row.status})" + (
            "; a draft: create, replace, update and delete grids here (OGC API Features Part 4), each write an edit "
            "of the planner's edit log." if draft else "; read-only."),
        readers=DRAFT_READERS if draft else MAP_READERS, layout_id=row.id, layout_status=row.status,
        editable=draft, params={"layout": row.id})


def resolve(session: Session, collection_id: str) -> Collection:
    """The collection named ``collection_id`` (a 404 when there is none)."""
    found = STATIC.get(collection_id)
    if found is not None:
        return found
    m = re.fullmatch(LAYOUT_PREFIX + r"([1-9][0-9]{0,17})", collection_id)
    if m is None:
        raise NotFound(f"no collection {collection_id!r}")
    return layout_collection(session, int(m.group(1)))


def check_read(coll: Collection, principal: Principal | None, public: frozenset[str]) -> None:
    """Raise unless ``principal`` may read ``coll`` (None: no credentials, only the public collections)."""
    if principal is None:
        if coll.id in public:
            return
        raise Unauthorized("Send an API key or login token as 'Authorization: Bearer <key>'.")
    if principal.role not in coll.readers:
        if coll.layout_status == "draft":  # as for a case outside a worker's grids: as if it did not exist
            raise NotFound(f"no collection {coll.id!r}")
        raise Forbidden(f"This collection needs one of the roles: {', '.join(sorted(coll.readers))}.")


def all_collections(session: Session, principal: Principal | None, public: frozenset[str]) -> list[Collection]:
    """Every collection the caller may read: the fixed ones, then one per layout (drafts for their readers)."""
    out = []
    for coll in STATIC.values():
        try:
            check_read(coll, principal, public)
        except GridmapError:  # not readable: not listed
            continue
        out.append(coll)
    if principal is not None:
        ids = session.execute(text("SELECT id FROM grid_layout ORDER BY id")).scalars().all()
        for lid in ids:
            coll = layout_collection(session, lid)
            if principal.role in coll.readers:
                out.append(coll)
    return out


def base_filter(coll: Collection, principal: Principal | None, session: Session, at: Any) -> tuple[str, dict]:
    """The collection's own WHERE and parameters: its layout (the one in force at ``at`` for ``grids``) and the
    caller's scope (cases)."""
    params = dict(coll.params)
    where = [coll.where_sql]
    if coll.layout_by_time:
        params["layout"] = layout_in_force(session, at=at)
    if coll.id == "cases" and principal is not None:
        scope, scope_params = scope_sql(principal)
        where.append(scope)
        params.update(scope_params)
    return " AND ".join(where), params
