"""The wall's numbers: totals and trend, per-grid metrics for the choropleths, the overdue and escalated
lists, a grid's open cases, a case's detail and a day's reports for the replay slider."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.config import Settings
from api.core.errors import InvalidParameter, NotFound
from api.grids.service import layout_in_force
from api.reports.service import report_out
from api.wall.filters import CLOSED, TZ, Filters, where
from api.wall.heat import count_cases, rollup

OPEN = f"c.status NOT IN {CLOSED!r}"
REPLAY_LIMIT = 20_000


def _f(f: Filters) -> str:
    return where(f, category="c.category_code", status="c.status", source="r.source")


def _trend(session: Session, f: Filters) -> dict[str, Any]:
    span = f.until - f.since
    params = {**f.params(), "t0": f.since, "t1": f.until}
    roll = rollup(f)
    if span <= timedelta(hours=2):
        bucket = "5min"
        sql = f"""
            SELECT date_bin('5 minutes', r.reported_at, :t0) AS b, count(*) AS n
            FROM report r JOIN cases c ON c.report_id = r.id
            WHERE r.reported_at >= :t0 AND r.reported_at < :t1 AND r.location IS NOT NULL AND {_f(f)}
            GROUP BY 1 ORDER BY 1"""
    elif span <= timedelta(days=2, hours=1):
        bucket = "hour"
        sql = f"""SELECT hour AS b, sum(n) AS n FROM {roll.hour}
                  WHERE {roll.cond} AND hour >= date_trunc('hour', CAST(:t0 AS timestamptz)) AND hour < :t1
                  GROUP BY 1 ORDER BY 1"""
    else:
        bucket = "day"
        params.update(d0=f.since.astimezone(TZ).date(), d1=f.until.astimezone(TZ).date())
        sql = f"""SELECT day AS b, sum(n) AS n FROM {roll.day}
                  WHERE {roll.cond} AND day >= :d0 AND day <= :d1 GROUP BY 1 ORDER BY 1"""
    counts = {r.b: int(r.n) for r in session.execute(text(sql), params)}
    return {"bucket": bucket, "points": [[b.isoformat(), counts.get(b, 0)] for b in _buckets(f, bucket, counts)]}


def _buckets(f: Filters, bucket: str, counts: dict) -> list:
    """Every bucket of the window, empty ones included, so that the axis under the bars is the window's (a night
    without reports is a row of zeros, not a gap the chart would close)."""
    if bucket == "day":
        d, end = f.since.astimezone(TZ).date(), min(f.until, datetime.now(TZ)).astimezone(TZ).date()
        out = []
        while d <= end:
            out.append(d)
            d += timedelta(days=1)
        return sorted(set(out) | set(counts))
    step = timedelta(minutes=5) if bucket == "5min" else timedelta(hours=1)
    t = f.since if bucket == "5min" else f.since.astimezone(TZ).replace(minute=0, second=0, microsecond=0)
    end = min(f.until, datetime.now(TZ))
    out = []
    while t < end:
        out.append(t)
        t += step
    return sorted(set(out) | set(counts), key=lambda b: b.timestamp())


def summary(session: Session, f: Filters, settings: Settings, limit: int = 12) -> dict[str, Any]:
    params = {**f.params(), "t0": f.since, "t1": f.until}
    flt = _f(f)
    k = session.execute(text(f"""
        SELECT count(*) FILTER (WHERE {OPEN}) AS open,
               count(*) FILTER (WHERE {OPEN} AND c.deadline < now()) AS overdue,
               count(*) FILTER (WHERE c.status = 'escalated') AS escalated
        FROM cases c JOIN report r ON r.id = c.report_id
        WHERE {OPEN} AND {flt}"""), params).one()
    closed = session.execute(text(f"""
        SELECT count(*) FROM cases c JOIN report r ON r.id = c.report_id
        WHERE c.closed_at >= :t0 AND c.closed_at < :t1 AND {flt}"""), params).scalar_one()
    layout = layout_in_force(session)
    top = session.execute(text(f"""
        SELECT g.code, g.name, g.name_en, g.households, t.open, t.overdue
        FROM (SELECT c.grid_code, count(*) AS open, count(*) FILTER (WHERE c.deadline < now()) AS overdue
              FROM cases c JOIN report r ON r.id = c.report_id
              WHERE {OPEN} AND c.grid_code IS NOT NULL AND {flt} GROUP BY 1) t
        JOIN grid g ON g.code = t.grid_code AND g.layout_id = :layout
        ORDER BY t.open DESC, t.overdue DESC, g.code LIMIT :limit"""), {**params, "layout": layout, "limit": limit})
    return {
        "window": f.window, "since": f.since.isoformat(), "until": f.until.isoformat(),
        "totals": {"new": count_cases(session, f), "open": k.open, "overdue": k.overdue, "escalated": k.escalated,
                   "closed": closed},
        "trend": _trend(session, f),
        "top_grids": [dict(r._mapping) for r in top],
        "overdue": case_list(session, f, kind="overdue", limit=limit),
        "escalated": case_list(session, f, kind="escalated", limit=limit),
        "norm": {"min": settings.households_norm_min, "max": settings.households_norm_max},
        "layout_id": layout, "generated_at": datetime.now(TZ).isoformat(),
    }


CASE_ROW = """
    SELECT c.id, c.report_id, c.status, c.category_code AS category, k.name AS category_name,
           k.name_en AS category_name_en, c.grid_code, g.name AS grid_name, g.name_en AS grid_name_en,
           r.source, r.reported_at, c.deadline, c.updated_at,
           ST_X(r.location) AS lon, ST_Y(r.location) AS lat,
           round((extract(epoch FROM now() - c.deadline) / 3600)::numeric, 1) AS overdue_hours
    FROM cases c JOIN report r ON r.id = c.report_id
    LEFT JOIN category k ON k.code = c.category_code
    LEFT JOIN grid g ON g.code = c.grid_code AND g.layout_id = c.layout_id
