"""Loading the sample district (sample_data/) into an empty database.

The spatial layers go through the same import path as any user's file (api.imports.service), so
the sample exercises it on every set-up. Reports are then routed set-based in PostGIS and given
cases and an event history, so that the map, the workload figures and the case views have a
realistic past to show.

Report times in the artefact end at a fixed reference date (for reproducible generation); they
are shifted forward by whole days at load time so that "yesterday" and "the last 30 days" mean
something on the day the sample is loaded (hours of the day keep their pattern).
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.addresses.sample import load_sample_registry
from api.core.config import ROOT
from api.core.pgload import copy_rows
from api.grids.service import publish_layout
from api.imports.service import import_layer
from api.reports.bulk import import_reports

SAMPLE_DIR = ROOT / "sample_data"
ARTEFACT = SAMPLE_DIR / "dongcheng.gpkg.zip"
ROADS = SAMPLE_DIR / "roads.gpkg"
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
    copy_rows(session, table, columns, rows, None)
    return len(rows)


def load_sample(session: Session, *, directory: Path = SAMPLE_DIR, now: datetime | None = None,
                say: Say = lambda _m: None) -> dict[str, int]:
    """Load the sample district inside the caller's transaction; returns row counts per table."""
    artefact = directory / ARTEFACT.name
    now = now or datetime.now(UTC)
    counts: dict[str, int] = {}
    counts["category"] = _load_csv(session, "category", directory / "categories.csv",
                                   ["code", "name", "name_en", "kind", "major_code", "major_name", "major_name_en",
                                    "time_limit_hours", "after_photo_required", "time_limit_unit"])
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
    if (directory / ROADS.name).exists():  # the road network (issue 20, sample_data/roads.py)
        res = import_layer(session, layer="roads", path=directory / ROADS.name, source_layer="roads")
        counts["roads"] = res.rows_imported
        say(f"roads: {res.rows_imported}")

    counts.update(load_sample_registry(session))  # the standard address registry (api/addresses/sample.py)
    counts["person"] = _load_people(session, directory / "people.csv.gz")
    say(f"people: {counts['person']}")
    from api.users.seed import load_demo_users  # one demo user per role (sample_data/users.csv)

    counts["app_user"] = load_demo_users(session, path=directory / "users.csv")
    say(f"demo users: {counts['app_user']} (passwords in sample_data/README.md)")
    shift = timedelta(days=max(0, (now - REFERENCE_DATE).days))
    counts.update(_load_reports(session, artefact, shift=shift))
    say(f"reports: {counts['report']} (routed {counts['routed']}, cases {counts['cases']}, "
        f"events {counts['case_event']})")
    counts["followup"] = _follow_ups(session)
    say(f"follow-ups: {counts['followup']}")
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
    frame = pd.DataFrame(df.drop(columns=df.geometry.name))
    frame["_x"], frame["_y"] = shapely.get_x(geoms), shapely.get_y(geoms)
    for col in ("reported_at", "closed_at"):
        frame[col] = (pd.to_datetime(frame[col], format="ISO8601", utc=True) + shift).dt.strftime(
            "%Y-%m-%dT%H:%M:%S%z")
    res = import_reports(session, frame=frame, tolerance_m=NEAREST_TOLERANCE_M, history=True)
    return {"report": res.imported, "routed": res.routed, "cases": res.imported, "case_event": res.events}


#: The history's follow-ups (回访, issue 19), drawn per case from a hash of its id (the same on every load): how
#: the resident was reached, the share whose problem was still unsolved by verdict, the share of dissatisfied
#: cases that were reopened (重办) and handled again before closing. Satisfaction comes from the generated 1-5
#: rating (sample_data/generate.py RATING_P, mapped as migration 0026 maps stored ratings).
FOLLOWUP_CHANNELS = (("phone", 0.86), ("sms", 0.92), ("wechat", 0.97), ("visit", 1.0))  # cumulative shares
UNSOLVED_P = {"satisfied": 0.01, "basically_satisfied": 0.15, "dissatisfied": 0.55}
REOPENED_P = 0.5
#: Which department a category's major class goes to, and the share of those cases dispatched to it (the
#: rest are handled by the grid's own worker, to whom the history's handled cases are assigned; open ones stay
#: unassigned as intake would leave a history import, so the worker screens' queues are unchanged).
DEPARTMENT_OF_MAJOR = {"公用设施": "D09", "市容环境": "D06", "园林绿化": "D07", "街面秩序": "D01", "宣传广告": "D01",
                       "施工管理": "D01", "道路交通": "D08", "安全隐患": "D04", "突发事件": "D04", "房屋土地": "D05",
                       "民生服务": "D13", "矛盾纠纷": "D03", "特殊人群": "D12"}
