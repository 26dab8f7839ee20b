from __future__ import annotations

from fastapi import APIRouter, status

from api.auth import service
from api.auth.deps import Admin
from api.auth.schemas import KeyCreate, KeyCreated, KeyList, KeyOut
from api.core.deps import SessionDep
from api.core.params import IdPath

router = APIRouter(prefix="/keys", tags=["keys"])


@router.get("", response_model=KeyList)
def list_keys(session: SessionDep, _: Admin) -> KeyList:
    return KeyList(items=[KeyOut.model_validate(k) for k in service.list_keys(session)])


@router.post("", response_model=KeyCreated, status_code=status.HTTP_201_CREATED)
def create_key(body: KeyCreate, session: SessionDep, _: Admin) -> KeyCreated:
    key, raw = service.create_key(session, name=body.name, role=body.role)
    session.refresh(key)
    return KeyCreated(**KeyOut.model_validate(key).model_dump(), key=raw)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(key_id: IdPath, session: SessionDep, _: Admin) -> None:
    service.revoke_key(session, key_id=key_id)
