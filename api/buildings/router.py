from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.buildings import service
from api.core.deps import MapReader, SessionDep, SettingsDep
from api.core.geojson import GEOJSON, parse_bbox
from api.core.params import Limit, Offset

router = APIRouter(tags=["buildings"])


@router.get("/buildings", response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
def list_buildings(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: MapReader,
    bbox: Annotated[str, Query(description="minLon,minLat,maxLon,maxLat (WGS84); required")],
    limit: Limit = None,
    offset: Offset = 0,
) -> Response:
    """Building footprints (楼栋) within a bounding box, paged."""
    page = min(limit or settings.default_page_size, settings.max_page_size)
    return service.buildings(session, bbox=parse_bbox(bbox), limit=page, offset=offset, request=request)
