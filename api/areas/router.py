from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.areas import service
from api.auth.deps import MapReader
from api.core.deps import SessionDep
from api.core.geojson import GEOJSON, parse_bbox

router = APIRouter(tags=["areas"])
BBoxQuery = Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat (WGS84)")]


@router.get("/streets", response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
def list_streets(session: SessionDep, _: MapReader, bbox: BBoxQuery = None) -> Response:
    """Streets (街道) as a GeoJSON FeatureCollection."""
    return service.streets(session, bbox=parse_bbox(bbox))


@router.get("/communities", response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
def list_communities(
    request: Request,
    session: SessionDep,
    _: MapReader,
    street: Annotated[str | None, Query(pattern=r"^[0-9]{9}$", description="9-digit street code")] = None,
    bbox: BBoxQuery = None,
) -> Response:
    """Communities (社区) as a GeoJSON FeatureCollection, optionally of one street."""
    return service.communities(session, street=street, bbox=parse_bbox(bbox), request=request)
