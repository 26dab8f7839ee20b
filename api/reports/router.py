from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Request, Response, status
from sqlalchemy import select

from api.auth.deps import IntakeGuard, Locator, ReportFiler, ReportReader
from api.core.deps import SessionDep, SessionFactory, SettingsDep
from api.core.params import IdPath, Offset
from api.reports import service
from api.reports.intake import submit
from api.reports.models import Category
from api.reports.schemas import CategoryList, CategoryOut, ReportIn, ReportList, ReportOut

router = APIRouter(tags=["reports"])


@router.get("/categories", response_model=CategoryList)
def list_categories(session: SessionDep, _: Locator) -> CategoryList:
    """Report categories (GB/T 30428.2 components and events, plus community governance), with time limits."""
    rows = session.scalars(select(Category).order_by(Category.code))
    return CategoryList(items=[CategoryOut.model_validate(r).model_copy(update={"initials": service.initials(r.name)})
                               for r in rows])


@router.post("/reports", response_model=ReportOut, status_code=status.HTTP_201_CREATED,
             responses={200: {"model": ReportOut, "description": "a retry: the report created the first time"}})
async def create_report(
    body: ReportIn,
    request: Request,
    response: Response,
    factory: SessionFactory,
    principal: ReportFiler,
    _guard: IntakeGuard,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> ReportOut:
    """Receive a report: stored, routed to its grid and opened as a case in one transaction, then announced
    to the live map. Send an `Idempotency-Key` so that a retry returns the same report. Answered only after the
    commit; a 429 `rate_limited` or 503 (`overloaded`, `database_unavailable`) wrote nothing and carries
    `Retry-After`: retry with the same key."""
    out = await submit(request.app.state, factory, body=body, idempotency_key=idempotency_key, principal=principal)
    if out.replayed:
        response.status_code = status.HTTP_200_OK
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/v1/reports/{out.id}"
    return out


@router.get("/reports/{report_id}", response_model=ReportOut)
def get_report(report_id: IdPath, session: SessionDep, principal: ReportReader) -> ReportOut:
    """A report as received, with its routing and case: workers read their grids' reports, operators and intake
    systems the reports they filed (another's answers 404, so ids cannot be probed)."""
    return service.get_report(session, report_id=report_id, principal=principal)


@router.get("/reports", response_model=ReportList)
def list_reports(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: ReportReader,
    source: Annotated[str | None, Query(pattern=r"^[a-z0-9_]{1,32}$")] = None,
    category: Annotated[str | None, Query(max_length=16)] = None,
    grid: Annotated[str | None, Query(pattern=r"^[0-9]{15}$")] = None,
    status_: Annotated[str | None, Query(alias="status", pattern=r"^[a-z_]{1,16}$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> ReportList:
    """Reports, newest first, with their routing and case, filtered."""
    items, total = service.list_reports(
        session, source=source, category=category, grid=grid, status=status_, since=since, until=until,
        limit=limit, offset=offset, principal=principal)
    links = []
    if offset + limit < total:
        q = dict(request.query_params)
        q.update({"offset": str(offset + limit), "limit": str(limit)})
        links.append({"rel": "next", "href": f"{request.url.path}?{urlencode(q)}"})
    return ReportList(items=items, total=total, links=links)
