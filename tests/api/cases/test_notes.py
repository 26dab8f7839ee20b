"""Timeline notes gridmap writes itself are stored as a code with parameters (api/cases/notes.py); what a person
types is stored as typed, without a code, even when it reads like a system note."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

pytestmark = pytest.mark.usefixtures("quiet_app")


def events(db: Session, case_id: int) -> list:
    return db.execute(text("SELECT kind, note, note_code, note_params FROM case_event WHERE case_id = :c ORDER BY id"),
                      {"c": case_id}).all()


def test_intake_stores_received_with_its_source_and_reason(client: httpx.Client, auth, db: Session, grid_a) -> None:
    h = auth("intake")
    inside = client.post("/api/v1/reports", json={"source": "hotline_12345", "category": "C01001",
                                                  "lon": grid_a.lon, "lat": grid_a.lat}, headers=h)
    outside = client.post("/api/v1/reports", json={"source": "patrol", "category": "C01001", "lon": 100.0,
                                                   "lat": 30.0}, headers=h)
    assert inside.status_code == outside.status_code == 201, (inside.text, outside.text)
    first = events(db, inside.json()["case"]["id"])[0]
    assert (first.note_code, first.note_params, first.note) == (
        "received", {"source": "hotline_12345"}, "received from hotline_12345")
    first = events(db, outside.json()["case"]["id"])[0]
    assert (first.note_code, first.note_params) == ("received", {"source": "patrol", "reason": "outside_coverage"})
    # the API gives the code to every screen (the console and the worker read this)
    shown = client.get(f"/api/v1/cases/{inside.json()['case']['id']}", headers=auth("dispatcher")).json()["events"]
    assert (shown[0]["note_code"], shown[0]["note_params"]) == ("received", {"source": "hotline_12345"})


def test_reassign_and_merge_write_codes_and_a_typed_note_stays_text(client: httpx.Client, auth, db: Session,
                                                                   make_case, grid_a) -> None:
    h = auth("dispatcher")
    case_id = make_case(grid_a, "dispatched")
    name = db.execute(text("SELECT name FROM person WHERE id = :p"), {"p": grid_a.other_worker_id}).scalar_one()
    r = client.post(f"/api/v1/cases/{case_id}/assignee", json={"person_id": grid_a.other_worker_id}, headers=h)
    assert r.status_code == 200, r.text
    typed = f"reassigned to {name}"  # a person's note that reads like the system's: still the person's
    r = client.post(f"/api/v1/cases/{case_id}/assignee", json={"person_id": grid_a.worker_id, "note": typed},
                    headers=h)
    assert r.status_code == 200, r.text
    assigns = [e for e in events(db, case_id) if e.kind == "assign"]
    assert [(e.note_code, e.note_params, e.note) for e in assigns] == [
        ("reassigned", {"name": name}, f"reassigned to {name}"), (None, None, typed)]

    dup = make_case(grid_a, "reported")
    assert client.post(f"/api/v1/cases/{dup}/merge", json={"into": case_id}, headers=h).status_code == 200
    assert (events(db, dup)[-1].note_code, events(db, dup)[-1].note_params) == ("merged_into", {"case": case_id})
    report = db.execute(text("SELECT report_id FROM cases WHERE id = :c"), {"c": dup}).scalar_one()
    assert (events(db, case_id)[-1].note_code, events(db, case_id)[-1].note_params) == (
        "merged_in", {"case": dup, "report": report})


def test_a_note_params_needs_its_code(db: Session) -> None:
    from sqlalchemy.exc import IntegrityError

    case_id = db.execute(text("SELECT id FROM cases LIMIT 1")).scalar_one()
    with pytest.raises(IntegrityError), db.begin_nested():
        db.execute(text("""INSERT INTO case_event (case_id, actor, to_status, note, note_params)
                           VALUES (:c, 'test', 'reported', 'x', '{"a": 1}')"""), {"c": case_id})
