"""The audit log: every write (who, what, when, from where), no secrets, admins only, append-only."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.api.conftest import PASSWORD, problem

pytestmark = pytest.mark.usefixtures("quiet_app")


def test_writes_are_audited_and_reads_are_not(client: httpx.Client, auth, login, make_case, grid_a,
                                              db: Session) -> None:
    admin = auth("admin")
    cmd = auth("dispatcher")
    case_id = make_case(grid_a, "reported")
    client.get(f"/api/v1/cases/{case_id}", headers=cmd)
    client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "registered"}, headers=cmd,
                params={"api_key": "leak"})
    client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "closed"}, headers=cmd)
    login("worker", person_id=grid_a.worker_id)
    client.post("/api/v1/auth/token", data={"username": "ghost", "password": PASSWORD})
    r = client.get("/api/v1/audit", params={"path_prefix": f"/api/v1/cases/{case_id}"}, headers=admin)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(i["method"], i["status"], i["actor"], i["role"]) for i in items] == [
        ("POST", 409, "key:test dispatcher", "dispatcher"), ("POST", 200, "key:test dispatcher", "dispatcher")]
    assert items[0]["client_ip"] == "testclient" and items[0]["at"]
    assert items[1]["query"] == "api_key=%2A%2A%2A"  # no secrets in the log
    logins = client.get("/api/v1/audit", params={"path_prefix": "/api/v1/auth/token"}, headers=admin).json()["items"]
    assert {i["status"] for i in logins} == {200, 401}
    assert any(i["actor"].startswith("user:") for i in logins) and any(i["actor"] == "anonymous" for i in logins)
    dump = db.execute(text("SELECT string_agg(coalesce(query, '') || path || actor, ' ') FROM audit_log")).scalar_one()
    assert PASSWORD not in dump and "leak" not in dump
    problem(client.get("/api/v1/audit", headers=cmd), 403, "forbidden")
    problem(client.get("/api/v1/audit", params={"method": "GET"}, headers=admin), 422, "validation_error")


def test_audit_log_is_append_only(db: Session) -> None:
    db.execute(text("INSERT INTO audit_log (actor, method, path, status) VALUES ('t', 'POST', '/x', 200)"))
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(text("UPDATE audit_log SET actor = 'someone else'"))
