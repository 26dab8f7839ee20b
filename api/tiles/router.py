from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, Header, Path, Query, Request, Response

from api.auth.deps import MapReader
from api.core.deps import SessionDep, SettingsDep
from api.core.params import MAX_BIGINT
from api.tiles.service import TileCache, get_tile

MVT = "application/vnd.mapbox-vector-tile"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    cache = app.state.tile_cache = TileCache()
    listener = app.state.listener if app.state.settings.listen else None
    if listener is not None:
        listener.subscribe("gridmap_layout", cache.on_layout_notice)
        listener.subscribe("gridmap_tiles", cache.on_tiles_notice)
    try:
        yield
    finally:
        if listener is not None:
            listener.unsubscribe("gridmap_layout", cache.on_layout_notice)
            listener.unsubscribe("gridmap_tiles", cache.on_tiles_notice)


router = APIRouter(tags=["tiles"], lifespan=lifespan)


@router.get("/tiles/{layer}/{z}/{x}/{y}.mvt", response_class=Response,
            responses={200: {"content": {MVT: {}}, "description": "A Mapbox vector tile (may be empty)"}})
def tile(
    request: Request,
    session: SessionDep,
    _: MapReader,
    layer: Annotated[str, Path(description="`grids` or `buildings`")],
    z: int,
    x: int,
    y: int,
    layout: Annotated[int | None, Query(ge=1, le=MAX_BIGINT,
                                        description="grid layout id; default: the layout in force")] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A vector tile (WebMercatorQuad z/x/y) of grids (layer `grids`, properties code, name, name_en,
    community_code, households, population) or building footprints (`buildings`, from zoom 14)."""
    found = get_tile(session, request.app.state.tile_cache, layer, z, x, y, layout)
    headers = {"ETag": found.etag, "Cache-Control": "private, no-cache"}
    if if_none_match and found.etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(found.data, media_type=MVT, headers=headers)


@router.get("/basemap")
def basemap(settings: SettingsDep) -> dict:
    """The deployment's raster basemap (`GRIDMAP_BASEMAP_URL`, an XYZ template on an intranet tile server) for
    the pages to draw under our vector layers; `url` is null when none is configured (the default: the maps
    then work fully offline). Needs no key: it is the same for everyone and says nothing about the data."""
    return {"url": settings.basemap_url, "attribution": settings.basemap_attribution,
            "max_zoom": settings.basemap_max_zoom}
