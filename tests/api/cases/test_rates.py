"""Response, resolution and satisfaction rates against values computed by hand on a small fixture."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

pytestmark = pytest.mark.usefixtures("quiet_app")
T = datetime.fromisoformat("2030-01-10T09:00:00+08:00")  # a window that holds only this fixture's cases
WINDOW = {"since": "2030-01-01T00:00:00+08:00", "until": "2030-02-01T00:00:00+08:00"}


def _event(db: Session, case_id: int, frm: str, to: str, hours: float) -> None:
    db.execute(text("INSERT INTO case_event (case_id, actor, from_status, to_status, at) "
                    "VALUES (:c, 't', :f, :t, :at)"),
               {"c": case_id, "f": frm, "t": to, "at": T + timedelta(hours=hours)})


@pytest.fixture
def fixture_cases(db: Session, make_case, grid_a, grid_b) -> None:
    """Deadline = report + 48 h for all. 'taken' = first event into in_progress/escalated/resolved."""
    a = grid_a
    c1 = make_case(a, "closed", reported_at=T, rating=5)          # taken at 2 h, rated 5
    _event(db, c1, "dispatched", "in_progress", 2)
    c2 = make_case(a, "closed", reported_at=T, rating=3)          # taken at 10 h, rated 3
    _event(db, c2, "dispatched", "in_progress", 10)
    c3 = make_case(a, "closed", reported_at=T)                    # taken at 60 h: late; not rated
    _event(db, c3, "dispatched", "in_progress", 60)
    c4 = make_case(a, "in_progress", reported_at=T)               # taken at 1 h, still open
    _event(db, c4, "dispatched", "in_progress", 1)
    make_case(a, "registered", reported_at=T)                     # not taken
    make_case(a, "rejected", reported_at=T)                       # not eligible
    c7 = make_case(a, "resolved", reported_at=T)                  # escalated at 5 h (taken), resolved
    _event(db, c7, "dispatched", "escalated", 5)
    _event(db, c7, "escalated", "resolved", 30)
    old = make_case(a, "closed", reported_at=T - timedelta(days=30), rating=1)  # outside the window
    _event(db, old, "dispatched", "in_progress", -700)
    b1 = make_case(grid_b, "closed", reported_at=T, rating=4)     # taken at 3 h, rated 4
    _event(db, b1, "dispatched", "in_progress", 3)
    make_case(grid_b, "reported", reported_at=T)                  # not taken
    db.flush()


@pytest.mark.usefixtures("fixture_cases")
def test_rates_per_grid_and_street(client: httpx.Client, auth, grid_a, grid_b) -> None:
    h = auth("dispatcher")
    r = client.get("/api/v1/cases/rates", params={"level": "grid", **WINDOW}, headers=h)
    assert r.status_code == 200, r.text
    rows = {x["code"]: x for x in r.json()["items"]}
    assert set(rows) == {grid_a.code, grid_b.code}
    a, b = rows[grid_a.code], rows[grid_b.code]
    # grid A: 7 cases, 6 eligible; responded c1 c2 c4 c7 (c3 late) = 4; resolved c1 c2 c3 c7 = 4;
    # rated c1 c2 = 2, satisfied c1 = 1
    assert (a["cases"], a["eligible"], a["responded"], a["resolved"], a["rated"], a["satisfied"]) == (7, 6, 4, 4, 2, 1)
    assert (a["response_rate"], a["resolution_rate"], a["satisfaction_rate"]) == (0.6667, 0.6667, 0.5)
    assert (b["cases"], b["eligible"], b["responded"], b["resolved"], b["rated"], b["satisfied"]) == (2, 2, 1, 1, 1, 1)
    assert (b["response_rate"], b["resolution_rate"], b["satisfaction_rate"]) == (0.5, 0.5, 1.0)
    assert a["overdue"] == 0 and a["name"]

    street = grid_a.code[:9]
    assert grid_b.code[:9] == street
    s = client.get("/api/v1/cases/rates", params={"level": "street", "code": street, **WINDOW},
                   headers=h).json()["items"]
    assert len(s) == 1 and s[0]["code"] == street and s[0]["name"].endswith("街道")
    # 9 cases, 8 eligible, responded 5, resolved 5, rated 3, satisfied 2
    assert (s[0]["response_rate"], s[0]["resolution_rate"], s[0]["satisfaction_rate"]) == (0.625, 0.625, 0.6667)
    comm = client.get("/api/v1/cases/rates", params={"level": "community", "code": grid_a.code[:12], **WINDOW},
                      headers=h).json()["items"]
    assert [c["code"] for c in comm] == [grid_a.code[:12]] and comm[0]["cases"] == 7


def test_rates_are_null_without_a_denominator(client: httpx.Client, auth) -> None:
    r = client.get("/api/v1/cases/rates", params={"level": "grid", "since": "2031-01-01T00:00:00Z"},
                   headers=auth("dispatcher"))
    assert r.status_code == 200 and r.json()["items"] == []
    from api.cases.rates import _rate

    assert _rate(0, 0) is None and _rate(1, 3) == 0.3333
