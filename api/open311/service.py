"""Open311 GeoReport v2 on top of gridmap's own intake, so 311-style clients post without new code.

Mapping: a category is a ``service_code``; a report is a ``service_request``; gridmap's case
statuses collapse to Open311's ``open``/``closed`` (closed = closed or rejected), with the full
status, the grid and the routing method in ``extended_attributes``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.service import Principal
from api.core.config import Settings
from api.core.errors import NotFound, ValidationFailed
from api.locate.index import IndexCache
from api.reports import service as reports
from api.reports.schemas import Reporter, ReportIn

CLOSED = ("closed", "rejected")


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
            source="open311", external_id=form.get("external_id") or None, category=form["service_code"],
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


def get_requests(session: Session, *, ids: list[int] | None, service_code: str | None, start: datetime | None,
                 end: datetime | None, status: str | None, scope: list[str] | None = None) -> list[dict[str, Any]]:
    """``scope``: grid codes the caller may see (None: all)."""
    in_scope = "(CAST(:scope AS text[]) IS NULL OR rt.grid_code = ANY(CAST(:scope AS text[])))"
    if ids:
        rows = session.execute(text(SELECT + f" WHERE r.id = ANY(:ids) AND {in_scope} ORDER BY r.id"),
                               {"ids": ids, "scope": scope}).all()
        return [_request(r) for r in rows]
    # GeoReport v2: without dates, the last 90 days; at most 1,000 requests.
    end = end or datetime.now().astimezone()
    start = start or end - timedelta(days=90)
    status_sql = {"open": "AND k.status NOT IN ('closed', 'rejected')", "closed": "AND k.status IN ('closed', "
                  "'rejected')"}.get(status or "", "")
    rows = session.execute(text(SELECT + f"""
        WHERE r.reported_at >= :start AND r.reported_at < :end
          AND (CAST(:code AS text) IS NULL OR r.category_code = :code) {status_sql} AND {in_scope}
        ORDER BY r.reported_at DESC LIMIT 1000"""),
        {"start": start, "end": end, "code": service_code, "scope": scope}).all()
    return [_request(r) for r in rows]


def get_request(session: Session, *, request_id: int, scope: list[str] | None = None) -> list[dict[str, Any]]:
    found = get_requests(session, ids=[request_id], service_code=None, start=None, end=None, status=None,
                         scope=scope)
    if not found:
        raise NotFound(f"no service request {request_id}")
    return found
