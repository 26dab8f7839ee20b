"""Follow-up (回访) and reopening (重办): the verdict stored, one follow-up per closing, the reopen through the one
transition table with a deadline from the working calendar, counted on the case."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.conftest import problem

pytestmark = pytest.mark.usefixtures("quiet_app")
OK = {"satisfaction": "satisfied", "resolved": True, "channel": "phone", "note": "电话回访，居民满意"}


def test_follow_up_is_recorded_once_per_closing(client: httpx.Client, auth, make_case, grid_a, db: Session) -> None:
    h = auth("dispatcher")
    case_id = make_case(grid_a, "closed")
    r = client.post(f"/api/v1/cases/{case_id}/followup", json=OK, headers=h)
    assert r.status_code == 200, r.text
    c = r.json()
    assert (c["satisfaction"], c["followup_resolved"], c["followup_channel"], c["reopen_count"]) == (
        "satisfied", True, "phone", 0)
    assert c["followed_up_at"] is not None and c["status"] == "closed"
    assert c["actions"] == ["reopen"] and c["next"] == []  # reopening is a step of its own (the follow-up's)
    ev = db.execute(text("SELECT kind, data FROM case_event WHERE case_id = :c ORDER BY id DESC LIMIT 1"),
                    {"c": case_id}).one()
    assert ev.kind == "followup" and ev.data["channel"] == "phone" and ev.data["satisfaction"] == "satisfied"
    problem(client.post(f"/api/v1/cases/{case_id}/followup", json=OK, headers=h), 409, "already_followed_up")


def test_follow_up_refusals(client: httpx.Client, auth, make_case, grid_a, login) -> None:
    h = auth("dispatcher")
    open_case = make_case(grid_a, "verified")
    problem(client.post(f"/api/v1/cases/{open_case}/followup", json=OK, headers=h), 409, "case_not_closed")
    closed = make_case(grid_a, "closed")
    problem(client.post(f"/api/v1/cases/{closed}/followup", json={**OK, "reopen": True}, headers=h), 422,
            "reopen_needs_dissatisfied")
    problem(client.post(f"/api/v1/cases/{closed}/followup", json={**OK, "satisfaction": "happy"}, headers=h), 422,
            "validation_error")
    problem(client.post(f"/api/v1/cases/{closed}/followup", json={**OK, "channel": "pigeon"}, headers=h), 422,
            "validation_error")
    worker = login("worker", person_id=grid_a.worker_id)
    problem(client.post(f"/api/v1/cases/{closed}/followup", json=OK, headers=worker), 403, "forbidden")
    # nothing was written by the refusals
    assert client.get(f"/api/v1/cases/{closed}", headers=h).json()["satisfaction"] is None
    # a worker sees no reopen button on its closed case
    assert client.get(f"/api/v1/cases/{closed}", headers=worker).json()["actions"] == []


def test_dissatisfied_follow_up_reopens_with_a_working_calendar_deadline(
        client: httpx.Client, auth, make_case, grid_a, db: Session) -> None:
    h = auth("dispatcher")
    case_id = make_case(grid_a, "closed", category="G01001", rating=2)  # 3 working days
    body = {"satisfaction": "dissatisfied", "resolved": False, "channel": "visit", "note": "噪音仍在", "reopen": True}
    r = client.post(f"/api/v1/cases/{case_id}/followup", json=body, headers=h)
    assert r.status_code == 200, r.text
    c = r.json()
    assert (c["status"], c["reopen_count"], c["satisfaction"], c["rating"]) == ("dispatched", 1, "dissatisfied", None)
    assert c["closed_at"] is None and c["assignee"]["id"] == grid_a.worker_id
    expected = db.execute(text("SELECT gridmap_deadline(now(), 3, 'working_days')")).scalar_one()
    assert c["deadline"] is not None
    row = db.execute(text("SELECT deadline FROM cases WHERE id = :c"), {"c": case_id}).scalar_one()
    assert row == expected
    kinds = [(e["kind"], e["from_status"], e["to_status"]) for e in c.get("events", [])] or [
        (e.kind, e.from_status, e.to_status) for e in db.execute(text(
            "SELECT kind, from_status, to_status FROM case_event WHERE case_id = :c ORDER BY id"), {"c": case_id})]
    assert kinds[-2:] == [("followup", "closed", "closed"), ("transition", "closed", "dispatched")]
    # handled again, closed again: due a new follow-up; a second reopen counts 2
    for to in ("in_progress", "resolved", "verified", "closed"):
        assert client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": to}, headers=h).status_code == 200
    r = client.post(f"/api/v1/cases/{case_id}/followup", json=body, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["reopen_count"] == 2


def test_legacy_rating_is_a_satisfaction(client: httpx.Client, auth, make_case, grid_a) -> None:
    h = auth("dispatcher")
    case_id = make_case(grid_a, "closed")
    c = client.post(f"/api/v1/cases/{case_id}/rating", json={"rating": 3}, headers=h).json()
    assert (c["rating"], c["satisfaction"]) == (3, "basically_satisfied")
