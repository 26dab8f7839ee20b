"""Every issue-6 route answers bad input with a 4xx problem+json, never a 500."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.usefixtures("quiet_app")
HUGE = 2**70


def test_bad_input_is_a_4xx_problem_everywhere(client: httpx.Client, auth, make_case, grid_a) -> None:
    admin = auth("admin")
    case_id = make_case(grid_a, "dispatched")
    cases = [
        ("GET", "/api/v1/cases?limit=0", None), ("GET", "/api/v1/cases?offset=-1", None),
        ("GET", f"/api/v1/cases?offset={HUGE}", None), ("GET", "/api/v1/cases?overdue=maybe", None),
        ("GET", "/api/v1/cases?area=12", None), ("GET", "/api/v1/cases?near=a,b", None),
        ("GET", "/api/v1/cases?status=,,", None), ("GET", "/api/v1/cases/rates?since=yesterday", None),
        ("GET", "/api/v1/cases/rates?code=abc", None), ("GET", f"/api/v1/cases/{HUGE}", None),
        ("GET", "/api/v1/cases/-1/events", None),
        ("POST", f"/api/v1/cases/{case_id}/transitions", {}),
        ("POST", f"/api/v1/cases/{case_id}/transitions", {"to": "dispatched", "assignee_id": HUGE}),
        ("POST", f"/api/v1/cases/{case_id}/transitions", {"to": "dispatched", "department_code": "x" * 40}),
        ("POST", f"/api/v1/cases/{case_id}/transitions", {"to": "resolved", "note": "x" * 5000}),
        ("POST", f"/api/v1/cases/{case_id}/assignee", {"person_id": HUGE}),
        ("POST", f"/api/v1/cases/{case_id}/assignee", {"person_id": 99999999}),
        ("POST", f"/api/v1/cases/{case_id}/assignee", {}),
        ("POST", f"/api/v1/cases/{case_id}/notes", {"note": ""}),
        ("POST", f"/api/v1/cases/{case_id}/rating", {"rating": "five"}),
        ("POST", f"/api/v1/cases/{case_id}/merge", {"into": HUGE}),
        ("POST", f"/api/v1/cases/{case_id}/merge", {"into": "x"}),
        ("GET", f"/api/v1/cases/{case_id}/duplicates?window_hours=0", None),
        ("POST", f"/api/v1/cases/{case_id}/whistles", {"level": "community", "people": [HUGE]}),
        ("POST", f"/api/v1/cases/{case_id}/whistles", {"level": "street", "departments": ["D" * 40]}),
        ("POST", f"/api/v1/cases/{case_id}/whistles", {"level": "community", "departments": ["D01"]}),
        ("POST", f"/api/v1/cases/{case_id}/whistles", {"level": "street", "departments": ["D01"], "people": [1]}),
        ("POST", f"/api/v1/whistles/targets/{HUGE}/acknowledge", None),
        ("POST", "/api/v1/whistles/targets/1/report", {"note": ""}),
        ("POST", "/api/v1/people", {"name": "x", "role": "volunteer", "building_id": HUGE}),
        ("PATCH", f"/api/v1/people/{grid_a.worker_id}", {"name": None}),
        ("PATCH", f"/api/v1/people/{grid_a.worker_id}", {"role": None}),
        ("PATCH", f"/api/v1/people/{grid_a.worker_id}", {"grid_code": None}),
        ("PATCH", f"/api/v1/people/{grid_a.worker_id}", {"on_duty": True, "role": "volunteer"}),
        ("GET", f"/api/v1/people?offset={HUGE}", None), ("GET", "/api/v1/people?role=mayor", None),
        ("POST", "/api/v1/users", {"username": "okname", "password": "long enough pw", "role": "worker",
                                   "person_id": HUGE}),
        ("POST", "/api/v1/users", {"username": "okname", "password": "long enough pw", "role": "planner",
                                   "grid_codes": ["1" * 40]}),
        ("PATCH", "/api/v1/users/1", {"role": None}), ("PATCH", f"/api/v1/users/{HUGE}", {}),
        ("GET", "/api/v1/audit?status=99", None), ("GET", f"/api/v1/audit?offset={HUGE}", None),
        ("GET", "/api/v1/audit?since=soon", None),
        ("POST", "/api/v1/auth/token", {"username": "x"}),
    ]
    for method, path, body in cases:
        resp = client.request(method, path, json=body, headers=admin)
        assert 400 <= resp.status_code < 500, (method, path, body, resp.status_code, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json"), (method, path)
    resp = client.post("/api/v1/auth/token", data={"username": "x" * 5000, "password": "y"})
    assert resp.status_code == 401
