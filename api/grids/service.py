"""Layouts and grids: which layout is in force (the ONE rule: :data:`IN_FORCE`, :func:`layout_in_force`,
:func:`layout_periods`), a layout's lifecycle (a draft made, published), grids as GeoJSON, a grid's detail."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Literal

import orjson
from fastapi import Request, Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.errors import InvalidParameter, NotFound
from api.core.geojson import DECIMALS, GEOJSON, BBox, bbox_clause, bbox_params, layer_response
from api.grids.schemas import LayoutOut
from api.people.service import mask_phone

#: The layouts that are or were in force (a draft never was).
IN_FORCE_STATUSES = "status IN ('published', 'retired')"
#: The layout in force at ``:at``: the exclusion constraint on grid_layout guarantees at most one.
IN_FORCE = f"{IN_FORCE_STATUSES} AND tstzrange(effective_from, effective_to, '[)') @> CAST(:at AS timestamptz)"


def layout_in_force(session: Session, *, at: datetime | None = None) -> int | None:
    """The layout whose effective period contains ``at`` (default now). The exclusion constraint
    on grid_layout guarantees there is at most one."""
    return session.execute(
        text(f"SELECT id FROM grid_layout WHERE {IN_FORCE}"), {"at": at or datetime.now().astimezone()}
    ).scalar()


def layout_periods(session: Session) -> list[Any]:
    """Every layout that is or was in force, with its period (``id, name, effective_from, effective_to``), in
    time order: what routing by a report's own time reads (the routing index cache, the bulk import)."""
    return session.execute(text(f"""
        SELECT id, name, effective_from, effective_to FROM grid_layout
        WHERE {IN_FORCE_STATUSES} ORDER BY effective_from""")).all()


def ensure_layout(session: Session, *, layout: str | None, default_name: str) -> int:
    """An existing *draft* layout by id, or a new draft named ``layout`` (or ``default_name``).

    Grids are never imported into a published layout: routing would change under running cases
    without a publish step. Import into a draft, then publish it.
    """
    if layout is not None and layout.isdigit():
        status = session.execute(text("SELECT status FROM grid_layout WHERE id = :id"), {"id": int(layout)}).scalar()
        if status is None:
            raise InvalidParameter(f"no grid layout with id {layout}", field="layout")
        if status != "draft":
            raise InvalidParameter(
                f"layout {layout} is {status}; import grids into a draft layout and publish it", field="layout"
            )
        return int(layout)
    return session.execute(
        text("INSERT INTO grid_layout (name, status) VALUES (:name, 'draft') RETURNING id"),
        {"name": layout or default_name},
    ).scalar_one()


def publish_layout(session: Session, *, layout_id: int, effective_from: datetime) -> None:
    """Put a draft layout in force from ``effective_from``; the layout in force then ends there."""
    session.execute(text("""
        UPDATE grid_layout SET effective_to = :t,
               status = CASE WHEN :t <= now() THEN 'retired' ELSE status END
        WHERE status = 'published' AND id <> :id
          AND tstzrange(effective_from, effective_to, '[)') @> CAST(:t AS timestamptz)"""),
        {"t": effective_from, "id": layout_id})
    session.execute(text("""
        UPDATE grid_layout SET status = 'published', effective_from = :t, effective_to = NULL
        WHERE id = :id"""), {"t": effective_from, "id": layout_id})


def resolve_layout(session: Session, *, layout_id: int | None, at: datetime | None = None) -> int:
    if layout_id is not None:
        if session.execute(text("SELECT 1 FROM grid_layout WHERE id = :id"), {"id": layout_id}).scalar() is None:
            raise NotFound(f"no grid layout with id {layout_id}", field="layout")
        return layout_id
    found = layout_in_force(session, at=at)
    if found is None:
        raise NotFound("no grid layout is in force at that time; publish one or pass layout=<id>", field="layout")
    return found


_LAYOUT_SQL = """
    SELECT l.id, l.name, l.status, l.revision, l.parent_id, l.effective_from, l.effective_to, l.note,
           l.created_at, (SELECT count(*) FROM grid g WHERE g.layout_id = l.id) AS grid_count
    FROM grid_layout l"""


def layouts(session: Session) -> list[LayoutOut]:
    current = layout_in_force(session)
    rows = session.execute(text(f"{_LAYOUT_SQL} ORDER BY l.effective_from DESC NULLS FIRST, l.id DESC")).mappings()
    return [LayoutOut(**r, current=r["id"] == current) for r in rows]


