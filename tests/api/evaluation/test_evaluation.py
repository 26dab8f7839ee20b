"""Evaluation (考核评价) figures against values worked out by hand on a small fixture, its scope per role, the period
filter, the trend, and the XLSX export read back with openpyxl."""

from __future__ import annotations

import io
import time
from datetime import datetime, timedelta

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.evaluation.service import parse_period
from tests.api.conftest import problem

pytestmark = pytest.mark.usefixtures("quiet_app")
T = datetime.fromisoformat("2020-01-10T09:00:00+08:00")  # a month that holds only this fixture's cases
P = {"period": "2020-01"}


def _event(db: Session, case_id: int, frm: str, to: str, hours: float) -> None:
    db.execute(text("INSERT INTO case_event (case_id, actor, from_status, to_status, at) "
                    "VALUES (:c, 't', :f, :t, :at)"),
               {"c": case_id, "f": frm, "t": to, "at": T + timedelta(hours=hours)})


def _follow(db: Session, case_id: int, satisfaction: str, solved: bool, reopened: int = 0) -> None:
    db.execute(text("""UPDATE cases SET satisfaction = :s, followup_resolved = :r, followup_channel = 'phone',
                       followed_up_at = closed_at, reopen_count = :n WHERE id = :c"""),
               {"s": satisfaction, "r": solved, "n": reopened, "c": case_id})


@pytest.fixture
def cases(db: Session, make_case, grid_a, grid_b) -> dict[str, int]:
    """Deadline = report + 48 h for all (hours after the report below)."""
    c1 = make_case(grid_a, "closed", reported_at=T)        # registered 1, resolved 20: satisfied, solved
    _event(db, c1, "reported", "registered", 1)
    _event(db, c1, "in_progress", "resolved", 20)
    _follow(db, c1, "satisfied", True)
    c2 = make_case(grid_a, "closed", reported_at=T)        # registered 30 (late), resolved 60 (late): basic, unsolved
    _event(db, c2, "reported", "registered", 30)
    _event(db, c2, "in_progress", "resolved", 60)
    _follow(db, c2, "basically_satisfied", False)
    c3 = make_case(grid_a, "closed", reported_at=T)        # registered 2, resolved 10 and (reopened) 70: dissatisfied
    _event(db, c3, "reported", "registered", 2)
    _event(db, c3, "in_progress", "resolved", 10)
    _event(db, c3, "in_progress", "resolved", 70)
    _follow(db, c3, "dissatisfied", False, reopened=1)
    c4 = make_case(grid_a, "in_progress", reported_at=T)   # registered 3, open past its deadline
    _event(db, c4, "reported", "registered", 3)
    make_case(grid_a, "rejected", reported_at=T)           # not counted
    make_case(grid_a, "closed", reported_at=T - timedelta(days=30))  # another month
    b1 = make_case(grid_b, "closed", reported_at=T)        # registered 0.5, resolved 5: satisfied, solved
    _event(db, b1, "reported", "registered", 0.5)
    _event(db, b1, "in_progress", "resolved", 5)
    _follow(db, b1, "satisfied", True)
    db.execute(text("UPDATE cases SET department_code = 'D01' WHERE id IN (:a, :b)"), {"a": c1, "b": b1})
    db.flush()
    return {"c1": c1, "b1": b1}


