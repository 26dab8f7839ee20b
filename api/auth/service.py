"""API keys: issue, verify, revoke."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from api.auth.models import KEY_ROLES, ApiKey
from api.core.errors import InvalidParameter, NotFound

KEY_PREFIX = "gm_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, name and role."""

    key_id: int
    name: str
    role: str


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_key(session: Session, *, name: str, role: str) -> tuple[ApiKey, str]:
    """Create a key and return it with its only plain-text copy (shown once, never stored)."""
    if role not in KEY_ROLES:
        raise InvalidParameter(f"role must be one of {', '.join(KEY_ROLES)}", field="role")
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, role=role, prefix=raw[:10], key_hash=hash_key(raw))
    session.add(key)
    session.flush()
    return key, raw


def verify_key(session: Session, *, raw: str) -> Principal | None:
    row = session.execute(
        select(ApiKey.id, ApiKey.name, ApiKey.role).where(
            ApiKey.key_hash == hash_key(raw), ApiKey.revoked_at.is_(None)
        )
    ).first()
    return Principal(row.id, row.name, row.role) if row else None


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, *, key_id: int) -> None:
    res = session.execute(
        update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=text("now()"))
    )
    if res.rowcount == 0:
        raise NotFound(f"no active API key with id {key_id}")
