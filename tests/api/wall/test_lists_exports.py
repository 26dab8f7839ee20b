"""The wall's paged lists, its CSV/XLSX exports (filters written in the file), the default window, and the
timeline notes given as codes."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.wall.exports import overdue_text, rows, strings
from tests.api.test_read_api import assert_problem


def overdue_sql(db: Session, source: str | None = None) -> int:
    return db.execute(text("""SELECT count(*) FROM cases c JOIN report r ON r.id = c.report_id
        WHERE c.status NOT IN ('closed', 'rejected') AND c.deadline < now()
          AND (CAST(:src AS text) IS NULL OR r.source = :src)"""), {"src": source}).scalar_one()


def test_the_default_window_is_the_last_24_hours_and_configurable(client, auth, monkeypatch) -> None:
    h = auth("viewer")
    s = client.get("/api/v1/wall/summary", headers=h).json()
    assert s["window"] == "24h" and s["trend"]["bucket"] == "hour"
    assert 23.9 * 3600 < (__import__("datetime").datetime.fromisoformat(s["until"])
                          - __import__("datetime").datetime.fromisoformat(s["since"])).total_seconds() < 24.3 * 3600
    assert Settings(wall_default_window="7d").wall_default_window == "7d"
    with pytest.raises(ValueError, match="must be one of"):
        Settings(wall_default_window="custom")


def test_lists_page_through_every_overdue_case(client, auth, db: Session) -> None:
    h = auth("viewer")
    total = overdue_sql(db)
    assert total > 20
    seen: list[int] = []
    first = client.get("/api/v1/wall/lists/overdue", params={"limit": 500}, headers=h).json()
    assert first["total"] == total
    for offset in range(0, total, 500):
        page = client.get("/api/v1/wall/lists/overdue", params={"limit": 500, "offset": offset}, headers=h).json()
        seen += [r["id"] for r in page["items"]]
    assert len(seen) == len(set(seen)) == total
    assert_problem(client.get("/api/v1/wall/lists/everything", headers=h), 422, "validation_error")
    assert_problem(client.get("/api/v1/wall/lists/overdue", params={"limit": 0}, headers=h), 422, "validation_error")


def test_csv_export_has_the_filters_and_every_row(client, auth, db: Session) -> None:
    r = client.get("/api/v1/wall/export/overdue.csv", params={"source": "patrol", "lang": "zh-CN"},
                   headers=auth("viewer"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="gridmap-overdue-' in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["超期案件清单"] and rows[1][0] == "生成时间"
    head = {row[0]: row[1] for row in rows[2:6]}
    assert head["来源"] == "网格巡查" and head["类别"] == "全部" and head["时间范围"].startswith("近24小时: ")
    assert rows[7][0] == "案件编号"
    body = rows[8:]
    assert len(body) == overdue_sql(db, "patrol") > 0
    assert {row[6] for row in body} == {"网格巡查"}


def test_xlsx_export_in_english(client, auth, db: Session) -> None:
    r = client.get("/api/v1/wall/export/cases.xlsx", params={"window": "7d", "status": "escalated,closed",
                                                            "lang": "en"}, headers=auth("viewer"))
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = [list(x) for x in ws.iter_rows(values_only=True)]
    assert rows[0][0] == "Cases (filtered)" and ws.title == "Cases"
    head = {row[0]: row[1] for row in rows[2:6]}
    assert head["Status"] == "Escalated, Closed" and head["Time window"].startswith("7 days: ")
    body = [row for row in rows[8:] if row[0] is not None]
    n = db.execute(text("""SELECT count(*) FROM cases c JOIN report r ON r.id = c.report_id
        WHERE r.reported_at >= now() - interval '7 days' AND c.status IN ('escalated', 'closed')""")).scalar_one()
    assert len(body) == n > 0 and {row[3] for row in body} <= {"Escalated", "Closed"}


def test_overdue_reads_in_days_and_hours() -> None:
    from api.core.config import get_settings

    zh, en = (strings(get_settings().web_dir, lang) for lang in ("zh-CN", "en"))
    assert overdue_text(zh, 2127.4) == "超期 88 天 15 小时"
    assert overdue_text(en, 2127.4) == "88 d 15 h overdue"
    assert overdue_text(zh, 5.2) == "超期 5 小时" and overdue_text(zh, -1) == ""
    # in the overdue list a case late by less than the 0.1 h rounding is still overdue
    row = {"id": 1, "category": "E01001", "category_name": "x", "status": "in_progress", "grid_code": None,
           "source": "patrol", "reported_at": None, "deadline": None, "updated_at": None, "overdue_hours": 0.0}
    assert rows(zh, [row], "zh-CN", "overdue")[0][9] == "超期 0 小时"
    assert rows(zh, [row], "zh-CN", "open")[0][9] == ""


def test_case_detail_gives_note_codes(client, auth, db: Session) -> None:
    case_id = db.execute(text("""SELECT case_id FROM case_event WHERE note = 'imported report' LIMIT 1""")).scalar()
    if case_id is None:
        pytest.skip("no imported history in the sample")
    events = client.get(f"/api/v1/wall/cases/{case_id}", headers=auth("viewer")).json()["events"]
    assert (events[0]["note_code"], events[0]["note_params"]) == ("imported", None)  # stored by the import
