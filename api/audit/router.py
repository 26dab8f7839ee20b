from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.audit import service
from api.auth.deps import Admin
from api.core.deps import SessionDep

router = APIRouter(tags=["audit"])


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str | None
    method: str
    path: str
    query: str | None
    status: int
    client_ip: str | None
    user_agent: str | None


class AuditList(BaseModel):
    items: list[AuditEntry]
    total: int


@router.get("/audit", response_model=AuditList)
def audit_log(
    session: SessionDep,
    _: Admin,
    actor: Annotated[str | None, Query(max_length=200, description="key:<name> or user:<name>")] = None,
    method: Annotated[str | None, Query(pattern=r"^(POST|PUT|PATCH|DELETE)$")] = None,
    path_prefix: Annotated[str | None, Query(max_length=300)] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AuditList:
    """Every write request, newest first (admins only)."""
    items, total = service.query_log(session, actor=actor, method=method, path_prefix=path_prefix, status=status,
                                     since=since, until=until, limit=limit, offset=offset)
    return AuditList(items=[AuditEntry(**i) for i in items], total=total)
