"""The wall API: heatmap bins (bounded, exact under filters), summary, grid metrics, case detail, replay,
stream tickets, and the live stream delivering a posted report."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta

import httpx
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.wall.filters import TZ, parse_filters
from api.wall.heat import plan_minutes, rollup, split_window
from tests.api.test_read_api import assert_problem

DISTRICT = "115.90,39.50,117.00,40.30"  # the district and the planted far-away reports


def sql_count(db: Session, since: datetime, until: datetime, *, category=None, status=None, source=None,
              bbox=None) -> int:
    cond = ["r.reported_at >= :t0", "r.reported_at < :t1", "r.location IS NOT NULL"]
    if category:
        cond.append("c.category_code = :cat")
    if status:
        cond.append("c.status = :st")
    if source:
        cond.append("r.source = :src")
    if bbox:
        cond.append("r.location && ST_MakeEnvelope(:a, :b, :c, :d, 4326)")
    a, b, c, d = bbox or (0, 0, 0, 0)
    sql = f"SELECT count(*) FROM cases c JOIN report r ON r.id = c.report_id WHERE {' AND '.join(cond)}"
    return db.execute(text(sql),
                      {"t0": since, "t1": until, "cat": category, "st": status, "src": source,
                       "a": a, "b": b, "c": c, "d": d}).scalar_one()


@pytest.fixture
def busiest(db: Session) -> tuple[str, str]:
    """The most frequent category and source of the last 30 days."""
    cat = db.execute(text("SELECT category_code FROM report WHERE reported_at > now() - interval '30 days' "
                          "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")).scalar_one()
    return cat, "hotline_12345"


def test_window_split_covers_the_window_exactly() -> None:
    t0 = datetime(2026, 11, 3, 7, 41, 12, tzinfo=TZ)
    t1 = datetime(2026, 11, 10, 15, 2, 0, tzinfo=TZ)
    p = split_window(t0, t1)
    spans = sorted([*p.raw, *p.hours, *([p.days] if p.days else [])])
    assert spans[0][0] == t0 and spans[-1][1] == t1
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert p.days == (datetime(2026, 11, 4, tzinfo=TZ), datetime(2026, 11, 10, tzinfo=TZ))
    short = split_window(t0, t0 + timedelta(minutes=20))
    assert short.raw == [(t0, t0 + timedelta(minutes=20))] and not short.hours and short.days is None


def test_partial_hours_are_counted_from_the_cheaper_side() -> None:
    now = datetime(2026, 11, 10, 15, 2, 0, tzinfo=TZ)
    t0, t1 = now - timedelta(days=7), now + timedelta(minutes=10)
    m = plan_minutes(split_window(t0, t1).raw, now)
    # the live end: its whole hour from the roll-up, less the (empty) future after the window
    assert datetime(2026, 11, 10, 15, tzinfo=TZ) in m.hours and (t1, datetime(2026, 11, 10, 16, tzinfo=TZ)) in m.minus
    # the start, 2 minutes into its hour: those 2 minutes are subtracted rather than 58 added
    assert datetime(2026, 11, 3, 15, tzinfo=TZ) in m.hours and (datetime(2026, 11, 3, 15, tzinfo=TZ), t0) in m.minus
    assert not m.plus
    late = plan_minutes([(datetime(2026, 11, 3, 15, 50, tzinfo=TZ), datetime(2026, 11, 3, 16, tzinfo=TZ))], now)
    assert late.plus == [(datetime(2026, 11, 3, 15, 50, tzinfo=TZ), datetime(2026, 11, 3, 16, tzinfo=TZ))]
    assert not late.hours and not late.minus


@pytest.mark.parametrize("window", ["1h", "today", "7d", "30d"])
def test_heatmap_totals_equal_a_scan_of_the_cases(client, auth, db: Session, window: str) -> None:
    resp = client.get("/api/v1/wall/heatmap", params={"bbox": DISTRICT, "zoom": 12, "window": window},
                      headers=auth())
    assert resp.status_code == 200, resp.text
    body = resp.json()
    since, until = datetime.fromisoformat(body["since"]), datetime.fromisoformat(body["until"])
    assert body["total"] == sql_count(db, since, until)
    assert body["count"] == len(body["cells"]) <= 20_000
    assert sum(c[2] for c in body["cells"]) == body["total"]
    if window == "30d":
        assert body["total"] > 1000 and body["max"] >= 1


def test_heatmap_filters_match_sql(client, auth, db: Session, busiest) -> None:
    cat, src = busiest
    now = datetime.now(TZ)
    since = (now - timedelta(days=12, hours=5, minutes=17)).replace(tzinfo=None).isoformat(timespec="seconds")
    until = (now - timedelta(hours=2, minutes=3)).replace(tzinfo=None).isoformat(timespec="seconds")
    other = db.execute(text("SELECT category_code FROM report WHERE category_code <> :c GROUP BY 1 "
                            "ORDER BY count(*) DESC LIMIT 1"), {"c": cat}).scalar_one()
    for params in ({}, {"category": cat}, {"source": src}, {"status": "closed"}, {"category": cat, "source": src},
                   {"status": "escalated,in_progress"}, {"category": f"{cat},{other}"},
                   {"source": f"{src},patrol"}, {"status": "closed", "source": src, "category": cat}):
        resp = client.get("/api/v1/wall/heatmap", headers=auth(), params={
            "bbox": DISTRICT, "zoom": 13, "window": "custom", "since": since, "until": until, **params})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        t0, t1 = datetime.fromisoformat(body["since"]), datetime.fromisoformat(body["until"])
        expected = sum(sql_count(db, t0, t1, category=c, source=o, status=s)
                       for c in _values(params, "category") for o in _values(params, "source")
                       for s in _values(params, "status"))
        assert body["total"] == expected > 0, params
        # and per cell, against a plain GROUP BY over the raw cases
        cells = {(x, y): n for x, y, n in body["cells"]}
        assert cells == raw_cells(db, t0, t1, body["level"], params), params


def _values(params: dict, key: str) -> list:
    return params[key].split(",") if key in params else [None]


def raw_cells(db: Session, t0: datetime, t1: datetime, level: int, params: dict) -> dict:
    """The heatmap cells of a window as a GROUP BY over report JOIN cases (no roll-up)."""
    shift = 17 - level
    cond = ["r.reported_at >= :t0", "r.reported_at < :t1", "r.location IS NOT NULL"]
    for key, col in (("category", "c.category_code"), ("status", "c.status"), ("source", "r.source")):
        if key in params:
            cond.append(f"{col} = ANY(:{key})")
    rows = db.execute(text(f"""
        SELECT gridmap_cell_x(ST_X(r.location)) >> {shift} AS x, gridmap_cell_y(ST_Y(r.location)) >> {shift} AS y,
               count(*) AS n
        FROM cases c JOIN report r ON r.id = c.report_id WHERE {' AND '.join(cond)} GROUP BY 1, 2"""),
        {"t0": t0, "t1": t1, **{k: v.split(",") for k, v in params.items()}}).all()
    if not rows:
        return {}
    arr = np.array(rows, dtype=np.int64)  # cell centres computed as the API does
    size = float(1 << level)
    lon = np.round((arr[:, 0] + 0.5) / size * 360.0 - 180.0, 6)
    lat = np.round(np.degrees(np.arctan(np.sinh(np.pi * (1.0 - 2.0 * (arr[:, 1] + 0.5) / size)))), 6)
    return {(float(a), float(b)): int(n) for a, b, n in zip(lon.tolist(), lat.tolist(), arr[:, 2].tolist(),
                                                             strict=True)}


def test_each_filter_set_reads_the_smallest_roll_up() -> None:
    def pick(**kw) -> str:
        f = parse_filters(window="7d", since=None, until=None, **{"category": None, "status": None, "source": None,
                                                                   **kw})
        return rollup(f).day

    assert pick() == "case_heat_cell_day"
    assert pick(category="E01001,E01002") == pick(status="closed") == pick(source="patrol") == "case_heat_dim_day"
    assert pick(category="E01001", status="closed") == "case_heat_day"


def test_heatmap_bins_are_bounded_and_sized_to_the_zoom(client, auth) -> None:
    h = auth()
    coarse = client.get("/api/v1/wall/heatmap", params={"bbox": "73,18,135,54", "zoom": 16, "window": "30d"},
                        headers=h).json()
    assert coarse["level"] < 17 and coarse["count"] <= 20_000  # a whole-country box at zoom 16 is capped
    small = client.get("/api/v1/wall/heatmap", headers=h,
                       params={"bbox": DISTRICT, "zoom": 12, "window": "30d", "max_cells": 50}).json()
    assert small["count"] <= 50
    fine = client.get("/api/v1/wall/heatmap", params={"bbox": DISTRICT, "zoom": 14, "window": "30d"},
                      headers=h).json()
    city = client.get("/api/v1/wall/heatmap", params={"bbox": DISTRICT, "zoom": 10, "window": "30d"},
                      headers=h).json()
    assert fine["level"] > city["level"] and fine["count"] > city["count"]
    assert fine["total"] == city["total"] == small["total"]


def test_the_new_roll_ups_follow_inserts_and_status_changes(client, auth, db: Session) -> None:
    def total() -> int:
        return client.get("/api/v1/wall/heatmap", params={"bbox": DISTRICT, "zoom": 12, "window": "1h",
                                                          "status": "reported"}, headers=auth()).json()["total"]
    before = total()
    x, y = db.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) p FROM grid "
                           "ORDER BY code LIMIT 1) t")).one()
    r = client.post("/api/v1/reports", json={"source": "patrol", "category": "E01001", "lon": x, "lat": y},
                    headers=auth("intake"))
    assert r.status_code == 201, r.text
    assert total() == before + 1
    db.execute(text("UPDATE cases SET status = 'registered' WHERE id = :i"), {"i": r.json()["case"]["id"]})
    assert total() == before
    located = db.execute(text("SELECT count(*) FROM cases c JOIN report r ON r.id = c.report_id "
                              "WHERE r.location IS NOT NULL")).scalar_one()
    for table in ("case_heat_day", "case_heat_hour", "case_heat_cell_day", "case_heat_cell_hour"):
        assert db.execute(text(f"SELECT sum(n) FROM {table}")).scalar_one() == located, table
    for table in ("case_heat_dim_day", "case_heat_dim_hour"):
        per_dim = dict(db.execute(text(f"SELECT dim, sum(n) FROM {table} GROUP BY 1")).all())
        assert per_dim == {"c": located, "s": located, "o": located}, table
    # the per-status rows moved with the case: as many 'registered' as the cases say
    registered = db.execute(text("SELECT sum(n) FROM case_heat_dim_day WHERE dim = 's' AND val = 'registered'"))
    assert registered.scalar_one() == db.execute(text(
        "SELECT count(*) FROM cases c JOIN report r ON r.id = c.report_id "
        "WHERE r.location IS NOT NULL AND c.status = 'registered'")).scalar_one()
    # what the triggers kept equals a rebuild from scratch (rows left at zero aside)
    tables = {"case_heat_day": "day, cx, cy, category_code, status, source, n",
              "case_heat_hour": "hour, cx, cy, category_code, status, source, n",
              "case_heat_cell_day": "day, cx, cy, n", "case_heat_cell_hour": "hour, cx, cy, n",
              "case_heat_dim_day": "dim, val, day, cx, cy, n", "case_heat_dim_hour": "dim, val, hour, cx, cy, n"}

    def snapshot() -> dict:
        return {t: db.execute(text(f"SELECT {cols} FROM {t} WHERE n <> 0 ORDER BY {cols}")).all()
                for t, cols in tables.items()}

    kept = snapshot()
    db.execute(text("SELECT gridmap_heat_rebuild()"))
    assert snapshot() == kept


def test_bad_input_is_a_problem(client, auth) -> None:
    h = auth()
    base = {"bbox": DISTRICT, "zoom": 12}
    assert_problem(client.get("/api/v1/wall/heatmap", params={**base, "window": "2y"}, headers=h), 422,
                   "invalid_parameter")
    assert_problem(client.get("/api/v1/wall/heatmap", params={**base, "window": "custom"}, headers=h), 422,
                   "invalid_parameter")
    assert_problem(client.get("/api/v1/wall/heatmap", params={**base, "status": "lost"}, headers=h), 422,
                   "invalid_parameter")
    assert_problem(client.get("/api/v1/wall/heatmap", params={**base, "category": "x';--"}, headers=h), 422,
                   "invalid_parameter")
    assert_problem(client.get("/api/v1/wall/heatmap", params={"bbox": "1,2,3", "zoom": 3}, headers=h), 422,
                   "invalid_parameter")
    assert_problem(client.get("/api/v1/wall/heatmap", params={"bbox": DISTRICT, "zoom": 99}, headers=h), 422,
                   "validation_error")
    assert_problem(client.get("/api/v1/wall/heatmap", params=base), 401, "unauthorized")
    assert_problem(client.get("/api/v1/wall/heatmap", params=base, headers=auth("intake")), 403, "forbidden")
    assert_problem(client.get("/api/v1/wall/replay", params={"day": "yesterday"}, headers=h), 422,
                   "invalid_parameter")
    assert_problem(client.get("/api/v1/wall/cases/999999999", headers=h), 404, "not_found")


def test_summary_and_grid_metrics_agree_with_sql(client, auth, db: Session) -> None:
    h = auth()
    s = client.get("/api/v1/wall/summary", params={"window": "7d"}, headers=h)
    assert s.status_code == 200, s.text
    body = s.json()
    open_ = db.execute(text("SELECT count(*) FROM cases WHERE status NOT IN ('closed', 'rejected')")).scalar_one()
    overdue = db.execute(text("SELECT count(*) FROM cases WHERE status NOT IN ('closed', 'rejected') "
                              "AND deadline < now()")).scalar_one()
    assert body["totals"]["open"] == open_ and body["totals"]["overdue"] == overdue
    assert body["trend"]["bucket"] == "day" and sum(p[1] for p in body["trend"]["points"]) >= body["totals"]["new"]
    assert body["top_grids"] and body["top_grids"][0]["open"] >= body["top_grids"][-1]["open"]
    assert all(c["overdue_hours"] > 0 for c in body["overdue"])
    assert all(c["status"] == "escalated" for c in body["escalated"])

    m = client.get("/api/v1/wall/grids", headers=h).json()
    assert m["fields"] == ["open", "new_today", "overdue"]
    assert sum(v[0] for v in m["grids"].values()) == db.execute(text(
        "SELECT count(*) FROM cases WHERE status NOT IN ('closed', 'rejected') AND grid_code IS NOT NULL")).scalar_one()
    top = body["top_grids"][0]
    assert m["grids"][top["code"]][0] == top["open"]

    cases = client.get(f"/api/v1/wall/grids/{top['code']}/cases", headers=h).json()["items"]
    assert cases and all(c["grid_code"] == top["code"] for c in cases)
    detail = client.get(f"/api/v1/wall/cases/{cases[0]['id']}", headers=h).json()
    assert detail["id"] == cases[0]["id"] and detail["events"]
    if detail["reporter"] and detail["reporter"].get("phone"):
        assert "****" in detail["reporter"]["phone"]


def test_replay_gives_a_day_in_time_order(client, auth, db: Session) -> None:
    day = db.execute(text("SELECT (reported_at AT TIME ZONE 'Asia/Shanghai')::date FROM report "
                          "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")).scalar_one().isoformat()
    body = client.get("/api/v1/wall/replay", params={"day": day}, headers=auth()).json()
    secs = [p[0] for p in body["points"]]
    assert secs == sorted(secs) and 0 <= secs[0] and secs[-1] < 86400
    start = datetime.fromisoformat(body["start"])
    assert len(secs) == sql_count(db, start, start + timedelta(days=1))


def test_stream_tickets_are_single_use_expire_and_are_bound_to_the_key(client, auth, db: Session) -> None:
    import hashlib

    from api.wall.stream import check_ticket

    h = auth()
    t = client.post("/api/v1/wall/stream/ticket", headers=h)
    assert t.status_code == 200 and t.json()["expires_in"] == 60
    ticket = t.json()["ticket"]
    me = client.get("/api/v1/auth/me", headers=h).json()
    assert check_ticket(db, ticket).principal.name == me["name"]
    # issue 17 defect 6: a ticket opens one stream only
    assert_problem(client.get("/api/v1/wall/stream", params={"ticket": ticket}), 401, "unauthorized")
    for bad in (None, "", "1.2", ticket[:-2] + "AA", "x" * 200):
        assert_problem(client.get("/api/v1/wall/stream", params={"ticket": bad} if bad is not None else {}),
                       401, "unauthorized")
    old = client.post("/api/v1/wall/stream/ticket", headers=h).json()["ticket"]
    db.execute(text("UPDATE stream_ticket SET expires_at = now() - interval '1 second' WHERE ticket_hash = :h"),
               {"h": hashlib.sha256(old.encode()).hexdigest()})
    assert_problem(client.get("/api/v1/wall/stream", params={"ticket": old}), 401, "unauthorized")
    assert_problem(client.post("/api/v1/wall/stream/ticket", headers=auth("intake")), 403, "forbidden")


def _stream_keys(engine: Engine, name: str, grid_offset: int) -> tuple[str, str, float, float, int]:
    """Committed intake and dispatcher keys (the live server must see them), a point inside a grid, and the
    newest report id so far."""
    from api.auth.service import create_key

    with Session(engine) as s:
        _, intake = create_key(s, name=f"{name} intake", role="intake")
        _, reader = create_key(s, name=f"{name} reader", role="dispatcher")
        x, y = s.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(boundary) c FROM grid "
                              "ORDER BY code LIMIT 1 OFFSET :o) t"), {"o": grid_offset}).one()
        last = s.execute(text("SELECT max(id) FROM report")).scalar_one()
        s.commit()
    return intake, reader, x, y, last


def test_the_stream_delivers_a_posted_report(live_server: str, engine: Engine) -> None:
    intake, reader, x, y, _ = _stream_keys(engine, "wall stream", 7)
    ticket = httpx.post(f"{live_server}/api/v1/wall/stream/ticket",
                        headers={"Authorization": f"Bearer {reader}"}).json()["ticket"]
    events: list[tuple[str, dict, float]] = []
    ready = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", f"{live_server}/api/v1/wall/stream", params={"ticket": ticket}, timeout=15) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            name = None
            for line in r.iter_lines():
                if line.startswith("event:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    events.append((name, json.loads(line.split(":", 1)[1]), time.time()))
                    if name == "hello":
                        ready.set()
                    if name == "report":
                        return

    th = threading.Thread(target=listen, daemon=True)
    th.start()
    assert ready.wait(10)
    t0 = time.time()
    resp = httpx.post(f"{live_server}/api/v1/reports", headers={"Authorization": f"Bearer {intake}"},
                      json={"source": "mini_program", "category": "E01001", "lon": x, "lat": y})
    assert resp.status_code == 201
    th.join(10)
    name, data, at = events[-1]
    assert name == "report" and data["id"] == resp.json()["id"] and data["case_id"] == resp.json()["case"]["id"]
    assert data["grid"] == resp.json()["routing"]["grid_code"] and abs(data["lon"] - x) < 1e-9
    # Pushed, not polled: it arrives long before any refresh timer would fire. How fast is a benchmark
    # (make bench: wall_frames, report POST -> pulse p95), not a unit test on a shared machine.
    assert at - t0 < 10.0, f"the report reached the stream after {at - t0:.3f} s"


def _first_events(live_server: str, ticket: str, n: int, **params) -> list[tuple[str, dict]]:
    got: list[tuple[str, dict]] = []
    with httpx.stream("GET", f"{live_server}/api/v1/wall/stream", params={"ticket": ticket, **params},
                      timeout=15) as r:
        assert r.status_code == 200, r.read()
        name = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                got.append((name, json.loads(line.split(":", 1)[1])))
                if len(got) >= n:
                    return got
    return got


def test_a_reconnecting_client_is_caught_up_with_what_it_missed(live_server: str, engine: Engine) -> None:
    intake, reader, x, y, last_seen = _stream_keys(engine, "wall replay", 9)
    posted = [httpx.post(f"{live_server}/api/v1/reports", headers={"Authorization": f"Bearer {intake}"},
                         json={"source": "patrol", "category": "E01001", "lon": x, "lat": y}).json()["id"]
              for _ in range(3)]  # while the client was away

    def ticket() -> str:
        return httpx.post(f"{live_server}/api/v1/wall/stream/ticket",
                          headers={"Authorization": f"Bearer {reader}"}).json()["ticket"]

    events = _first_events(live_server, ticket(), 4, after=last_seen)
    assert [e[0] for e in events] == ["hello", "report", "report", "report"]
    assert [e[1]["id"] for e in events[1:]] == posted and all(e[1]["replayed"] for e in events[1:])
    assert events[1][1]["grid"] and events[1][1]["case_id"]
    # EventSource's own reconnect sends Last-Event-ID instead
    with httpx.stream("GET", f"{live_server}/api/v1/wall/stream", params={"ticket": ticket()},
                      headers={"Last-Event-ID": str(posted[1])}, timeout=15) as r:
        lines = []
        for line in r.iter_lines():
            lines.append(line)
            if sum(ln.startswith("data:") for ln in lines) == 2:
                break
    assert json.loads([ln for ln in lines if ln.startswith("data:")][1].split(":", 1)[1])["id"] == posted[2]
    # away too long (reports older than the replay window were missed): told to reload instead
    events = _first_events(live_server, ticket(), 2, after=0)
    assert [e[0] for e in events] == ["hello", "resync"]
