"""Fixtures for the case, user, staff and audit tests (issue 6): users who log in, and cases in a
chosen grid and status, all inside the test's rolled-back transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.errors import error_of

PROBLEM = "application/problem+json"
PASSWORD = "correct horse battery"


def problem(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = error_of(resp)  # problem+json, or GeoReport's error list on /open311 (tests/api/errors.py)
    assert body and body["status"] == status and body["code"] == code and body["detail"], resp.text[:300]
    return body


@dataclass
class Grid:
    code: str
    layout_id: int
    lon: float
    lat: float
    worker_id: int
    leader_id: int
    other_worker_id: int | None


def _grid(db: Session, offset: int) -> Grid:
    g = db.execute(text("""
        SELECT g.code, g.layout_id, ST_X(ST_PointOnSurface(g.boundary)) AS lon,
               ST_Y(ST_PointOnSurface(g.boundary)) AS lat
        FROM grid g JOIN grid_layout l ON l.id = g.layout_id
        WHERE l.status = 'published' AND l.effective_to IS NULL
          AND (SELECT count(*) FROM person p WHERE p.grid_code = g.code AND p.role = 'grid_worker') >= 2
          AND EXISTS (SELECT 1 FROM person p WHERE p.grid_code = g.code AND p.role = 'party_member')
        ORDER BY g.code OFFSET :o LIMIT 1"""), {"o": offset}).one()
    staff = db.execute(text("""SELECT id, role, on_duty FROM person WHERE grid_code = :g AND active
                               AND role IN ('grid_worker', 'grid_leader') ORDER BY on_duty DESC, id"""),
                       {"g": g.code}).all()
    workers = [s.id for s in staff if s.role == "grid_worker"]
    return Grid(g.code, g.layout_id, g.lon, g.lat, workers[0],
                next(s.id for s in staff if s.role == "grid_leader"), workers[1] if len(workers) > 1 else None)


@pytest.fixture
def grid_a(db: Session) -> Grid:
    return _grid(db, 0)


@pytest.fixture
def grid_b(db: Session) -> Grid:
    return _grid(db, 7)


@pytest.fixture
def make_case(db: Session) -> Callable[..., int]:
    """Insert a report and its case directly (fast), in a given grid, status and place."""

    def _make(grid: Grid, status: str = "reported", *, category: str = "C01001", lon: float | None = None,
              lat: float | None = None, reported_at: datetime | None = None, deadline_hours: float = 48,
              rating: int | None = None, assignee_id: int | None = None,
              reporter: tuple[str, str] | None = None) -> int:
        at = reported_at or db.execute(text("SELECT now()")).scalar_one()
        rid = db.execute(text("""
            INSERT INTO report (source, category_code, description, reported_at, location, reporter_name,
                                reporter_phone)
            VALUES ('patrol', :c, 'test', :at, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :rn, :rp) RETURNING id"""),
            {"c": category, "at": at, "lon": lon if lon is not None else grid.lon,
             "lat": lat if lat is not None else grid.lat, "rn": reporter[0] if reporter else None,
             "rp": reporter[1] if reporter else None}).scalar_one()
        cid = db.execute(text("""
            INSERT INTO cases (report_id, layout_id, grid_code, category_code, status, assignee_id, deadline,
                               closed_at, rating, created_at)
            VALUES (:r, :l, :g, :c, CAST(:s AS text), :a, :d, CASE WHEN CAST(:s AS text) = 'closed' THEN now() END,
                    :rating, :at) RETURNING id"""),
            {"r": rid, "l": grid.layout_id, "g": grid.code, "c": category, "s": status,
             "a": assignee_id or grid.worker_id, "d": at + timedelta(hours=deadline_hours), "rating": rating,
             "at": at}).scalar_one()
        db.execute(text("""INSERT INTO case_event (case_id, actor, from_status, to_status, at)
                           VALUES (:c, 'test', NULL, :s, :at)"""), {"c": cid, "s": status, "at": at})
        db.flush()
        return cid

    return _make


@pytest.fixture
def login(client: httpx.Client, db: Session) -> Callable[..., dict[str, str]]:
    """Create a user of a role (a worker acts for ``person_id``) and log in; returns its auth headers."""
    from api.users.schemas import UserCreate
    from api.users.service import create_user

    counter = iter(range(1, 10_000))

    def _login(role: str, *, person_id: int | None = None, department_code: str | None = None,
               grid_codes: list[str] | None = None) -> dict[str, str]:
        name = f"u{next(counter)}-{role}"
        create_user(db, body=UserCreate(username=name, password=PASSWORD, role=role, person_id=person_id,
                                        department_code=department_code, grid_codes=grid_codes or []))
        resp = client.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
        assert resp.status_code == 200, resp.text
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}

    return _login


@pytest.fixture
def quiet_app(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LISTEN thread in the test app: its shutdown waits up to a second per test, and these tests change
    nothing that a notification would tell (their transaction is never committed)."""
    from api.core.config import get_settings

    monkeypatch.setattr(get_settings(), "listen", False)
