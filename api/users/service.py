"""Users, passwords and login tokens.

Choice of login: an OAuth2 password flow (``POST /api/v1/auth/token``) that returns a short-lived
*opaque* bearer token (default 60 minutes, ``GRIDMAP_TOKEN_TTL_MINUTES``), not a session cookie and not
a JWT:

* the pages already send ``Authorization: Bearer …`` through web/js/api.js, so a token needs no second
  auth path, and a header (unlike a cookie) is never sent by the browser on its own: no CSRF surface;
* the token is kept in ``sessionStorage`` (gone when the tab closes) and stored server-side as a SHA-256
  digest only, like API keys, so logout and deactivation revoke it at once (no signing secret to manage,
  unlike a JWT);
* systems (hotline, mini-programs) keep their API keys (api/auth).

Passwords are hashed with Argon2id (argon2-cffi's ``PasswordHasher`` defaults, RFC 9106 profile). Five
wrong passwords in a row lock the account for five minutes.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from api.auth.service import Principal, announce, matches, on_auth_change
from api.core.errors import AccountLocked, InvalidCredentials, InvalidParameter, NotFound
from api.users.models import User, UserToken
from api.users.schemas import UserCreate, UserUpdate

TOKEN_PREFIX = "gmt_"
MAX_FAILED_LOGINS = 5
LOCK_MINUTES = 5
TOKEN_CACHE_SECONDS = 10.0
_hasher = PasswordHasher()
#: Verified against when the username is unknown, so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("gridmap-dummy-password")
_cache: dict[str, tuple[Principal, float]] = {}
_cache_lock = threading.Lock()
#: Person roles a worker user may act for.
STAFF_ROLES = ("grid_leader", "grid_worker")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _check_refs(session: Session, *, role: str, person_id: int | None, department_code: str | None,
                grid_codes: list[str]) -> None:
    for code in grid_codes:
        if not (len(code) == 15 and code.isdigit()):
            raise InvalidParameter(f"grid code {code!r} is not 15 digits", field="grid_codes")
    if person_id is not None:
        prole = session.execute(text("SELECT role FROM person WHERE id = :i AND active"), {"i": person_id}).scalar()
        if prole is None:
            raise InvalidParameter(f"no active person with id {person_id}", field="person_id")
        if role == "worker" and prole not in STAFF_ROLES:
            raise InvalidParameter("a worker user must act for a grid leader or grid worker", field="person_id")
    elif role == "worker":
        raise InvalidParameter("a worker user needs person_id (the grid staff member it acts for)",
                               field="person_id")
    if department_code is not None and session.execute(
            text("SELECT 1 FROM department WHERE code = :c"), {"c": department_code}).scalar() is None:
        raise InvalidParameter(f"unknown department {department_code!r}", field="department_code")


def create_user(session: Session, *, body: UserCreate) -> User:
    _check_refs(session, role=body.role, person_id=body.person_id, department_code=body.department_code,
                grid_codes=body.grid_codes)
    if session.scalar(select(User.id).where(User.username == body.username)) is not None:
        from api.core.errors import Conflict

        raise Conflict(f"username {body.username!r} is taken", field="username")
    user = User(username=body.username, display_name=body.display_name, password_hash=hash_password(body.password),
                role=body.role, person_id=body.person_id, department_code=body.department_code,
                grid_codes=list(dict.fromkeys(body.grid_codes)), active=True, failed_logins=0)
    session.add(user)
    session.flush()
    session.refresh(user)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.id)))


def get_user(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def update_user(session: Session, *, user_id: int, body: UserUpdate) -> User:
    user = get_user(session, user_id=user_id)
    fields = body.model_dump(exclude_unset=True)
    for name in ("role", "active", "grid_codes"):
        if name in fields and fields[name] is None:
            raise InvalidParameter(f"{name} cannot be null", field=name)
    role = fields.get("role", user.role)
    person_id = fields["person_id"] if "person_id" in fields else user.person_id
    _check_refs(session, role=role, person_id=person_id,
                department_code=fields.get("department_code", user.department_code),
                grid_codes=fields.get("grid_codes") or [])
    for name, value in fields.items():
        if name == "password":
            if value is not None:
                user.password_hash = hash_password(value)
        elif name == "grid_codes":
            user.grid_codes = list(dict.fromkeys(value or []))
        else:
            setattr(user, name, value)
    if "password" in fields or fields.get("active") is False or "role" in fields or "grid_codes" in fields \
            or "person_id" in fields:
        revoke_tokens(session, user_id=user.id)
    session.flush()
    return user


def revoke_tokens(session: Session, *, user_id: int) -> None:
    session.execute(update(UserToken).where(UserToken.user_id == user_id, UserToken.revoked_at.is_(None))
                    .values(revoked_at=text("now()")))
    announce(session, f"user:{user_id}")
    with _cache_lock:
        for digest, (principal, _) in list(_cache.items()):
            if principal.user_id == user_id:
                del _cache[digest]


def login(session: Session, *, username: str, password: str, ttl_minutes: int,
          client_ip: str | None) -> tuple[str, User]:
    """Check the password and issue a token; a wrong name or password is the same 401.

    A failed attempt is committed (the counter must survive the 401), so this function commits."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    now = datetime.now(UTC)
    if user is None or not user.active:
        try:
            _hasher.verify(_DUMMY_HASH, password)
        except VerificationError:
            pass
        raise InvalidCredentials("Wrong username or password.")
    if user.locked_until is not None and user.locked_until > now:
        raise AccountLocked("Too many wrong passwords: the account is locked for a few minutes.")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.failed_logins = 0
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
        session.commit()
        raise InvalidCredentials("Wrong username or password.") from None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(UserToken(user_id=user.id, token_hash=_digest(raw), expires_at=now + timedelta(minutes=ttl_minutes),
                          client_ip=client_ip))
    session.flush()
    return raw, user


