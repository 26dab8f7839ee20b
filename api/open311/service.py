"""Open311 GeoReport v2 on top of gridmap's own intake, so 311-style clients post without new code.

Mapping: a category is a ``service_code``; a report is a ``service_request``; gridmap's case
statuses collapse to Open311's ``open``/``closed`` (closed = closed or rejected), with the full
status, the grid and the routing method in ``extended_attributes``. A case's later events are mySociety's
``servicerequestupdates`` (statuses in :data:`EXTENDED`).

Who reads what: every read applies the reports' one rule (``api/auth/roles.py`` ``row_scope``: an intake key
reads the requests it filed, a worker its grids'), passed in as ``scope``: a SQL condition and its parameters.
With ``GRIDMAP_OPEN311_PUBLIC_READ`` a caller without a key reads every request, *published*
(:func:`publish`): what a city puts on its open-data portal, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.service import Principal
from api.cases.workflow import TERMINAL
from api.core.config import Settings
from api.core.errors import InvalidParameter, NotFound, ValidationFailed
from api.locate.index import IndexCache
from api.reports import service as reports
from api.reports.schemas import Reporter, ReportIn

#: A read scope: a SQL condition over ``report r`` and its latest ``routing rt``, and its parameters.
Scope = tuple[str, dict[str, object]]
CLOSED = TERMINAL
#: gridmap's case status -> mySociety's extended Open311 status (servicerequestupdates).
EXTENDED = {"reported": "open", "registered": "investigating", "dispatched": "action_scheduled",
            "in_progress": "in_progress", "escalated": "internal_referral", "returned": "investigating",
            "resolved": "fixed", "verified": "fixed", "closed": "closed", "rejected": "no_further_action"}
#: GeoReport v2: a date range may not span more than 90 days, and a list answers at most 1,000 items.
MAX_RANGE = timedelta(days=90)
MAX_ITEMS = 1000
#: Published coordinates are rounded to this many decimals of a degree (0.001 deg: 111 m north-south, 85 m
#: east-west in Beijing): enough to see a street's problems, not a doorway.
PUBLIC_DECIMALS = 3


def services(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(text("SELECT * FROM category ORDER BY code")).mappings()
    return [{
        "service_code": r["code"],
        "service_name": r["name"],
        "description": f"{r['major_name']} / {r['name']} ({r['name_en'] or ''}); "
                       f"time limit {r['time_limit_hours']:g} h",
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(filter(None, [r["kind"], r["major_name"], r["major_name_en"], r["name_en"]])),
        "group": r["major_name"],
    } for r in rows]


def service_definition(session: Session, code: str) -> dict[str, Any]:
    if session.execute(text("SELECT 1 FROM category WHERE code = :c"), {"c": code}).scalar() is None:
        raise NotFound(f"no service {code!r}")
    return {"service_code": code, "attributes": []}


#: ReportIn field -> the GeoReport v2 form field it came from, so that an error names what the client sent.
OPEN311_NAMES = {"category": "service_code", "description": "description", "lon": "long", "lat": "lat",
                 "address": "address_string", "photos.0": "media_url", "reporter.name": "first_name/last_name",
                 "reporter.phone": "phone", "external_id": "external_id", "crs": "crs"}


def post_request(session: Session, *, cache: IndexCache, form: dict[str, str], principal: Principal,
                 idempotency_key: str | None, settings: Settings,
                 notify: Callable[[str, str], None] | None = None) -> list[dict[str, Any]]:
    """Post a GeoReport form as a report of source ``open311`` (or the form's own ``source``, a gridmap
    extension for a system that posts through Open311 and gridmap's own API alike)."""
    source = form.get("source") or "open311"
    def num(name: str) -> float | None:
        raw = form.get(name)
        if raw in (None, ""):
            return None
        try:
            return float(raw)
        except ValueError:
            raise ValidationFailed(f"{name} must be a number, got {raw!r}", field=name) from None

    if not form.get("service_code"):
        raise ValidationFailed("service_code is required", field="service_code")
    name = " ".join(filter(None, [form.get("last_name"), form.get("first_name")])) or None
    lon, lat = num("long"), num("lat")
    try:
        body = ReportIn(
            source=source, external_id=form.get("external_id") or None, category=form["service_code"],
            description=form.get("description") or None, lon=lon, lat=lat, crs=form.get("crs") or None,
            address=form.get("address_string") or None,
            photos=[form["media_url"]] if form.get("media_url") else [],
            reporter=Reporter(name=name, phone=form.get("phone") or None) if (name or form.get("phone")) else None,
        )
    except PydanticValidationError as exc:  # the form is checked here, not by FastAPI: a 422, not a 500
        errors = [{"field": OPEN311_NAMES.get(".".join(str(p) for p in e["loc"]), ".".join(str(p) for p in e["loc"])),
                   "message": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise ValidationFailed("; ".join(f"{e['field']}: {e['message']}" for e in errors), errors=errors) from None
    out = reports.create_report(
        session, cache=cache, body=body, idempotency_key=idempotency_key, principal=principal,
        tolerance_m=settings.routing_tolerance_m, tz=settings.timezone, duplicate_radius_m=settings.duplicate_radius_m,
        duplicate_window_hours=settings.duplicate_window_hours, notify=notify)
    notice = (f"routed to grid {out.routing.grid_code} ({out.routing.grid_name})" if out.routing and
              out.routing.grid_code else "received; an operator will place it")
    return [{"service_request_id": str(out.id), "service_notice": notice, "account_id": None}]


def _request(r: Any) -> dict[str, Any]:
    return {
        "service_request_id": str(r.id),
        "status": "closed" if r.status in CLOSED else "open",
        "status_notes": r.status,
        "service_name": r.service_name,
        "service_code": r.category_code,
        "description": r.description,
        "agency_responsible": r.department or r.grid_name,
        "service_notice": None,
        "requested_datetime": r.reported_at.isoformat(),
        "updated_datetime": (r.updated_at or r.reported_at).isoformat(),
        "expected_datetime": r.deadline.isoformat() if r.deadline else None,
        "address": r.address_text,
        "address_id": None,
        "zipcode": None,
        "lat": r.lat,
        "long": r.lon,
        "media_url": (r.photos or [None])[0],
        "extended_attributes": {"gridmap_status": r.status, "grid_code": r.grid_code,
                                "routing_method": r.method, "case_id": r.case_id},
    }


def publish(request: dict[str, Any]) -> dict[str, Any]:
    """A request as a city publishes it (``GRIDMAP_OPEN311_PUBLIC_READ``): the category, status, times, grid and
    responsible agency; the point rounded to :data:`PUBLIC_DECIMALS`; no free text (a description or an address
    may name or locate a person), no photo (faces, number plates), no reporter (never in Open311 anyway)."""
    out = {**request, "description": None, "address": None, "media_url": None}
    for k in ("lat", "long"):
        if out[k] is not None:
            out[k] = round(out[k], PUBLIC_DECIMALS)
    return out


SELECT = """
    SELECT r.id, r.category_code, c.name AS service_name, r.description, r.reported_at, r.address_text,
           ST_Y(r.location) AS lat, ST_X(r.location) AS lon, r.photos,
           k.id AS case_id, k.status, k.updated_at, k.deadline, d.name AS department,
           rt.grid_code, rt.method, g.name AS grid_name
    FROM report r
    LEFT JOIN category c ON c.code = r.category_code
    LEFT JOIN LATERAL (SELECT * FROM cases x WHERE x.report_id = r.id ORDER BY x.id LIMIT 1) k ON true
    LEFT JOIN department d ON d.code = k.department_code
    LEFT JOIN LATERAL (SELECT * FROM routing x WHERE x.report_id = r.id ORDER BY x.id DESC LIMIT 1) rt ON true
    LEFT JOIN grid g ON g.layout_id = rt.layout_id AND g.code = rt.grid_code
"""


def date_range(start: datetime | None, end: datetime | None, *, default: timedelta) -> tuple[datetime, datetime]:
    """GeoReport's date window: ``end`` defaults to now and ``start`` to ``default`` before it; at most 90 days."""
    end = end or datetime.now().astimezone()
    start = start or end - min(default, MAX_RANGE)
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidParameter("start_date and end_date need a time zone (W3C format, e.g. 2026-01-01T00:00:00Z)",
                               field="start_date")
    if start > end:
        raise InvalidParameter("start_date is after end_date", field="start_date")
    if end - start > MAX_RANGE:
        raise InvalidParameter("the date range spans more than 90 days", field="end_date")
    return start, end


def get_requests(session: Session, *, ids: list[int] | None, service_codes: list[str] | None,
                 start: datetime | None, end: datetime | None, statuses: list[str] | None, scope: Scope,
                 public: bool = False) -> list[dict[str, Any]]:
    """Requests by id, or the latest (at most 1,000) in a date window, filtered by service codes and
    statuses (``open``, ``closed``: GeoReport's comma lists), within the caller's ``scope``; ``public``:
    published (:func:`publish`)."""
    if ids:
        rows = session.execute(text(SELECT + f" WHERE r.id = ANY(:ids) AND {scope[0]} ORDER BY r.id"),
                               {"ids": ids, **scope[1]}).all()
    else:
        start, end = date_range(start, end, default=MAX_RANGE)
        wanted = set(statuses or ())
        status_sql = ""
        if wanted == {"open"}:
            status_sql = "AND k.status <> ALL(CAST(:closed AS text[]))"
        elif wanted == {"closed"}:
            status_sql = "AND k.status = ANY(CAST(:closed AS text[]))"
        rows = session.execute(text(SELECT + f"""
            WHERE r.reported_at >= :start AND r.reported_at < :end
              AND (CAST(:codes AS text[]) IS NULL OR r.category_code = ANY(CAST(:codes AS text[]))) {status_sql}
              AND {scope[0]}
            ORDER BY r.reported_at DESC LIMIT {MAX_ITEMS}"""),
            {"start": start, "end": end, "codes": service_codes or None, "closed": list(CLOSED),
             **scope[1]}).all()
    out = [_request(r) for r in rows]
    return [publish(r) for r in out] if public else out


def get_request(session: Session, *, request_id: int, scope: Scope, public: bool = False) -> list[dict[str, Any]]:
    """One request (as a one-item list, as GeoReport answers); 404 when it is not in ``scope``."""
    found = get_requests(session, ids=[request_id], service_codes=None, start=None, end=None, statuses=None,
                         scope=scope, public=public)
    if not found:
        raise NotFound(f"no service request {request_id}")
    return found


def get_updates(session: Session, *, start: datetime | None, end: datetime | None, scope: Scope,
                public: bool = False) -> list[dict[str, Any]]:
    """mySociety's ``servicerequestupdates``: the status changes of the requests in ``scope`` made in the window
    (default: the last 24 hours), oldest first, at most 1,000, so that a system polls with ``start_date`` = the
    last ``updated_datetime`` it saw instead of reading each request again. A case's creation is the request
    itself, not an update; ``external_status_code`` is gridmap's own status, ``status`` mySociety's
    (:data:`EXTENDED`). ``public``: the notes (free text) are left out."""
    start, end = date_range(start, end, default=timedelta(days=1))
    rows = session.execute(text(f"""
        SELECT e.id, e.at, e.to_status, e.note, k.report_id
        FROM case_event e
        JOIN cases k ON k.id = e.case_id
        JOIN report r ON r.id = k.report_id
        LEFT JOIN LATERAL (SELECT grid_code FROM routing x WHERE x.report_id = r.id ORDER BY x.id DESC LIMIT 1)
            rt ON true
        WHERE e.from_status IS NOT NULL AND e.at >= :start AND e.at < :end AND {scope[0]}
        ORDER BY e.at, e.id LIMIT {MAX_ITEMS}"""), {"start": start, "end": end, **scope[1]}).all()
    return [{"update_id": str(r.id), "service_request_id": str(r.report_id),
             "status": EXTENDED.get(r.to_status, "open"), "external_status_code": r.to_status,
             "updated_datetime": r.at.isoformat(), "description": None if public else (r.note or r.to_status),
             "media_url": None} for r in rows]


def discovery(*, base: str, public_read: bool) -> dict[str, Any]:
    """GeoReport v2's discovery document: where the endpoint is, its formats, and how keys are had."""
    return {
        "changeset": "2026-12-07T00:00:00Z",
        "contact": "the gridmap operator of this city (see the README's Open311 section)",
        "key_service": "API keys are issued by an administrator (gridmap keys create --role intake); "
                       + ("reads need no key (published data); posting needs one" if public_read
                          else "every call needs one (api_key parameter or Authorization: Bearer)"),
        "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2", "url": base,
                       "changeset": "2026-12-07T00:00:00Z", "type": "production",
                       "formats": ["application/json", "text/xml"]}],
    }
