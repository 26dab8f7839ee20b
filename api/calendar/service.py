"""The working calendar as the database holds it, so the answer is exactly what deadlines are computed with
(``gridmap_is_workday`` in migration 0024: a local exception, else the library's day, else the weekday)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.calendar.schemas import CalendarDay, CalendarYear, ExceptionIn, ExceptionOut
from api.core.errors import Conflict, NotFound
from geo.workcal import LIBRARY, WEEKENDS_ONLY


class ExceptionExists(Conflict):
    code, title = "calendar_exception_exists", "The day already has a local exception"


def year(session: Session, *, year: int) -> CalendarYear:
    rows = session.execute(text("""
        SELECT g::date AS date, gridmap_is_workday(g::date) AS workday, coalesce(e.name, w.name) AS name,
               CASE WHEN e.day IS NOT NULL THEN 'local'
                    ELSE coalesce(w.kind, CASE WHEN extract(isodow FROM g) < 6 THEN 'workday' ELSE 'weekend' END)
               END AS kind, w.day IS NOT NULL AS from_library
        FROM generate_series(make_date(:y, 1, 1), make_date(:y, 12, 31), interval '1 day') g
        LEFT JOIN workday w ON w.day = g::date
        LEFT JOIN calendar_exception e ON e.day = g::date
        ORDER BY 1"""), {"y": year}).all()
    source = LIBRARY if all(r.from_library for r in rows) else WEEKENDS_ONLY
    return CalendarYear(year=year, source=source,
                        days=[CalendarDay(date=r.date, workday=r.workday, name=r.name, kind=r.kind) for r in rows])


def _out(r: object) -> ExceptionOut:
    return ExceptionOut(date=r.day, workday=r.workday, name=r.name, created_by=r.created_by,  # type: ignore[attr-defined]
                        created_at=r.created_at)  # type: ignore[attr-defined]


def list_exceptions(session: Session, *, year: int | None) -> list[ExceptionOut]:
    rows = session.execute(text("""SELECT * FROM calendar_exception
                                   WHERE CAST(:y AS int) IS NULL OR extract(year FROM day) = :y ORDER BY day"""),
                           {"y": year}).all()
    return [_out(r) for r in rows]


def add_exception(session: Session, *, body: ExceptionIn, actor: str) -> ExceptionOut:
    """Deadlines already computed keep their value; cases created from now on count with the exception."""
    row = session.execute(text("""
        INSERT INTO calendar_exception (day, workday, name, created_by) VALUES (:d, :w, :n, :a)
        ON CONFLICT (day) DO NOTHING RETURNING *"""),
        {"d": body.date, "w": body.workday, "n": body.name, "a": actor}).first()
    if row is None:
        raise ExceptionExists(f"{body.date} already has a local exception: delete it first")
    return _out(row)


def delete_exception(session: Session, *, day: dt.date) -> None:
    if session.execute(text("DELETE FROM calendar_exception WHERE day = :d RETURNING day"), {"d": day}).first() is None:
        raise NotFound(f"no local exception on {day}")
