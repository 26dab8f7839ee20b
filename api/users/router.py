from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from api.audit.service import client_ip
from api.auth.deps import Admin, CurrentUser
from api.core.deps import SessionDep, SettingsDep
from api.core.errors import Forbidden
from api.users import service
from api.users.schemas import (
    KioskCreate,
    KioskPairing,
    Me,
    PairIn,
    SessionsEnded,
    TokenOut,
    UserCreate,
    UserList,
    UserOut,
    UserUpdate,
)

router = APIRouter(tags=["users"])
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post("/auth/token", response_model=TokenOut)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, session: SessionDep,
          settings: SettingsDep) -> TokenOut:
    """OAuth2 password flow: a form with `username` and `password` gives a short-lived bearer token."""
    minutes = settings.session_hours * 60
    raw, user = service.login(session, username=form.username, password=form.password,
                              ttl_minutes=minutes, client_ip=client_ip(request, settings))
    request.state.actor = f"user:{user.username}"
    request.state.role = user.role
    return TokenOut(access_token=raw, expires_in=int(minutes * 60), role=user.role,
                    name=user.display_name or user.username)


@router.post("/auth/kiosk", response_model=TokenOut)
def pair_kiosk(body: PairIn, request: Request, session: SessionDep, settings: SettingsDep) -> TokenOut:
    """A wall screen trades the one-time pairing code from the admin page for its read-only (viewer) token."""
    minutes = settings.kiosk_days * 24 * 60
    raw, user = service.pair_kiosk(session, code=body.code, ttl_minutes=minutes, client_ip=client_ip(request, settings))
    request.state.actor = f"user:{user.username}"
    request.state.role = user.role
    return TokenOut(access_token=raw, expires_in=minutes * 60, role=user.role, name=user.display_name or user.username)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, session: SessionDep, principal: CurrentUser) -> None:
    """Revoke the token this request carries (API keys are revoked with DELETE /keys/{id})."""
    if principal.user_id is None:
        raise Forbidden("an API key does not log out: revoke it with DELETE /api/v1/keys/{id}")
    raw = request.headers.get("authorization", "").split(" ", 1)[-1].strip()
    service.logout(session, raw=raw)


@router.get("/auth/me", response_model=Me)
def me(principal: CurrentUser, session: SessionDep, settings: SettingsDep) -> Me:
    return Me(name=principal.name, role=principal.role, kind="user" if principal.user_id else "key",
              **service.profile(session, principal=principal),
              session_hours=settings.session_hours if principal.user_id else None,
              user_id=principal.user_id, person_id=principal.person_id, person_role=principal.person_role,
              grid_codes=list(principal.grid_codes), department_code=principal.department_code)


@router.get("/users", response_model=UserList)
def list_users(session: SessionDep, _: Admin) -> UserList:
    return UserList(items=[UserOut.model_validate(u) for u in service.list_users(session)])


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: SessionDep, _: Admin) -> UserOut:
    return UserOut.model_validate(service.create_user(session, body=body))


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: Id, session: SessionDep, _: Admin) -> UserOut:
    return UserOut.model_validate(service.get_user(session, user_id=user_id))


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(user_id: Id, body: UserUpdate, session: SessionDep, _: Admin) -> UserOut:
    return UserOut.model_validate(service.update_user(session, user_id=user_id, body=body))


@router.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def deactivate_user(user_id: Id, session: SessionDep, _: Admin) -> None:
    """Users are deactivated, never deleted (their name stays in case events and the audit log)."""
    service.update_user(session, user_id=user_id, body=UserUpdate(active=False))


@router.delete("/users/{user_id}/sessions", response_model=SessionsEnded)
def end_sessions(user_id: Id, session: SessionDep, _: Admin) -> SessionsEnded:
    """Sign a user (or a wall screen) out everywhere, at once."""
    return SessionsEnded(ended=service.end_sessions(session, user_id=user_id))


@router.post("/kiosks", response_model=KioskPairing, status_code=status.HTTP_201_CREATED)
def create_kiosk(body: KioskCreate, session: SessionDep, settings: SettingsDep, _: Admin) -> KioskPairing:
    """A wall screen (read-only viewer) and its pairing code, shown once."""
    user, code = service.create_kiosk(session, name=body.name, pairing_minutes=settings.kiosk_pairing_minutes)
    return KioskPairing(user=UserOut.model_validate(user), pairing_code=code, expires_at=user.pairing_expires_at)


@router.post("/kiosks/{user_id}/pairing", response_model=KioskPairing, status_code=status.HTTP_201_CREATED)
def renew_pairing(user_id: Id, session: SessionDep, settings: SettingsDep, _: Admin) -> KioskPairing:
    """A new pairing code for a wall screen (to pair a replacement screen); the old code stops working."""
    user = service.get_user(session, user_id=user_id)
    code = service.new_pairing_code(session, user=user, minutes=settings.kiosk_pairing_minutes)
    return KioskPairing(user=UserOut.model_validate(user), pairing_code=code, expires_at=user.pairing_expires_at)