@pytest.mark.usefixtures("cases")
def test_figures_per_grid_ranked(client: httpx.Client, auth, grid_a, grid_b) -> None:
    r = client.get("/api/v1/evaluation/units", params={"level": "grid", **P}, headers=auth("dispatcher"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period"] == {"label": "2020-01", "start": "2020-01-01", "end": "2020-01-31"}
    a, b = (next(x for x in body["items"] if x["code"] == g.code) for g in (grid_a, grid_b))
    counts = ("cases", "responded", "followed_up", "satisfied", "basically_satisfied", "dissatisfied", "judged",
              "solved", "due", "on_time", "resolved_once", "first_time", "reopened", "overdue")
    assert [a[k] for k in counts] == [4, 3, 3, 1, 1, 1, 3, 1, 4, 1, 3, 2, 1, 1]
    assert (a["response_rate"], a["resolution_rate"], a["satisfaction_rate"], a["on_time_rate"],
            a["first_time_rate"]) == (0.75, 0.3333, 0.6, 0.25, 0.6667)
    assert a["score"] == pytest.approx(49.5)  # 100 × (0.1 × 0.75 + 0.45 × 0.3333 + 0.45 × 0.6)
    assert [b[k] for k in counts] == [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0] and b["score"] == 100
    assert (b["rank"], a["rank"]) == (1, 2)
    assert body["total"]["cases"] == 5 and body["total"]["satisfaction_rate"] == round((2 + 0.8) / 4, 4)
    by_time = client.get("/api/v1/evaluation/units", params={"level": "grid", "sort": "on_time_rate", **P},
                         headers=auth("admin")).json()
    assert [x["code"] for x in by_time["items"]] == [grid_b.code, grid_a.code]


@pytest.mark.usefixtures("cases")
def test_levels_drill_down_and_scope(client: httpx.Client, auth, login, grid_a, grid_b) -> None:
    h = auth("dispatcher")
    street = client.get("/api/v1/evaluation/units", params={"level": "street", **P}, headers=h).json()
    assert sum(x["cases"] for x in street["items"]) == 5
    community = grid_a.code[:12]
    inside = client.get("/api/v1/evaluation/units", params={"level": "grid", "within": community, **P},
                        headers=h).json()
    assert {x["code"] for x in inside["items"]} == {g.code for g in (grid_a, grid_b) if g.code.startswith(community)}
    dept = client.get("/api/v1/evaluation/units", params={"level": "department", **P}, headers=h).json()
    assert [(x["code"], x["name"], x["cases"]) for x in dept["items"]] == [("D01", "城管执法队", 2)]
    workers = client.get("/api/v1/evaluation/units", params={"level": "worker", **P}, headers=h).json()
    assert {int(x["code"]): x["cases"] for x in workers["items"]} == {grid_a.worker_id: 4, grid_b.worker_id: 1}
    # a worker counts its own grids only; an operator reads no evaluation
    mine = client.get("/api/v1/evaluation/units", params={"level": "grid", **P},
                      headers=login("worker", person_id=grid_a.worker_id)).json()
    assert [x["code"] for x in mine["items"]] == [grid_a.code]
    problem(client.get("/api/v1/evaluation/units", params=P, headers=auth("operator")), 403, "forbidden")


@pytest.mark.usefixtures("cases")
def test_trend_and_periods(client: httpx.Client, auth, grid_a) -> None:
    h = auth("planner")
    tr = client.get("/api/v1/evaluation/trend", params={"bucket": "month", "period": "2019-Q4"}, headers=h).json()
    assert [(p["start"], p["cases"]) for p in tr["items"]] == [("2019-12-01", 1)]
    tr = client.get("/api/v1/evaluation/trend", params={"bucket": "week", "from": "2020-01-01", "to": "2020-01-31",
                                                        "level": "grid", "code": grid_a.code}, headers=h).json()
    assert [(p["start"], p["cases"]) for p in tr["items"]] == [("2020-01-06", 4)]  # the ISO week from Monday
    tr = client.get("/api/v1/evaluation/trend", params={"bucket": "week", "from": "2020-01-08", "to": "2020-01-31"},
                    headers=h).json()
    assert [p["start"] for p in tr["items"]] == ["2020-01-08"]  # a week begun before the period: from its start
    for params, field in (({"period": "2020-13"}, "period"), ({"period": "2020-01", "from": "2020-01-01"}, "period"),
                          ({"from": "2020-02-01", "to": "2020-01-01"}, "to"), ({"from": "2020-01-01"}, "to")):
        r = client.get("/api/v1/evaluation/units", params=params, headers=h)
        assert r.status_code == 422 and field in r.text, r.text
    assert parse_period("2020-Q4", None, None).end.isoformat() == "2020-12-31"
    assert parse_period("2020", None, None).start.isoformat() == "2020-01-01"


@pytest.mark.usefixtures("cases")
def test_export_xlsx_holds_the_figures_filters_and_definitions(client: httpx.Client, auth, grid_a) -> None:
    h = auth("dispatcher")
    params = {"level": "grid", **P}
    api = client.get("/api/v1/evaluation/units", params=params, headers=h).json()
    r = client.get("/api/v1/evaluation/export.xlsx", params=params, headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(r.content))
    ws = wb.worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[3][:2] == ("统计期 Period", "2020-01")
    head = next(i for i, row in enumerate(rows) if row[0] == "排名 Rank")
    col = rows[head].index("满意率 Satisfaction rate")
    mine = next(row for row in rows[head + 1:] if row[1] == grid_a.code)
    assert mine[col] == next(x for x in api["items"] if x["code"] == grid_a.code)["satisfaction_rate"] == 0.6
    defs = [row[0] for row in wb["定义 Definitions"].iter_rows(values_only=True)]
    assert "满意率 Satisfaction rate" in defs and "响应率 Response rate" in defs


def test_every_level_over_the_sample_is_set_based_and_fast(client: httpx.Client, auth, db: Session) -> None:
    """The whole sample history (50,000 cases): each level in one query, the units summing to the same cases."""
    h = auth("admin")
    since, until = db.execute(text("SELECT min(reported_at)::date, max(reported_at)::date FROM report")).one()
    params = {"from": since.isoformat(), "to": until.isoformat()}
    base = time.perf_counter()  # the baseline: a case list, which counts every case (one scan of cases and report)
    assert client.get("/api/v1/cases", params={"limit": 1}, headers=h).json()["total"] > 40_000
    base = time.perf_counter() - base
    totals = {}
    for level in ("street", "community", "grid"):
        t0 = time.perf_counter()
        r = client.get("/api/v1/evaluation/units", params={"level": level, **params}, headers=h)
        took = time.perf_counter() - t0
        assert r.status_code == 200, r.text
        totals[level] = r.json()["total"]
        assert took < max(10 * base, 1.0), f"{level}: {took:.2f} s (the case list: {base:.3f} s)"
    assert totals["street"] == totals["community"] == totals["grid"]
    assert totals["grid"]["cases"] > 40_000 and totals["grid"]["followed_up"] > 20_000
