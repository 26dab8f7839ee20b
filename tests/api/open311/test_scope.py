"""Issue 17, defect 1: an intake key reads only the reports it posted, on every read path (Open311 lists, one
request, service request updates, GET /api/v1/reports/{id}, an idempotent replay); another's is a 404, never a
403, so sequential ids cannot be probed. On the code before the fix every one of these read any report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.test_read_api import assert_problem

V2 = "/open311/v2"


@pytest.fixture
def spot(db: Session) -> tuple[float, float]:
    x, y = db.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) p FROM grid g
        JOIN grid_layout l ON l.id = g.layout_id WHERE l.status = 'published' ORDER BY code LIMIT 1 OFFSET 3) t
    """)).one()
    return x, y


def post_api(client: httpx.Client, key: str, spot: tuple[float, float], ext: str, source: str = "hotline_12345") -> int:
    resp = client.post("/api/v1/reports", headers={"Authorization": f"Bearer {key}"}, json={
        "source": source, "external_id": ext, "category": "E01001", "description": f"{ext} 井盖缺失",
        "lon": spot[0], "lat": spot[1], "reporter": {"name": "王五", "phone": "13700001234"}})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def post_311(client: httpx.Client, key: str, spot: tuple[float, float], text_: str) -> int:
    resp = client.post(f"{V2}/requests.json", data={"api_key": key, "service_code": "E01001", "lat": str(spot[1]),
                                                    "long": str(spot[0]), "description": text_})
    assert resp.status_code == 201, resp.text
    return int(resp.json()[0]["service_request_id"])


def ids(resp: httpx.Response) -> set[int]:
    assert resp.status_code == 200, resp.text
    return {int(r["service_request_id"]) for r in resp.json()}


def test_an_intake_key_lists_only_the_requests_it_posted(client, make_key: Callable[[str], str], spot) -> None:
    a, b, admin = make_key("intake"), make_key("intake"), make_key("admin")
    mine = {post_api(client, a, spot, "A-1"), post_311(client, a, spot, "A 的第二条")}
    theirs = {post_api(client, b, spot, "B-1"), post_311(client, b, spot, "B 的第二条")}
    assert ids(client.get(f"{V2}/requests.json", params={"api_key": a})) == mine
    assert ids(client.get(f"{V2}/requests.json", params={"api_key": b})) == theirs
    everything = ids(client.get(f"{V2}/requests.json", params={"api_key": admin}))
    assert mine | theirs <= everything and len(everything - mine - theirs) > 0  # the sample district's reports
    # Asked by id, comma-separated: the other's ids are silently not there (as ids that do not exist).
    both = ",".join(str(i) for i in sorted(mine | theirs))
    assert ids(client.get(f"{V2}/requests.json", params={"api_key": a, "service_request_id": both})) == mine
    # With the other filters too (service code, status, dates).
    assert ids(client.get(f"{V2}/requests.json", params={"api_key": a, "service_code": "E01001,E01002",
                                                         "status": "open,closed"})) == mine


def test_another_systems_report_is_a_404_on_every_single_read(client, make_key, spot) -> None:
    a, b = make_key("intake"), make_key("intake")
    rid = post_api(client, a, spot, "A-2")
    sample = client.get(f"{V2}/requests.json", params={"api_key": make_key("admin")}).json()[-1]
    for other in (rid, int(sample["service_request_id"])):  # another key's, and a bulk-imported one (no poster)
        for fmt in ("json", "xml"):
            resp = client.get(f"{V2}/requests/{other}.{fmt}", params={"api_key": b})
            assert resp.status_code == 404, resp.text
        assert_problem(client.get(f"/api/v1/reports/{other}", headers={"Authorization": f"Bearer {b}"}), 404,
                       "not_found")
    # ... exactly as an id that does not exist at all:
    assert client.get(f"{V2}/requests/987654321.json", params={"api_key": b}).json()[0]["code"] == 404
    # and the poster reads its own, both ways.
    assert client.get(f"{V2}/requests/{rid}.json", params={"api_key": a}).json()[0]["service_request_id"] == str(rid)
    own = client.get(f"/api/v1/reports/{rid}", headers={"Authorization": f"Bearer {a}"})
    assert own.status_code == 200 and own.json()["external_id"] == "A-2"


def test_a_replay_does_not_hand_over_another_systems_report(client, make_key, spot) -> None:
    """Same source and external_id from another key (the same body too): refused with a 409 saying nothing of
    the first report, instead of answering with it."""
    a, b = make_key("intake"), make_key("intake")
    post_api(client, a, spot, "SHARED-1")
    resp = client.post("/api/v1/reports", headers={"Authorization": f"Bearer {b}"}, json={
        "source": "hotline_12345", "external_id": "SHARED-1", "category": "E01001", "description": "SHARED-1 井盖缺失",
        "lon": spot[0], "lat": spot[1], "reporter": {"name": "王五", "phone": "13700001234"}})
    body = assert_problem(resp, 409, "conflict")
    assert "SHARED-1" not in resp.text and "report_id" not in body
    again = client.post("/api/v1/reports", headers={"Authorization": f"Bearer {a}"}, json={
        "source": "hotline_12345", "external_id": "SHARED-1", "category": "E01001", "description": "SHARED-1 井盖缺失",
        "lon": spot[0], "lat": spot[1], "reporter": {"name": "王五", "phone": "13700001234"}})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"  # its own retry still works


def test_updates_are_scoped_like_requests(client, make_key, auth, spot) -> None:
    a, b, admin = make_key("intake"), make_key("intake"), make_key("admin")
    rid = post_api(client, a, spot, "A-3")
    case = client.get(f"/api/v1/reports/{rid}", headers={"Authorization": f"Bearer {admin}"}).json()["case"]["id"]
    moved = client.post(f"/api/v1/cases/{case}/transitions", headers={"Authorization": f"Bearer {admin}"},
                        json={"to": "registered", "note": "已立案"})
    assert moved.status_code in (200, 201), moved.text
    mine = client.get(f"{V2}/servicerequestupdates.json", params={"api_key": a}).json()
    assert [(u["service_request_id"], u["status"], u["external_status_code"]) for u in mine] == \
        [(str(rid), "investigating", "registered")]
    assert mine[0]["description"] == "已立案"
    assert client.get(f"{V2}/servicerequestupdates.json", params={"api_key": b}).json() == []
    since = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    assert str(rid) in {u["service_request_id"] for u in client.get(
        f"{V2}/servicerequestupdates.json", params={"api_key": admin, "start_date": since}).json()}
    # the window: nothing of it before the transition
    assert client.get(f"{V2}/servicerequestupdates.json", params={
        "api_key": a, "end_date": mine[0]["updated_datetime"]}).json() == []