def logout(session: Session, *, raw: str) -> None:
    digest = _digest(raw)
    session.execute(update(UserToken).where(UserToken.token_hash == digest, UserToken.revoked_at.is_(None))
                    .values(revoked_at=text("now()")))
    announce(session, f"token:{digest}")
    with _cache_lock:
        _cache.pop(digest, None)


def cached_token_principal(raw: str) -> Principal | None:
    hit = _cache.get(_digest(raw))
    return hit[0] if hit is not None and hit[1] > time.monotonic() else None


def _forget(what: str | None) -> None:
    with _cache_lock:
        for digest, (principal, _) in list(_cache.items()):
            if matches(principal, what, digest):
                del _cache[digest]


on_auth_change(_forget)


def token_digest(raw: str) -> str:
    return _digest(raw)


def verify_token(session: Session, *, raw: str) -> Principal | None:
    """The principal of a valid (unexpired, unrevoked) token of an active user, or None."""
    return verify_token_digest(session, digest=_digest(raw))


def verify_token_digest(session: Session, *, digest: str) -> Principal | None:
    """:func:`verify_token` by the token's digest (a stream ticket keeps the digest, never the token)."""
    row = session.execute(text("""
        SELECT u.id, u.username, u.role, u.person_id, u.department_code, u.grid_codes, p.role AS person_role,
               p.grid_code AS person_grid, EXTRACT(EPOCH FROM (t.expires_at - now())) AS seconds_left
        FROM user_token t JOIN app_user u ON u.id = t.user_id
        LEFT JOIN person p ON p.id = u.person_id AND p.active
        WHERE t.token_hash = :h AND t.revoked_at IS NULL AND t.expires_at > now() AND u.active"""),
        {"h": digest}).first()
    if row is None:
        return None
    grids = tuple(dict.fromkeys([*([row.person_grid] if row.person_grid else []), *(row.grid_codes or [])]))
    principal = Principal(0, row.username, row.role, user_id=row.id, person_id=row.person_id,
                          person_role=row.person_role, grid_codes=grids, department_code=row.department_code)
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[digest] = (principal, time.monotonic() + min(TOKEN_CACHE_SECONDS, float(row.seconds_left)))
    return principal


