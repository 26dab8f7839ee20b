"""The README's role table and the code's (api/auth/roles.py) say the same thing, and the roles mean it."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.roles import ROLES, TABLE, Can
from tests.conftest import ROOT


def _readme_table() -> dict[str, set[str]]:
    lines = (ROOT / "README.md").read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("| capability |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    out: dict[str, set[str]] = {}
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        cells = [c.strip() for c in ln.strip("|").split("|")]
        cap = re.sub(r"`", "", cells[0])
        out[cap] = {header[i] for i, c in enumerate(cells) if i >= 2 and c == "✓"}
    return out


def test_the_readme_role_table_is_the_code_table() -> None:
    readme = _readme_table()
    assert set(readme) == {c.value for c in Can}
    for cap, roles in TABLE.items():
        assert readme[cap.value] == set(roles), cap
    assert set(ROLES) == {"viewer", "dispatcher", "operator", "planner", "worker", "intake", "admin"}


def test_the_old_commander_role_is_accepted_and_stored_as_dispatcher(client: httpx.Client, auth) -> None:
    admin = auth("admin")
    r = client.post("/api/v1/keys", json={"name": "old script", "role": "commander"}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "dispatcher"
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {r.json()['key']}"}).json()
    assert me["role"] == "dispatcher"


def test_the_database_refuses_an_unknown_role(db: Session) -> None:
    import pytest
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with db.begin_nested():
            db.execute(text("INSERT INTO api_key (name, role, prefix, key_hash) VALUES ('x', 'commander', 'x', 'x')"))


def test_an_operator_files_with_the_caller_and_reads_back_only_its_own(client: httpx.Client, auth, login,
                                                                        grid_a) -> None:
    me, colleague = login("operator"), login("operator")
    body = {"source": "hotline_12345", "category": "E01001", "description": "楼道堆物", "lon": grid_a.lon,
            "lat": grid_a.lat, "reporter": {"name": "王五", "phone": "13700137000"}}
    posted = client.post("/api/v1/reports", json=body, headers=me)
    assert posted.status_code == 201, posted.text
    rid, cid = posted.json()["id"], posted.json()["case"]["id"]
    mine = client.get(f"/api/v1/reports/{rid}", headers=me).json()
    assert mine["reporter"] == {"name": "王五", "phone": "13700137000"}  # the operator calls back: unmasked
    case = client.get(f"/api/v1/cases/{cid}", headers=me).json()
    assert case["reporter"]["phone"] == "13700137000" and case["next"] == []  # reads, does not act
    assert client.get(f"/api/v1/reports/{rid}", headers=colleague).status_code == 404
    assert client.get(f"/api/v1/cases/{cid}", headers=colleague).status_code == 404
    assert cid not in [c["id"] for c in client.get("/api/v1/cases", headers=colleague).json()["items"]]
    assert [c["id"] for c in client.get("/api/v1/cases", headers=me).json()["items"]] == [cid]
    # the planner reads it with the caller masked; the dispatcher sees the caller to call back
    assert "****" in client.get(f"/api/v1/cases/{cid}", headers=auth("planner")).json()["reporter"]["phone"]
    assert client.get(f"/api/v1/cases/{cid}", headers=auth("dispatcher")).json()["reporter"]["phone"] == "13700137000"
    # and grid staff phones in full, to hand the case over by phone
    staff = client.get("/api/v1/people", params={"grid": grid_a.code}, headers=me).json()["items"]
    assert staff and all("*" not in (p["phone"] or "") for p in staff)


def test_a_deactivated_person_is_gone_for_readers(client: httpx.Client, auth, grid_a) -> None:
    h = auth("dispatcher")
    assert client.get(f"/api/v1/people/{grid_a.leader_id}", headers=h).status_code == 200
    gone = client.delete(f"/api/v1/people/{grid_a.leader_id}", headers=h)
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert client.get(f"/api/v1/people/{grid_a.leader_id}", headers=h).status_code == 404  # defect 15


def test_trace_and_other_unknown_methods_say_what_is_allowed(client: httpx.Client) -> None:
    for method in ("TRACE", "PUT"):
        r = client.request(method, "/api/v1/layouts")
        assert r.status_code == 405 and "GET" in r.headers.get("allow", ""), (method, r.headers)
