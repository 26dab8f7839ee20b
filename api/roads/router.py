"""Roads for the maps, and network catchments (issue 20)."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Query, Response
from pydantic import StringConstraints

from api.auth.deps import CoverageReader, MapReader
from api.auth.roles import grid_scope
from api.core.deps import SessionDep
from api.core.errors import InvalidParameter
from api.core.geojson import GEOJSON, bbox_clause, bbox_params, feature_collection, parse_bbox
from api.core.params import MAX_BIGINT
from api.roads import service
from geo.network import MINUTES, WALK_KMH, WalkParams

router = APIRouter(tags=["roads"])
JSON = "application/json"
#: kind:minutes, whole minutes 1-120 (e.g. kindergarten:5, the 5-minute circle)
KindMinutes = Annotated[str, StringConstraints(pattern=r"^[a-z_]+:([1-9][0-9]?|1[01][0-9]|120)$")]


@router.get("/roads", response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
def list_roads(
    session: SessionDep, _: MapReader,
    kind: Annotated[str | None, Query(pattern=r"^(primary|secondary|lane|footway|other)$")] = None,
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat (WGS84)")] = None,
) -> Response:
    """Road centre lines (name, kind, the streets they run through): the network catchments walk along."""
    box = parse_bbox(bbox)
    inner = f"""SELECT code, name, name_en, kind, properties->>'streets' AS streets, geom FROM road
                WHERE (CAST(:kind AS text) IS NULL OR kind = :kind) AND {bbox_clause("geom", box)} ORDER BY code"""
    return feature_collection(session, inner, {"kind": kind, **bbox_params(box)}, id_column="code",
                              geom_column="geom")


def _minutes(raw: list[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in raw or []:
        kind, sep, value = item.partition(":")
        try:
            m = float(value)
        except ValueError:
            m = -1.0
        if not sep or not kind or not (0 < m <= 120):
            raise InvalidParameter(f"per_kind must be kind:minutes with 0 < minutes <= 120, not {item!r}",
                                   field="per_kind")
        out[kind] = m
    return out


@router.get("/layouts/{layout_id}/walk-catchments", responses={200: {"content": {JSON: {}}}})
def walk_catchments(
    layout_id: Annotated[int, Path(ge=1, le=MAX_BIGINT, description="grid layout id")],
    session: SessionDep, principal: CoverageReader,
    minutes: Annotated[float, Query(gt=0, le=120, description="walking minutes (15-minute life circle)")] = MINUTES,
    speed_kmh: Annotated[float, Query(gt=0, le=30, description="walking speed")] = WALK_KMH,
    per_kind: Annotated[list[KindMinutes] | None, Query(description="minutes per kind, e.g. kindergarten:5")]
    = None,
    kind: Annotated[list[str] | None, Query(description="facility kinds (default: all)")] = None,
    community: Annotated[str | None, Query(pattern=r"^[0-9]{12}$", description="one community's grids")] = None,
    min_share: Annotated[float, Query(ge=0, le=1, description="a grid below this share is listed")] = 0.5,
    isochrones: Annotated[bool, Query(description="include the isochrone polygons")] = True,
) -> Response:
    """Per facility kind, the homes within a walk along the roads (straight line where there are none:
    ``method`` says which), the grids and buildings beyond reach, and the isochrones."""
    params = WalkParams(speed_kmh=speed_kmh, minutes=minutes, per_kind=_minutes(per_kind))
    out = service.walk(session, layout_id=layout_id, params=params, kinds=tuple(kind) if kind else None,
                       community=community, grids=grid_scope(principal), min_share=min_share,
                       isochrones=isochrones)
    return Response(orjson.dumps(out), media_type=JSON)
