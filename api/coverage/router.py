"""Coverage analysis routes: findings (GeoJSON), workload (JSON, CSV) and facility catchments of a layout."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Query, Response

from api.auth.deps import CoverageReader
from api.auth.roles import grid_scope
from api.core.deps import SessionDep, SettingsDep
from api.core.errors import InvalidParameter
from api.core.params import MAX_BIGINT
from api.coverage import service
from api.coverage.schemas import CatchmentOut, CoverageOut, WorkloadOut
from geo.catchment import DEFAULT_WALK_M, CatchmentParams
from geo.coverage import Tolerances

router = APIRouter(tags=["coverage"])

LayoutId = Annotated[int, Path(ge=1, le=MAX_BIGINT, description="grid layout id (draft, published or retired)")]
CommunityCode = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="12-digit community code")]
MinArea = Annotated[float, Query(ge=0, le=1e6, description="gaps/overlaps/crossings below this (m²) are slivers")]
MinShare = Annotated[float, Query(gt=0, lt=1, description="a grid's share of a footprint below this is a sliver")]
NormBound = Annotated[int | None, Query(ge=0, le=100_000, description="households norm (default from settings)")]
Since = Annotated[datetime | None, Query(description="reports from (ISO 8601; default 90 days ago)")]
Until = Annotated[datetime | None, Query(description="reports before (ISO 8601)")]
Period = Annotated[Literal["month", "week", "day"], Query(description="period of the report counts")]
JSON = "application/json"
CSV = "text/csv; charset=utf-8"


def _tolerances(settings, min_area_m2: float, min_building_share: float, norm_min: int | None,
                norm_max: int | None, period: str = "month") -> Tolerances:
    lo = settings.households_norm_min if norm_min is None else norm_min
    hi = settings.households_norm_max if norm_max is None else norm_max
    if lo >= hi:
        raise InvalidParameter(f"norm_min ({lo}) must be below norm_max ({hi})", field="norm_min")
    return Tolerances(min_area_m2=min_area_m2, min_building_share=min_building_share, households_norm=(lo, hi),
                      period=period)


def _json(body: object) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS), media_type=JSON)


@router.get("/layouts/{layout_id}/coverage", response_model=CoverageOut,
            responses={200: {"content": {JSON: {}}}, 404: {"description": "no such layout"}})
def layout_coverage(
    layout_id: LayoutId, session: SessionDep, settings: SettingsDep, principal: CoverageReader,
    min_area_m2: MinArea = 1.0, min_building_share: MinShare = 0.01,
    norm_min: NormBound = None, norm_max: NormBound = None, since: Since = None, until: Until = None,
) -> Response:
    """Where the layout fails 不留空白、不交叉重叠: a summary and every finding as GeoJSON (gaps, overlaps,
    grids crossing or outside communities, uncovered and split buildings, over/under-loaded grids, code checks)."""
    tol = _tolerances(settings, min_area_m2, min_building_share, norm_min, norm_max)
    layout = service.layout_row(session, layout_id)
    data = service.load_layout(session, layout_id=layout_id, win=service.window(since, until))
    return _json(service.coverage_body(layout, service.for_grids(service.run(data, tol), grid_scope(principal))))


@router.get("/layouts/{layout_id}/communities/{code}/coverage", response_model=CoverageOut,
            responses={200: {"content": {JSON: {}}}, 404: {"description": "no such layout or community"}})
def community_coverage(
    layout_id: LayoutId, code: CommunityCode, session: SessionDep, settings: SettingsDep, principal: CoverageReader,
    min_area_m2: MinArea = 1.0, min_building_share: MinShare = 0.01,
    norm_min: NormBound = None, norm_max: NormBound = None, since: Since = None, until: Until = None,
) -> Response:
    """The same analysis for one community: its gaps, its grids and the buildings in it."""
    tol = _tolerances(settings, min_area_m2, min_building_share, norm_min, norm_max)
    layout = service.layout_row(session, layout_id)
    data = service.load_layout(session, layout_id=layout_id, community=code, win=service.window(since, until))
    return _json(service.coverage_body(layout, service.for_grids(service.run(data, tol), grid_scope(principal)),
                                       community=code))


def _workload(session, settings, principal, layout_id: int, norm_min, norm_max, since, until, period):
    tol = _tolerances(settings, 1.0, 0.01, norm_min, norm_max, period)
    layout = service.layout_row(session, layout_id)
    data = service.load_layout(session, layout_id=layout_id, win=service.window(since, until))
    return layout, tol, service.for_grids(service.run(data, tol), grid_scope(principal))


def _csv(res, layout_id: int) -> Response:
    return Response(service.workload_csv(res), media_type=CSV,
                    headers={"Content-Disposition": f'attachment; filename="workload-layout-{layout_id}.csv"'})


@router.get("/layouts/{layout_id}/workload.csv", response_class=Response, responses={200: {"content": {CSV: {}}}})
def layout_workload_csv(
    layout_id: LayoutId, session: SessionDep, settings: SettingsDep, principal: CoverageReader,
    norm_min: NormBound = None, norm_max: NormBound = None, since: Since = None, until: Until = None,
) -> Response:
    """Workload per grid as CSV (UTF-8 with BOM, one row a grid)."""
    _, _, res = _workload(session, settings, principal, layout_id, norm_min, norm_max, since, until, "month")
    return _csv(res, layout_id)


@router.get("/layouts/{layout_id}/workload", response_model=WorkloadOut,
            responses={200: {"content": {JSON: {}, CSV: {}}}})
def layout_workload(
    layout_id: LayoutId, session: SessionDep, settings: SettingsDep, principal: CoverageReader,
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv")] = "json",
    norm_min: NormBound = None, norm_max: NormBound = None, since: Since = None, until: Until = None,
    period: Period = "month",
) -> Response:
    """Workload per grid: households, population, buildings, facilities, reports and cases (per period and
    category), deviation from the households norm, and the layout's balance index (coefficient of variation)."""
    layout, tol, res = _workload(session, settings, principal, layout_id, norm_min, norm_max, since, until, period)
    if format == "csv":
        return _csv(res, layout_id)
    s = res.summary
    return _json({"layout": {"id": layout["id"], "name": layout["name"]}, "period": period,
                  "norm": s["norm"], "finding_band": s["finding_band"], "balance": s["balance"],
                  "households_source": s["households_source"], "within_norm": s["within_norm"],
                  "grids": service.workload_rows(res)})


