"""A case moved to another grid (改派到其他网格): the table's self-edge, a reason, the new grid's worker, scope."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.cases.workflow import OPEN_STATUSES, TERMINAL
from tests.api.conftest import problem

pytestmark = pytest.mark.usefixtures("quiet_app")


def test_transfer_moves_grid_person_and_sight(client: httpx.Client, auth, login, make_case, grid_a, grid_b,
                                              db: Session) -> None:
    cmd = auth("dispatcher")
    case_id = make_case(grid_a, "in_progress", assignee_id=grid_a.other_worker_id)
    old_worker = login("worker", person_id=grid_a.other_worker_id)
    new_worker = login("worker", person_id=grid_b.worker_id)
    assert client.get(f"/api/v1/cases/{case_id}", headers=old_worker).status_code == 200
    problem(client.get(f"/api/v1/cases/{case_id}", headers=new_worker), 404, "not_found")
    seen = client.get(f"/api/v1/cases/{case_id}", headers=cmd).json()
    assert seen["actions"] == ["transfer"] and "in_progress" not in seen["next"]
    assert client.get(f"/api/v1/cases/{case_id}", headers=old_worker).json()["actions"] == []

    # the picker: nearest first, the case's own grid never offered, found by a code's start or a name's part
    picks = client.get(f"/api/v1/cases/{case_id}/grids", headers=cmd).json()["items"]
    assert picks and grid_a.code not in [p["code"] for p in picks]
    dists = [p["distance_m"] for p in picks]
    assert dists == sorted(dists) and len(picks) == 20
    name_b = db.execute(text("SELECT name FROM grid WHERE code = :c AND layout_id = :l"),
                        {"c": grid_b.code, "l": grid_b.layout_id}).scalar_one()
    by_code = client.get(f"/api/v1/cases/{case_id}/grids", params={"q": grid_b.code}, headers=cmd).json()["items"]
    by_name = client.get(f"/api/v1/cases/{case_id}/grids", params={"q": name_b}, headers=cmd).json()["items"]
    assert [p["code"] for p in by_code] == [grid_b.code] and grid_b.code in [p["code"] for p in by_name]
    assert by_code[0]["worker"]

    # no reason, its own grid, an unknown grid, a person of another grid: refused, nothing changes
    url = f"/api/v1/cases/{case_id}/grid"
    problem(client.post(url, json={"grid_code": grid_b.code}, headers=cmd), 422, "validation_error")
    problem(client.post(url, json={"grid_code": grid_b.code, "reason": "   "}, headers=cmd), 422, "validation_error")
    problem(client.post(url, json={"grid_code": grid_a.code, "reason": "x"}, headers=cmd), 422, "invalid_parameter")
    problem(client.post(url, json={"grid_code": "999999999999999", "reason": "x"}, headers=cmd), 422,
            "invalid_parameter")
    problem(client.post(url, json={"grid_code": grid_b.code, "reason": "x", "assignee_id": grid_a.worker_id},
                        headers=cmd), 422, "invalid_parameter")
    problem(client.post(url, json={"grid_code": grid_b.code, "reason": "x"}, headers=old_worker), 403, "forbidden")
    assert db.execute(text("SELECT grid_code FROM cases WHERE id = :c"), {"c": case_id}).scalar_one() == grid_a.code

    r = client.post(url, json={"grid_code": grid_b.code, "reason": "地址在隔壁网格 · wrong grid"}, headers=cmd)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["grid_code"], out["status"]) == (grid_b.code, "in_progress")
    assert out["assignee"]["id"] == grid_b.worker_id  # the new grid's worker on duty
    # the old grid's worker loses sight of it at once; the new one sees it and may act on it
    problem(client.get(f"/api/v1/cases/{case_id}", headers=old_worker), 404, "not_found")
    assert case_id not in [c["id"] for c in client.get("/api/v1/cases", headers=old_worker).json()["items"]]
    assert client.get(f"/api/v1/cases/{case_id}", headers=new_worker).json()["next"]
    ev = db.execute(text("""SELECT actor, kind, note, from_status, to_status, data FROM case_event
                            WHERE case_id = :c ORDER BY id DESC LIMIT 1"""), {"c": case_id}).one()
    assert (ev.actor, ev.kind, ev.note, ev.from_status, ev.to_status) == (
        "key:test dispatcher", "assign", "地址在隔壁网格 · wrong grid", "in_progress", "in_progress")
    assert ev.data["from_grid"] == grid_a.code and ev.data["to_grid"] == grid_b.code
    assert ev.data["from_person"] == grid_a.other_worker_id and ev.data["to_person"] == grid_b.worker_id
    audit = client.get("/api/v1/audit", params={"path_prefix": url}, headers=auth("admin")).json()["items"]
    assert (audit[0]["method"], audit[0]["status"], audit[0]["actor"]) == ("POST", 200, "key:test dispatcher")

    # back, to a named person of the first grid
    r = client.post(url, json={"grid_code": grid_a.code, "reason": "back", "assignee_id": grid_a.leader_id},
                    headers=cmd)
    assert r.status_code == 200 and r.json()["assignee"]["id"] == grid_a.leader_id


@pytest.mark.parametrize("status", [*TERMINAL, "resolved", "verified"])
def test_no_transfer_outside_the_open_statuses(status: str, client: httpx.Client, auth, make_case, grid_a,
                                               grid_b) -> None:
    assert status not in OPEN_STATUSES
    case_id = make_case(grid_a, status)
    assert "transfer" not in client.get(f"/api/v1/cases/{case_id}", headers=auth("dispatcher")).json()["actions"]
    body = problem(client.post(f"/api/v1/cases/{case_id}/grid", json={"grid_code": grid_b.code, "reason": "x"},
                               headers=auth("admin")), 409, "illegal_transition")
    assert "stays in its grid" in body["detail"] and "in_progress" in body["detail"]


def test_the_transitions_endpoint_points_at_the_grid_endpoint(client: httpx.Client, auth, make_case,
                                                              grid_a) -> None:
    case_id = make_case(grid_a, "dispatched")
    resp = client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "dispatched"}, headers=auth("dispatcher"))
    assert "/grid" in problem(resp, 422, "invalid_parameter")["detail"]
