from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.core.deps import CurrentUser, SessionDep, SessionFactory, SettingsDep
from api.core.errors import ValidationFailed
from api.locate import service

router = APIRouter(tags=["locate"])
MAX_BATCH = 1_000_000


@router.get("/locate", response_class=Response, responses={200: {"content": {"application/json": {}}}})
async def locate(
    request: Request,
    factory: SessionFactory,
    settings: SettingsDep,
    _: CurrentUser,
    lon: Annotated[float, Query(description="longitude (or easting, with a projected crs)")],
    lat: Annotated[float, Query(description="latitude (or northing)")],
    crs: Annotated[str | None, Query(description="wgs84 (default), cgcs2000, gcj02, bd09 or EPSG:nnnn")] = None,
    at: Annotated[str | None, Query(description="ISO time: route against the layout in force then")] = None,
    layout: Annotated[int | None, Query(ge=1, description="route against this layout (drafts too)")] = None,
    engine: Annotated[Literal["index", "postgis"], Query(
        description="index (default): the in-memory routing index; postgis: ask the database directly "
                    "(the reference the index is checked against)")] = "index",
) -> Response:
    """Which grid is this point in? The grid with its community, street and staff on duty."""
    when = service.parse_time(at, tz=settings.timezone)
    cache = request.app.state.index_cache
    kwargs = {"x": lon, "y": lat, "crs": crs, "at": when, "layout_id": layout,
              "tolerance_m": settings.routing_tolerance_m}
    if engine == "index":
        # The hot path: answered from memory on the event loop, no thread hop, no database.
        found = service.locate_one(cache, None, **kwargs)
        if found is not None:
            return Response(orjson.dumps(found), media_type="application/json")

    def with_session() -> dict:  # the slow path: a cache miss, or the PostGIS reference
        with factory() as session:
            if engine == "postgis":
                return service.locate_postgis(session, **kwargs)
            return service.locate_one(cache, session, **kwargs)

    return Response(orjson.dumps(await run_in_threadpool(with_session)), media_type="application/json")


@router.post("/locate", response_class=StreamingResponse,
             responses={200: {"content": {"application/json": {}}}})
async def locate_batch(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _: CurrentUser,
    at: Annotated[str | None, Query()] = None,
    layout: Annotated[int | None, Query(ge=1)] = None,
) -> StreamingResponse:
    """Route many points at once (`{"crs": …, "points": [[lon, lat], …]}` or a GeoJSON FeatureCollection of
    Points); results come back in input order, streamed."""
    body = await request.body()
    if not body:
        raise ValidationFailed("empty body", field="body")
    # Parsing and routing a large batch is CPU work: keep it off the event loop.
    x, y, crs = await run_in_threadpool(service.parse_batch, body, max_points=MAX_BATCH)
    chunks = await run_in_threadpool(
        service.locate_batch, request.app.state.index_cache, session, x=x, y=y, crs=crs,
        at=service.parse_time(at, tz=settings.timezone), layout_id=layout, tolerance_m=settings.routing_tolerance_m,
    )
    return StreamingResponse(chunks, media_type="application/json")
