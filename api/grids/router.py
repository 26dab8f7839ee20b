from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from api.auth.deps import MapReader
from api.auth.roles import Can, can
from api.core.deps import SessionDep, SessionFactory, SettingsDep
from api.core.geojson import GEOJSON, LAYER_RESPONSES, LayerLimit, parse_bbox
from api.core.params import MAX_BIGINT, IdPath, Offset
from api.grids import service
from api.grids.schemas import LayoutList, LayoutOut

router = APIRouter(tags=["grids"])
GridCode = Annotated[str, Path(pattern=r"^[0-9]{15}$", description="15-digit grid code")]
LayoutQuery = Annotated[int | None, Query(ge=1, le=MAX_BIGINT,
                                          description="layout id; default: the layout in force now")]


@router.get("/layouts", response_model=LayoutList)
def list_layouts(session: SessionDep, _: MapReader) -> LayoutList:
    """Every grid layout (draft, published, retired), newest first; `current` marks the one in force.
    What a future-dated publish left for its moment is done first, once it has come (issue 8: the replaced
    layout retired, the draft's staff moves applied)."""
    from api.planner.publish import apply_due

    apply_due(session)
    return LayoutList(items=service.layouts(session))


@router.get("/layouts/{layout_id}", response_model=LayoutOut)
def get_layout(layout_id: IdPath, session: SessionDep, _: MapReader) -> LayoutOut:
    return service.layout(session, layout_id=layout_id)


@router.get("/grids", response_class=Response, responses=LAYER_RESPONSES)
def list_grids(
    request: Request,
    session: SessionDep,
    factory: SessionFactory,
    settings: SettingsDep,
    _: MapReader,
    layout: LayoutQuery = None,
    community: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat (WGS84)")] = None,
    limit: LayerLimit = None,
    offset: Offset = 0,
) -> Response:
    """Grids (网格) of a layout as a GeoJSON FeatureCollection, paged (`links` has `next`), or all of them
    streamed (`limit=all`)."""
    return service.grids(
        session, factory, layout_id=layout, community=community, bbox=parse_bbox(bbox), limit=limit, offset=offset,
        request=request, settings=settings,
    )


@router.get("/grids/{code}", response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
def get_grid(
    code: GridCode, session: SessionDep, settings: SettingsDep, principal: MapReader, layout: LayoutQuery = None
) -> Response:
    """One grid with its community, street, staff (phones in full to the roles that call them: the role table's
    ``SEE_STAFF_PHONE``) and counts."""
    return service.grid_detail(
        session, code=code, layout_id=layout, unmask=can(principal.role, Can.SEE_STAFF_PHONE),
        norm=(settings.households_norm_min, settings.households_norm_max),
    )
