from __future__ import annotations

from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.addresses import service as addresses
from api.auth.deps import Locator
from api.core.deps import SessionDep, SessionFactory, SettingsDep
from api.core.errors import ValidationFailed
from api.core.params import MAX_BIGINT, IdQuery
from api.locate import service

router = APIRouter(tags=["locate"])
MAX_BATCH = 1_000_000


@router.get("/locate", response_class=Response, responses={200: {"content": {"application/json": {}}}})
async def locate(
    request: Request,
    factory: SessionFactory,
    settings: SettingsDep,
    _: Locator,
    lon: Annotated[float | None, Query(description="longitude (or easting, with a projected crs)")] = None,
    lat: Annotated[float | None, Query(description="latitude (or northing)")] = None,
    crs: Annotated[str | None, Query(description="wgs84 (default), cgcs2000, gcj02, bd09 or EPSG:nnnn")] = None,
    at: Annotated[str | None, Query(description="ISO time: route against the layout in force then")] = None,
    layout: Annotated[int | None, Query(ge=1, le=MAX_BIGINT,
                                        description="route against this layout (drafts too)")] = None,
    engine: Annotated[Literal["index", "postgis"], Query(
        description="index (default): the in-memory routing index; postgis: ask the database directly "
                    "(the reference the index is checked against)")] = "index",
    address: Annotated[str | None, Query(max_length=200, description=(
        "an address instead of (or beside) lon/lat: resolved through the registry (method `address`); "
        "with lon/lat too, the point decides and the address is checked against it"))] = None,
) -> Response:
    """Which grid is this point (or address) in? The grid with its community, street and staff on duty."""
    when = service.parse_time(at, tz=settings.timezone)
    cache = request.app.state.index_cache
    if address is not None or lon is None or lat is None:
        if address is None:
            raise ValidationFailed("send lon and lat, or an address", field="lon/lat")
        def by_address() -> dict:
            with factory() as session:
                return addresses.locate_address(session, cache=cache, q=address, at=when, layout_id=layout,
                                                tolerance_m=settings.routing_tolerance_m, lon=lon, lat=lat, crs=crs)

        found = await run_in_threadpool(by_address)
        return Response(orjson.dumps(found), media_type="application/json")
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
    _: Locator,
    at: Annotated[str | None, Query()] = None,
    layout: IdQuery = None,
) -> StreamingResponse:
    """Route many points at once (`{"crs": …, "points": [[lon, lat], …]}` or a GeoJSON FeatureCollection of
    Points); results come back in input order, streamed."""
    body = await request.body()
    if not body:
        raise ValidationFailed("empty body", field="body")
    if addresses.is_address_body(body):
        found = await run_in_threadpool(
            lambda: addresses.locate_address_body(session, cache=request.app.state.index_cache, body=body,
                                                  at=service.parse_time(at, tz=settings.timezone), layout_id=layout,
                                                  tolerance_m=settings.routing_tolerance_m))
        return Response(orjson.dumps(found), media_type="application/json")
    # Parsing and routing a large batch is CPU work: keep it off the event loop.
    x, y, crs = await run_in_threadpool(service.parse_batch, body, max_points=MAX_BATCH)
    chunks = await run_in_threadpool(
        service.locate_batch, request.app.state.index_cache, session, x=x, y=y, crs=crs,
        at=service.parse_time(at, tz=settings.timezone), layout_id=layout, tolerance_m=settings.routing_tolerance_m,
    )
    return StreamingResponse(chunks, media_type="application/json")