def layout(session: Session, *, layout_id: int) -> LayoutOut:
    row = session.execute(text(f"{_LAYOUT_SQL} WHERE l.id = :id"), {"id": layout_id}).mappings().first()
    if row is None:
        raise NotFound(f"no grid layout with id {layout_id}")
    return LayoutOut(**row, current=row["id"] == layout_in_force(session))


def grids(
    session: Session,
    factory: Callable[[], AbstractContextManager[Session]],
    *,
    layout_id: int | None,
    community: str | None,
    bbox: BBox | None,
    limit: int | Literal["all"] | None,
    offset: int,
    request: Request,
    settings: Settings,
) -> Response:
    lid = resolve_layout(session, layout_id=layout_id)
    where = f"""layout_id = :layout AND (CAST(:community AS text) IS NULL OR community_code = :community)
                AND {bbox_clause("boundary", bbox)}"""
    inner = f"""SELECT code, name, name_en, community_code, households, population, boundary
                FROM grid WHERE {where} ORDER BY code"""
    params = {"layout": lid, "community": community, **bbox_params(bbox)}
    return layer_response(
        session, factory, inner, params, id_column="code", geom_column="boundary",
        count_sql=f"SELECT count(*) FROM grid WHERE {where}", limit=limit, offset=offset,
        request=request, settings=settings, extra={"layout_id": lid},
    )


def grid_detail(
    session: Session, *, code: str, layout_id: int | None, unmask: bool, norm: tuple[int, int]
) -> Response:
    lid = resolve_layout(session, layout_id=layout_id)
    row = session.execute(text(f"""
        SELECT g.id, g.code, g.name, g.name_en, g.community_code, g.households, g.population, g.layout_id,
               ST_AsGeoJSON(g.boundary, {DECIMALS}) AS geometry,
               c.name AS community_name, c.name_en AS community_name_en,
               s.code AS street_code, s.name AS street_name, s.name_en AS street_name_en
        FROM grid g
        LEFT JOIN community c ON c.code = g.community_code
        LEFT JOIN street s ON s.code = c.street_code
        WHERE g.layout_id = :layout AND g.code = :code"""), {"layout": lid, "code": code}).mappings().first()
    if row is None:
        raise NotFound(f"no grid {code} in layout {lid}")
    # Buildings count for the grid holding their representative point, so a building split
    # across two grids is counted once, where most of it is likely to be.
    counts = session.execute(text("""
        WITH g AS (SELECT boundary FROM grid WHERE id = :id)
        SELECT
          (SELECT count(*) FROM building b, g WHERE ST_Intersects(g.boundary, ST_PointOnSurface(b.footprint)))
            AS buildings,
          (SELECT coalesce(sum(b.households), 0) FROM building b, g
             WHERE ST_Intersects(g.boundary, ST_PointOnSurface(b.footprint))) AS building_households,
          (SELECT count(*) FROM facility f, g WHERE ST_Intersects(g.boundary, f.location)) AS facilities,
          (SELECT count(*) FROM report r, g WHERE ST_Intersects(g.boundary, r.location)
             AND r.reported_at >= now() - interval '30 days') AS reports_30d,
          (SELECT count(*) FROM cases k WHERE k.layout_id = :layout AND k.grid_code = :code
             AND k.status NOT IN ('closed', 'rejected')) AS open_cases
    """), {"id": row["id"], "layout": lid, "code": code}).mappings().one()
    staff = session.execute(text("""
        SELECT name, role, phone, on_duty FROM person
        WHERE grid_code = :code AND active
        ORDER BY array_position(ARRAY['grid_leader','grid_worker','party_member','volunteer',
                                      'building_chief','unit_chief']::text[], role::text), name"""),
        {"code": code}).mappings().all()
    props: dict[str, Any] = {
        k: row[k] for k in (
            "code", "name", "name_en", "community_code", "households", "population", "layout_id",
            "community_name", "community_name_en", "street_code", "street_name", "street_name_en",
        )
    }
    props["counts"] = {
        "buildings": counts["buildings"],
        "households": row["households"],
        "population": row["population"],
        "facilities": counts["facilities"],
        "reports_30d": counts["reports_30d"],
        "open_cases": counts["open_cases"],
    }
    props["staff"] = [
        {"name": s["name"], "role": s["role"], "phone": s["phone"] if unmask else mask_phone(s["phone"]),
         "on_duty": s["on_duty"]}
        for s in staff
    ]
    props["norm"] = {"min": norm[0], "max": norm[1]}
    feature = {"type": "Feature", "id": row["code"], "geometry": orjson.loads(row["geometry"]), "properties": props}
    return Response(orjson.dumps(feature), media_type=GEOJSON)
