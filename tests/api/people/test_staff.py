"""Staff management: leaders, workers, chiefs, party members and volunteers attached to grids and buildings."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.conftest import problem

pytestmark = pytest.mark.usefixtures("quiet_app")


def test_attach_staff_and_move_the_duty(client: httpx.Client, auth, grid_a, db: Session) -> None:
    h = auth("dispatcher")
    r = client.post("/api/v1/people", json={"name": "陈新", "role": "grid_worker", "phone": "13800001111",
                                            "grid_code": grid_a.code, "on_duty": True}, headers=h)
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["community_code"] == grid_a.code[:12] and new["on_duty"] and new["phone"] == "13800001111"
    on_duty = db.execute(text("SELECT id FROM person WHERE grid_code = :g AND on_duty"), {"g": grid_a.code}).scalars()
    assert list(on_duty) == [new["id"]]  # one worker on duty per grid
    building = db.execute(text("SELECT id FROM building LIMIT 1")).scalar_one()
    r = client.post("/api/v1/people", json={"name": "周楼长", "role": "building_chief", "building_id": building},
                    headers=h)
    assert r.status_code == 201 and r.json()["building_id"] == building
    r = client.patch(f"/api/v1/people/{new['id']}", json={"phone": "13800002222"}, headers=h)
    assert r.json()["phone"] == "13800002222" and r.json()["grid_code"] == grid_a.code
    r = client.delete(f"/api/v1/people/{new['id']}", headers=h)
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["on_duty"] is False
    listed = client.get("/api/v1/people", params={"grid": grid_a.code, "role": "grid_worker"}, headers=h).json()
    assert new["id"] not in {p["id"] for p in listed["items"]}


def test_staff_validation(client: httpx.Client, auth, grid_a) -> None:
    h = auth("dispatcher")
    for body, code, status in [
        ({"name": "x", "role": "grid_worker"}, "invalid_parameter", 422),
        ({"name": "x", "role": "grid_worker", "grid_code": "999999999999999"}, "invalid_parameter", 422),
        ({"name": "x", "role": "building_chief"}, "invalid_parameter", 422),
        ({"name": "x", "role": "unit_chief", "building_id": 999999999}, "invalid_parameter", 422),
        ({"name": "x", "role": "volunteer", "grid_code": grid_a.code, "on_duty": True}, "invalid_parameter", 422),
        ({"name": "x", "role": "grid_worker", "grid_code": grid_a.code, "community_code": "110101999999"},
         "invalid_parameter", 422),
        ({"name": "x", "role": "mayor"}, "validation_error", 422),
        ({"name": "", "role": "volunteer"}, "validation_error", 422),
        ({"name": "x", "role": "volunteer", "phone": "call me"}, "validation_error", 422),
    ]:
        problem(client.post("/api/v1/people", json=body, headers=h), status, code)
    problem(client.patch("/api/v1/people/99999999", json={"name": "y"}, headers=h), 404, "not_found")
    problem(client.get("/api/v1/people/99999999", headers=h), 404, "not_found")
    problem(client.get("/api/v1/people", params={"grid": "abc"}, headers=h), 422, "validation_error")


def test_worker_sees_its_grids_staff_only(client: httpx.Client, login, grid_a, grid_b) -> None:
    w = login("worker", person_id=grid_a.worker_id)
    people = client.get("/api/v1/people", params={"limit": 1000}, headers=w).json()
    assert people["total"] > 0 and {p["grid_code"] for p in people["items"]} == {grid_a.code}
    problem(client.get(f"/api/v1/people/{grid_b.worker_id}", headers=w), 404, "not_found")
    problem(client.post("/api/v1/people", json={"name": "x", "role": "volunteer"}, headers=w), 403, "forbidden")
