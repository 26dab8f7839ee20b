"""Deliveries to a REAL receiving HTTP server (a ``ThreadingHTTPServer`` on a loopback port), through the real app
(intake, transitions) with its delivery worker, LISTEN thread and a database of this module's own (the worker
commits, so the shared rolled-back test database is no place for it).

The receiver goes down mid-run and comes back: every event arrives (de-duplicated by event id: at least once),
every signature verifies, a case's events arrive in the order they happened; a receiver that refuses an event
until it is fixed leaves dead letters that an admin replays.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from api.webhooks.events import EVENT_HEADER, SIGNATURE_HEADER, verify
from tests.conftest import TEST_URL


@dataclass
class Receiver:
    """Records every POST; ``/flaky`` answers 500 while ``failing`` is set."""

    port: int = 0
    got: list[tuple[str, str | None, str | None, bytes]] = field(default_factory=list)
    failing: bool = True
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                rec.got.append((self.path, self.headers.get(EVENT_HEADER), self.headers.get(SIGNATURE_HEADER), raw))
                code = 500 if self.path == "/flaky" and rec.failing else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Down: the port refuses connections."""
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
        self.server = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def own_db(engine: Engine) -> Iterator[str]:
    from api.devtools.seeded import create_seeded_database, drop_database

    url = make_url(TEST_URL).set(database=f"{make_url(TEST_URL).database}_hooks").render_as_string(
        hide_password=False)
    create_seeded_database(url)
    yield url
    drop_database(url)


def _wait(what: Callable[[], bool], timeout: float, say: str) -> None:
    end = time.monotonic() + timeout
    while not what():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {say}")
        time.sleep(0.05)


