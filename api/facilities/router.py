from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.auth.deps import MapReader
from api.core.deps import SessionDep
from api.core.geojson import GEOJSON, bbox_clause, bbox_params, feature_collection, parse_bbox

router = APIRouter(tags=["facilities"])


@router.get("/facilities", response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
def list_facilities(
    session: SessionDep,
    _: MapReader,
    kind: Annotated[str | None, Query(pattern=r"^[a-z_]+$")] = None,
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat (WGS84)")] = None,
) -> Response:
    """Service facilities (党群服务中心, clinics, elderly care, schools …)."""
    box = parse_bbox(bbox)
    inner = f"""SELECT code, kind, name, name_en, address, location FROM facility
                WHERE (CAST(:kind AS text) IS NULL OR kind = :kind) AND {bbox_clause("location", box)}
                ORDER BY code"""
    return feature_collection(
        session, inner, {"kind": kind, **bbox_params(box)}, id_column="code", geom_column="location"
    )