def issue_token(session: Session, *, user: User, ttl_minutes: float, client_ip: str | None) -> str:
    """A new login token for ``user`` (only its digest is stored)."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(UserToken(user_id=user.id, token_hash=_digest(raw),
                          expires_at=datetime.now(UTC) + timedelta(minutes=ttl_minutes), client_ip=client_ip))
    session.flush()
    return raw


def end_sessions(session: Session, *, user_id: int) -> int:
    """An admin signs a user (or a wall screen) out everywhere: every live token is revoked at once."""
    get_user(session, user_id=user_id)
    n = session.execute(text("""SELECT count(*) FROM user_token WHERE user_id = :u AND revoked_at IS NULL
                                AND expires_at > now()"""), {"u": user_id}).scalar_one()
    revoke_tokens(session, user_id=user_id)
    return int(n)


#: Pairing codes: 10 characters from an alphabet without look-alikes (0/O, 1/I/L): about 48 bits, typed once
#: on the wall screen's keyboard, usable for minutes, consumed on use.
PAIRING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
PAIRING_LENGTH = 10


def _pairing_digest(code: str) -> str:
    return _digest("pair:" + code.strip().upper().replace("-", "").replace(" ", ""))


def create_kiosk(session: Session, *, name: str, pairing_minutes: int) -> tuple[User, str]:
    """A wall screen: a ``viewer`` user without a usable password, and its first pairing code."""
    slug = "".join(ch for ch in name.lower() if ch.isascii() and (ch.isalnum() or ch in "-_")) or "wall"
    username = f"kiosk-{slug[:40]}-{secrets.token_hex(3)}"
    user = User(username=username, display_name=name, password_hash=hash_password(secrets.token_urlsafe(32)),
                role="viewer", kiosk=True, active=True, failed_logins=0, grid_codes=[])
    session.add(user)
    session.flush()
    return user, new_pairing_code(session, user=user, minutes=pairing_minutes)


def new_pairing_code(session: Session, *, user: User, minutes: int) -> str:
    if not user.kiosk:
        raise InvalidParameter("only a wall screen (kiosk) is paired with a code; people sign in with a password",
                               field="user_id")
    code = "".join(secrets.choice(PAIRING_ALPHABET) for _ in range(PAIRING_LENGTH))
    user.pairing_hash = _pairing_digest(code)
    user.pairing_expires_at = datetime.now(UTC) + timedelta(minutes=minutes)
    session.flush()
    return f"{code[:5]}-{code[5:]}"


def pair_kiosk(session: Session, *, code: str, ttl_minutes: float, client_ip: str | None) -> tuple[str, User]:
    """Trade a pairing code for the wall screen's token; the code is spent whether or not the screen keeps it."""
    user = session.scalar(select(User).where(User.pairing_hash == _pairing_digest(code), User.kiosk,
                                             User.active).with_for_update())
    if user is None or user.pairing_expires_at is None or user.pairing_expires_at < datetime.now(UTC):
        raise InvalidCredentials("This pairing code is unknown, used or expired; make a new one on the admin page.")
    user.pairing_hash = None
    user.pairing_expires_at = None
    user.last_login_at = datetime.now(UTC)
    return issue_token(session, user=user, ttl_minutes=ttl_minutes, client_ip=client_ip), user


def profile(session: Session, *, principal: Principal) -> dict:
    """What a page shows of the person signed in: their name, their person's name and their grid's name."""
    from api.grids.service import layout_in_force

    row = session.execute(text("""
        SELECT u.display_name, u.kiosk, p.name AS person_name, g.name AS grid_name, g.name_en AS grid_name_en
        FROM app_user u LEFT JOIN person p ON p.id = u.person_id
        LEFT JOIN grid g ON g.code = p.grid_code AND g.layout_id = :layout
        WHERE u.id = :u"""), {"u": principal.user_id, "layout": layout_in_force(session)}).first() \
        if principal.user_id is not None else None
    if row is None:
        return {"display_name": principal.name, "kiosk": False, "grid_name": None, "grid_name_en": None}
    return {"display_name": row.person_name or row.display_name or principal.name, "kiosk": bool(row.kiosk),
            "grid_name": row.grid_name, "grid_name_en": row.grid_name_en}