"""


def _case(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    for key in ("reported_at", "deadline", "updated_at"):
        if d.get(key) is not None:
            d[key] = d[key].isoformat()
    if d.get("overdue_hours") is not None:
        d["overdue_hours"] = float(d["overdue_hours"])
    return d


#: The wall's case lists: what each holds and in which order (the dashboard, the paged lists and the exports
#: all read them from here). ``cases`` is every case reported in the window under the filters.
LISTS: dict[str, tuple[str, str]] = {
    "overdue": (f"{OPEN} AND c.deadline < now()", "c.deadline ASC"),
    "escalated": ("c.status = 'escalated'", "c.updated_at DESC"),
    "open": (OPEN, "c.deadline ASC NULLS LAST"),
    "cases": ("r.reported_at >= :t0 AND r.reported_at < :t1", "r.reported_at DESC"),
}


def _list_sql(f: Filters, kind: str, grid: str | None) -> tuple[str, str, dict[str, Any]]:
    cond, order = LISTS[kind]
    if grid is not None:
        cond += " AND c.grid_code = :grid"
    return f"{cond} AND {_f(f)}", order, {**f.params(), "grid": grid, "t0": f.since, "t1": f.until}


def case_list(session: Session, f: Filters, *, kind: str, limit: int = 12, offset: int = 0,
              grid: str | None = None) -> list[dict]:
    cond, order, params = _list_sql(f, kind, grid)
    rows = session.execute(text(f"{CASE_ROW} WHERE {cond} ORDER BY {order}, c.id LIMIT :limit OFFSET :offset"),
                           {**params, "limit": limit, "offset": offset})
    return [_case(r) for r in rows]


def case_page(session: Session, f: Filters, *, kind: str, limit: int, offset: int) -> dict[str, Any]:
    """One page of a list with its total, so that a wall can page through all of it."""
    cond, _, params = _list_sql(f, kind, None)
    total = session.execute(text(f"SELECT count(*) FROM cases c JOIN report r ON r.id = c.report_id WHERE {cond}"),
                            params).scalar_one()
    return {"kind": kind, "total": total, "offset": offset, "limit": limit,
            "generated_at": datetime.now(TZ).isoformat(),
            "items": case_list(session, f, kind=kind, limit=limit, offset=offset)}


def grid_metrics(session: Session, f: Filters, layout: int | None) -> dict[str, Any]:
    """Per grid of the layout: open cases, new cases today, overdue cases (filters: category, source)."""
    layout = layout or layout_in_force(session)
    today = datetime.now(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    f_no_status = Filters(f.since, f.until, f.window, f.categories, (), f.sources)
    rows = session.execute(text(f"""
        SELECT c.grid_code,
               count(*) FILTER (WHERE {OPEN}) AS open,
               count(*) FILTER (WHERE c.created_at >= :today) AS new_today,
               count(*) FILTER (WHERE {OPEN} AND c.deadline < now()) AS overdue
        FROM cases c JOIN report r ON r.id = c.report_id
        WHERE c.grid_code IS NOT NULL AND ({OPEN} OR c.created_at >= :today) AND {_f(f_no_status)}
        GROUP BY 1"""), {**f.params(), "today": today}).all()
    return {"layout_id": layout, "fields": ["open", "new_today", "overdue"],
            "grids": {r.grid_code: [r.open, r.new_today, r.overdue] for r in rows},
            "today": today.isoformat()}


def case_detail(session: Session, case_id: int) -> dict[str, Any]:
    row = session.execute(text(f"{CASE_ROW} WHERE c.id = :id"), {"id": case_id}).first()
    if row is None:
        raise NotFound(f"no case with id {case_id}")
    report = report_out(session, report_id=row.report_id, unmask=False)
    events = session.execute(text("""
        SELECT at, from_status, to_status, note, note_code, note_params, kind FROM case_event WHERE case_id = :id
        ORDER BY at, id"""),
        {"id": case_id}).all()
    return {**_case(row), "description": report.description, "address": report.address,
            "reporter": report.reporter.model_dump() if report.reporter else None,
            "assignee": report.case.assignee if report.case else None,
            "events": [{"at": e.at.isoformat(), "from": e.from_status, "to": e.to_status, "kind": e.kind,
                        "note": e.note, "note_code": e.note_code, "note_params": e.note_params} for e in events]}


def replay(session: Session, day: str, f: Filters) -> dict[str, Any]:
    try:
        d = datetime.fromisoformat(day).date()
    except ValueError:
        raise InvalidParameter("day must be a date, YYYY-MM-DD", field="day") from None
    start = datetime(d.year, d.month, d.day, tzinfo=TZ)
    rows = session.execute(text(f"""
        SELECT extract(epoch FROM r.reported_at - :t0)::int AS s, round(ST_X(r.location)::numeric, 6) AS lon,
               round(ST_Y(r.location)::numeric, 6) AS lat, c.category_code AS category
        FROM report r JOIN cases c ON c.report_id = r.id
        WHERE r.reported_at >= :t0 AND r.reported_at < :t1 AND r.location IS NOT NULL AND {_f(f)}
        ORDER BY r.reported_at, r.id LIMIT :limit"""),
        {**f.params(), "t0": start, "t1": start + timedelta(days=1), "limit": REPLAY_LIMIT + 1}).all()
    return {"day": d.isoformat(), "start": start.isoformat(), "truncated": len(rows) > REPLAY_LIMIT,
            "fields": ["seconds", "lon", "lat", "category"],
            "points": [[r.s, float(r.lon), float(r.lat), r.category] for r in rows[:REPLAY_LIMIT]]}
