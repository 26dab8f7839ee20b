"""API keys: issue, verify, revoke."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from api.auth.models import ApiKey
from api.auth.roles import ROLES, normalize
from api.core.errors import InvalidParameter, NotFound

KEY_PREFIX = "gm_"
#: Verified keys are remembered this long, so that a hot endpoint (locate) needs no database round
#: trip per request. A revocation reaches every process at once all the same: it is announced on
#: :data:`AUTH_CHANNEL` in the revoking transaction, and each process's listener empties its caches
#: (:func:`on_auth_notice`); the expiry only bounds what a lost notice could keep alive.
KEY_CACHE_SECONDS = 10.0
#: ``NOTIFY`` channel of revocations and scope changes: ``key:<id>``, ``user:<id>``, ``token:<sha256>``,
#: ``person:<id>`` (a grid staff member moved: the users acting for them see other grids now).
AUTH_CHANNEL = "gridmap_auth"
_hooks: list[Callable[[str | None], None]] = []
_cache: dict[str, tuple[Principal, float]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, name and role.

    A logged-in user (api/users) is a principal too: ``key_id`` is then 0 and ``user_id`` is set. A worker
    user carries the person it acts for and the grid codes it serves (``grid_codes``), which service
    functions use to scope queries; a worker *key* (a system) has no person and therefore no grids.
    """

    key_id: int
    name: str
    role: str
    user_id: int | None = None
    person_id: int | None = None
    person_role: str | None = None
    grid_codes: tuple[str, ...] = ()
    department_code: str | None = None

    @property
    def actor(self) -> str:
        """How the principal is named in case events and the audit log."""
        return f"user:{self.name}" if self.user_id is not None else f"key:{self.name}"


def announce(session: Session, what: str) -> None:
    """Tell every process, once this transaction commits, that ``what`` lost or changed its rights.

    Sent inside the transaction (not after it, as the report notices are): revocations are rare, and a notice
    that can never be lost between the commit and the send is worth the commit lock here."""
    session.execute(text("SELECT pg_notify(:c, :w)"), {"c": AUTH_CHANNEL, "w": what})


def on_auth_change(hook: Callable[[str | None], None]) -> None:
    """Register ``hook`` to hear every auth notice (None: notices may have been lost, forget everything)."""
    _hooks.append(hook)


def off_auth_change(hook: Callable[[str | None], None]) -> None:
    if hook in _hooks:
        _hooks.remove(hook)


def matches(principal: Principal, what: str | None, token_digest: str | None = None) -> bool:
    """Whether the notice ``what`` concerns ``principal`` (None concerns everybody)."""
    if what is None:
        return True
    kind, _, value = what.partition(":")
    if kind == "key":
        return principal.user_id is None and str(principal.key_id) == value
    if kind == "user":
        return str(principal.user_id) == value
    if kind == "person":
        return str(principal.person_id) == value
    return kind == "token" and token_digest == value


def on_auth_notice(what: str | None) -> None:
    """The listener's callback: drop what the notice concerns from this process's caches, then the hooks."""
    with _cache_lock:
        for digest, (principal, _) in list(_cache.items()):
            if matches(principal, what, digest):
                del _cache[digest]
    for hook in list(_hooks):
        hook(what)


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_key(session: Session, *, name: str, role: str) -> tuple[ApiKey, str]:
    """Create a key and return it with its only plain-text copy (shown once, never stored)."""
    role = normalize(role)
    if role not in ROLES:
        raise InvalidParameter(f"role must be one of {', '.join(ROLES)}", field="role")
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, role=role, prefix=raw[:10], key_hash=hash_key(raw))
    session.add(key)
    session.flush()
    return key, raw


def cached_principal(raw: str) -> Principal | None:
    """The principal of a recently verified key, without touching the database (or None)."""
    hit = _cache.get(hash_key(raw))
    return hit[0] if hit is not None and hit[1] > time.monotonic() else None


def verify_key(session: Session, *, raw: str) -> Principal | None:
    digest = hash_key(raw)
    hit = _cache.get(digest)
    now = time.monotonic()
    if hit is not None and hit[1] > now:
        return hit[0]
    row = session.execute(
        select(ApiKey.id, ApiKey.name, ApiKey.role).where(
            ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    principal = Principal(row.id, row.name, row.role)
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[digest] = (principal, now + KEY_CACHE_SECONDS)
    return principal


def verify_key_id(session: Session, *, key_id: int) -> Principal | None:
    """The principal of an unrevoked key by its id (a stream ticket names the key by id)."""
    row = session.execute(select(ApiKey.id, ApiKey.name, ApiKey.role).where(
        ApiKey.id == key_id, ApiKey.revoked_at.is_(None))).first()
    return None if row is None else Principal(row.id, row.name, row.role)


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, *, key_id: int) -> None:
    res = session.execute(
        update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=text("now()"))
    )
    if res.rowcount == 0:
        raise NotFound(f"no active API key with id {key_id}")
    announce(session, f"key:{key_id}")
    with _cache_lock:  # this process at once, even before the commit: a refused request is never wrong here
        for digest, (principal, _) in list(_cache.items()):
            if principal.user_id is None and principal.key_id == key_id:
                del _cache[digest]
