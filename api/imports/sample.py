"""Loading the sample district (sample_data/) into an empty database.

The spatial layers go through the same import path as any user's file (api.imports.service), so
the sample exercises it on every set-up. Reports are then routed set-based in PostGIS and given
cases and an event history, so that the map, the workload figures and the case views have a
realistic past to show.

Report times in the artefact end at a fixed reference date (for reproducible generation); they
are shifted forward by whole weeks at load time so that "the last 30 days" means something on the
day the sample is loaded, with weekday patterns kept.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.config import ROOT
from api.imports.service import _copy_rows, _ewkb, import_layer, publish_layout

SAMPLE_DIR = ROOT / "sample_data"
ARTEFACT = SAMPLE_DIR / "dongcheng.gpkg.zip"
REFERENCE_DATE = datetime(2026, 11, 20, tzinfo=UTC) - timedelta(hours=8)  # 2026-11-20T00:00+08:00
LAYOUT_NAME = "东城区网格划分 2026 (Dongcheng grid plan 2026)"
LAYOUT_FROM = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(hours=8)
#: Tolerance for routing a point just outside every grid to the nearest one (metres).
NEAREST_TOLERANCE_M = 50.0

Say = Callable[[str], None]


def is_empty(session: Session) -> bool:
    sql = "SELECT EXISTS (SELECT 1 FROM street) OR EXISTS (SELECT 1 FROM grid_layout)"
    return not session.execute(text(sql)).scalar()


def _load_csv(session: Session, table: str, path: Path, columns: list[str]) -> int:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:
        rows = [tuple((r[c] if r[c] != "" else None) for c in columns) for r in csv.DictReader(fh)]
    _copy_rows(session, table, columns, rows, None)
    return len(rows)


def load_sample(session: Session, *, directory: Path = SAMPLE_DIR, now: datetime | None = None,
                say: Say = lambda _m: None) -> dict[str, int]:
    """Load the sample district inside the caller's transaction; returns row counts per table."""
    artefact = directory / ARTEFACT.name
    now = now or datetime.now(UTC)
    counts: dict[str, int] = {}
    counts["category"] = _load_csv(session, "category", directory / "categories.csv",
                                   ["code", "name", "name_en", "kind", "major_code", "major_name", "major_name_en",
                                    "time_limit_hours"])
    counts["department"] = _load_csv(session, "department", directory / "departments.csv", ["code", "name", "name_en"])

    for layer in ("streets", "communities"):
        res = import_layer(session, layer=layer, path=artefact, source_layer=layer)
        counts[layer] = res.rows_imported
        say(f"{layer}: {res.rows_imported}")
    res = import_layer(session, layer="grids", path=artefact, source_layer="grids", layout=LAYOUT_NAME)
    assert res.layout_id is not None
    publish_layout(session, layout_id=res.layout_id, effective_from=LAYOUT_FROM)
    counts["grids"] = res.rows_imported
    say(f"grids: {res.rows_imported} (layout {res.layout_id}, in force from 2026-01-01 Beijing time)")
    for layer in ("buildings", "facilities"):
        res = import_layer(session, layer=layer, path=artefact, source_layer=layer)
        counts[layer] = res.rows_imported
        say(f"{layer}: {res.rows_imported}")

    counts["person"] = _load_people(session, directory / "people.csv.gz")
    say(f"people: {counts['person']}")
    shift = timedelta(days=7 * max(0, (now - REFERENCE_DATE).days // 7))
    counts.update(_load_reports(session, artefact, shift=shift))
    say(f"reports: {counts['report']} (routed {counts['routed']}, cases {counts['cases']}, "
        f"events {counts['case_event']})")
    session.execute(text("ANALYZE"))
    return counts


def _load_people(session: Session, path: Path) -> int:
    session.execute(text("""CREATE TEMP TABLE _people (name text, role text, phone text, grid_code text,
                            building_code text, community_code text, on_duty text) ON COMMIT DROP"""))
    n = _load_csv(session, "_people", path,
                  ["name", "role", "phone", "grid_code", "building_code", "community_code", "on_duty"])
    session.execute(text("""
        INSERT INTO person (name, role, phone, grid_code, building_id, community_code, on_duty)
        SELECT p.name, p.role, p.phone, p.grid_code, b.id, p.community_code,
               coalesce(lower(p.on_duty) IN ('true', '1', 't', 'yes'), false)
        FROM _people p LEFT JOIN building b ON b.code = p.building_code"""))
    return n


def _load_reports(session: Session, artefact: Path, *, shift: timedelta) -> dict[str, int]:
    df = pyogrio.read_dataframe(artefact, layer="reports")
    geoms = np.asarray(df.geometry.values, dtype=object)
    reported = [datetime.fromisoformat(s) + shift for s in df["reported_at"]]
    closed = [None if not isinstance(s, str) or not s else datetime.fromisoformat(s) + shift for s in df["closed_at"]]
    rating = [None if r is None or r != r else int(r) for r in df["rating"]]
    session.execute(text("""CREATE TEMP TABLE _reports (
        n integer, source text, external_id text, category_code text, description text,
        raw_x double precision, raw_y double precision, reported_at timestamptz, location geometry(Point, 4326),
        status text, closed_at timestamptz, rating smallint) ON COMMIT DROP"""))
    rows = list(zip(range(len(df)), df["source"], df["external_id"], df["category_code"], df["description"],
                    shapely.get_x(geoms).tolist(), shapely.get_y(geoms).tolist(), reported, _ewkb(geoms),
                    df["status"], closed, rating, strict=True))
    _copy_rows(session, "_reports", [
        "n", "source", "external_id", "category_code", "description", "raw_x", "raw_y", "reported_at", "location",
        "status", "closed_at", "rating"], rows, None)
    for sql in (
        "ALTER TABLE _reports ADD COLUMN report_id bigint",
        """WITH ins AS (
            INSERT INTO report (source, external_id, category_code, description, raw_x, raw_y, raw_crs,
                                reported_at, received_at, location)
            SELECT source, external_id, category_code, description, raw_x, raw_y, 'wgs84', reported_at,
                   reported_at + interval '2 seconds', location
            FROM _reports ORDER BY n
            RETURNING id, source, external_id)
        UPDATE _reports r SET report_id = ins.id FROM ins
        WHERE ins.source = r.source AND ins.external_id = r.external_id""",
        "CREATE INDEX ON _reports (report_id)",
        "ANALYZE _reports",
        # Routing, set-based: the layout in force at the report's time; covered by one grid ->
        # 'inside', by several (a shared edge) -> 'edge', the smallest code wins and the others are
        # listed; else the nearest grid within the tolerance; else 'unrouted' (kept and flagged).
        """CREATE TEMP TABLE _route ON COMMIT DROP AS
        SELECT r.report_id, r.reported_at, l.id AS layout_id, cov.codes
        FROM _reports r
        LEFT JOIN grid_layout l ON l.status IN ('published', 'retired')
             AND tstzrange(l.effective_from, l.effective_to, '[)') @> r.reported_at
        LEFT JOIN LATERAL (
            SELECT array_agg(g.code ORDER BY g.code) AS codes FROM grid g
            WHERE g.layout_id = l.id AND ST_Covers(g.boundary, r.location)) cov ON true""",
        """INSERT INTO routing (report_id, layout_id, grid_code, method, distance_m, candidates, decided_at)
        SELECT report_id, layout_id, codes[1], CASE WHEN cardinality(codes) = 1 THEN 'inside' ELSE 'edge' END, 0,
               to_jsonb(codes[2:]), reported_at + interval '2 seconds'
        FROM _route WHERE codes IS NOT NULL""",
        """INSERT INTO routing (report_id, layout_id, grid_code, method, distance_m, candidates, reason, decided_at)
        SELECT r.report_id, r.layout_id,
               CASE WHEN near.d <= :tol THEN near.code END,
               CASE WHEN near.d <= :tol THEN 'nearest' ELSE 'unrouted' END,
               round(near.d::numeric, 1),
               '[]'::jsonb,
               CASE WHEN near.d <= :tol THEN NULL ELSE 'outside_coverage' END,
               r.reported_at + interval '2 seconds'
        FROM _route r
        JOIN _reports x ON x.report_id = r.report_id
        CROSS JOIN LATERAL (
            SELECT g.code, ST_Distance(g.boundary::geography, x.location::geography) AS d
            FROM grid g WHERE g.layout_id = r.layout_id
            ORDER BY g.boundary <-> x.location LIMIT 1) near
        WHERE r.codes IS NULL""",
    ):
        session.execute(text(sql), {"tol": NEAREST_TOLERANCE_M} if ":tol" in sql else {})
    # Cases and their event history. Deadlines come from the category's time limit.
    session.execute(text("""
        INSERT INTO cases (report_id, layout_id, grid_code, category_code, status, deadline, created_at, updated_at,
                           closed_at, rating, assignee_id)
        SELECT r.report_id, rt.layout_id, rt.grid_code, r.category_code, r.status,
               r.reported_at + make_interval(secs => c.time_limit_hours * 3600),
               r.reported_at, coalesce(r.closed_at, r.reported_at), CASE WHEN r.status = 'closed' THEN
                 coalesce(r.closed_at, r.reported_at + interval '1 day') END,
               CASE WHEN r.status = 'closed' THEN r.rating END,
               (SELECT p.id FROM person p WHERE p.grid_code = rt.grid_code AND p.role = 'grid_worker'
                ORDER BY p.on_duty DESC, p.id LIMIT 1)
        FROM _reports r
        JOIN routing rt ON rt.report_id = r.report_id
        JOIN category c ON c.code = r.category_code
        ORDER BY r.n;
    """))
    session.execute(text("""
        WITH paths AS (
            SELECT k.id, k.created_at, coalesce(k.closed_at, k.created_at + interval '6 hours') AS ends,
                   CASE k.status
                     WHEN 'reported' THEN ARRAY['reported']
                     WHEN 'registered' THEN ARRAY['reported','registered']
                     WHEN 'dispatched' THEN ARRAY['reported','registered','dispatched']
                     WHEN 'in_progress' THEN ARRAY['reported','registered','dispatched','in_progress']
                     WHEN 'resolved' THEN ARRAY['reported','registered','dispatched','in_progress','resolved']
                     WHEN 'verified' THEN ARRAY['reported','registered','dispatched','in_progress','resolved',
                                                'verified']
                     WHEN 'closed' THEN ARRAY['reported','registered','dispatched','in_progress','resolved',
                                              'verified','closed']
                     WHEN 'escalated' THEN ARRAY['reported','registered','dispatched','escalated']
                     WHEN 'returned' THEN ARRAY['reported','registered','dispatched','in_progress','resolved',
                                                'returned']
                     WHEN 'rejected' THEN ARRAY['reported','rejected']
                   END AS steps
            FROM cases k)
        INSERT INTO case_event (case_id, at, actor, from_status, to_status, note)
        SELECT p.id,
               p.created_at + (p.ends - p.created_at) * (s.i - 1) / greatest(cardinality(p.steps) - 1, 1),
               CASE WHEN s.i = 1 THEN 'intake' ELSE 'sample-history' END,
               CASE WHEN s.i = 1 THEN NULL ELSE p.steps[s.i - 1] END,
               p.steps[s.i],
               CASE WHEN s.i = 1 THEN 'report received' END
        FROM paths p CROSS JOIN LATERAL generate_subscripts(p.steps, 1) AS s(i)
        ORDER BY p.id, s.i;
    """))
    counts = session.execute(text("""
        SELECT (SELECT count(*) FROM report) AS report,
               (SELECT count(*) FROM routing WHERE method <> 'unrouted') AS routed,
               (SELECT count(*) FROM routing) AS routing,
               (SELECT count(*) FROM cases) AS cases,
               (SELECT count(*) FROM case_event) AS case_event""")).mappings().one()
    return dict(counts)
