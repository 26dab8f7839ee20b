"""Users: Argon2-hashed passwords, OAuth2 password login with short-lived tokens, admin user management."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.conftest import PASSWORD, problem

pytestmark = pytest.mark.usefixtures("quiet_app")


def _create(client: httpx.Client, admin: dict, **body) -> dict:
    r = client.post("/api/v1/users", json={"password": PASSWORD, **body}, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


def test_login_logout_and_expiry(client: httpx.Client, auth, db: Session, grid_a) -> None:
    admin = auth("admin")
    user = _create(client, admin, username="wang.worker", role="worker", person_id=grid_a.worker_id)
    stored = db.execute(text("SELECT password_hash FROM app_user WHERE id = :i"), {"i": user["id"]}).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    problem(client.post("/api/v1/auth/token", data={"username": "wang.worker", "password": "wrong password"}), 401,
            "invalid_credentials")
    problem(client.post("/api/v1/auth/token", data={"username": "nobody", "password": PASSWORD}), 401,
            "invalid_credentials")
    problem(client.post("/api/v1/auth/token", data={"username": "wang.worker"}), 422, "validation_error")
    r = client.post("/api/v1/auth/token", data={"username": "wang.worker", "password": PASSWORD})
    assert r.status_code == 200, r.text
    tok = r.json()
    assert tok["token_type"] == "bearer" and tok["expires_in"] > 0 and tok["access_token"].startswith("gmt_")
    stored_tok = db.execute(text("SELECT token_hash FROM user_token WHERE user_id = :i"),
                            {"i": user["id"]}).scalar_one()
    assert tok["access_token"] not in stored_tok
    h = {"Authorization": f"Bearer {tok['access_token']}"}
    me = client.get("/api/v1/auth/me", headers=h).json()
    assert me["role"] == "worker" and me["grid_codes"] == [grid_a.code]
    assert client.post("/api/v1/auth/logout", headers=h).status_code == 204
    problem(client.get("/api/v1/auth/me", headers=h), 401, "unauthorized")
    # an expired token is refused
    r = client.post("/api/v1/auth/token", data={"username": "wang.worker", "password": PASSWORD})
    h2 = {"Authorization": f"Bearer {r.json()['access_token']}"}
    db.execute(text("UPDATE user_token SET created_at = now() - interval '2 hours', "
                    "expires_at = now() - interval '1 hour' WHERE revoked_at IS NULL AND user_id = :i"),
               {"i": user["id"]})
    from api.users import service

    service._cache.clear()
    problem(client.get("/api/v1/auth/me", headers=h2), 401, "unauthorized")
    problem(client.get("/api/v1/auth/me", headers={"Authorization": "Bearer gmt_forged"}), 401, "unauthorized")
    problem(client.post("/api/v1/auth/logout", headers=admin), 403, "forbidden")


def test_lockout_after_five_wrong_passwords(client: httpx.Client, auth) -> None:
    _create(client, auth("admin"), username="li.planner", role="planner")
    for _ in range(5):
        problem(client.post("/api/v1/auth/token", data={"username": "li.planner", "password": "nope nope"}), 401,
                "invalid_credentials")
    problem(client.post("/api/v1/auth/token", data={"username": "li.planner", "password": PASSWORD}), 401,
            "account_locked")


def test_admin_manages_users(client: httpx.Client, auth, grid_a, grid_b) -> None:
    admin = auth("admin")
    problem(client.post("/api/v1/users", json={"username": "x1", "password": PASSWORD, "role": "worker"},
                        headers=admin), 422, "invalid_parameter")  # a worker needs a person
    problem(client.post("/api/v1/users", json={"username": "Bad Name", "password": PASSWORD, "role": "planner"},
                        headers=admin), 422, "validation_error")
    problem(client.post("/api/v1/users", json={"username": "short", "password": "123", "role": "planner"},
                        headers=admin), 422, "validation_error")
    problem(client.post("/api/v1/users", json={"username": "x2", "password": PASSWORD, "role": "commander",
                                               "department_code": "D99"}, headers=admin), 422, "invalid_parameter")
    problem(client.post("/api/v1/users", json={"username": "x3", "password": PASSWORD, "role": "worker",
                                               "person_id": grid_a.worker_id, "grid_codes": ["1"]}, headers=admin),
            422, "invalid_parameter")
    u = _create(client, admin, username="zhao", role="worker", person_id=grid_a.worker_id, grid_codes=[grid_b.code])
    problem(client.post("/api/v1/users", json={"username": "zhao", "password": PASSWORD, "role": "planner"},
                        headers=admin), 409, "conflict")
    tok = client.post("/api/v1/auth/token", data={"username": "zhao", "password": PASSWORD}).json()["access_token"]
    h = {"Authorization": f"Bearer {tok}"}
    assert set(client.get("/api/v1/auth/me", headers=h).json()["grid_codes"]) == {grid_a.code, grid_b.code}
    problem(client.get("/api/v1/users", headers=h), 403, "forbidden")
    assert any(x["username"] == "zhao" for x in client.get("/api/v1/users", headers=admin).json()["items"])
    assert "password_hash" not in client.get(f"/api/v1/users/{u['id']}", headers=admin).json()
    r = client.patch(f"/api/v1/users/{u['id']}", json={"grid_codes": []}, headers=admin)
    assert r.status_code == 200 and r.json()["grid_codes"] == []
    problem(client.get("/api/v1/auth/me", headers=h), 401, "unauthorized")  # a scope change revokes tokens
    assert client.delete(f"/api/v1/users/{u['id']}", headers=admin).status_code == 204
    problem(client.post("/api/v1/auth/token", data={"username": "zhao", "password": PASSWORD}), 401,
            "invalid_credentials")
    problem(client.get("/api/v1/users/99999999", headers=admin), 404, "not_found")
    problem(client.patch("/api/v1/users/99999999", json={"active": True}, headers=admin), 404, "not_found")


def test_api_keys_still_work_next_to_tokens(client: httpx.Client, auth) -> None:
    h = auth("dispatcher")
    me = client.get("/api/v1/auth/me", headers=h).json()
    assert me["kind"] == "key" and me["role"] == "dispatcher" and me["grid_codes"] == []
    assert client.get("/api/v1/grids", params={"limit": 1}, headers=h).status_code == 200
