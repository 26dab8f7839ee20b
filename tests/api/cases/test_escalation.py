"""Whistles: the street summons departments, the community its party members and volunteers; each target
acknowledges in time or shows as an alert; escalation, acknowledgements and report-backs are events."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.conftest import problem

pytestmark = pytest.mark.usefixtures("quiet_app")


def _age(db: Session, whistle_id: int, minutes: int) -> None:
    """Pretend the whistle was blown ``minutes`` ago (now() is fixed inside the test's transaction)."""
    db.execute(text("""UPDATE whistle SET raised_at = now() - make_interval(mins => :m),
                                         due_at = due_at - make_interval(mins => :m) WHERE id = :w"""),
               {"m": minutes, "w": whistle_id})


def test_street_whistle_acknowledgement_and_alerts(client: httpx.Client, auth, login, make_case, grid_a,
                                                   db: Session) -> None:
    cmd = auth("dispatcher")
    case_id = make_case(grid_a, "dispatched")
    r = client.post(f"/api/v1/cases/{case_id}/whistles",
                    json={"level": "street", "departments": ["D01", "D02"], "note": "road collapse"}, headers=cmd)
    assert r.status_code == 201, r.text
    w = r.json()
    assert w["level"] == "street" and [t["department_code"] for t in w["targets"]] == ["D01", "D02"]
    from datetime import datetime

    raised, due = datetime.fromisoformat(w["raised_at"]), datetime.fromisoformat(w["due_at"])
    assert due - raised == timedelta(minutes=30)  # the default
    assert client.get(f"/api/v1/cases/{case_id}", headers=cmd).json()["status"] == "escalated"
    kinds = db.execute(text("SELECT kind, from_status, to_status FROM case_event WHERE case_id = :c ORDER BY id"),
                       {"c": case_id}).all()
    assert [tuple(k) for k in kinds[-2:]] == [("transition", "dispatched", "escalated"),
                                               ("whistle", "escalated", "escalated")]

    assert not [a for a in client.get("/api/v1/whistles/alerts", headers=cmd).json()["items"]
                if a["whistle_id"] == w["id"]]  # within the 30 minutes: no alert yet
    _age(db, w["id"], 40)
    alerts = [a for a in client.get("/api/v1/whistles/alerts", headers=cmd).json()["items"]
              if a["whistle_id"] == w["id"]]
    assert [a["department_code"] for a in alerts] == ["D01", "D02"]
    assert all(abs(a["minutes_late"] - 10) < 0.1 and a["case_id"] == case_id for a in alerts)

    d1, d2 = (t["id"] for t in w["targets"])
    dept1 = login("dispatcher", department_code="D01")
    problem(client.post(f"/api/v1/whistles/targets/{d2}/acknowledge", headers=dept1), 403, "forbidden")
    problem(client.post(f"/api/v1/whistles/targets/{d1}/report", json={"note": "done"}, headers=dept1), 409,
            "not_acknowledged")
    r = client.post(f"/api/v1/whistles/targets/{d1}/acknowledge", json={"note": "on our way"}, headers=dept1)
    assert r.status_code == 200, r.text
    t1 = r.json()["targets"][0]
    assert t1["acknowledged_at"] and t1["acknowledged_by"].startswith("user:") and t1["late"] is True
    problem(client.post(f"/api/v1/whistles/targets/{d1}/acknowledge", headers=dept1), 409, "already_acknowledged")
    r = client.post(f"/api/v1/whistles/targets/{d1}/report", json={"note": "road fenced off"}, headers=dept1)
    assert r.json()["targets"][0]["report_note"] == "road fenced off"
    alerts = [a for a in client.get("/api/v1/whistles/alerts", headers=cmd).json()["items"]
              if a["whistle_id"] == w["id"]]
    assert [a["department_code"] for a in alerts] == ["D02"]
    ack = db.execute(text("""SELECT data FROM case_event WHERE case_id = :c AND kind = 'acknowledge'"""),
                     {"c": case_id}).scalar_one()
    assert ack["department_code"] == "D01" and ack["late"] is True
    assert db.execute(text("SELECT count(*) FROM case_event WHERE case_id = :c AND kind = 'report_back'"),
                      {"c": case_id}).scalar_one() == 1
    # the department reports it solved: escalated → resolved
    r = client.post(f"/api/v1/cases/{case_id}/transitions", json={"to": "resolved"}, headers=cmd)
    assert r.json()["status"] == "resolved"
    assert len(client.get(f"/api/v1/cases/{case_id}/whistles", headers=cmd).json()["items"]) == 1


def test_acknowledged_in_time_is_not_late(client: httpx.Client, auth, make_case, grid_a) -> None:
    cmd = auth("dispatcher")
    case_id = make_case(grid_a, "in_progress")
    w = client.post(f"/api/v1/cases/{case_id}/whistles", json={"level": "street", "departments": ["D03"],
                                                                "ack_minutes": 5}, headers=cmd).json()
    r = client.post(f"/api/v1/whistles/targets/{w['targets'][0]['id']}/acknowledge", headers=cmd)
    assert r.status_code == 200 and r.json()["targets"][0]["late"] is False
    # a second whistle on an escalated case adds targets without another transition
    r = client.post(f"/api/v1/cases/{case_id}/whistles", json={"level": "street", "departments": ["D04"]},
                    headers=cmd)
    assert r.status_code == 201


def test_configured_ack_time_is_the_default(db: Session, make_case, grid_a) -> None:
    from api.auth.service import Principal
    from api.cases.escalation import raise_whistle
    from api.cases.schemas import WhistleIn

    case_id = make_case(grid_a, "registered")
    w = raise_whistle(db, case_id=case_id, principal=Principal(1, "t", "dispatcher"),
                      body=WhistleIn(level="street", departments=["D01"]), default_ack_minutes=45)
    assert w.due_at - w.raised_at == timedelta(minutes=45)


def test_community_whistle_summons_the_grids_party_members_and_volunteers(client: httpx.Client, auth, login,
                                                                          make_case, grid_a, grid_b,
                                                                          db: Session) -> None:
    case_id = make_case(grid_a, "in_progress")
    worker = login("worker", person_id=grid_a.worker_id)
    problem(client.post(f"/api/v1/cases/{case_id}/whistles", json={"level": "community"}, headers=worker), 403,
            "forbidden")
    problem(client.post(f"/api/v1/cases/{case_id}/whistles", json={"level": "street", "departments": ["D01"]},
                        headers=worker), 403, "forbidden")
    leader = login("worker", person_id=grid_a.leader_id)
    r = client.post(f"/api/v1/cases/{case_id}/whistles", json={"level": "community", "note": "help clear snow"},
                    headers=leader)
    assert r.status_code == 201, r.text
    registered = set(db.execute(text("""SELECT id FROM person WHERE grid_code = :g AND active
                                        AND role IN ('party_member', 'volunteer')"""), {"g": grid_a.code}).scalars())
    assert {t["person_id"] for t in r.json()["targets"]} == registered and registered
    stranger = db.execute(text("SELECT id FROM person WHERE grid_code = :g AND role = 'party_member' LIMIT 1"),
                          {"g": grid_b.code}).scalar_one()
    problem(client.post(f"/api/v1/cases/{case_id}/whistles", json={"level": "community", "people": [stranger]},
                        headers=leader), 422, "invalid_parameter")
    target = r.json()["targets"][0]["id"]
    problem(client.post(f"/api/v1/whistles/targets/{target}/acknowledge", headers=worker), 403, "forbidden")
    r = client.post(f"/api/v1/whistles/targets/{target}/acknowledge", json={"note": "called in"},
                    headers=auth("dispatcher"))
    assert r.status_code == 200


def test_whistle_bad_input_and_illegal_states(client: httpx.Client, auth, make_case, grid_a) -> None:
    cmd = auth("dispatcher")
    closed = make_case(grid_a, "closed")
    problem(client.post(f"/api/v1/cases/{closed}/whistles", json={"level": "street", "departments": ["D01"]},
                        headers=cmd), 409, "illegal_transition")
    reported = make_case(grid_a, "reported")
    problem(client.post(f"/api/v1/cases/{reported}/whistles", json={"level": "street", "departments": ["D01"]},
                        headers=cmd), 409, "illegal_transition")
    open_ = make_case(grid_a, "dispatched")
    problem(client.post(f"/api/v1/cases/{open_}/whistles", json={"level": "street", "departments": []},
                        headers=cmd), 422, "invalid_parameter")
    problem(client.post(f"/api/v1/cases/{open_}/whistles", json={"level": "street", "departments": ["D77"]},
                        headers=cmd), 422, "invalid_parameter")
    problem(client.post(f"/api/v1/cases/{open_}/whistles", json={"level": "city"}, headers=cmd), 422,
            "validation_error")
    problem(client.post(f"/api/v1/cases/{open_}/whistles", json={"level": "street", "departments": ["D01"],
                                                                  "ack_minutes": 0}, headers=cmd), 422,
            "validation_error")
    problem(client.post("/api/v1/whistles/targets/99999999/acknowledge", headers=cmd), 404, "not_found")
