"""The hourly heat horizon (migration 0011): hour roll-ups only from the horizon on, partial days before it
counted from the raw cases, and every count still equal to a scan of the cases, also after a bulk import."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.reports.bulk import import_reports
from api.wall.filters import TZ
from api.wall.heat import advance_hourly_horizon, hourly_since, hourly_target, plan_minutes, split_window
from api.wall.rollups import heat_cells
from tests.api.reports.test_bulk import archive, heat
from tests.api.wall.test_wall import raw_cells, sql_count

EVERYTHING = "115.50,39.30,118.50,40.50"  # the district and the archive's reports outside it
HOURLY = ("case_heat_hour", "case_heat_cell_hour", "case_heat_dim_hour")


def test_hours_before_the_horizon_go_to_the_raw_cases() -> None:
    t0, t1 = datetime(2026, 11, 1, 7, 30, tzinfo=TZ), datetime(2026, 11, 5, 15, 10, tzinfo=TZ)
    plain = split_window(t0, t1)
    assert split_window(t0, t1, datetime(2026, 10, 1, tzinfo=TZ)) == plain  # horizon before the window
    cut = split_window(t0, t1, datetime(2026, 11, 3, tzinfo=TZ))  # between the two partial days
    assert cut.raw == plain.raw and cut.days == plain.days
    assert cut.old == [plain.hours[0]] and cut.hours == [plain.hours[1]]
    mid = split_window(t0, t1, datetime(2026, 11, 1, 12, 20, tzinfo=TZ))  # inside the first partial day
    first = plain.hours[0]
    assert mid.old == [(first[0], datetime(2026, 11, 1, 13, tzinfo=TZ))]  # up to the next whole hour
    assert mid.hours == [(datetime(2026, 11, 1, 13, tzinfo=TZ), first[1]), plain.hours[1]]
    late = split_window(t0, t1, datetime(2026, 12, 1, tzinfo=TZ))
    assert late.hours == [] and late.old == plain.hours and late.days == plain.days
    # A partial hour before the horizon is never answered from its (absent) hour bucket.
    now = datetime(2026, 11, 10, tzinfo=TZ)
    edge = [(datetime(2026, 11, 3, 15, 5, tzinfo=TZ), datetime(2026, 11, 3, 16, tzinfo=TZ))]
    assert plan_minutes(edge, now).hours  # the cheaper side: the bucket less five minutes
    assert plan_minutes(edge, now, datetime(2026, 11, 4, tzinfo=TZ)).plus == edge


def test_the_target_is_a_local_midnight() -> None:
    now = datetime(2026, 11, 23, 3, 30, tzinfo=TZ)
    assert hourly_target(40, now) == datetime(2026, 10, 14, tzinfo=TZ)


def test_cells_equal_postgresql(db: Session) -> None:
    import numpy as np

    rows = db.execute(text("SELECT ST_X(location), ST_Y(location), gridmap_cell_x(ST_X(location)), "
                           "gridmap_cell_y(ST_Y(location)) FROM report WHERE location IS NOT NULL")).all()
    arr = np.array(rows, dtype=float)
    # and points exactly on cell edges, where the last bit decides
    edge_x = np.arange(107400, 107500) / 131072 * 360.0 - 180.0
    extra = db.execute(text("SELECT x, gridmap_cell_x(x), gridmap_cell_y(y) FROM unnest(CAST(:x AS float8[])) "
                            "WITH ORDINALITY u(x, i) JOIN unnest(CAST(:y AS float8[])) WITH ORDINALITY v(y, j) "
                            "ON i = j"), {"x": edge_x.tolist(), "y": (39.9 + edge_x * 0).tolist()}).all()
    cx, cy = heat_cells(arr[:, 0], arr[:, 1])
    assert (cx == arr[:, 2]).all() and (cy == arr[:, 3]).all() and len(rows) > 1000
    ex, _ = heat_cells(edge_x, 39.9 + edge_x * 0)
    assert ex.tolist() == [r[1] for r in extra]


def _horizon(db: Session) -> datetime:
    """Move the horizon to the local midnight before the median of the sample reports the test archive is
    drawn from, and prune: about half of them fall before it."""
    median = db.execute(text("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY reported_at) FROM (SELECT "
                             "reported_at FROM report WHERE location IS NOT NULL ORDER BY id LIMIT 5000) r")
                        ).scalar_one()
    target = median.astimezone(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    assert advance_hourly_horizon(db, days=0, now=target) == target  # moved (days=0: target itself)
    assert db.execute(text("SELECT count(*) FROM case_heat_cell_hour WHERE hour < :t"), {"t": target}
                      ).scalar_one() > 0  # deleted one call later, not yet
    assert advance_hourly_horizon(db, days=0, now=target - timedelta(days=5)) == target  # never back
    for table in HOURLY:
        assert db.execute(text(f"SELECT count(*) FROM {table} WHERE hour < :t"), {"t": target}).scalar_one() == 0
    assert hourly_since(db) == target
    return target


def test_a_bulk_import_writes_hour_rows_from_the_horizon_on_and_counts_stay_exact(client, auth, db: Session) -> None:
    since = _horizon(db)
    frame = archive(db)
    res = import_reports(db, frame=frame, history=False)
    assert res.imported == len(frame)
    before_since = db.execute(text("SELECT count(*) FROM report WHERE external_id LIKE 'T-%' AND reported_at < :t"),
                              {"t": since}).scalar_one()
    assert 100 < before_since < len(frame) - 100  # the archive lands on both sides of the horizon
    for table in HOURLY:
        assert db.execute(text(f"SELECT count(*) FROM {table} WHERE hour < :t"), {"t": since}).scalar_one() == 0
    added = heat(db)
    db.execute(text("SELECT gridmap_heat_rebuild()"))  # from scratch, with the same horizon
    assert heat(db) == added
    # Windows with edges before, across and after the horizon; partial hours and partial days at both ends.
    for start, end in [(-9, -2), (-3, 4), (2, 9), (-40, 20)]:
        t0 = since + timedelta(days=start, hours=5, minutes=17)
        t1 = since + timedelta(days=end, hours=13, minutes=41)
        for params in ({}, {"category": frame["category_code"].iloc[0]}, {"status": "closed", "source": "archive"}):
            resp = client.get("/api/v1/wall/heatmap", headers=auth(), params={
                "bbox": EVERYTHING, "zoom": 13, "window": "custom", "since": t0.isoformat(), "until": t1.isoformat(),
                **params})
            assert resp.status_code == 200, resp.text
            body = resp.json()
            cells = {(x, y): n for x, y, n in body["cells"]}
            assert cells == raw_cells(db, t0, t1, body["level"], params), (start, end, params)
            if not params:
                assert body["total"] == sql_count(db, t0, t1) > 0


def test_live_changes_to_cases_before_the_horizon_touch_day_rows_only(db: Session) -> None:
    since = _horizon(db)
    old = db.execute(text("""SELECT c.id FROM cases c JOIN report r ON r.id = c.report_id
                             WHERE r.reported_at < :t AND c.status <> 'closed' AND r.location IS NOT NULL
                             LIMIT 50"""), {"t": since}).scalars().all()
    assert old
    day_before = db.execute(text("SELECT sum(n) FROM case_heat_dim_day WHERE dim = 's' AND val = 'closed'")
                            ).scalar_one()
    db.execute(text("UPDATE cases SET status = 'closed', closed_at = updated_at WHERE id = ANY(:ids)"),
               {"ids": list(old)})
    assert db.execute(text("SELECT sum(n) FROM case_heat_dim_day WHERE dim = 's' AND val = 'closed'")
                      ).scalar_one() == day_before + len(old)
    for table in HOURLY:
        assert db.execute(text(f"SELECT count(*) FROM {table} WHERE hour < :t"), {"t": since}).scalar_one() == 0
    moved = heat(db)
    db.execute(text("SELECT gridmap_heat_rebuild()"))
    assert heat(db) == moved


@pytest.mark.parametrize("window", ["1h", "today", "7d", "30d"])
def test_preset_windows_stay_inside_the_default_horizon(window: str) -> None:
    from api.core.config import Settings
    from api.wall.filters import parse_filters

    now = datetime.now(TZ)
    f = parse_filters(window=window, since=None, until=None, category=None, status=None, source=None, now=now)
    since = hourly_target(Settings().heat_hourly_days, now)
    assert split_window(f.since, f.until, since).old == []
