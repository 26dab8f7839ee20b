"""The working calendar: every day of a covered year as the library has it, local exceptions, and the
deadline rule (``gridmap_deadline``) on the intake and bulk-import paths."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import httpx
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.reports.bulk import _deadlines
from geo.workcal import covered_years
from tests.api.conftest import problem

pytestmark = pytest.mark.usefixtures("quiet_app")
BJ = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize("year", [2026, 2027])
def test_calendar_matches_the_library(year: int, client: httpx.Client, auth) -> None:
    resp = client.get(f"/api/v1/calendar?year={year}", headers=auth("viewer"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    days = body["days"]
    first = dt.date(year, 1, 1)
    assert body["year"] == year and len(days) == (dt.date(year + 1, 1, 1) - first).days
    assert [d["date"] for d in days] == [str(first + dt.timedelta(i)) for i in range(len(days))]
    if year in covered_years():
        assert body["source"] == "chinese-calendar"
        for d in days:
            assert d["workday"] == chinese_calendar.is_workday(dt.date.fromisoformat(d["date"])), d
    else:  # the library has no notice for it: weekends only, said so, no holidays invented
        with pytest.raises(NotImplementedError):
            chinese_calendar.is_workday(first)
        assert body["source"] == "weekends only"
        assert all(d["workday"] == (dt.date.fromisoformat(d["date"]).isoweekday() < 6) for d in days)
        assert {d["kind"] for d in days} == {"workday", "weekend"} and not any(d["name"] for d in days)


def test_named_days_2026(client: httpx.Client, auth) -> None:
    days = {d["date"]: d for d in client.get("/api/v1/calendar?year=2026", headers=auth("dispatcher")).json()["days"]}
    assert days["2026-01-01"] == {"date": "2026-01-01", "workday": False, "name": "元旦", "kind": "holiday"}
    assert days["2026-10-01"]["name"] == "国庆节" and not days["2026-10-07"]["workday"]
    assert days["2026-10-10"] == {"date": "2026-10-10", "workday": True, "name": "国庆节调休",
                                  "kind": "makeup_workday"}  # a Saturday worked
    assert days["2026-10-17"]["kind"] == "weekend"


def test_who_reads_the_calendar(client: httpx.Client, auth) -> None:
    for role in ("admin", "dispatcher", "operator", "planner", "worker", "viewer"):
        assert client.get("/api/v1/calendar?year=2026", headers=auth(role)).status_code == 200, role
    problem(client.get("/api/v1/calendar?year=2026", headers=auth("intake")), 403, "forbidden")
    problem(client.get("/api/v1/calendar?year=99999", headers=auth("viewer")), 422, "validation_error")


def test_local_exceptions(client: httpx.Client, auth, db: Session) -> None:
    h = auth("admin")
    body = {"date": "2026-10-16", "workday": False, "name": "区运动会停工"}
    resp = client.post("/api/v1/calendar/exceptions", json=body, headers=h)
    assert resp.status_code == 201, resp.text
    assert resp.json()["created_by"] == "key:test admin"
    problem(client.post("/api/v1/calendar/exceptions", json=body, headers=h), 409, "calendar_exception_exists")
    problem(client.post("/api/v1/calendar/exceptions", json=body, headers=auth("dispatcher")), 403, "forbidden")
    days = {d["date"]: d for d in client.get("/api/v1/calendar?year=2026", headers=h).json()["days"]}
    assert days["2026-10-16"] == {"date": "2026-10-16", "workday": False, "name": "区运动会停工", "kind": "local"}
    listed = client.get("/api/v1/calendar/exceptions?year=2026", headers=auth("viewer")).json()["items"]
    assert [e["date"] for e in listed] == ["2026-10-16"]
    # the deadline rule skips the local day off: Thu 10-15 16:00 + 2 working hours → Mon 10-19 10:00
    start = dt.datetime(2026, 10, 15, 16, tzinfo=BJ)
    got = db.execute(text("SELECT gridmap_deadline(:s, 2, 'working_hours')"), {"s": start}).scalar_one()
    assert got == dt.datetime(2026, 10, 19, 10, tzinfo=BJ)
    assert client.delete("/api/v1/calendar/exceptions/2026-10-16", headers=h).status_code == 204
    problem(client.delete("/api/v1/calendar/exceptions/2026-10-16", headers=h), 404, "not_found")
    got = db.execute(text("SELECT gridmap_deadline(:s, 2, 'working_hours')"), {"s": start}).scalar_one()
    assert got == dt.datetime(2026, 10, 16, 10, tzinfo=BJ)
    audited = db.execute(text("""SELECT count(*) FROM audit_log WHERE path LIKE '/api/v1/calendar/exceptions%'
                                 AND method IN ('POST', 'DELETE')""")).scalar_one()
    assert audited >= 2


def test_intake_deadline_across_national_day(client: httpx.Client, auth, db: Session, grid_a) -> None:
    """Reported Wed 30 Sep 2026 10:00 in a category of 3 working days (24 office hours): 7 h that day, 1–7 Oct
    off, Thu 8 and Fri 9 Oct 16 h, the last hour on Saturday 10 Oct, a make-up working day (调休)."""
    unit = db.execute(text("SELECT time_limit_unit, time_limit_hours FROM category WHERE code = 'G01001'")).one()
    assert tuple(unit) == ("working_days", 3)
    body = {"source": "hotline", "category": "G01001", "lon": grid_a.lon, "lat": grid_a.lat,
            "reported_at": "2026-09-30T10:00:00+08:00", "description": "楼上漏水"}
    resp = client.post("/api/v1/reports", json=body, headers=auth("operator"))
    assert resp.status_code == 201, resp.text
    deadline = dt.datetime.fromisoformat(resp.json()["case"]["deadline"])
    assert deadline == dt.datetime(2026, 10, 10, 10, tzinfo=BJ)
    # a clock-hours category is untouched by the calendar: 48 h straight through the holiday
    resp = client.post("/api/v1/reports", json={**body, "category": "C01001"}, headers=auth("operator"))
    assert dt.datetime.fromisoformat(resp.json()["case"]["deadline"]) == dt.datetime(2026, 10, 2, 10, tzinfo=BJ)


def test_bulk_deadlines_use_the_same_rule(db: Session) -> None:
    start = np.array(["2026-09-30T02:00", "2026-09-30T02:00"], dtype="datetime64[ns]")  # 10:00 Beijing
    out = _deadlines(db, start=start, categories=np.array(["G01001", "C01001"]),
                     limits={"G01001": (3.0, "working_days"), "C01001": (48.0, "hours")})
    assert list(out) == [np.datetime64("2026-10-10T02:00", "ns"), np.datetime64("2026-10-02T02:00", "ns")]


@pytest.mark.parametrize(("start", "amount", "unit", "want"), [
    ("2026-10-09 16:30", 1, "working_hours", "2026-10-10 09:30"),  # Fri → make-up Saturday
    ("2026-10-10 20:00", 1, "working_days", "2026-10-12 17:00"),   # after hours → all of Monday
    ("2026-12-31 16:00", 2, "working_hours", "2027-01-01 10:00"),  # 2027 not covered: weekends only, so
    # 1 Jan 2027 counts as a working day until the library has the 2027 notice (README says so)
    ("2026-02-13 12:00", 8, "working_hours", "2026-02-14 12:00"),  # 春节 make-up Saturday 14 Feb
    ("2026-10-01 00:00", 5, "hours", "2026-10-01 05:00"),
])
def test_deadline_rule(start: str, amount: float, unit: str, want: str, db: Session) -> None:
    got = db.execute(text("SELECT gridmap_deadline(CAST(:s AS timestamp) AT TIME ZONE 'Asia/Shanghai', :a, :u)"),
                     {"s": start, "a": amount, "u": unit}).scalar_one()
    assert got == dt.datetime.fromisoformat(want).replace(tzinfo=BJ)
