"""Bulk import of historical reports: routed per their own time, idempotent, refused rows named."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

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
