"""Webhook subscriptions over the API, and the outbox written in the transaction of the change it describes
(all inside the test's rolled-back transaction; deliveries to a real receiver are in test_delivery.py)."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.webhooks.events import EVENT_TYPES
from tests.api.conftest import Grid, problem

pytestmark = pytest.mark.usefixtures("quiet_app")
SUBS = "/api/v1/webhooks/subscriptions"


def _subscribe(client: httpx.Client, h: dict, **body: object) -> dict:
    resp = client.post(SUBS, json={"url": "https://hooks.example.gov.cn/gridmap", "event_types": ["report.created"],
                                   **body}, headers=h)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _events(db: Session, since: int) -> list[tuple]:
    return [tuple(r) for r in db.execute(text("""
        SELECT e.type, e.case_id, d.subscription_id, d.status FROM webhook_event e
        JOIN webhook_delivery d ON d.event_id = e.id WHERE e.id > :s ORDER BY e.id, d.subscription_id"""),
        {"s": since}).all()]


def _last_event(db: Session) -> int:
    return db.execute(text("SELECT coalesce(max(id), 0) FROM webhook_event")).scalar_one()


def test_subscription_lifecycle_and_the_secret_shown_once(client: httpx.Client, auth) -> None:
    h = auth("admin")
    sub = _subscribe(client, h, description="12345 hotline", filters={"categories": ["C01001", "C01001"]})
    assert re.fullmatch(r"[0-9a-f]{64}", sub["secret"])
    assert sub["filters"] == {"streets": None, "communities": None, "grids": None, "categories": ["C01001"]}
    assert sub["active"] and sub["format"] == "event" and sub["deliveries"] == {"pending": 0, "delivered": 0, "dead": 0}
    got = client.get(f"{SUBS}/{sub['id']}", headers=h).json()
    assert "secret" not in got and got["url"] == "https://hooks.example.gov.cn/gridmap"
    assert [s["id"] for s in client.get(SUBS, headers=h).json()["items"]].count(sub["id"]) == 1
    patched = client.patch(f"{SUBS}/{sub['id']}", json={"active": False, "event_types": ["case.overdue"],
                                                         "filters": {}}, headers=h).json()
    assert not patched["active"] and patched["event_types"] == ["case.overdue"]
    assert patched["filters"]["categories"] is None
    assert client.delete(f"{SUBS}/{sub['id']}", headers=h).status_code == 204
    problem(client.get(f"{SUBS}/{sub['id']}", headers=h), 404, "not_found")
    problem(client.delete(f"{SUBS}/{sub['id']}", headers=h), 404, "not_found")
    problem(client.get(SUBS, headers=auth("dispatcher")), 403, "forbidden")


@pytest.mark.parametrize("url", ["ftp://hooks.example.gov.cn/x", "javascript:alert(1)", "https://", "http:// x",
                                 "file:///etc/passwd", "hooks.example.gov.cn/x"])
def test_only_http_and_https_urls(client: httpx.Client, auth, url: str) -> None:
    resp = client.post(SUBS, json={"url": url, "event_types": ["report.created"]}, headers=auth("admin"))
    problem(resp, 422, "validation_error")


def test_unknown_types_and_filter_codes_are_refused(client: httpx.Client, auth) -> None:
    h = auth("admin")
    problem(client.post(SUBS, json={"url": "http://10.0.0.5:8080/in", "event_types": ["case.exploded"]}, headers=h),
            422, "validation_error")
    body = problem(client.post(SUBS, json={"url": "http://10.0.0.5:8080/in", "event_types": ["report.created"],
                                           "filters": {"grids": ["999999999999999"]}}, headers=h),
                   422, "validation_error")
    assert body["field"] == "filters.grids" and "999999999999999" in body["detail"]


def test_every_case_event_kind_has_an_event_type(db: Session) -> None:
    """The database names the types (migration 0025); a kind added to case_event must have its type here."""
    check = db.execute(text("""SELECT pg_get_constraintdef(oid) FROM pg_constraint
                               WHERE conname = 'case_event_kind_check'""")).scalar_one()
    kinds = re.findall(r"'([a-z_]+)'", check)
    assert "transition" in kinds and "whistle" in kinds
    types = {db.execute(text("SELECT gridmap_webhook_type(:k, :f)"), {"k": k, "f": f}).scalar_one()
             for k in kinds for f in ("reported", None)}
    assert types - set(EVENT_TYPES) == set()


def test_intake_and_transitions_write_the_outbox_in_their_transaction(client: httpx.Client, auth, db: Session,
                                                                       grid_a: Grid, grid_b: Grid) -> None:
    admin = auth("admin")
    before = _last_event(db)
    # no subscription wants it: nothing is written
    r0 = client.post("/api/v1/reports", json={"source": "patrol", "category": "C01001", "lon": grid_a.lon,
                                              "lat": grid_a.lat}, headers=auth("intake"))
    assert r0.status_code == 201 and _events(db, before) == []
    everything = _subscribe(client, admin, event_types=["report.created", "case.transitioned", "whistle.raised"])
    only_b = _subscribe(client, admin, event_types=["report.created"], filters={"grids": [grid_b.code]})
    r1 = client.post("/api/v1/reports", json={"source": "patrol", "category": "C01001", "lon": grid_a.lon,
                                              "lat": grid_a.lat}, headers=auth("intake")).json()
    r2 = client.post("/api/v1/reports", json={"source": "patrol", "category": "C01001", "lon": grid_b.lon,
                                              "lat": grid_b.lat}, headers=auth("intake")).json()
    c1, c2 = r1["case"]["id"], r2["case"]["id"]
    moved = client.post(f"/api/v1/cases/{c1}/transitions", json={"to": "registered"}, headers=auth("dispatcher"))
    assert moved.status_code == 200, moved.text
    refused = client.post(f"/api/v1/cases/{c1}/transitions", json={"to": "closed"}, headers=auth("dispatcher"))
    assert refused.status_code == 409  # a refused change writes no event
    e, b = everything["id"], only_b["id"]
    assert _events(db, before) == [("report.created", c1, e, "pending"), ("report.created", c2, e, "pending"),
                                   ("report.created", c2, b, "pending"), ("case.transitioned", c1, e, "pending")]
    payload = db.execute(text("SELECT payload FROM webhook_event WHERE case_id = :c ORDER BY id DESC LIMIT 1"),
                         {"c": c1}).scalar_one()
    assert payload["case"]["status"] == "registered" and payload["case"]["grid_code"] == grid_a.code
    assert payload["change"]["from_status"] == "reported" and payload["change"]["to_status"] == "registered"
    assert payload["case"]["street_code"] == grid_a.code[:9] and "reporter_phone" not in str(payload)
    # a bulk archive import switches the outbox off for its own transaction only
    db.execute(text("SELECT set_config('gridmap.outbox', 'off', true)"))
    assert client.post(f"/api/v1/cases/{c2}/transitions", json={"to": "registered"},
                       headers=auth("dispatcher")).status_code == 200
    assert _events(db, before)[-1][0:2] == ("case.transitioned", c1)


def test_the_delivery_log_and_replaying_dead_letters(client: httpx.Client, auth, db: Session, grid_a: Grid) -> None:
    admin = auth("admin")
    sub = _subscribe(client, admin)
    client.post("/api/v1/reports", json={"source": "patrol", "category": "C01001", "lon": grid_a.lon,
                                         "lat": grid_a.lat}, headers=auth("intake"))
    d = db.execute(text("SELECT id FROM webhook_delivery WHERE subscription_id = :s"), {"s": sub["id"]}).scalar_one()
    db.execute(text("""UPDATE webhook_delivery SET status = 'dead', attempts = 12, last_status = 500,
                       last_error = 'HTTP 500' WHERE id = :d"""), {"d": d})
    log = client.get(f"{SUBS}/{sub['id']}/deliveries?status=dead", headers=admin).json()
    assert log["total"] == 1 and log["items"][0]["id"] == d and log["items"][0]["event_type"] == "report.created"
    assert log["items"][0]["last_status"] == 500 and log["items"][0]["next_attempt_at"] is None
    assert client.get(f"{SUBS}/{sub['id']}", headers=admin).json()["deliveries"]["dead"] == 1
    one = client.post(f"{SUBS}/{sub['id']}/deliveries/{d}/replay", headers=admin)
    assert one.json() == {"replayed": 1}
    assert client.post(f"{SUBS}/{sub['id']}/replay", headers=admin).json() == {"replayed": 0}  # none dead now
    row = db.execute(text("SELECT status, attempts FROM webhook_delivery WHERE id = :d"), {"d": d}).one()
    assert tuple(row) == ("pending", 0)
    problem(client.post(f"{SUBS}/{sub['id']}/deliveries/{d + 10**9}/replay", headers=admin), 404, "not_found")


@pytest.mark.parametrize("fk_triggers", [False, True])  # triggers skipped (replica), or fired with the outbox off
def test_a_bulk_archive_import_writes_no_events(client: httpx.Client, auth, db: Session, tmp_path,
                                                fk_triggers: bool) -> None:
    from api.reports.bulk import import_reports

    _subscribe(client, auth("admin"), event_types=["report.created", "case.transitioned"])
    before = _last_event(db)
    x, y = db.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) p FROM grid "
                           "ORDER BY code LIMIT 1) t")).one()
    path = tmp_path / "archive.csv"
    path.write_text("source,external_id,category_code,reported_at,lon,lat,status\n"
                    f"hotline_12345,W-1,E01001,2026-03-02T09:15:00,{x},{y},in_progress\n", encoding="utf-8")
    assert import_reports(db, path=path, fk_triggers=fk_triggers).imported == 1
    assert _events(db, before) == []
