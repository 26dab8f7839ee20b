"""Grid staff: masking of personal data, and staff management (attach people to grids and buildings)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.roles import Can, can, grid_scope
from api.auth.service import Principal, announce
from api.core.errors import InvalidParameter, NotFound
from api.people.schemas import PersonIn, PersonOut, PersonUpdate


def mask_phone(phone: str | None) -> str | None:
    """Mask a phone number for views that need to show someone exists but not how to reach them.

    >>> mask_phone("13912345678")
    '139****5678'
    >>> mask_phone("010-6512-3456")
    '010****3456'
    >>> mask_phone(None) is None
    True
    """
    if not phone:
        return phone
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_name(name: str | None) -> str | None:
    """Keep the family name only.

    >>> mask_name("王小明")
    '王**'
    >>> mask_name("李")
    '李*'
    """
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)


# ---- staff management -------------------------------------------------------------------------------------

#: Roles that must be attached to a grid, and roles that must be attached to a building.
GRID_ROLES = ("grid_leader", "grid_worker", "party_member", "volunteer")
BUILDING_ROLES = ("building_chief", "unit_chief")
#: The worker who takes a grid's new case: its active grid worker on duty, else its first active one. ``{grid}``
#: is the SQL expression of the grid's code (a parameter or a column).
DUTY_WORKER_SQL = """SELECT id, name FROM person WHERE grid_code = {grid} AND role = 'grid_worker' AND active
                     ORDER BY on_duty DESC, id LIMIT 1"""
#: The same rule as a scalar: that worker's id, or NULL when the grid has none.
DUTY_WORKER_ID_SQL = "(SELECT id FROM (" + DUTY_WORKER_SQL + ") duty)"


def _person_out(r: Any, *, unmask: bool) -> PersonOut:
    return PersonOut(id=r.id, name=r.name, role=r.role, phone=r.phone if unmask else mask_phone(r.phone),
                     grid_code=r.grid_code, building_id=r.building_id, community_code=r.community_code,
                     on_duty=r.on_duty, active=r.active)


def list_people(session: Session, *, principal: Principal, grid: str | None, area: str | None, role: str | None,
                building_id: int | None, active: bool | None, limit: int, offset: int,
                q: str | None = None) -> tuple[list[PersonOut], int]:
    """People the principal may see; ``q`` finds them by a part of the name (people pickers: no typed ids)."""
    # Staff are read by grid only: an operator reads every grid's staff (to hand a case over by phone).
    grids = grid_scope(principal)
    scope, params = ("p.grid_code = ANY(CAST(:_scope AS text[]))", {"_scope": grids}) if grids is not None \
        else ("TRUE", {})
    where = f"""WHERE {scope}
        AND (CAST(:grid AS text) IS NULL OR p.grid_code = :grid)
        AND (CAST(:area AS text) IS NULL OR starts_with(p.grid_code, :area) OR p.community_code = :area)
        AND (CAST(:role AS text) IS NULL OR p.role = :role)
        AND (CAST(:building AS bigint) IS NULL OR p.building_id = :building)
        AND (CAST(:active AS boolean) IS NULL OR p.active = :active)
        AND (CAST(:q AS text) IS NULL OR strpos(lower(p.name), lower(:q)) > 0)"""
    params.update({"grid": grid, "area": area, "role": role, "building": building_id, "active": active,
                   "q": q.strip() if q and q.strip() else None})
    total = session.execute(text(f"SELECT count(*) FROM person p {where}"), params).scalar_one()
    rows = session.execute(text(f"SELECT p.* FROM person p {where} ORDER BY p.grid_code NULLS LAST, p.role, p.id "
                                "LIMIT :limit OFFSET :offset"), {**params, "limit": limit, "offset": offset}).all()
    unmask = can(principal.role, Can.SEE_STAFF_PHONE)
    return [_person_out(r, unmask=unmask) for r in rows], total


def get_person(session: Session, *, person_id: int, principal: Principal) -> PersonOut:
    r = session.execute(text("SELECT * FROM person WHERE id = :i"), {"i": person_id}).first()
    grids = grid_scope(principal)
    # A deactivated person is gone for readers (issue 17, defect 15); the list shows them with active=false
    # only when asked for (``active=false``), for the roster's history.
    if r is None or not r.active or (grids is not None and r.grid_code not in grids):
        raise NotFound(f"no person with id {person_id}")
    return _person_out(r, unmask=can(principal.role, Can.SEE_STAFF_PHONE))


def _validate(session: Session, fields: dict) -> dict:
    """Check references and attachments; fill the community from the grid code."""
    role = fields["role"]
    if fields.get("grid_code"):
        if session.execute(text("SELECT 1 FROM grid WHERE code = :c LIMIT 1"), {"c": fields["grid_code"]}).scalar() \
                is None:
            raise InvalidParameter(f"no grid with code {fields['grid_code']}", field="grid_code")
        fields["community_code"] = fields.get("community_code") or fields["grid_code"][:12]
        if fields["community_code"] != fields["grid_code"][:12]:
            raise InvalidParameter("community_code must be the grid's community", field="community_code")
    if fields.get("building_id") is not None and session.execute(
            text("SELECT 1 FROM building WHERE id = :b"), {"b": fields["building_id"]}).scalar() is None:
        raise InvalidParameter(f"no building with id {fields['building_id']}", field="building_id")
    if fields.get("community_code") and session.execute(
            text("SELECT 1 FROM community WHERE code = :c"), {"c": fields["community_code"]}).scalar() is None:
        raise InvalidParameter(f"no community with code {fields['community_code']}", field="community_code")
    if role in ("grid_leader", "grid_worker") and not fields.get("grid_code"):
        raise InvalidParameter(f"a {role} is attached to a grid: send grid_code", field="grid_code")
    if role in BUILDING_ROLES and fields.get("building_id") is None:
        raise InvalidParameter(f"a {role} is attached to a building: send building_id", field="building_id")
    if fields.get("on_duty") and role != "grid_worker":
        raise InvalidParameter("only a grid worker goes on duty", field="on_duty")
    if fields.get("on_duty") and fields.get("active") is False:
        raise InvalidParameter("an inactive person cannot be on duty", field="on_duty")
    return fields


_COLUMNS = ("name", "role", "phone", "grid_code", "building_id", "community_code", "on_duty", "active")


def _save(session: Session, person_id: int | None, fields: dict) -> int:
    if fields.get("on_duty"):
        # one grid worker on duty per grid: new cases go to them
        session.execute(text("""UPDATE person SET on_duty = false WHERE grid_code = :g AND on_duty
                                AND id IS DISTINCT FROM :i"""), {"g": fields["grid_code"], "i": person_id})
    values = {c: fields.get(c) for c in _COLUMNS}
    if person_id is None:
        return session.execute(text(f"""INSERT INTO person ({', '.join(_COLUMNS)})
                                        VALUES ({', '.join(':' + c for c in _COLUMNS)}) RETURNING id"""),
                               values).scalar_one()
    session.execute(text(f"UPDATE person SET {', '.join(f'{c} = :{c}' for c in _COLUMNS)} WHERE id = :id"),
                    {**values, "id": person_id})
    # A worker user's grids are its person's grid: a move or a deactivation changes its scope in every process.
    announce(session, f"person:{person_id}")
    return person_id


def create_person(session: Session, *, body: PersonIn, principal: Principal) -> PersonOut:
    fields = _validate(session, {**body.model_dump(), "active": True})
    return _written(session, person_id=_save(session, None, fields), principal=principal)


def update_person(session: Session, *, person_id: int, body: PersonUpdate, principal: Principal) -> PersonOut:
    row = session.execute(text("SELECT * FROM person WHERE id = :i FOR UPDATE"), {"i": person_id}).first()
    if row is None:
        raise NotFound(f"no person with id {person_id}")
    fields = {c: getattr(row, c) for c in _COLUMNS}
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "role", "on_duty", "active"):
        if name in changes and changes[name] is None:
            raise InvalidParameter(f"{name} cannot be null", field=name)
    if "grid_code" in changes and "community_code" not in changes:
        fields["community_code"] = None
    fields.update(changes)
    if fields.get("active") is False:
        fields["on_duty"] = False
    _save(session, person_id, _validate(session, fields))
    return _written(session, person_id=person_id, principal=principal)


def _written(session: Session, *, person_id: int, principal: Principal) -> PersonOut:
    """The answer to a write: the person as stored, deactivated or not."""
    r = session.execute(text("SELECT * FROM person WHERE id = :i"), {"i": person_id}).one()
    return _person_out(r, unmask=can(principal.role, Can.SEE_STAFF_PHONE))