DEPARTMENT_P = 0.3


def _follow_ups(session: Session) -> int:
    """Assign the history's cases (grid worker, department) and record its follow-ups, set-based."""
    u = "((hashtext(c.id::text || :salt) & 65535) / 65536.0)"  # a uniform draw per case and salt
    channel = "CASE " + " ".join(f"WHEN {u} < {p} THEN '{name}'" for name, p in FOLLOWUP_CHANNELS[:-1]) + \
        f" ELSE '{FOLLOWUP_CHANNELS[-1][0]}' END"
    session.execute(text("""
        UPDATE cases c SET assignee_id = w.id
        FROM (SELECT DISTINCT ON (grid_code) grid_code, id FROM person WHERE role = 'grid_worker' AND active
              ORDER BY grid_code, on_duty DESC, id) w
        WHERE w.grid_code = c.grid_code AND c.assignee_id IS NULL
          AND c.status IN ('resolved', 'verified', 'closed')"""))
    majors = list(DEPARTMENT_OF_MAJOR.items())
    session.execute(text(f"""
        UPDATE cases c SET department_code = m.dept
        FROM category cat, (SELECT * FROM unnest(CAST(:names AS text[]), CAST(:depts AS text[])) AS x(name, dept)) m
        WHERE cat.code = c.category_code AND m.name = cat.major_name AND c.status <> 'rejected'
          AND {u} < :p"""),
        {"names": [m for m, _ in majors], "depts": [d for _, d in majors], "salt": "dept", "p": DEPARTMENT_P})
    n = session.execute(text(f"""
        WITH f AS (
            SELECT c.id, c.closed_at,
                   CASE WHEN c.rating >= 4 THEN 'satisfied' WHEN c.rating = 3 THEN 'basically_satisfied'
                        ELSE 'dissatisfied' END AS satisfaction,
                   {channel.replace(":salt", "'ch'")} AS channel,
                   least(c.closed_at + make_interval(hours => 2 + (hashtext(c.id::text) & 47)), now()) AS at,
                   {u.replace(":salt", "'solved'")} AS draw_solved,
                   {u.replace(":salt", "'reopen'")} AS draw_reopen
            FROM cases c WHERE c.status = 'closed' AND c.rating IS NOT NULL
        ), upd AS (
            UPDATE cases c SET satisfaction = f.satisfaction, followup_channel = f.channel, followed_up_at = f.at,
                   followup_resolved = f.draw_solved >= CASE f.satisfaction WHEN 'satisfied' THEN :us
                                                     WHEN 'basically_satisfied' THEN :ub ELSE :ud END,
                   reopen_count = CASE WHEN f.satisfaction = 'dissatisfied' AND f.draw_reopen < :reopen THEN 1
                                       ELSE 0 END
            FROM f WHERE c.id = f.id
            RETURNING c.id, f.at, c.satisfaction, c.followup_resolved, c.followup_channel
        )
        INSERT INTO case_event (case_id, at, actor, from_status, to_status, kind, data)
        SELECT id, at, 'import-history', 'closed', 'closed', 'followup',
               jsonb_build_object('satisfaction', satisfaction, 'resolved', followup_resolved,
                                  'channel', followup_channel, 'reopen', false)
        FROM upd"""),
        {"us": UNSOLVED_P["satisfied"], "ub": UNSOLVED_P["basically_satisfied"], "ud": UNSOLVED_P["dissatisfied"],
         "reopen": REOPENED_P}).rowcount
    return n
