"""People's sessions (issue 18): a sign-in lasts a shift, an admin ends a user's sessions at once, a wall screen
pairs with a one-time code for a read-only token that reads the wall and writes nothing, the first run creates
``admin`` with a generated password on disk, and the sample ships demo users."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.conftest import PASSWORD, problem

pytestmark = pytest.mark.usefixtures("quiet_app")


def _token(client: httpx.Client, username: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_a_sign_in_lasts_the_configured_shift(client: httpx.Client, auth, db: Session) -> None:
    from api.core.config import get_settings

    client.post("/api/v1/users", json={"username": "shift.one", "password": PASSWORD, "role": "planner"},
                headers=auth("admin"))
    r = client.post("/api/v1/auth/token", data={"username": "shift.one", "password": PASSWORD})
    hours = get_settings().session_hours
    assert r.json()["expires_in"] == int(hours * 3600)
    left = db.execute(text("""SELECT EXTRACT(EPOCH FROM expires_at - now()) FROM user_token t
                              JOIN app_user u ON u.id = t.user_id WHERE u.username = 'shift.one'""")).scalar_one()
    assert abs(float(left) - hours * 3600) < 60
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}).json()
    assert me["session_hours"] == hours and me["kind"] == "user" and me["kiosk"] is False


def test_admin_ends_a_users_sessions_at_once(client: httpx.Client, auth, login, db: Session, grid_a) -> None:
    admin = auth("admin")
    r = client.post("/api/v1/users", json={"username": "two.tabs", "password": PASSWORD, "role": "worker",
                                           "person_id": grid_a.worker_id}, headers=admin)
    uid = r.json()["id"]
    tabs = [_token(client, "two.tabs"), _token(client, "two.tabs")]
    for h in tabs:
        me = client.get("/api/v1/auth/me", headers=h).json()  # cached now
        assert me["display_name"] == db.execute(text("SELECT name FROM person WHERE id = :i"),
                                                {"i": grid_a.worker_id}).scalar_one()
        assert me["grid_name"]  # the person's grid, by name
    problem(client.delete(f"/api/v1/users/{uid}/sessions", headers=tabs[0]), 403, "forbidden")
    out = client.delete(f"/api/v1/users/{uid}/sessions", headers=admin)
    assert out.status_code == 200 and out.json() == {"ended": 2}
    for h in tabs:
        problem(client.get("/api/v1/auth/me", headers=h), 401, "unauthorized")
    problem(client.delete("/api/v1/users/999999999/sessions", headers=admin), 404, "not_found")
    # The user may sign in again: ending sessions is not deactivation.
    assert client.get("/api/v1/auth/me", headers=_token(client, "two.tabs")).status_code == 200


def test_a_wall_screen_pairs_once_and_is_revoked(client: httpx.Client, auth, db: Session) -> None:
    admin = auth("admin")
    r = client.post("/api/v1/kiosks", json={"name": "指挥中心大屏"}, headers=admin)
    assert r.status_code == 201, r.text
    k = r.json()
    code, uid = k["pairing_code"], k["user"]["id"]
    assert k["user"]["role"] == "viewer" and k["user"]["kiosk"] is True and len(code.replace("-", "")) == 10
    assert code not in (db.execute(text("SELECT pairing_hash FROM app_user WHERE id = :i"), {"i": uid}).scalar() or "")
    # A kiosk has no usable password.
    problem(client.post("/api/v1/auth/token", data={"username": k["user"]["username"], "password": code}), 401,
            "invalid_credentials")
    problem(client.post("/api/v1/auth/kiosk", json={"code": "WRONG-CODE1"}), 401, "invalid_credentials")
    paired = client.post("/api/v1/auth/kiosk", json={"code": code.lower()})  # typed in any case
    assert paired.status_code == 200, paired.text
    assert paired.json()["role"] == "viewer" and paired.json()["expires_in"] >= 86400
    h = {"Authorization": f"Bearer {paired.json()['access_token']}"}
    me = client.get("/api/v1/auth/me", headers=h).json()
    assert me["kiosk"] is True and me["role"] == "viewer" and me["display_name"] == "指挥中心大屏"
    problem(client.post("/api/v1/auth/kiosk", json={"code": code}), 401, "invalid_credentials")  # spent
    # The wall's reads and its live stream are open to it; writes are not.
    assert client.get("/api/v1/wall/summary", headers=h).status_code == 200
    assert client.post("/api/v1/wall/stream/ticket", headers=h).status_code == 200
    problem(client.post("/api/v1/users", json={"username": "x.y", "password": PASSWORD, "role": "planner"},
                        headers=h), 403, "forbidden")
    # A new code replaces the old; an expired one is refused.
    again = client.post(f"/api/v1/kiosks/{uid}/pairing", headers=admin).json()["pairing_code"]
    db.execute(text("UPDATE app_user SET pairing_expires_at = now() - interval '1 minute' WHERE id = :i"), {"i": uid})
    problem(client.post("/api/v1/auth/kiosk", json={"code": again}), 401, "invalid_credentials")
    # People are not paired.
    person = client.post("/api/v1/users", json={"username": "not.a.screen", "password": PASSWORD, "role": "planner"},
                         headers=admin).json()
    problem(client.post(f"/api/v1/kiosks/{person['id']}/pairing", headers=admin), 422, "invalid_parameter")
    # Revoking the screen (deactivating its user) signs it out at once.
    assert client.delete(f"/api/v1/users/{uid}", headers=admin).status_code == 204
    problem(client.get("/api/v1/auth/me", headers=h), 401, "unauthorized")


def test_first_run_admin_password_on_disk(db: Session, tmp_path: Path) -> None:
    from argon2 import PasswordHasher

    from api.users.seed import ensure_admin

    db.execute(text("UPDATE app_user SET username = username || '-was' WHERE username = 'admin'"))
    path = tmp_path / "admin-password"
    assert ensure_admin(db, path=path) == "created"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    stored = db.execute(text("SELECT password_hash, role FROM app_user WHERE username = 'admin'")).one()
    assert stored.role == "admin" and PasswordHasher().verify(stored.password_hash, path.read_text().strip())
    assert ensure_admin(db, path=path) == "exists"
    db.execute(text("UPDATE app_user SET password_hash = :h WHERE username = 'admin'"),
               {"h": PasswordHasher().hash("changed by a person")})
    before = path.read_text()
    assert ensure_admin(db, path=path) == "changed" and path.read_text() == before  # never reset


def test_the_sample_ships_demo_users_for_each_role(db: Session) -> None:
    rows = {r.username: r for r in db.execute(text(
        "SELECT username, role, person_id FROM app_user WHERE username LIKE 'demo-%'"))}
    readme = (Path(__file__).resolve().parents[3] / "sample_data" / "README.md").read_text(encoding="utf-8")
    for name in ("demo-dispatcher", "demo-operator", "demo-planner", "demo-worker", "demo-viewer", "demo-admin"):
        assert name in rows and name in readme
    assert rows["demo-worker"].person_id is not None
