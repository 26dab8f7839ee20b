from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.auth.deps import MapReader
from api.buildings import service
from api.core.deps import SessionDep, SessionFactory, SettingsDep
from api.core.geojson import LAYER_RESPONSES, LayerLimit, parse_bbox
from api.core.params import Offset

router = APIRouter(tags=["buildings"])


@router.get("/buildings", response_class=Response, responses=LAYER_RESPONSES)
def list_buildings(
    request: Request,
    session: SessionDep,
    factory: SessionFactory,
    settings: SettingsDep,
    _: MapReader,
    bbox: Annotated[str, Query(description="minLon,minLat,maxLon,maxLat (WGS84); required")],
    limit: LayerLimit = None,
    offset: Offset = 0,
) -> Response:
    """Building footprints (楼栋) within a bounding box, paged, or all of them streamed (`limit=all`)."""
    return service.buildings(session, factory, bbox=parse_bbox(bbox), limit=limit, offset=offset, request=request,
                             settings=settings)
