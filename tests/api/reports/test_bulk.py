"""Bulk import of historical reports: routed per their own time, idempotent, refused rows named."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.cases.workflow import STATUSES
from api.core.errors import ImportFailed
from api.reports.bulk import import_reports
from tests.api.imports.test_service import fingerprint


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "archive.csv"
    path.write_text("source,external_id,category_code,reported_at,lon,lat,status,closed_at,rating,description\n"
                    + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_an_archive_lands_with_routing_cases_and_history(db: Session, tmp_path: Path) -> None:
    x, y, code = db.execute(text("""SELECT ST_X(p), ST_Y(p), code FROM (SELECT ST_PointOnSurface(boundary) p, code
                                    FROM grid ORDER BY code LIMIT 1) t""")).one()
    path = _csv(tmp_path, [
        f"hotline_12345,H-1,E01001,2026-03-02T09:15:00,{x},{y},closed,2026-03-03T10:00:00,5,井盖缺失",
        f"hotline_12345,H-2,E01001,2026-03-02T10:00:00+08:00,{x},{y},in_progress,,,",
        "hotline_12345,H-3,E01001,2026-03-02T11:00:00,121.47,31.23,reported,,,外地",
        f"hotline_12345,H-4,E01001,2025-06-01T08:00:00,{x},{y},rejected,,,早于网格方案",
    ])
    said: list[str] = []
    res = import_reports(db, path=path, say=said.append)
    assert (res.imported, res.routed, res.unrouted) == (4, 2, 2)
    # Every phase is timed and told as it ends (the CLI prints these lines).
    assert list(res.phases)[:5] == ["read", "check", "existing", "route", "ids"]
    assert {"report", "routing", "cases", "events"} <= set(res.phases)
    assert len(said) == len(res.phases) and all(v >= 0 for v in res.phases.values())
    assert all(line.endswith(" s)") for line in said)
    rows = db.execute(text("""
        SELECT r.external_id, rt.grid_code, rt.method, rt.reason, k.status, k.rating,
               (SELECT array_agg(to_status ORDER BY id) FROM case_event e WHERE e.case_id = k.id) AS ev
        FROM report r JOIN routing rt ON rt.report_id = r.id JOIN cases k ON k.report_id = r.id
        WHERE r.source = 'hotline_12345' AND r.external_id LIKE 'H-%' ORDER BY r.external_id""")).all()
    assert rows[0].grid_code == code and rows[0].rating == 5 and rows[0].ev[-1] == "closed" and len(rows[0].ev) == 7
    assert rows[1].status == "in_progress" and rows[1].ev == ["reported", "registered", "dispatched", "in_progress"]
    assert rows[2].method == "unrouted" and rows[2].reason == "outside_coverage"
    assert rows[3].reason == "no_layout_in_force"  # the sample layout starts in 2026
    # Naive times are Beijing time.
    at = db.execute(text("SELECT reported_at AT TIME ZONE 'Asia/Shanghai' FROM report WHERE external_id = 'H-1'"))
    assert str(at.scalar_one()) == "2026-03-02 09:15:00"
    again = import_reports(db, path=path)
    assert (again.imported, again.skipped_existing) == (0, 4)


@pytest.mark.parametrize("row,reason,number", [
    ("hotline_12345,B-2,NOPE,2026-03-02T09:15:00,116.4,39.9,,,,", "unknown_category", 2),
    ("hotline_12345,B-2,E01001,yesterday,116.4,39.9,,,,", "bad_time", 2),
    ("hotline_12345,B-2,E01001,2026-03-02T09:15:00,39.9,116.4,,,,", "bad_coordinates", 2),
    ("hotline_12345,B-2,E01001,2026-03-02T09:15:00,116.4,39.9,lost,,,", "bad_status", 2),
    ("hotline_12345,B-1,E01001,2026-03-02T09:15:00,116.4,39.9,,,,", "duplicate_external_id", 2),
])
def test_a_bad_row_stops_the_import_and_changes_nothing(db: Session, tmp_path: Path, row, reason, number) -> None:
    before = fingerprint(db, "report"), fingerprint(db, "cases")
    path = _csv(tmp_path, ["hotline_12345,B-1,E01001,2026-03-02T09:15:00,116.4,39.9,,,,", row])
    with pytest.raises(ImportFailed) as info, db.begin_nested():
        import_reports(db, path=path)
    assert info.value.extra["reason"] == reason and info.value.extra["row"] == number
    assert (fingerprint(db, "report"), fingerprint(db, "cases")) == before


# --- the fast path (migration 0008 and the set-based foreign-key checks) gives what the slow path gives ----

HEAT = {"case_heat_day": "day, cx, cy, category_code, status, source, n",
        "case_heat_hour": "hour, cx, cy, category_code, status, source, n",
        "case_heat_cell_day": "day, cx, cy, n", "case_heat_cell_hour": "hour, cx, cy, n",
        "case_heat_dim_day": "dim, val, day, cx, cy, n", "case_heat_dim_hour": "dim, val, hour, cx, cy, n"}


def heat(db: Session) -> dict[str, list]:
    return {t: db.execute(text(f"SELECT {cols} FROM {t} WHERE n <> 0 ORDER BY {cols}")).all()
            for t, cols in HEAT.items()}


def imported(db: Session) -> list:
    """Every imported row of the four tables, ids replaced by the external id they belong to."""
    return db.execute(text("""
        SELECT r.external_id, r.source, r.category_code, r.description, r.raw_x, r.raw_y, r.raw_crs, r.crs_assumed,
               r.reported_at, r.received_at, ST_AsEWKB(r.location), rt.layout_id, rt.grid_code, rt.method,
               rt.distance_m, rt.candidates, rt.reason, rt.decided_at, k.layout_id, k.grid_code, k.category_code,
               k.status, k.deadline, k.created_at, k.updated_at, k.closed_at, k.rating, k.assignee_id,
               (SELECT array_agg(ARRAY[e.at::text, e.actor, e.from_status, e.to_status, e.note, e.kind]
                                 ORDER BY e.id) FROM case_event e WHERE e.case_id = k.id)
        FROM report r JOIN routing rt ON rt.report_id = r.id JOIN cases k ON k.report_id = r.id
        WHERE r.source IN ('archive', 'hotline_12345') AND r.external_id LIKE 'T-%'
        ORDER BY r.source, r.external_id""")).all()


def archive(db: Session, n: int = 1200) -> pd.DataFrame:
    """Reports of every status and two sources around the sample's own reports, on the sample's own days
    (so the roll-ups get both new rows and rows added to), a few outside the grids."""
    rng = np.random.default_rng(11)
    pts = np.array(db.execute(text("SELECT ST_X(location), ST_Y(location), reported_at FROM report "
                                   "WHERE location IS NOT NULL ORDER BY id LIMIT 5000")).all(), dtype=object)
    cats = db.execute(text("SELECT code FROM category ORDER BY code")).scalars().all()
    pick = rng.integers(0, len(pts), n)
    status = np.array(STATUSES, dtype=object)[rng.integers(0, len(STATUSES), n)]
    x = pts[pick, 0].astype(float) + rng.normal(0, 0.0005, n)
    y = pts[pick, 1].astype(float) + rng.normal(0, 0.0005, n)
    x[:20] += 1.0  # outside coverage
    at = pd.to_datetime(pd.Series(pts[pick, 2]), utc=True) + pd.to_timedelta(rng.integers(-7200, 7200, n), unit="s")
    frame = pd.DataFrame({
        "source": np.where(rng.random(n) < 0.5, "archive", "hotline_12345"),
        "external_id": [f"T-{i:05d}" for i in range(n)],
        "category_code": np.array(cats, dtype=object)[rng.integers(0, len(cats), n)],
        "reported_at": at.dt.strftime("%Y-%m-%dT%H:%M:%S%z").to_numpy(), "status": status,
        "rating": np.where(status == "closed", rng.integers(1, 6, n).astype(str), None),
        "description": np.where(rng.random(n) < 0.3, "积水", None), "_x": x, "_y": y,
    })
    return frame


@pytest.mark.parametrize("history", [True, False])
def test_the_fast_path_writes_what_the_row_by_row_path_writes(db: Session, history: bool) -> None:
    frame = archive(db)
    before = heat(db)
    results = {}
    for path in [dict(defer_heat=False, fk_triggers=True), dict(defer_heat=True, fk_triggers=True),
                 dict(defer_heat=True, fk_triggers=False)]:
        sp = db.begin_nested()
        res = import_reports(db, frame=frame.copy(), history=history, **path)
        results[tuple(path.values())] = (res.imported, res.routed, res.events, imported(db), heat(db),
                                         "verify" in res.phases)
        sp.rollback()
    slow, deferred, fast = results.values()
    assert slow[0] == len(frame) and slow[1] > 0 and slow[2] >= len(frame) and len(slow[3]) == len(frame)
    assert slow[4] != before  # the import did move the roll-ups
    # Same rows, same routing decisions, same events; the roll-ups equal, table by table, row by row.
    assert deferred[:5] == slow[:5]
    assert fast[:5] == slow[:5]
    assert (slow[5], deferred[5], fast[5]) == (False, False, True)  # the fast path did verify set-based
    # ...and both equal a rebuild of the roll-ups from the cases
    sp = db.begin_nested()
    import_reports(db, frame=frame.copy(), history=history)
    db.execute(text("SELECT gridmap_heat_rebuild()"))
    assert heat(db) == fast[4]
    sp.rollback()


def test_a_key_counted_meanwhile_sends_the_heat_through_the_upserts(db: Session, monkeypatch) -> None:
    """The roll-up rows under new days are COPYed straight in; should a live report count one of those keys
    between the import's look and its COPY (a race, played here by the import believing no key exists),
    PostgreSQL refuses the COPY and every row is added with the upserts: the counts stay exact."""
    from api.wall import rollups

    frame = archive(db, 400)
    calls = []

    def nothing_known(session: Session, table: str, rows: pd.DataFrame) -> np.ndarray:
        calls.append(table)
        return np.zeros(len(rows), dtype=bool)

    said: list[str] = []
    sp = db.begin_nested()
    import_reports(db, frame=frame.copy(), say=said.append)
    expected = heat(db)
    sp.rollback()
    rows, merged = map(int, re.search(r"\((\d+) aggregated rows, (\d+) of them", said[-1]).groups())
    assert 0 < merged < rows  # some keys were new and COPYed, some were counted already and added to
    monkeypatch.setattr(rollups, "known_prefixes", nothing_known)
    sp = db.begin_nested()
    res = import_reports(db, frame=frame.copy(), say=said.append)
    assert calls and res.imported == len(frame)
    assert f"({rows} aggregated rows, {rows} of them" in said[-1]  # the COPY was refused: all through upserts
    assert heat(db) == expected
    db.execute(text("SELECT gridmap_heat_rebuild()"))
    assert heat(db) == expected
    sp.rollback()


def test_live_intake_still_counts_after_a_bulk_import_in_the_same_transaction(client, auth, db: Session) -> None:
    res = import_reports(db, frame=archive(db, 300))
    assert res.imported == 300 and "verify" in res.phases
    assert db.execute(text("SELECT current_setting('gridmap.defer_heat', true), "
                           "current_setting('session_replication_role')")).one() == ("off", "origin")

    def totals() -> tuple[int, ...]:
        return tuple(db.execute(text(f"SELECT coalesce(sum(n), 0) FROM {t}")).scalar_one() for t in HEAT)
    before = totals()
    x, y = db.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(boundary) p FROM grid "
                           "ORDER BY code LIMIT 1) t")).one()
    r = client.post("/api/v1/reports", json={"source": "patrol", "category": "E01001", "lon": x, "lat": y},
                    headers=auth("intake"))
    assert r.status_code == 201, r.text
    # one case: +1 in each full and cell roll-up, +3 (category, status, source) in each dimension roll-up
    assert tuple(b - a for a, b in zip(before, totals(), strict=True)) == (1, 1, 1, 1, 3, 3)


def test_the_trigger_honours_the_switch_and_the_catch_up_adds_exactly_the_cases(db: Session) -> None:
    before = heat(db)
    rid = db.execute(text("""INSERT INTO report (source, category_code, reported_at, location)
                             VALUES ('patrol', 'E01001', '2026-03-02 09:15+08',
                                     ST_SetSRID(ST_MakePoint(116.41, 39.92), 4326))
                             RETURNING id""")).scalar_one()
    db.execute(text("SET LOCAL gridmap.defer_heat = on"))
    cid = db.execute(text("INSERT INTO cases (report_id, category_code, status) VALUES (:r, 'E01001', 'reported') "
                          "RETURNING id"), {"r": rid}).scalar_one()
    assert heat(db) == before  # deferred: not counted yet
    db.execute(text("SELECT gridmap_heat_add_cases(ARRAY[CAST(:c AS bigint)])"), {"c": cid})
    db.execute(text("SET LOCAL gridmap.defer_heat = off"))
    added = heat(db)
    assert added != before
    db.execute(text("SELECT gridmap_heat_rebuild()"))
    assert heat(db) == added
    # Updates are never deferred: they move counts that are already there.
    db.execute(text("SET LOCAL gridmap.defer_heat = on"))
    db.execute(text("UPDATE cases SET status = 'registered' WHERE id = :c"), {"c": cid})
    moved = heat(db)
    db.execute(text("SELECT gridmap_heat_rebuild()"))
    assert heat(db) == moved != added


def test_migration_0008_downgrades_to_the_counting_trigger_and_back(db: Session) -> None:
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parents[3]
    cfg = Config(str(root / "alembic.ini"))
    cfg.set_main_option("script_location", str(root / "migrations"))
    cfg.attributes["connection"] = db.connection()

    def state() -> tuple[bool, bool]:
        src = db.execute(text("SELECT prosrc FROM pg_proc WHERE proname = 'gridmap_heat_on_cases'")).scalar_one()
        add = db.execute(text("SELECT count(*) FROM pg_proc WHERE proname = 'gridmap_heat_add_cases'")).scalar_one()
        return "defer_heat" in src, add == 1

    def language() -> str:
        return db.execute(text("SELECT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
                               "WHERE p.proname = 'gridmap_heat_add_cases'")).scalar_one()

    assert state() == (True, True) and language() == "plpgsql"
    command.downgrade(cfg, "0008")  # 0009: back to 0008's one statement of upserts
    assert state() == (True, True) and language() == "sql"
    command.downgrade(cfg, "0007")
    assert state() == (False, False)
    # the old trigger counts whatever the switch says
    before = heat(db)
    db.execute(text("SET LOCAL gridmap.defer_heat = on"))
    db.execute(text("INSERT INTO cases (report_id, category_code, status) SELECT id, 'E01001', 'reported' "
                    "FROM report WHERE location IS NOT NULL ORDER BY id LIMIT 1"))
    assert heat(db) != before
    db.execute(text("SET LOCAL gridmap.defer_heat = off"))
    command.upgrade(cfg, "head")
    assert state() == (True, True) and language() == "plpgsql"


def test_the_catch_up_adds_to_a_row_a_concurrent_transaction_counted_first(engine) -> None:
    """The catch-up inserts new roll-up rows without ON CONFLICT (migration 0009); a key that another
    transaction inserts meanwhile makes it start over with the upserts, which add to that row."""
    key = "hour = :h AND cx = :x AND cy = :y"
    with engine.connect() as a, engine.connect() as b:
        ta = a.begin()
        rid = a.execute(text("""INSERT INTO report (source, category_code, reported_at, location)
                                VALUES ('patrol', 'E01001', '2024-05-05 10:30+08',
                                        ST_SetSRID(ST_MakePoint(116.41, 39.92), 4326)) RETURNING id""")).scalar_one()
        a.execute(text("SET LOCAL gridmap.defer_heat = on"))
        cid = a.execute(text("INSERT INTO cases (report_id, category_code, status) VALUES (:r, 'E01001', 'reported') "
                             "RETURNING id"), {"r": rid}).scalar_one()
        h, x, y = a.execute(text("SELECT date_trunc('hour', reported_at), gridmap_cell_x(ST_X(location)), "
                                 "gridmap_cell_y(ST_Y(location)) FROM report WHERE id = :r"), {"r": rid}).one()
        tb = b.begin()
        b.execute(text("INSERT INTO case_heat_cell_hour (hour, cx, cy, n) VALUES (:h, :x, :y, 5)"),
                  {"h": h, "x": x, "y": y})
        timer = threading.Timer(1.5, tb.commit)  # while the catch-up waits on that key
        timer.start()
        try:
            a.execute(text("SELECT gridmap_heat_add_cases(ARRAY[CAST(:c AS bigint)])"), {"c": cid})
        finally:
            timer.join()
        n = a.execute(text(f"SELECT n FROM case_heat_cell_hour WHERE {key}"), {"h": h, "x": x, "y": y}).scalar_one()
        ta.rollback()
        b.execute(text(f"DELETE FROM case_heat_cell_hour WHERE {key} AND n = 5"), {"h": h, "x": x, "y": y})
        b.commit()
    assert n == 6


def test_the_fast_path_steps_aside_for_a_trigger_it_does_not_know(db: Session) -> None:
    db.execute(text("""CREATE FUNCTION pg_temp.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
                       CREATE TRIGGER tr_test_audit AFTER INSERT ON routing FOR EACH STATEMENT
                       EXECUTE FUNCTION pg_temp.noop()"""))
    res = import_reports(db, frame=archive(db, 50))
    assert res.imported == 50 and "verify" not in res.phases  # PostgreSQL's own checks ran, and the trigger
