"""People who can sign in on a fresh installation: the first-run ``admin`` and the sample district's demo users.

``gridmap keys ensure-local`` (``make run``) calls :func:`ensure_admin`: the first time, it creates the user
``admin`` with a generated password written to ``.data/admin-password`` (mode 0600) and never printed, so a
newcomer signs in on any page with a password that is on disk only. It never resets a password a person has
since changed (the file then no longer matches and is left alone, with a warning).

The sample loader calls :func:`load_demo_users` with ``sample_data/users.csv``: one demo user per role with a
documented password (sample_data/README.md), so every screen can be tried at once. A worker's row names its
person by grid and person role (the grid's leader), as the sample people carry no stable ids.
"""

from __future__ import annotations

import csv
import os
import secrets
from pathlib import Path

from argon2.exceptions import VerificationError
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from api.users.models import User
from api.users.service import _hasher, hash_password

ADMIN_USERNAME = "admin"


def ensure_admin(session: Session, *, path: Path) -> str:
    """Create ``admin`` with a generated password in ``path`` (0600) unless it exists; say what was done."""
    user = session.scalar(select(User).where(User.username == ADMIN_USERNAME))
    if user is not None:
        try:
            if path.exists() and _hasher.verify(user.password_hash, path.read_text().strip()):
                return "exists"
        except VerificationError:
            pass
        return "changed"
    password = secrets.token_urlsafe(12)
    session.add(User(username=ADMIN_USERNAME, display_name="管理员 Administrator",
                     password_hash=hash_password(password), role="admin", active=True, failed_logins=0, grid_codes=[]))
    session.flush()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    return "created"


def load_demo_users(session: Session, *, path: Path) -> int:
    """Insert the demo users of ``path`` that do not exist yet; returns how many were added."""
    if not path.exists():
        return 0
    added = 0
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if session.scalar(select(User.id).where(User.username == row["username"])) is not None:
                continue
            person_id = None
            if row["person_grid"]:
                person_id = session.execute(text("""
                    SELECT id FROM person WHERE grid_code = :g AND role = :r AND active ORDER BY id LIMIT 1"""),
                    {"g": row["person_grid"], "r": row["person_role"]}).scalar()
                if person_id is None:
                    continue  # the sample at another scale: no such grid
            session.add(User(username=row["username"], display_name=row["display_name"] or None,
                             password_hash=hash_password(row["password"]), role=row["role"], person_id=person_id,
                             active=True, failed_logins=0, grid_codes=[]))
            added += 1
    session.flush()
    return added
