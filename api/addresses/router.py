from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.addresses import service
from api.auth.deps import AddressReviewer, AddressSearcher
from api.auth.roles import grid_scope
from api.core.deps import SessionDep, SessionFactory, SettingsDep
from api.core.params import MAX_BIGINT, IdPath, Integer, Offset

router = APIRouter(tags=["addresses"])


@router.get("/addresses/search")
async def search(
    factory: SessionFactory,
    _: AddressSearcher,
    q: Annotated[str, Query(max_length=service.MAX_QUERY, description="an address as typed: 幸福里小区3号楼2单元门口")],
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
    engine: Annotated[Literal["index", "postgis"], Query(
        description="index (default): the in-memory address index; postgis: pg_trgm similarity")] = "index",
) -> dict:
    """Ranked registry candidates for a typed address, each with its score and what matched; `status` is
    `matched` (one confident answer), `ambiguous` or `not_found`."""
    def run() -> dict:
        with factory() as session:
            fn = service.search_postgis if engine == "postgis" else service.search
            return fn(session, q=q, limit=limit)

    return await run_in_threadpool(run)


@router.get("/addresses/reverse")
def reverse(
    session: SessionDep,
    _: AddressSearcher,
    lon: Annotated[float, Query()],
    lat: Annotated[float, Query()],
    crs: Annotated[str | None, Query(description="wgs84 (default), cgcs2000, gcj02, bd09 or EPSG:nnnn")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 5,
    radius: Annotated[float, Query(gt=0, le=5000, description="metres")] = 300.0,
) -> dict:
    """The nearest standard addresses to a point and the building it is in (for field apps)."""
    return service.reverse(session, lon=lon, lat=lat, crs=crs, limit=limit, radius_m=radius)


@router.get("/addresses/reviews")
def list_reviews(
    session: SessionDep,
    principal: AddressSearcher,
    status: Annotated[Literal["pending", "confirmed", "rejected"] | None, Query()] = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict:
    """Reports whose address needs an operator: ambiguous, not found, or far from their coordinates.
    A worker sees only the entries of reports routed to its own grids (issue 9: no other grid's reports)."""
    return service.list_reviews(session, status=status, limit=limit, offset=offset,
                                scope=grid_scope(principal))


class Decision(BaseModel):
    address_id: Integer | None = Field(default=None, ge=1, le=MAX_BIGINT,
                                   description="the confirmed address; null rejects the entry")


@router.post("/addresses/reviews/{review_id}")
def decide_review(review_id: IdPath, body: Decision, request: Request, session: SessionDep, settings: SettingsDep,
                  principal: AddressReviewer) -> dict:
    """Confirm a queued report's address (it is re-routed, method `address`) or reject the entry."""
    return service.decide_review(session, cache=request.app.state.index_cache, review_id=review_id,
                                 address_id=body.address_id, actor=f"key:{principal.name}",
                                 tolerance_m=settings.routing_tolerance_m)


@router.get("/addresses/{address_id}")
def get_address(address_id: IdPath, session: SessionDep, _: AddressSearcher) -> dict:
    """One registry address with its hierarchy, aliases and point."""
    return service.get_address(session, address_id=address_id)
