"""Publishing, inside the test's rolled-back transaction: refusals, the admin override, the switch of layouts,
routing as of a date on both sides of it, re-routing of open cases, the audit entry, staff moves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.ops.due import run_due
from tests.api.planner.conftest import Draft, problem, published_id
from tests.api.planner.test_checks import fix_planted_defects
from tests.api.planner.test_edits import adjacent_pair


def now(db: Session) -> datetime:
    return db.execute(text("SELECT now()")).scalar_one()


def publish(draft: Draft, headers: dict[str, str] | None = None, **body) -> httpx.Response:
    body.setdefault("base_revision", draft.revision)
    body.setdefault("effective_from", (now(draft.db) + timedelta(days=1)).isoformat())
    return draft.client.post(f"/api/v1/layouts/{draft.id}/publish", json=body, headers=headers or draft.headers)


def neighbour(draft: Draft, code: str) -> str:
    return draft.db.execute(text("""
        SELECT b.code FROM grid a JOIN grid b ON b.layout_id = a.layout_id AND b.code <> a.code
          AND b.community_code = a.community_code
          AND ST_Length(CAST(ST_Intersection(ST_Boundary(a.boundary), ST_Boundary(b.boundary)) AS geography)) > 10
        WHERE a.layout_id = :l AND a.code = :a ORDER BY b.code LIMIT 1"""), {"l": draft.id, "a": code}).scalar_one()


def test_blocking_findings_refuse_a_planner_even_with_a_reason_and_an_admin_overrides(
        draft: Draft, auth: Callable[[str], dict[str, str]]) -> None:
    old = published_id(draft.db)
    a, _b = adjacent_pair(draft.db, draft.id, same_community=True)
    draft.ok("delete", code=a)  # a hole the size of a grid: new, so it blocks (the planted defects are known)
    body = problem(publish(draft), 409, "blocking_findings")
    assert body["blocking_counts"]["gap"] == 1 and set(body["blocking_counts"]) == {"gap", "building_uncovered"}
    problem(publish(draft, override_reason="we know"), 409, "blocking_findings")
    admin = auth("admin")
    problem(publish(draft, admin), 409, "blocking_findings")  # an admin must give the reason
    problem(publish(draft, admin, override_reason="   "), 409, "blocking_findings")
    t = now(draft.db) + timedelta(days=1)
    resp = publish(draft, admin, override_reason="标准调整，缺陷已登记", effective_from=t.isoformat())
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["status"] == "published" and datetime.fromisoformat(out["effective_from"]) == t
    assert out["current"] is False  # in force only tomorrow
    prev = draft.db.execute(text("SELECT status, effective_to FROM grid_layout WHERE id = :id"), {"id": old}).one()
    assert prev.status == "published" and prev.effective_to == t
    rec = draft.db.execute(text("SELECT * FROM layout_publish WHERE layout_id = :l"), {"l": draft.id}).mappings().one()
    assert rec["override_reason"] == "标准调整，缺陷已登记" and rec["previous_id"] == old and rec["role"] == "admin"
    assert rec["counts"]["gap"] == 2
    audit = draft.db.execute(text("""SELECT actor, query FROM audit_log WHERE method = 'PUBLISH'
                                     AND path = :p"""), {"p": f"/api/v1/layouts/{draft.id}/publish"}).one()
    assert "override_reason" in audit.query and audit.actor.startswith("key:")
    listed = draft.client.get(f"/api/v1/layouts/{draft.id}/publishes", headers=draft.headers).json()["items"]
    assert listed[0]["override_reason"] == rec["override_reason"]
    # published: no more edits, no second publish, no delete
    problem(draft.edit("delete", code="110101001001001"), 409, "layout_not_draft")
    problem(publish(draft, admin, override_reason="again"), 409, "layout_not_draft")
    problem(draft.client.delete(f"/api/v1/layouts/{draft.id}", headers=draft.headers), 409, "layout_not_draft")


def test_a_clean_draft_is_published_and_routing_switches_at_its_moment(draft: Draft) -> None:
    fix_planted_defects(draft)
    a, b = adjacent_pair(draft.db, draft.id, same_community=True)
    draft.ok("merge", codes=[a, b], keep=a)
    old = published_id(draft.db)
    x, y = draft.db.execute(text("""SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) p FROM grid
                                    WHERE layout_id = :l AND code = :b) t"""), {"l": old, "b": b}).one()
    problem(publish(draft, base_revision=draft.revision - 1), 409, "revision_conflict")
    problem(publish(draft, effective_from=(now(draft.db) - timedelta(hours=1)).isoformat()), 422,
            "invalid_parameter")
    t = now(draft.db) + timedelta(days=1)
    resp = publish(draft, effective_from=t.isoformat())
    assert resp.status_code == 200, resp.text

    def route(at: datetime) -> dict:
        r = draft.client.get("/api/v1/locate", params={"lon": x, "lat": y, "at": at.isoformat()},
                             headers=draft.headers)
        assert r.status_code == 200, r.text
        return r.json()

    before, after = route(t - timedelta(minutes=1)), route(t + timedelta(minutes=1))
    assert (before["layout"]["id"], before["grid"]["code"]) == (old, b)
    assert (after["layout"]["id"], after["grid"]["code"]) == (draft.id, a)
    # a later draft cannot be slipped in before it: history is never rewritten
    other = draft.client.post("/api/v1/layouts", json={"name": "late", "copy_of": draft.id},
                              headers=draft.headers).json()
    late = Draft(other["id"], draft.client, draft.headers, draft.db)
    problem(publish(late, effective_from=(t - timedelta(hours=1)).isoformat()), 409, "publish_conflict")
    problem(publish(late, effective_from=t.isoformat()), 409, "publish_conflict")


def test_open_cases_keep_their_grid_unless_rerouted(draft: Draft, make_case: Callable[..., int], grid_a,
                                                   auth: Callable[[str], dict[str, str]]) -> None:
    fix_planted_defects(draft)
    pub = published_id(draft.db)
    a = grid_a.code
    b = neighbour(draft, a)
    stay = make_case(grid_a, "dispatched")
    closed = make_case(grid_a, "closed", rating=5)
    draft.ok("merge", codes=[a, b], keep=b)
    t = now(draft.db) + timedelta(days=1)
    resp = publish(draft, effective_from=t.isoformat(), reroute_open_cases=True)
    assert resp.status_code == 200, resp.text
    # published for tomorrow: until then the case stays with the grid (and worker) on duty today
    before = draft.db.execute(text("SELECT layout_id, grid_code FROM cases WHERE id = :id"), {"id": stay}).one()
    assert (before.layout_id, before.grid_code) == (grid_a.layout_id, a)
    rec = draft.db.execute(text("SELECT reroute_pending, rerouted_cases FROM layout_publish WHERE layout_id = :l"),
                           {"l": draft.id}).one()
    assert rec.reroute_pending is True and rec.rerouted_cases == 0
    assert run_due(draft.db, at=t - timedelta(minutes=1)) == 0  # a minute early: nothing moves
    assert draft.db.execute(text("SELECT grid_code FROM cases WHERE id = :id"), {"id": stay}).scalar_one() == a
    # the moment comes: the due-work round (api/ops/due.py, every minute in the app) moves it
    assert run_due(draft.db, at=t + timedelta(seconds=30)) == 1
    assert run_due(draft.db, at=t + timedelta(minutes=2)) == 0  # done once, never twice
    k = draft.db.execute(text("SELECT layout_id, grid_code FROM cases WHERE id = :id"), {"id": stay}).one()
    assert (k.layout_id, k.grid_code) == (draft.id, b)
    assert draft.db.execute(text("SELECT reroute_pending FROM layout_publish WHERE layout_id = :l"),
                            {"l": draft.id}).scalar_one() is False
    ev = draft.db.execute(text("""SELECT kind, note FROM case_event WHERE case_id = :id ORDER BY id DESC LIMIT 1"""),
                          {"id": stay}).one()
    assert ev.kind == "assign" and a in ev.note and b in ev.note
    r = draft.db.execute(text("""SELECT layout_id, grid_code FROM routing WHERE report_id =
                                 (SELECT report_id FROM cases WHERE id = :id) ORDER BY id DESC LIMIT 1"""),
                         {"id": stay}).one()
    assert (r.layout_id, r.grid_code) == (draft.id, b)
    assert draft.db.execute(text("SELECT grid_code FROM cases WHERE id = :id"), {"id": closed}).scalar_one() == a
    n = draft.db.execute(text("SELECT rerouted_cases FROM layout_publish WHERE layout_id = :l"),
                         {"l": draft.id}).scalar_one()
    assert n >= 1 and pub != draft.id


def test_without_reroute_open_cases_stay(draft: Draft, make_case: Callable[..., int], grid_a) -> None:
    fix_planted_defects(draft)
    case = make_case(grid_a, "dispatched")
    b = neighbour(draft, grid_a.code)
    draft.ok("merge", codes=[grid_a.code, b], keep=b)
    assert publish(draft, reroute_open_cases=False).status_code == 200
    k = draft.db.execute(text("SELECT layout_id, grid_code FROM cases WHERE id = :id"), {"id": case}).one()
    assert (k.layout_id, k.grid_code) == (grid_a.layout_id, grid_a.code)
    assert draft.db.execute(text("SELECT rerouted_cases FROM layout_publish WHERE layout_id = :l"),
                            {"l": draft.id}).scalar_one() == 0


def test_publish_roles_follow_the_setting(draft: Draft, monkeypatch: pytest.MonkeyPatch,
                                          auth: Callable[[str], dict[str, str]]) -> None:
    from api.core.config import get_settings

    fix_planted_defects(draft)
    monkeypatch.setattr(get_settings(), "publish_roles", "admin")
    problem(publish(draft), 403, "forbidden")
    problem(publish(draft, auth("dispatcher")), 403, "forbidden")
    assert publish(draft, auth("admin")).status_code == 200


def staff_from_elsewhere(draft: Draft, code: str) -> int:
    """Add a grid worker of another grid to the draft's staff of grid ``code``; returns the person's id."""
    person = draft.db.execute(text("SELECT id FROM person WHERE role = 'grid_worker' AND grid_code <> :c LIMIT 1"),
                              {"c": code}).scalar_one()
    staff = [s["id"] for s in draft.ok("update_attrs", code=code, name="x")["changed"]["features"][0]
             ["properties"]["staff"]]
    draft.ok("update_attrs", code=code, staff=[*staff, person])
    return person


def test_staff_moves_apply_when_the_layout_comes_in_force(draft: Draft, db: Session) -> None:
    fix_planted_defects(draft)
    code = "110101001001001"
    person = staff_from_elsewhere(draft, code)
    assert publish(draft).status_code == 200  # tomorrow: nobody moves yet
    assert db.execute(text("SELECT grid_code FROM person WHERE id = :p"), {"p": person}).scalar_one() != code
    pending = db.execute(text("SELECT staff_pending FROM layout_publish WHERE layout_id = :l"),
                         {"l": draft.id}).scalar_one()
    assert [person, code] in pending
    # the moment comes (moved into the past here): the next listing of layouts does what was left for it
    old = published_id(db)
    db.execute(text("UPDATE grid_layout SET effective_to = now() - interval '1 minute' WHERE id = :id"), {"id": old})
    for sql in ("UPDATE grid_layout SET effective_from = now() - interval '1 minute' WHERE id = :id",
                "UPDATE layout_publish SET effective_from = now() - interval '1 minute' WHERE layout_id = :id"):
        db.execute(text(sql), {"id": draft.id})
    listed = {i["id"]: i for i in draft.client.get("/api/v1/layouts", headers=draft.headers).json()["items"]}
    assert db.execute(text("SELECT grid_code FROM person WHERE id = :p"), {"p": person}).scalar_one() == code
    assert listed[old]["status"] == "retired" and listed[draft.id]["current"] is True
