"""The case state machine over HTTP: every legal and every illegal transition, events, deadlines, overdue."""

from __future__ import annotations

import itertools
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.cases.workflow import OPEN_STATUSES, STATUSES, TRANSITIONS
from tests.api.conftest import problem

pytestmark = pytest.mark.usefixtures("quiet_app")

PAIRS = list(itertools.product(STATUSES, STATUSES))
LEGAL = [(f, t) for f, t in PAIRS if (f, t) in TRANSITIONS and TRANSITIONS[(f, t)].via is None]
VIA_WHISTLE = [(f, t) for f, t in PAIRS if (f, t) in TRANSITIONS and "whistles" in (TRANSITIONS[(f, t)].via or "")]
VIA_GRID = [(f, t) for f, t in PAIRS if (f, t) in TRANSITIONS and "grid" in (TRANSITIONS[(f, t)].via or "")]
VIA_FOLLOWUP = [(f, t) for f, t in PAIRS if (f, t) in TRANSITIONS and "followup" in (TRANSITIONS[(f, t)].via or "")]
ILLEGAL = [(f, t) for f, t in PAIRS if (f, t) not in TRANSITIONS]


def test_the_table_covers_the_lifecycle() -> None:
    assert len(LEGAL) + len(VIA_WHISTLE) + len(VIA_GRID) + len(VIA_FOLLOWUP) + len(ILLEGAL) == 100
    assert all(f == t for f, t in VIA_GRID) and {f for f, _ in VIA_GRID} == set(OPEN_STATUSES)  # transfers
    happy = ["reported", "registered", "dispatched", "in_progress", "resolved", "verified", "closed"]
    assert all((a, b) in TRANSITIONS for a, b in itertools.pairwise(happy))
    assert not [t for (f, t) in TRANSITIONS if f == "rejected"]  # terminal
    # closed is final but for a reopening (重办), made only by a follow-up (api/cases/followup.py)
    assert [(t, r.action, r.via) for (f, t), r in TRANSITIONS.items() if f == "closed"] == [
        ("dispatched", "reopen", "POST /api/v1/cases/{id}/followup")]


@pytest.mark.parametrize(("frm", "to"), LEGAL, ids=[f"{f}->{t}" for f, t in LEGAL])
def test_every_legal_transition(frm: str, to: str, client: httpx.Client, auth, make_case, grid_a, db: Session) -> None:
    case_id = make_case(grid_a, frm)
    body = {"to": to, "note": f"{frm} to {to}", "attachments": ["https://img.example.cn/a.jpg"]}
    resp = client.post(f"/api/v1/cases/{case_id}/transitions", json=body, headers=auth("dispatcher"))
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["status"] == to
    assert (out["closed_at"] is not None) == (to == "closed")
    ev = db.execute(text("""SELECT actor, from_status, to_status, note, attachments, kind, at FROM case_event
                            WHERE case_id = :c ORDER BY id DESC LIMIT 1"""), {"c": case_id}).one()
    assert (ev.from_status, ev.to_status, ev.kind) == (frm, to, "transition")
    assert ev.actor == "key:test dispatcher" and ev.note == f"{frm} to {to}"
    assert ev.attachments == ["https://img.example.cn/a.jpg"] and ev.at is not None


@pytest.mark.parametrize(("frm", "to"), ILLEGAL, ids=[f"{f}->{t}" for f, t in ILLEGAL])
def test_every_illegal_transition_is_a_409(frm: str, to: str, client: httpx.Client, auth, make_case, grid_a,
                                           db: Session) -> None:
    case_id = make_case(grid_a, frm)
    before = db.execute(text("SELECT count(*) FROM case_event WHERE case_id = :c"), {"c": case_id}).scalar_one()
    resp = client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": to}, headers=auth("admin"))
    body = problem(resp, 409, "illegal_transition")
    assert body["from_status"] == frm and body["to_status"] == to
    assert db.execute(text("SELECT status FROM cases WHERE id = :c"), {"c": case_id}).scalar_one() == frm
    assert db.execute(text("SELECT count(*) FROM case_event WHERE case_id = :c"), {"c": case_id}).scalar_one() \
        == before


