"""Suspension (挂起) and extension (延期): approval and reason required, recorded as case events, the clock
honours them (a suspended case is never overdue; on resume its deadline moves by the working time suspended)."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.conftest import problem

pytestmark = pytest.mark.usefixtures("quiet_app")
BJ = dt.timezone(dt.timedelta(hours=8))
APPROVAL = {"reason": "等待产权单位确认", "approved_by": "街道主任 王某"}


def _events(db: Session, case_id: int, kind: str) -> list:
    return db.execute(text("SELECT actor, note, data FROM case_event WHERE case_id = :c AND kind = :k ORDER BY id"),
                      {"c": case_id, "k": kind}).all()


def test_suspend_and_resume(client: httpx.Client, auth, make_case, grid_a, db: Session) -> None:
    h = auth("dispatcher")
    case_id = make_case(grid_a, "dispatched", deadline_hours=-1)  # already overdue
    assert client.get(f"/api/v1/cases/{case_id}", headers=h).json()["overdue"] is True
    problem(client.post(f"/api/v1/cases/{case_id}/suspension", json={"reason": "x"}, headers=h), 422,
            "validation_error")  # no approval
    problem(client.post(f"/api/v1/cases/{case_id}/suspension", json=APPROVAL, headers=auth("worker")), 403,
            "forbidden")
    resp = client.post(f"/api/v1/cases/{case_id}/suspension", json=APPROVAL, headers=h)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["suspended_at"] and out["deadline"] is None and out["overdue"] is False
    assert out["status"] == "dispatched"
    [ev] = _events(db, case_id, "suspend")
    assert ev.note == APPROVAL["reason"] and ev.data["approved_by"] == APPROVAL["approved_by"]
    problem(client.post(f"/api/v1/cases/{case_id}/suspension", json=APPROVAL, headers=h), 409, "case_suspended")
    problem(client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "in_progress"}, headers=h), 409,
            "case_suspended")
    # Pretend it was suspended on Wed 30 Sep 2026 10:00 with its deadline then, and resumed on Mon 12 Oct 10:00:
    # working time suspended = 7 h (30 Sep) + 16 h (8, 9 Oct) + 8 h (Sat 10 Oct, 调休) + 1 h (12 Oct) = 32 h.
    db.execute(text("""UPDATE cases SET suspended_at = :a, suspended_deadline = :d WHERE id = :c"""),
               {"a": dt.datetime(2026, 9, 30, 10, tzinfo=BJ), "d": dt.datetime(2026, 9, 30, 12, tzinfo=BJ),
                "c": case_id})
    hours = db.execute(text("SELECT gridmap_working_hours(:a, :b)"),
                       {"a": dt.datetime(2026, 9, 30, 10, tzinfo=BJ),
                        "b": dt.datetime(2026, 10, 12, 10, tzinfo=BJ)}).scalar_one()
    assert hours == pytest.approx(32)
    resp = client.post(f"/api/v1/cases/{case_id}/resumption", json={"note": "已确认"}, headers=h)
    assert resp.status_code == 200, resp.text
    assert resp.json()["suspended_at"] is None
    [ev] = _events(db, case_id, "resume")
    moved = ev.data["suspended_working_hours"]  # from 30 Sep to now (the real clock): at least the 32 h above
    assert moved >= 32
    want = db.execute(text("SELECT gridmap_deadline(:d, :h, 'working_hours')"),
                      {"d": dt.datetime(2026, 9, 30, 12, tzinfo=BJ), "h": moved}).scalar_one()
    got = dt.datetime.fromisoformat(resp.json()["deadline"])
    # The event keeps the hours rounded to 0.01 h (36 s), the deadline the exact working time: during working
    # hours the two differ by up to 18 s.
    assert abs((got - want).total_seconds()) <= 18 and got > dt.datetime(2026, 10, 12, 10, tzinfo=BJ)
    problem(client.post(f"/api/v1/cases/{case_id}/resumption", headers=h), 409, "case_not_suspended")


def test_extend(client: httpx.Client, auth, make_case, grid_a, db: Session) -> None:
    h = auth("dispatcher")
    case_id = make_case(grid_a, "in_progress")
    before = dt.datetime.fromisoformat(client.get(f"/api/v1/cases/{case_id}", headers=h).json()["deadline"])
    problem(client.post(f"/api/v1/cases/{case_id}/extension", json=APPROVAL, headers=h), 422, "invalid_parameter")
    earlier = {**APPROVAL, "deadline": (before - dt.timedelta(hours=1)).isoformat()}
    problem(client.post(f"/api/v1/cases/{case_id}/extension", json=earlier, headers=h), 422, "invalid_parameter")
    resp = client.post(f"/api/v1/cases/{case_id}/extension", json={**APPROVAL, "amount": 2, "unit": "working_days"},
                       headers=h)
    assert resp.status_code == 200, resp.text
    after = dt.datetime.fromisoformat(resp.json()["deadline"])
    want = db.execute(text("SELECT gridmap_deadline(:d, 2, 'working_days')"), {"d": before}).scalar_one()
    assert after == want > before
    [ev] = _events(db, case_id, "extend")
    assert ev.data["approved_by"] == APPROVAL["approved_by"] and ev.note == APPROVAL["reason"]
    assert dt.datetime.fromisoformat(ev.data["to_deadline"]) == after
    later = (after + dt.timedelta(days=3)).isoformat()
    resp = client.post(f"/api/v1/cases/{case_id}/extension", json={**APPROVAL, "deadline": later}, headers=h)
    assert dt.datetime.fromisoformat(resp.json()["deadline"]) == dt.datetime.fromisoformat(later)
    closed = make_case(grid_a, "closed")
    problem(client.post(f"/api/v1/cases/{closed}/extension", json={**APPROVAL, "amount": 1}, headers=h), 409,
            "case_not_open")
