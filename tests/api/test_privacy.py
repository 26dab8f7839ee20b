"""A resident's phone number and another grid's cases stay away from a grid worker; keys, passwords and
tokens stay out of the logs and the audit log.

The worker is a logged-in worker user acting for the on-duty worker of grid A (its scope: grid A). Grid B
has a case whose reporter left a full phone number; the worker must not reach that case through any door
(cases, events, whistles, duplicates, reports, Open311, the wall, the address review queue) and must never
see a reporter's full number, not even on its own grid's cases.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("quiet_app")

PHONE_A = "13911112222"
PHONE_B = "13833334444"


@pytest.fixture
def two_grids(db: Session, make_case: Callable[..., int], grid_a: Any, grid_b: Any) -> dict[str, Any]:
    a = make_case(grid_a, reporter=("张三", PHONE_A))
    b = make_case(grid_b, reporter=("李四", PHONE_B))
    reports = dict(db.execute(text("SELECT id, report_id FROM cases WHERE id IN (:a, :b)"), {"a": a, "b": b}).all())
    for case, grid in ((a, grid_a), (b, grid_b)):  # a routing decision, as intake writes it
        db.execute(text("""INSERT INTO routing (report_id, layout_id, grid_code, method)
                           VALUES (:r, :l, :g, 'inside')"""), {"r": reports[case], "l": grid.layout_id, "g": grid.code})
    db.flush()
    return {"a": a, "b": b, "report_a": reports[a], "report_b": reports[b], "grid_a": grid_a, "grid_b": grid_b}


def _text(resp: httpx.Response) -> str:
    return resp.content.decode("utf-8", "replace")


def test_a_worker_never_reaches_another_grids_case(client: httpx.Client, login: Callable[..., dict[str, str]],
                                                  two_grids: dict[str, Any], make_key: Callable[[str], str]) -> None:
    g = two_grids
    worker = login("worker", person_id=g["grid_a"].worker_id)
    b, rb = g["b"], g["report_b"]

    listed = client.get("/api/v1/cases", headers=worker, params={"limit": 1000})
    assert listed.status_code == 200
    ids = {c["id"] for c in listed.json()["items"]}
    assert g["a"] in ids and b not in ids
    assert {c["grid_code"] for c in listed.json()["items"]} <= {g["grid_a"].code}

    for path in (f"/api/v1/cases/{b}", f"/api/v1/cases/{b}/events", f"/api/v1/cases/{b}/whistles",
                 f"/api/v1/cases/{b}/duplicates", f"/api/v1/reports/{rb}"):
        resp = client.get(path, headers=worker)
        assert resp.status_code == 404, (path, resp.status_code)
        assert PHONE_B not in _text(resp) and "李四" not in _text(resp)
    for path, body in ((f"/api/v1/cases/{b}/notes", {"note": "x"}), (f"/api/v1/cases/{b}/transitions",
                                                                      {"to": "registered"})):
        resp = client.post(path, headers=worker, json=body)
        assert resp.status_code == 404, (path, resp.status_code)

    reports = client.get("/api/v1/reports", headers=worker, params={"limit": 1000})
    assert reports.status_code == 200
    assert rb not in {r["id"] for r in reports.json()["items"]}
    assert {r["routing"]["grid_code"] for r in reports.json()["items"]} <= {g["grid_a"].code}
    assert client.get("/api/v1/reports", headers=worker, params={"grid": g["grid_b"].code}).json()["total"] == 0

    # the wall is the command centre's: a worker is refused outright
    for path in (f"/api/v1/wall/cases/{b}", f"/api/v1/wall/grids/{g['grid_b'].code}/cases", "/api/v1/wall/summary"):
        assert client.get(path, headers=worker).status_code == 403, path

    # Open311 takes API keys: a worker's login token is refused, a worker key (a system, no grid) sees nothing
    assert client.get("/open311/v2/requests.json", headers=worker).status_code == 401
    wkey = make_key("worker")
    assert client.get(f"/open311/v2/requests/{rb}.json", params={"api_key": wkey}).status_code == 404
    assert client.get("/open311/v2/requests.json", params={"api_key": wkey, "service_request_id": str(rb)}
                      ).json() == []
    assert client.get("/open311/v2/requests.json", params={"api_key": wkey}).json() == []

    # the address review queue: entries of other grids' reports are not listed to a worker
    queue = client.get("/api/v1/addresses/reviews", headers=worker, params={"limit": 500})
    assert queue.status_code == 200
    assert rb not in {e["report_id"] for e in queue.json()["items"]}


def test_a_reporters_full_phone_number_is_shown_to_the_command_centre_only(
        client: httpx.Client, login: Callable[..., dict[str, str]], two_grids: dict[str, Any],
        auth: Callable[[str], dict[str, str]]) -> None:
    g = two_grids
    a, ra = g["a"], g["report_a"]
    doors = (f"/api/v1/cases/{a}", "/api/v1/cases?limit=1000", f"/api/v1/reports/{ra}", "/api/v1/reports?limit=1000",
             f"/api/v1/cases/{a}/events")
    worker = login("worker", person_id=g["grid_a"].worker_id)
    seen = [client.get(p, headers=worker) for p in doors]
    assert all(r.status_code == 200 for r in seen), [(r.url, r.status_code) for r in seen]
    assert all(PHONE_A not in _text(r) for r in seen), "a worker saw a resident's full phone number"
    detail = client.get(f"/api/v1/cases/{a}", headers=worker).json()
    assert detail["reporter"]["phone"] and detail["reporter"]["phone"] != PHONE_A  # masked, not dropped
    resp = client.get(f"/api/v1/reports/{ra}", headers=auth("planner"))
    assert resp.status_code == 200 and PHONE_A not in _text(resp)
    # an intake system that did not post it does not even see it (issue 17 defect 1)
    assert client.get(f"/api/v1/reports/{ra}", headers=auth("intake")).status_code == 404
    # the command centre calls residents back: it sees the number
    assert client.get(f"/api/v1/cases/{a}", headers=auth("dispatcher")).json()["reporter"]["phone"] == PHONE_A
    # and the map wall (dispatcher, planner, viewer) shows no reporter phone at all
    for role in ("dispatcher", "planner", "viewer"):
        resp = client.get(f"/api/v1/wall/cases/{a}", headers=auth(role))
        assert resp.status_code == 200 and PHONE_A not in _text(resp), role


def test_keys_passwords_and_tokens_never_reach_the_logs(client: httpx.Client, db: Session,
                                                        caplog: pytest.LogCaptureFixture,
                                                        auth: Callable[[str], dict[str, str]],
                                                        login: Callable[..., dict[str, str]],
                                                        grid_a: Any) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("gridmap").info("privacy-canary")
    admin = auth("admin")
    admin_key = admin["Authorization"].split()[1]
    secrets: list[str] = [admin_key, PASSWORD]

    made = client.post("/api/v1/keys", headers=admin, json={"name": "log test", "role": "intake"})
    assert made.status_code == 201
    intake_key = made.json()["key"]
    secrets.append(intake_key)

    token_headers = login("planner")
    secrets.append(token_headers["Authorization"].split()[1])
    wrong = "not-the-password-" + "9" * 12
    secrets.append(wrong)
    assert client.post("/api/v1/auth/token", data={"username": "nobody", "password": wrong}).status_code == 401
    client.post("/api/v1/auth/logout", headers=token_headers)

    cat = db.execute(text("SELECT code FROM category ORDER BY code LIMIT 1")).scalar_one()
    report = {"source": "hotline_12345", "category": cat, "lon": grid_a.lon, "lat": grid_a.lat,
              "reporter": {"name": "王五", "phone": PHONE_A}}
    assert client.post("/api/v1/reports", headers={"Authorization": f"Bearer {intake_key}"},
                       json=report).status_code == 201
    client.post("/open311/v2/requests.json", data={"api_key": intake_key, "service_code": cat, "lat": grid_a.lat,
                                                   "long": grid_a.lon, "description": "log test"})
    client.get("/open311/v2/services.json", params={"api_key": intake_key})
    client.get("/api/v1/layouts", headers={"Authorization": "Bearer gm_" + "z" * 43})  # a refused key
    secrets.append("gm_" + "z" * 43)
    # an error path: unhandled errors are logged with their traceback, which must not carry the key
    client.get("/api/v1/wall/heatmap", headers=admin, params={"bbox": "", "zoom": 3})

    # the server's records (the test's own HTTP client logs the URLs it sends, api_key included: not ours)
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any(r.getMessage() == "privacy-canary" for r in server), "the capture sees the app's loggers"
    logged = "\n".join(f"{r.getMessage()} {r.__dict__} {r.exc_text or ''}" for r in server)
    audit = "\n".join(str(tuple(r)) for r in db.execute(text("SELECT * FROM audit_log")).all())
    assert audit, "the audit log recorded the requests"
    for s in secrets:
        assert s not in logged, f"a secret ({s[:6]}…) reached the logs"
        assert s not in audit, f"a secret ({s[:6]}…) reached the audit log"
    assert PHONE_A not in logged


def test_a_failed_statement_does_not_carry_its_parameters_into_the_logs(engine) -> None:
    """The unhandled-error log prints the exception, and SQLAlchemy's message lists the parameters unless the
    engine hides them: a DB error during intake would otherwise log the reporter's phone."""
    from sqlalchemy.exc import DBAPIError

    with engine.connect() as conn, pytest.raises(DBAPIError) as info:
        conn.execute(text("SELECT 1 / 0 WHERE CAST(:phone AS text) IS NOT NULL"), {"phone": PHONE_B})
    assert "division by zero" in str(info.value)
    assert PHONE_B not in str(info.value)