def test_receiver_down_then_back_gets_every_event_once_signed_in_order(own_db: str) -> None:
    from api.auth.service import create_key
    from api.core.config import Settings
    from api.main import create_app

    eng = create_engine(own_db)

    def q(sql: str, **p: object) -> list:
        with eng.begin() as c:
            res = c.execute(text(sql), p)
            return res.all() if res.returns_rows else []

    with Session(eng) as s:
        keys = {r: create_key(s, name=f"hooks {r}", role=r)[1] for r in ("admin", "intake", "dispatcher")}
        s.commit()
    h = {r: {"Authorization": f"Bearer {k}"} for r, k in keys.items()}
    q("UPDATE webhook_state SET overdue_swept_to = now()")  # the sample's old deadlines are not news
    grid = q("""SELECT ST_X(ST_PointOnSurface(g.boundary)), ST_Y(ST_PointOnSurface(g.boundary))
                FROM grid g JOIN grid_layout l ON l.id = g.layout_id
                WHERE l.status = 'published' AND l.effective_to IS NULL ORDER BY g.code LIMIT 1""")[0]
    rec = Receiver()
    rec.start()
    settings = Settings(database_url=own_db, webhook_worker=True, listen=True, webhook_backoff_base_s=0.2,
                        webhook_backoff_max_s=1.0, webhook_max_attempts=6, webhook_poll_s=0.25,
                        webhook_overdue_interval_s=0.3, intake_rate=0, due_interval_s=0)
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            a = client.post("/api/v1/webhooks/subscriptions", headers=h["admin"], json={
                "url": rec.url("/in"), "event_types": ["report.created", "case.transitioned", "case.overdue"]}).json()
            b = client.post("/api/v1/webhooks/subscriptions", headers=h["admin"], json={
                "url": rec.url("/flaky"), "event_types": ["report.created"]}).json()
            notice = client.post("/api/v1/webhooks/subscriptions", headers=h["admin"], json={
                "url": rec.url("/notice"), "event_types": ["report.created"], "format": "notice"}).json()

            def pending(sub: int, status: str = "pending") -> int:
                return q("SELECT count(*) FROM webhook_delivery WHERE subscription_id = :s AND status = :st",
                         s=sub, st=status)[0][0]

            cases = []
            for i in range(6):
                r = client.post("/api/v1/reports", headers=h["intake"], json={
                    "source": "patrol", "category": "C01001", "lon": grid[0] + i * 1e-5, "lat": grid[1]})
                assert r.status_code == 201, r.text
                cases.append(r.json()["case"]["id"])
            _wait(lambda: pending(a["id"]) == 0, 15, "the first reports to be delivered")

            rec.stop()  # the receiver goes down; the city keeps working
            for to in ("registered", "dispatched", "in_progress"):
                for c in cases:
                    r = client.post(f"/api/v1/cases/{c}/transitions", json={"to": to}, headers=h["dispatcher"])
                    assert r.status_code == 200, r.text
            q("UPDATE cases SET deadline = now() + interval '300 milliseconds' WHERE id = :c", c=cases[0])
            _wait(lambda: q("""SELECT count(*) FROM webhook_delivery WHERE subscription_id = :s AND attempts >= 2
                               AND status = 'pending'""", s=a["id"])[0][0] >= len(cases), 15,
                  "failed attempts while the receiver is down")
            rec.start()  # back, on the same port
            _wait(lambda: pending(a["id"]) == 0, 30, "everything delivered after the receiver came back")
            _wait(lambda: pending(b["id"], "dead") == len(cases), 30, "the flaky receiver's dead letters")

            rec.failing = False  # fixed: the admin replays the dead letters
            assert client.post(f"/api/v1/webhooks/subscriptions/{b['id']}/replay",
                               headers=h["admin"]).json() == {"replayed": len(cases)}
            _wait(lambda: pending(b["id"], "delivered") == len(cases), 15, "the replayed dead letters")
            log = client.get(f"/api/v1/webhooks/subscriptions/{a['id']}/deliveries?limit=500",
                             headers=h["admin"]).json()
    finally:
        if rec.server is not None:
            rec.stop()

    expected = {r[0]: r[1] for r in q("""SELECT e.id, e.case_id FROM webhook_delivery d
                                         JOIN webhook_event e ON e.id = d.event_id WHERE d.subscription_id = :s""",
                                      s=a["id"])}
    types = [r[0] for r in q("SELECT e.type FROM webhook_delivery d JOIN webhook_event e ON e.id = d.event_id "
                             "WHERE d.subscription_id = :s", s=a["id"])]
    assert types.count("report.created") == 6 and types.count("case.transitioned") == 18
    assert types.count("case.overdue") == 1
    mine = [g for g in rec.got if g[0] == "/in"]
    first_seen: dict[int, int] = {}
    for i, (_, header_id, signature, raw) in enumerate(mine):
        assert verify(a["secret"], raw, signature), "a delivery's signature does not verify"
        body = orjson.loads(raw)
        assert str(body["id"]) == header_id
        first_seen.setdefault(body["id"], i)
    assert set(first_seen) == set(expected), "an event was lost or one was sent that should not have been"
    for c in cases:  # order per case: by first receipt, the events of a case arrive in the order they happened
        ids = sorted((i for i, case in expected.items() if case == c), key=first_seen.__getitem__)
        assert ids == sorted(ids), f"case {c}'s events overtook each other"
        statuses = [orjson.loads(mine[first_seen[i]][3])["case"]["status"] for i in ids]
        assert statuses[:4] == ["reported", "registered", "dispatched", "in_progress"]
    assert all(d["status"] == "delivered" for d in log["items"]) and log["total"] == len(expected)
    assert max(d["attempts"] for d in log["items"]) >= 2  # the downtime really cost attempts
    flaky = [g for g in rec.got if g[0] == "/flaky"]
    assert {orjson.loads(g[3])["id"] for g in flaky} == set(
        r[0] for r in q("SELECT event_id FROM webhook_delivery WHERE subscription_id = :s", s=b["id"]))
    assert all(verify(b["secret"], g[3], g[2]) for g in flaky)
    # notifications to people: the case's worker told of each new case through the webhook channel
    notices = [g for g in rec.got if g[0] == "/notice"]
    assert notices and all(verify(notice["secret"], g[3], g[2]) for g in notices)
    told = [n for g in notices for n in orjson.loads(g[3])["notices"]]
    workers = dict(q("SELECT c.id, p.phone FROM cases c JOIN person p ON p.id = c.assignee_id WHERE c.id = ANY(:c)",
                     c=cases))
    assert sorted(n["case_id"] for n in told) == sorted(workers)
    assert all(n["phone"] == workers[n["case_id"]] and str(n["case_id"]) in n["text"] for n in told)
    print(f"receiver: {len(mine)} POSTs for {len(expected)} events ({len(mine) - len(expected)} repeats)",
          file=os.sys.stderr)
    eng.dispose()
