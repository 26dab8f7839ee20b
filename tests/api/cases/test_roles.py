"""Roles and scope: a worker sees and acts on its own grids' cases only; intake posts reports and nothing
else; planners read; personal data masked for roles that do not need it."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.conftest import problem

pytestmark = pytest.mark.usefixtures("quiet_app")


def test_worker_sees_only_its_own_grids(client: httpx.Client, login, make_case, grid_a, grid_b) -> None:
    mine = make_case(grid_a, "dispatched")
    theirs = make_case(grid_b, "dispatched")
    w = login("worker", person_id=grid_a.worker_id)
    me = client.get("/api/v1/auth/me", headers=w).json()
    assert me["kind"] == "user" and me["grid_codes"] == [grid_a.code] and me["person_id"] == grid_a.worker_id
    listed = client.get("/api/v1/cases", params={"limit": 1000, "status": "open"}, headers=w).json()
    assert listed["total"] > 0 and {c["grid_code"] for c in listed["items"]} == {grid_a.code}
    assert mine in {c["id"] for c in listed["items"]} and theirs not in {c["id"] for c in listed["items"]}
    assert client.get("/api/v1/cases", params={"grid": grid_b.code}, headers=w).json()["total"] == 0
    assert client.get(f"/api/v1/cases/{mine}", headers=w).status_code == 200
    problem(client.get(f"/api/v1/cases/{theirs}", headers=w), 404, "not_found")
    problem(client.get(f"/api/v1/cases/{theirs}/events", headers=w), 404, "not_found")
    problem(client.post(f"/api/v1/cases/{theirs}/transitions", json={"to": "in_progress"}, headers=w), 404,
            "not_found")
    problem(client.post(f"/api/v1/cases/{theirs}/notes", json={"note": "x"}, headers=w), 404, "not_found")
    rates = client.get("/api/v1/cases/rates", params={"level": "grid"}, headers=w).json()["items"]
    assert [r["code"] for r in rates] == [grid_a.code]


def test_worker_accepts_updates_and_resolves_with_photos(client: httpx.Client, login, make_case, grid_a,
                                                         db: Session) -> None:
    case_id = make_case(grid_a, "dispatched", assignee_id=grid_a.worker_id)
    w = login("worker", person_id=grid_a.other_worker_id)
    r = client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "in_progress", "note": "on my way"},
                    headers=w)
    assert r.status_code == 200 and r.json()["assignee"]["id"] == grid_a.other_worker_id  # who accepts, handles
    photo = "https://img.example.cn/fixed.jpg"
    r = client.post(f"/api/v1/cases/{case_id}/notes", json={"note": "parts ordered", "attachments": [photo]},
                    headers=w)
    assert r.status_code == 200 and r.json()["status"] == "in_progress"
    r = client.post(f"/api/v1/cases/{case_id}/transitions",
                    json={"to": "resolved", "note": "fixed", "attachments": [photo]}, headers=w)
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    events = db.execute(text("SELECT kind, actor, attachments FROM case_event WHERE case_id = :c ORDER BY id"),
                        {"c": case_id}).all()
    assert [e.kind for e in events] == ["transition", "transition", "note", "transition"]
    assert events[-1].actor.startswith("user:") and events[-1].attachments == [photo]


@pytest.mark.parametrize(("to", "frm"), [("dispatched", "registered"), ("closed", "verified"),
                                         ("rejected", "reported")])
def test_worker_cannot_do_command_centre_steps(to: str, frm: str, client: httpx.Client, login, make_case,
                                               grid_a) -> None:
    case_id = make_case(grid_a, frm)
    w = login("worker", person_id=grid_a.worker_id)
    problem(client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": to}, headers=w), 403, "forbidden")


def test_intake_posts_reports_and_nothing_else(client: httpx.Client, auth, make_case, grid_a) -> None:
    h = auth("intake")
    case_id = make_case(grid_a, "reported")
    r = client.post("/api/v1/reports", json={"source": "hotline_12345", "category": "C01001", "lon": grid_a.lon,
                                             "lat": grid_a.lat}, headers=h)
    assert r.status_code == 201, r.text
    for method, path, body in [
        ("GET", "/api/v1/cases", None), ("GET", f"/api/v1/cases/{case_id}", None),
        ("POST", f"/api/v1/cases/{case_id}/transitions", {"to": "registered"}),
        ("POST", f"/api/v1/cases/{case_id}/notes", {"note": "x"}),
        ("POST", f"/api/v1/cases/{case_id}/whistles", {"level": "street", "departments": ["D01"]}),
        ("GET", "/api/v1/cases/rates", None), ("GET", "/api/v1/whistles/alerts", None),
        ("GET", "/api/v1/people", None), ("POST", "/api/v1/people", {"name": "x", "role": "volunteer"}),
        ("GET", "/api/v1/users", None), ("GET", "/api/v1/audit", None), ("GET", "/api/v1/grids", None),
    ]:
        problem(client.request(method, path, json=body, headers=h), 403, "forbidden")


def test_planner_reads_but_does_not_act(client: httpx.Client, auth, make_case, grid_a) -> None:
    h = auth("planner")
    case_id = make_case(grid_a, "registered")
    assert client.get(f"/api/v1/cases/{case_id}", headers=h).status_code == 200
    assert client.get("/api/v1/cases/rates", headers=h).status_code == 200
    problem(client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "dispatched"}, headers=h), 403,
            "forbidden")
    problem(client.post(f"/api/v1/cases/{case_id}/assignee", json={"person_id": grid_a.worker_id}, headers=h), 403,
            "forbidden")
    problem(client.post("/api/v1/people", json={"name": "x", "role": "volunteer"}, headers=h), 403, "forbidden")


def test_personal_data_is_masked_for_roles_that_do_not_need_it(client: httpx.Client, auth, login, make_case,
                                                               grid_a) -> None:
    case_id = make_case(grid_a, "dispatched", reporter=("王小明", "13912345678"))
    full = client.get(f"/api/v1/cases/{case_id}", headers=auth("dispatcher")).json()
    assert full["reporter"] == {"name": "王小明", "phone": "13912345678"}
    assert "****" not in (full["assignee"]["phone"] or "")
    for h in (auth("planner"), login("worker", person_id=grid_a.worker_id)):
        masked = client.get(f"/api/v1/cases/{case_id}", headers=h).json()
        assert masked["reporter"] == {"name": "王**", "phone": "139****5678"}
    planner_people = client.get("/api/v1/people", params={"grid": grid_a.code}, headers=auth("planner")).json()
    assert all(p["phone"] is None or "****" in p["phone"] for p in planner_people["items"])
    commander_people = client.get("/api/v1/people", params={"grid": grid_a.code}, headers=auth("dispatcher")).json()
    assert any(p["phone"] and "****" not in p["phone"] for p in commander_people["items"])


def test_grid_leader_reassigns_within_the_grid_only(client: httpx.Client, login, auth, make_case, grid_a,
                                                    grid_b) -> None:
    case_id = make_case(grid_a, "dispatched", assignee_id=grid_a.worker_id)
    leader = login("worker", person_id=grid_a.leader_id)
    r = client.post(f"/api/v1/cases/{case_id}/assignee", json={"person_id": grid_a.other_worker_id}, headers=leader)
    assert r.status_code == 200 and r.json()["assignee"]["id"] == grid_a.other_worker_id
    problem(client.post(f"/api/v1/cases/{case_id}/assignee", json={"person_id": grid_b.worker_id}, headers=leader),
            422, "invalid_parameter")
    worker = login("worker", person_id=grid_a.worker_id)
    problem(client.post(f"/api/v1/cases/{case_id}/assignee", json={"person_id": grid_a.worker_id}, headers=worker),
            403, "forbidden")
    other_leader = login("worker", person_id=grid_b.leader_id)
    problem(client.post(f"/api/v1/cases/{case_id}/assignee", json={"person_id": grid_b.worker_id},
                        headers=other_leader), 404, "not_found")
    r = client.post(f"/api/v1/cases/{case_id}/assignee", json={"person_id": grid_a.worker_id},
                    headers=auth("dispatcher"))
    assert r.status_code == 200


def test_worker_key_without_a_person_sees_no_cases(client: httpx.Client, auth, make_case, grid_a) -> None:
    make_case(grid_a, "dispatched")
    h = auth("worker")
    assert client.get("/api/v1/cases", headers=h).json()["total"] == 0
    problem(client.get("/api/v1/cases", params={"mine": "true"}, headers=h), 422, "invalid_parameter")


def test_nearest_first_for_my_cases(client: httpx.Client, login, make_case, grid_a) -> None:
    far = make_case(grid_a, "dispatched", lon=grid_a.lon + 0.001, lat=grid_a.lat)
    near = make_case(grid_a, "dispatched", lon=grid_a.lon + 0.0001, lat=grid_a.lat)
    w = login("worker", person_id=grid_a.worker_id)
    items = client.get("/api/v1/cases", params={"mine": "true", "status": "open", "limit": 1000,
                                                "near": f"{grid_a.lon},{grid_a.lat}"}, headers=w).json()["items"]
    ids = [c["id"] for c in items]
    assert ids.index(near) < ids.index(far)
    d = [c["distance_m"] for c in items]
    assert d == sorted(d) and 5 < items[ids.index(near)]["distance_m"] < 15
    assert all(c["assignee"]["id"] == grid_a.worker_id for c in items)


def test_worker_does_not_verify_its_own_resolution(client: httpx.Client, login, make_case, grid_a) -> None:
    case_id = make_case(grid_a, "in_progress")
    w = login("worker", person_id=grid_a.worker_id)
    assert client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "resolved"}, headers=w).status_code == 200
    problem(client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "verified"}, headers=w), 403, "forbidden")
    other = login("worker", person_id=grid_a.other_worker_id)
    r = client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "verified"}, headers=other)
    assert r.status_code == 200, r.text


def test_worker_sees_only_its_grids_reports(client: httpx.Client, login, make_case, grid_a, grid_b,
                                            db: Session) -> None:
    mine, theirs = make_case(grid_a, "dispatched"), make_case(grid_b, "dispatched")
    for c, g in ((mine, grid_a), (theirs, grid_b)):
        db.execute(text("""INSERT INTO routing (report_id, layout_id, grid_code, method)
                           SELECT report_id, layout_id, :g, 'inside' FROM cases WHERE id = :c"""),
                   {"c": c, "g": g.code})
    rep = dict(db.execute(text("SELECT id, report_id FROM cases WHERE id = ANY(:ids)"),
                          {"ids": [mine, theirs]}).all())
    w = login("worker", person_id=grid_a.worker_id)
    assert client.get(f"/api/v1/reports/{rep[mine]}", headers=w).status_code == 200
    problem(client.get(f"/api/v1/reports/{rep[theirs]}", headers=w), 404, "not_found")
    listed = client.get("/api/v1/reports", params={"limit": 1000}, headers=w).json()["items"]
    assert listed and {r["routing"]["grid_code"] for r in listed} == {grid_a.code}