def _reach(raw: list[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in raw or []:
        kind, sep, dist = item.partition(":")
        try:
            value = float(dist)
        except ValueError:
            value = -1.0
        if not sep or not kind or not (0 < value <= 20_000):
            raise InvalidParameter(f"reach must be kind:metres with 0 < metres <= 20000, not {item!r}", field="reach")
        out[kind] = value
    return out


@router.get("/layouts/{layout_id}/catchments", response_model=CatchmentOut,
            responses={200: {"content": {JSON: {}}}})
def layout_catchments(
    layout_id: LayoutId, session: SessionDep, settings: SettingsDep, principal: CoverageReader,
    distance_m: Annotated[float, Query(gt=0, le=20_000, description="straight-line reach (m), 15-minute circle")]
    = DEFAULT_WALK_M,
    reach: Annotated[list[str] | None, Query(description="per-kind reach, e.g. kindergarten:300")] = None,
    kind: Annotated[list[str] | None, Query(description="facility kinds (default: all)")] = None,
    min_share: Annotated[float, Query(ge=0, le=1, description="under-served below this share of households")]
    = 0.5,
) -> Response:
    """Facility catchments: per kind, the households within reach, each grid's share and the under-served grids."""
    params = CatchmentParams(distance_m=distance_m, per_kind=_reach(reach), min_share=min_share,
                             kinds=tuple(kind) if kind else None)
    layout = service.layout_row(session, layout_id)
    tol = _tolerances(settings, 1.0, 0.01, None, None)
    data = service.load_layout(session, layout_id=layout_id, win=service.window(None, None),
                               reach_m=2 * params.max_reach)
    data.reports = data.reports.iloc[0:0]
    res = service.for_grids(service.run(data, tol, params), grid_scope(principal))
    return _json(service.catchment_body(layout, res, params))
