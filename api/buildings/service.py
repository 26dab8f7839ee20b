"""Building footprints by bounding box."""

from __future__ import annotations

from fastapi import Request, Response
from sqlalchemy.orm import Session

from api.core.geojson import BBox, bbox_clause, bbox_params, feature_collection


def buildings(session: Session, *, bbox: BBox, limit: int, offset: int, request: Request) -> Response:
    where = bbox_clause("footprint", bbox)
    inner = f"""SELECT code, address, kind, floors, units, households, population, footprint
                FROM building WHERE {where} ORDER BY id"""
    return feature_collection(
        session, inner, bbox_params(bbox), id_column="code", geom_column="footprint",
        count_sql=f"SELECT count(*) FROM building WHERE {where}", limit=limit, offset=offset, request=request,
    )
