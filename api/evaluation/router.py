from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.auth.deps import Evaluator
from api.core.deps import SessionDep
from api.evaluation import definitions as d
from api.evaluation import export, service
from api.evaluation.schemas import Bucket, DefinitionOut, Definitions, Evaluation, Level, Period, Trend

router = APIRouter(prefix="/evaluation", tags=["evaluation"])

PeriodQ = Annotated[str | None, Query(pattern=service.PERIOD_PATTERN,
                                      description="a month `2026-11`, quarter `2026-Q4` or year `2026` (Beijing "
                                                  "time); default the current month")]
FromQ = Annotated[date | None, Query(alias="from", description="a custom period's first day (with `to`)")]
ToQ = Annotated[date | None, Query(alias="to", description="a custom period's last day, inclusive")]
WithinQ = Annotated[str | None, Query(pattern=r"^[0-9]{9}([0-9]{3}([0-9]{3})?)?$",
                                      description="only the cases under this street, community or grid code")]
SortQ = Annotated[Literal[d.SORTS], Query(description="what the ranking is by (best first)")]  # type: ignore[valid-type]


def _period(period: str | None, start: date | None, end: date | None) -> Period:
    return service.parse_period(period, start, end)


@router.get("/definitions", response_model=Definitions)
def definitions(_: Evaluator) -> Definitions:
    """What each figure means (the one home: api/evaluation/definitions.py)."""
    return Definitions(response_hours=d.RESPONSE_HOURS, basic_weight=d.BASIC_WEIGHT, score_weights=d.SCORE_WEIGHTS,
                       items=[DefinitionOut(**asdict(x)) for x in d.DEFINITIONS])


@router.get("/units", response_model=Evaluation)
def units(session: SessionDep, principal: Evaluator, level: Level = "street", period: PeriodQ = None,
          start: FromQ = None, end: ToQ = None, within: WithinQ = None, sort: SortQ = "score") -> Evaluation:
    """Response, resolution, satisfaction, on-time and first-time rates per street, community, grid, department or
    worker in a period, ranked; `within` drills down (a street's communities, a community's grids)."""
    return service.evaluate(session, principal=principal, level=level, period=_period(period, start, end),
                            within=within, sort=sort)


@router.get("/trend", response_model=Trend)
def trend(session: SessionDep, principal: Evaluator, bucket: Bucket = "week", period: PeriodQ = None,
          start: FromQ = None, end: ToQ = None, within: WithinQ = None, level: Level | None = None,
          code: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9]{1,16}$",
                                            description="one unit of `level` (its code or person id)")] = None,
          ) -> Trend:
    """The same figures per week or month of the period (of one unit with `level` and `code`)."""
    return service.trend(session, principal=principal, bucket=bucket, period=_period(period, start, end),
                         within=within, level=level, code=code)


@router.get("/export.xlsx", responses={200: {"content": {export.XLSX: {}}}}, response_class=Response)
def export_xlsx(session: SessionDep, principal: Evaluator, level: Level = "street", period: PeriodQ = None,
                start: FromQ = None, end: ToQ = None, within: WithinQ = None, sort: SortQ = "score",
                bucket: Bucket = "week") -> Response:
    """The ranking and the trend as an XLSX workbook, with the filters and the definitions written into it."""
    p = _period(period, start, end)
    ev = service.evaluate(session, principal=principal, level=level, period=p, within=within, sort=sort)
    tr = service.trend(session, principal=principal, bucket=bucket, period=p, within=within)
    return export.workbook(ev, tr, who=principal.actor)
