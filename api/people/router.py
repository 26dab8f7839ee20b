"""Staff management: grid leaders and workers, building and unit chiefs, party members and volunteers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from api.auth.deps import StaffManager, StaffReader
from api.core.deps import SessionDep
from api.people import service
from api.people.schemas import PersonIn, PersonList, PersonOut, PersonRole, PersonUpdate

router = APIRouter(prefix="/people", tags=["people"])
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("", response_model=PersonList)
def list_people(
    session: SessionDep,
    principal: StaffReader,
    grid: Annotated[str | None, Query(pattern=r"^[0-9]{15}$")] = None,
    area: Annotated[str | None, Query(pattern=r"^[0-9]{9}([0-9]{3})?$")] = None,
    role: PersonRole | None = None,
    building_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    active: bool | None = True,
    q: Annotated[str | None, Query(min_length=1, max_length=50, description="part of the name (people pickers)")]
    = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> PersonList:
    """Staff and volunteers (phones masked except for admin and commander; a worker sees its own grids)."""
    items, total = service.list_people(session, principal=principal, grid=grid, area=area, role=role,
                                       building_id=building_id, active=active, limit=limit, offset=offset, q=q)
    return PersonList(items=items, total=total)


@router.get("/{person_id}", response_model=PersonOut)
def get_person(person_id: Id, session: SessionDep, principal: StaffReader) -> PersonOut:
    return service.get_person(session, person_id=person_id, principal=principal)


@router.post("", response_model=PersonOut, status_code=status.HTTP_201_CREATED)
def create_person(body: PersonIn, session: SessionDep, principal: StaffManager) -> PersonOut:
    """Attach someone to a grid (leader, worker, party member, volunteer) or a building (building/unit chief).
    Putting a grid worker on duty takes the grid's previous on-duty worker off."""
    return service.create_person(session, body=body, principal=principal)


@router.patch("/{person_id}", response_model=PersonOut)
def update_person(person_id: Id, body: PersonUpdate, session: SessionDep, principal: StaffManager) -> PersonOut:
    return service.update_person(session, person_id=person_id, body=body, principal=principal)


@router.delete("/{person_id}", response_model=PersonOut)
def deactivate_person(person_id: Id, session: SessionDep, principal: StaffManager) -> PersonOut:
    """People are deactivated, never deleted: cases and events keep pointing at them."""
    return service.update_person(session, person_id=person_id, body=PersonUpdate(active=False), principal=principal)
