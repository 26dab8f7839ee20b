from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request

from api.auth.deps import CaseActor, CaseReader, Dispatcher
from api.cases import clock, duplicates, escalation, followup, rates, service, transfer
from api.cases.schemas import (
    AckIn,
    AlertList,
    ApprovalIn,
    AssignIn,
    CaseDetail,
    CaseEventOut,
    CaseList,
    CaseOut,
    DepartmentList,
    DepartmentOut,
    DuplicateList,
    ExtensionIn,
    FollowupIn,
    GridChoiceList,
    MergeIn,
    NoteIn,
    RateList,
    RatingIn,
    ReportBackIn,
    ResumeIn,
    TransferIn,
    TransitionIn,
    WhistleIn,
    WhistleList,
    WhistleOut,
)
from api.core.deps import SessionDep, SettingsDep

router = APIRouter(tags=["cases"])
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/cases", response_model=CaseList)
def list_cases(
    request: Request,
    session: SessionDep,
    principal: CaseReader,
    status: Annotated[str | None, Query(max_length=200, description="comma-separated statuses, or `open`")] = None,
    grid: Annotated[str | None, Query(pattern=r"^[0-9]{15}$")] = None,
    area: Annotated[str | None, Query(pattern=r"^[0-9]{9}([0-9]{3})?$", description="street or community code")]
    = None,
    category: Annotated[str | None, Query(max_length=16)] = None,
    overdue: bool | None = None,
    mine: bool = False,
    near: Annotated[str | None, Query(max_length=60, description="lon,lat: nearest first")] = None,
    source: Annotated[str | None, Query(pattern=r"^[a-z0-9_]{1,32}$", description="the sending system")] = None,
    q: Annotated[str | None, Query(max_length=100, description="a case number, or words of the description or "
                                                               "address")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> CaseList:
    """Cases the caller may see (a worker: its own grids), earliest deadline first or nearest first."""
    items, total = service.list_cases(
        session, principal=principal, statuses=service.parse_statuses(status), grid=grid, area=area,
        category=category, overdue=overdue, mine=mine, near=service.parse_near(near), source=source,
        q=q.strip() if q else None, limit=limit, offset=offset)
    links = []
    if offset + limit < total:
        q = dict(request.query_params)
        q.update({"offset": str(offset + limit), "limit": str(limit)})
        links.append({"rel": "next", "href": f"{request.url.path}?{urlencode(q)}"})
    return CaseList(items=items, total=total, links=links)


@router.get("/departments", response_model=DepartmentList)
def list_departments(session: SessionDep, _: CaseReader) -> DepartmentList:
    """Departments a case is dispatched to or summoned by a street whistle (吹哨报到)."""
    return DepartmentList(items=[DepartmentOut.model_validate(d) for d in service.departments(session)])


@router.get("/cases/rates", response_model=RateList, deprecated=True)
def case_rates(
    session: SessionDep,
    principal: CaseReader,
    level: Literal["grid", "community", "street"] = "street",
    since: datetime | None = None,
    until: datetime | None = None,
    code: Annotated[str | None, Query(pattern=r"^[0-9]{1,15}$", description="only units under this code")] = None,
) -> RateList:
    """Response, resolution and satisfaction rates per unit (definitions: api/cases/rates.py). Superseded by
    `GET /api/v1/evaluation/units` (考核评价: follow-up based rates, defined in api/evaluation/definitions.py);
    kept for one release."""
    items = rates.rates(session, principal=principal, level=level, since=since, until=until, code=code)
    return RateList(level=level, since=since, until=until, items=items)


@router.get("/cases/{case_id}", response_model=CaseDetail)
def get_case(case_id: Id, session: SessionDep, principal: CaseReader) -> CaseOut:
    return service.get_case(session, case_id=case_id, principal=principal, with_events=True)


@router.get("/cases/{case_id}/events", response_model=list[CaseEventOut])
def case_events(case_id: Id, session: SessionDep, principal: CaseReader) -> list[CaseEventOut]:
    service.get_case(session, case_id=case_id, principal=principal)
    return service.list_events(session, case_id=case_id)


@router.post("/cases/{case_id}/transitions", response_model=CaseOut)
def transition(case_id: Id, body: TransitionIn, session: SessionDep, principal: CaseActor) -> CaseOut:
    """Move a case to another status (409 `illegal_transition` when the lifecycle forbids it)."""
    return service.transition(session, case_id=case_id, principal=principal, body=body)


@router.post("/cases/{case_id}/assignee", response_model=CaseOut)
def assign(case_id: Id, body: AssignIn, session: SessionDep, principal: CaseActor) -> CaseOut:
    """Reassign within the case's grid (the grid leader or the command centre)."""
    return service.assign(session, case_id=case_id, principal=principal, person_id=body.person_id, note=body.note)


@router.get("/cases/{case_id}/grids", response_model=GridChoiceList)
def transfer_grids(case_id: Id, session: SessionDep, principal: Dispatcher,
                   q: Annotated[str | None, Query(max_length=50, description="a code's start or a part of a name")]
                   = None,
                   limit: Annotated[int, Query(ge=1, le=100)] = 20) -> GridChoiceList:
    """Grids this case may be moved to, nearest first (the console's grid picker)."""
    return GridChoiceList(items=transfer.candidates(session, case_id=case_id, principal=principal,
                                                    q=q.strip() if q else None, limit=limit))


@router.post("/cases/{case_id}/grid", response_model=CaseOut)
def transfer_case(case_id: Id, body: TransferIn, session: SessionDep, principal: Dispatcher) -> CaseOut:
    """Move the case to another grid with a reason (改派): its person becomes that grid's worker on duty."""
    return transfer.transfer(session, case_id=case_id, principal=principal, body=body)


@router.post("/cases/{case_id}/notes", response_model=CaseOut)
def add_note(case_id: Id, body: NoteIn, session: SessionDep, principal: CaseActor) -> CaseOut:
    """A progress update with photos, without a status change."""
    return service.add_note(session, case_id=case_id, principal=principal, note=body.note,
                            attachments=body.attachments)


@router.post("/cases/{case_id}/rating", response_model=CaseOut)
def rate_case(case_id: Id, body: RatingIn, session: SessionDep, principal: Dispatcher) -> CaseOut:
    """The resident's 1-5 rating of a closed case (superseded by `POST …/followup`; stored as its satisfaction)."""
    return followup.rate(session, case_id=case_id, principal=principal, rating=body.rating, note=body.note)


@router.post("/cases/{case_id}/followup", response_model=CaseOut)
def follow_up(case_id: Id, body: FollowupIn, session: SessionDep, principal: Dispatcher) -> CaseOut:
    """Follow-up (回访) of a closed case: satisfaction, solved or not, how the resident was reached; a dissatisfied
    one may reopen the case (重办, `reopen: true`) with a new deadline on the working calendar."""
    return followup.record(session, case_id=case_id, principal=principal, body=body)


@router.post("/cases/{case_id}/suspension", response_model=CaseOut)
def suspend(case_id: Id, body: ApprovalIn, session: SessionDep, principal: Dispatcher) -> CaseOut:
    """Suspend (挂起) an open case with an approval and a reason: its clock stops until it is resumed."""
    return clock.suspend(session, case_id=case_id, principal=principal, body=body)


@router.post("/cases/{case_id}/resumption", response_model=CaseOut)
def resume(case_id: Id, session: SessionDep, principal: Dispatcher, body: ResumeIn | None = None) -> CaseOut:
    """End a suspension: the deadline moves by the working time the case was suspended."""
    return clock.resume(session, case_id=case_id, principal=principal, note=body.note if body else None)


@router.post("/cases/{case_id}/extension", response_model=CaseOut)
def extend(case_id: Id, body: ExtensionIn, session: SessionDep, principal: Dispatcher) -> CaseOut:
    """Extend (延期) an open case's deadline with an approval and a reason."""
    return clock.extend(session, case_id=case_id, principal=principal, body=body)


@router.get("/cases/{case_id}/duplicates", response_model=DuplicateList)
def case_duplicates(case_id: Id, session: SessionDep, settings: SettingsDep, principal: CaseActor,
                    radius_m: Annotated[float | None, Query(ge=0.01, le=5000)] = None,
                    window_hours: Annotated[float | None, Query(ge=0.001, le=720)] = None) -> DuplicateList:
    """Open cases of the same category near this one in space and time: candidates for a merge (并单)."""
    r = radius_m or settings.duplicate_radius_m
    w = window_hours or settings.duplicate_window_hours
    items = duplicates.suggest(session, case_id=case_id, principal=principal, radius_m=r, window_hours=w)
    return DuplicateList(case_id=case_id, radius_m=r, window_hours=w, items=items)


@router.post("/cases/{case_id}/merge", response_model=CaseOut)
def merge_case(case_id: Id, body: MergeIn, session: SessionDep, principal: Dispatcher) -> CaseOut:
    """Merge this case into `into`: this one is rejected as a duplicate and its report linked to `into`."""
    return duplicates.merge(session, case_id=case_id, into=body.into, principal=principal, note=body.note)


@router.post("/cases/{case_id}/whistles", response_model=WhistleOut, status_code=201)
def whistle(case_id: Id, body: WhistleIn, session: SessionDep, settings: SettingsDep,
            principal: CaseActor) -> WhistleOut:
    """Escalate: the street summons departments, or the community its party members and volunteers."""
    return escalation.raise_whistle(session, case_id=case_id, principal=principal, body=body,
                                    default_ack_minutes=settings.whistle_ack_minutes)


@router.get("/cases/{case_id}/whistles", response_model=WhistleList)
def case_whistles(case_id: Id, session: SessionDep, principal: CaseReader) -> WhistleList:
    return WhistleList(items=escalation.case_whistles(session, case_id=case_id, principal=principal))


@router.get("/whistles/alerts", response_model=AlertList)
def whistle_alerts(session: SessionDep, principal: CaseReader) -> AlertList:
    """Summoned departments and people that have not acknowledged in time."""
    return AlertList(items=escalation.alerts(session, principal=principal))


@router.post("/whistles/targets/{target_id}/acknowledge", response_model=WhistleOut)
def acknowledge(target_id: Id, session: SessionDep, principal: CaseActor, body: AckIn | None = None) -> WhistleOut:
    """A summoned department or person reports in (报到)."""
    return escalation.acknowledge(session, target_id=target_id, principal=principal,
                                  note=body.note if body else None)


@router.post("/whistles/targets/{target_id}/report", response_model=WhistleOut)
def report_back(target_id: Id, body: ReportBackIn, session: SessionDep, principal: CaseActor) -> WhistleOut:
    """A summoned department or person reports back what it did."""
    return escalation.report_back(session, target_id=target_id, principal=principal, note=body.note,
                                  attachments=body.attachments)