VIA_OTHER = VIA_WHISTLE + VIA_FOLLOWUP


@pytest.mark.parametrize(("frm", "to"), VIA_OTHER, ids=[f"{f}->{t}" for f, t in VIA_OTHER])
def test_escalation_goes_through_a_whistle(frm: str, to: str, client: httpx.Client, auth, make_case, grid_a) -> None:
    case_id = make_case(grid_a, frm)
    resp = client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": to}, headers=auth("dispatcher"))
    assert TRANSITIONS[(frm, to)].via.rsplit("/", 1)[-1] in problem(resp, 422, "invalid_parameter")["detail"]


def test_unknown_status_and_bad_input(client: httpx.Client, auth, make_case, grid_a) -> None:
    h = auth("dispatcher")
    case_id = make_case(grid_a, "reported")
    problem(client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "done"}, headers=h), 409,
            "illegal_transition")
    problem(client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "Registered!"}, headers=h), 422,
            "validation_error")
    problem(client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "registered", "x": 1}, headers=h), 422,
            "validation_error")
    problem(client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "registered", "attachments": ["nope"]},
                        headers=h), 422, "validation_error")
    problem(client.post(f"/api/v1/cases/{case_id}/transitions", content=b"{", headers=h), 422, "validation_error")
    problem(client.post("/api/v1/cases/99999999999/transitions", json={"to": "registered"}, headers=h), 404,
            "not_found")
    problem(client.post("/api/v1/cases/0/transitions", json={"to": "registered"}, headers=h), 422, "validation_error")
    problem(client.post(f"/api/v1/cases/{2**70}/transitions", json={"to": "registered"}, headers=h), 422,
            "validation_error")
    problem(client.get("/api/v1/cases/abc", headers=h), 422, "validation_error")
    problem(client.get("/api/v1/cases", params={"status": "nope"}, headers=h), 422, "invalid_parameter")
    problem(client.get("/api/v1/cases", params={"near": "1,2,3"}, headers=h), 422, "invalid_parameter")
    problem(client.get("/api/v1/cases", params={"near": "200,95"}, headers=h), 422, "invalid_parameter")
    problem(client.get("/api/v1/cases", params={"grid": "12"}, headers=h), 422, "validation_error")
    problem(client.get("/api/v1/cases/rates", params={"level": "city"}, headers=h), 422, "validation_error")


def test_dispatch_to_a_department_and_a_person(client: httpx.Client, auth, make_case, grid_a, grid_b) -> None:
    h = auth("dispatcher")
    case_id = make_case(grid_a, "registered")
    problem(client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "dispatched", "department_code": "D99"},
                        headers=h), 422, "invalid_parameter")
    problem(client.post(f"/api/v1/cases/{case_id}/transitions",
                        json={"to": "dispatched", "assignee_id": grid_b.worker_id}, headers=h), 422,
            "invalid_parameter")
    problem(client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "resolved", "department_code": "D01"},
                        headers=h), 422, "invalid_parameter")
    resp = client.post(f"/api/v1/cases/{case_id}/transitions",
                       json={"to": "dispatched", "department_code": "D01", "assignee_id": grid_a.other_worker_id},
                       headers=h)
    assert resp.status_code == 200, resp.text
    assert resp.json()["department_code"] == "D01" and resp.json()["assignee"]["id"] == grid_a.other_worker_id


