from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from api.auth.deps import Admin, CurrentUser
from api.auth.roles import Can, can, roles_with
from api.auth.service import Principal
from api.calendar import service
from api.calendar.schemas import CalendarYear, ExceptionIn, ExceptionList, ExceptionOut
from api.core.deps import SessionDep
from api.core.errors import Forbidden

router = APIRouter(tags=["calendar"])
Year = Annotated[int, Query(ge=1900, le=2200)]


async def _reads_cases_or_wall(principal: CurrentUser) -> Principal:
    """Deadlines are read next to cases and on the wall: whoever reads either reads the calendar."""
    if not (can(principal.role, Can.READ_CASES) or can(principal.role, Can.READ_WALL)):
        roles = sorted(set(roles_with(Can.READ_CASES)) | set(roles_with(Can.READ_WALL)))
        raise Forbidden(f"This needs one of the roles: {', '.join(roles)}.")
    return principal


CalendarReader = Annotated[Principal, Depends(_reads_cases_or_wall)]


@router.get("/calendar", response_model=CalendarYear)
def calendar_year(year: Year, session: SessionDep, principal: CalendarReader) -> CalendarYear:
    """Every day of the year: working day or not, and why (State Council calendar with 调休, local exceptions)."""
    return service.year(session, year=year)


@router.get("/calendar/exceptions", response_model=ExceptionList)
def list_exceptions(session: SessionDep, principal: CalendarReader, year: Year | None = None) -> ExceptionList:
    return ExceptionList(items=service.list_exceptions(session, year=year))


@router.post("/calendar/exceptions", response_model=ExceptionOut, status_code=201)
def add_exception(body: ExceptionIn, session: SessionDep, principal: Admin) -> ExceptionOut:
    """A local day off or working day; it wins over the State Council calendar for deadlines computed after."""
    return service.add_exception(session, body=body, actor=principal.actor)


@router.delete("/calendar/exceptions/{day}", status_code=204)
def delete_exception(day: Annotated[dt.date, Path()], session: SessionDep, principal: Admin) -> Response:
    service.delete_exception(session, day=day)
    return Response(status_code=204)