def test_full_loop_with_history(client: httpx.Client, auth, make_case, grid_a) -> None:
    h = auth("dispatcher")
    case_id = make_case(grid_a, "reported")
    for to in ("registered", "dispatched", "in_progress", "resolved", "returned", "in_progress", "resolved",
               "verified", "closed"):
        assert client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": to}, headers=h).status_code == 200
    detail = client.get(f"/api/v1/cases/{case_id}", headers=h).json()
    assert detail["status"] == "closed" and detail["next"] == [] and detail["actions"] == ["reopen"]  # a follow-up's
    path = [(e["from_status"], e["to_status"]) for e in detail["events"]]
    assert path[0] == (None, "reported") and path[-1] == ("verified", "closed") and len(path) == 10
    assert client.post(f"/api/v1/cases/{case_id}/rating", json={"rating": 5}, headers=h).json()["rating"] == 5
    problem(client.post(f"/api/v1/cases/{case_id}/rating", json={"rating": 6}, headers=h), 422, "validation_error")
    problem(client.post(f"/api/v1/cases/{case_id}/notes", json={"note": "x"}, headers=h), 409, "case_final")


def test_rating_needs_a_closed_case(client: httpx.Client, auth, make_case, grid_a) -> None:
    case_id = make_case(grid_a, "verified")
    problem(client.post(f"/api/v1/cases/{case_id}/rating", json={"rating": 4}, headers=auth("dispatcher")), 409,
            "case_not_closed")


def test_deadline_and_overdue(client: httpx.Client, auth, make_case, grid_a, db: Session) -> None:
    h = auth("dispatcher")
    now = db.execute(text("SELECT now()")).scalar_one()
    late = make_case(grid_a, "in_progress", reported_at=now - timedelta(hours=50), deadline_hours=48)
    on_time = make_case(grid_a, "in_progress", reported_at=now - timedelta(hours=10), deadline_hours=48)
    late_but_resolved = make_case(grid_a, "resolved", reported_at=now - timedelta(hours=50), deadline_hours=48)
    got = {c["id"]: c for c in client.get("/api/v1/cases", params={"grid": grid_a.code, "limit": 1000},
                                          headers=h).json()["items"]}
    assert got[late]["overdue"] is True and got[on_time]["overdue"] is False
    assert got[late_but_resolved]["overdue"] is False  # resolution stops the clock
    overdue = client.get("/api/v1/cases", params={"grid": grid_a.code, "overdue": "true", "limit": 1000},
                         headers=h).json()["items"]
    ids = {c["id"] for c in overdue}
    assert late in ids and on_time not in ids and late_but_resolved not in ids
    assert all(c["overdue"] for c in overdue)


def test_intake_sets_deadline_from_category_and_assigns_the_on_duty_worker(client: httpx.Client, auth, grid_a,
                                                                            db: Session) -> None:
    resp = client.post("/api/v1/reports", json={"source": "patrol", "category": "C01001", "lon": grid_a.lon,
                                                "lat": grid_a.lat, "reported_at": "2026-11-20T09:00:00+08:00"},
                       headers=auth("intake"))
    assert resp.status_code == 201, resp.text
    case = resp.json()["case"]
    limit = db.execute(text("SELECT time_limit_hours FROM category WHERE code = 'C01001'")).scalar_one()
    row = db.execute(text("SELECT deadline, assignee_id, status FROM cases WHERE id = :c"), {"c": case["id"]}).one()
    from datetime import datetime

    assert row.deadline == datetime.fromisoformat("2026-11-20T09:00:00+08:00") + timedelta(hours=limit)
    on_duty = db.execute(text("""SELECT id FROM person WHERE grid_code = :g AND role = 'grid_worker' AND on_duty"""),
                         {"g": grid_a.code}).scalar_one()
    assert row.assignee_id == on_duty and row.status == "reported"


def test_every_step_of_an_imported_history_is_an_edge_of_the_table() -> None:
    """The bulk import writes each final status's PATHS as its event log: only transitions the table allows."""
    from api.cases.workflow import PATHS, STATUSES, TRANSITIONS

    assert set(PATHS) == set(STATUSES)
    for status, path in PATHS.items():
        assert path[0] == "reported" and path[-1] == status
        assert all((a, b) in TRANSITIONS for a, b in zip(path, path[1:], strict=False))
