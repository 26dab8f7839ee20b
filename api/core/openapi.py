"""The OpenAPI document, with the errors the API really answers declared in one place.

FastAPI documents each route's success and its own 422 (as ``application/json``, a shape gridmap never sends).
Here the generated document is post-processed once, per operation, from what the route declares (its security,
parameters, body, method and dependencies), so no router decorator has to list error statuses:

- every error is ``application/problem+json`` (RFC 9457) with the :data:`PROBLEM` schema (``code`` required);
- which statuses an operation can answer follows :func:`error_statuses` (one rule, e.g. 401/403 for a secured
  operation, 413/415 for one with a body, 429 for an intake operation, 503 for all: the database may be down);
- a parameter named like one of :data:`PARAMETER_RULES` gets that rule's schema (bbox format, CRS names, time
  windows, comma lists), so that a client generator (and schemathesis) sees the rules the API enforces;
- every operation has a tag, and the tags have descriptions.

The 400/422 decision (README "Errors"): 400 ``malformed_body`` (and ``invalid_encoding``, ``nesting_too_deep``)
when the body cannot be parsed at all; 422 for every value that parses but breaks a rule, whether it came as a
parameter or a body field (``validation_error``, ``invalid_parameter``, ``invalid_geometry``, ...).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.core.errors import PROBLEM_JSON
from api.core.params import MAX_BIGINT

PROBLEM: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details. Branch on `code`; `detail` is for people. Extension members (`field`, "
                   "`errors`, `limit`, `row`, `reason`, ...) say more where they apply.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": "https://gridmap.dev/problems/<code>"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "code": {"type": "string", "pattern": "^[a-z0-9_]+$", "description": "machine-readable error code"},
        "instance": {"type": "string", "description": "the request path"},
        "field": {"type": "string", "description": "the parameter or body field at fault, when there is one"},
        "errors": {"type": "array", "description": "each invalid field (422 validation_error)", "items": {
            "type": "object", "required": ["field", "message"], "properties": {
                "field": {"type": "string"}, "message": {"type": "string"}, "type": {"type": "string"}}}},
    },
    "additionalProperties": True,
}

#: What each declared error status means in this API (the response descriptions).
STATUSES: dict[int, str] = {
    400: "The body cannot be parsed: not JSON, not text in its charset, or nested too deeply (`malformed_body`, "
         "`invalid_encoding`, `nesting_too_deep`)",
    401: "No credentials, or unknown, expired or revoked ones (`unauthorized`, `invalid_credentials`)",
    403: "The credentials' role or scope does not allow this (`forbidden`)",
    404: "No such resource, or none in the caller's scope (`not_found`)",
    409: "The resource's state does not allow this (`conflict`, `illegal_transition`, `revision_conflict`, ...)",
    413: "The body is larger than GRIDMAP_MAX_BODY_BYTES (`payload_too_large`)",
    415: "The body's media type or charset is not one this operation reads (`unsupported_media_type`)",
    422: "A parameter or field parses but breaks a rule (`validation_error` with `errors`, `invalid_parameter`, "
         "`invalid_geometry`, `import_failed`, ...)",
    429: "This key posts faster than GRIDMAP_INTAKE_RATE allows (`rate_limited`; see Retry-After)",
    503: "The database is unreachable, a query timed out, or intake is saturated (`database_unavailable`, "
         "`query_timeout`, `overloaded`; safe to retry after Retry-After)",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}},
}

_NUMBER = r"-?[0-9]+(\.[0-9]+)?"
RULES = "x-gridmap-rules"


def parameter_rules() -> dict[str, dict[str, Any]]:
    """Parameter rules the API enforces at run time, by parameter name, taken from the modules that enforce them.

    A parameter whose schema is already narrower (a declared pattern, enum or format) keeps its own. ``rule`` is
    what no JSON schema can say (relations between values): it goes to the operation's ``x-gridmap-rules``."""
    from api.cases.workflow import STATUSES
    from api.wall.filters import WINDOWS

    statuses = "|".join(STATUSES)
    return {
        "bbox": {"type": "string", "pattern": f"^{_NUMBER}(,{_NUMBER}){{3}}$",
                 "description": "minLon,minLat,maxLon,maxLat (WGS84 degrees)",
                 "rule": "bbox: minLon < maxLon and minLat < maxLat, within [-180, 180] x [-90, 90]"},
        "crs": {"type": "string", "pattern": "^([Ww][Gg][Ss]84|[Cc][Gg][Cc][Ss]2000|[Gg][Cc][Jj]02|[Bb][Dd]09|"
                                             "[Ee][Pp][Ss][Gg]:[0-9]{4,6})$",
                "description": "wgs84 (default), cgcs2000, gcj02, bd09 or EPSG:nnnn",
                "rule": "crs: an EPSG code must be one PROJ knows"},
        "window": {"type": "string", "enum": list(WINDOWS),
                   "rule": "window=custom needs since < until"},
        "status": {"type": "string", "pattern": f"^({statuses})(,({statuses}))*$"},
        "day": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
        "since": {"type": "string", "format": "date-time"},
        "until": {"type": "string", "format": "date-time"},
        "category": {"type": "string", "pattern": "^([A-Za-z0-9_]{1,16}(,[A-Za-z0-9_]{1,16})*)?$",  # empty: none
                     "rule": "category: codes that exist (GET /api/v1/categories)"},
        "source": {"type": "string", "pattern": "^([a-z0-9_]{1,32}(,[a-z0-9_]{1,32})*)?$"},  # empty: no filter
        "q": {"type": "string", "pattern": "\\S", "description": "text to search (not only spaces)"},
    }


#: Statuses an operation answers that :func:`error_statuses` cannot see from the route.
OPERATION_STATUSES: dict[tuple[str, str], list[int]] = {
    ("POST", "/api/v1/auth/token"): [401],  # a wrong password (the operation itself needs no credentials)
    ("POST", "/api/v1/auth/kiosk"): [401],  # an unknown, used or expired pairing code
}

#: What an operation enforces beyond its schema (relations between fields, references that must exist), shown
#: in its description and as ``x-gridmap-rules``: a 422 naming one of these is the API working as documented.
OPERATION_RULES: dict[tuple[str, str], list[str]] = {
    ("GET", "/api/v1/layouts/compare"): ["a and b are two different layouts"],
    ("POST", "/api/v1/cases/{case_id}/merge"): ["a case is not merged into itself; the case kept must be open"],
    ("POST", "/api/v1/cases/{case_id}/whistles"): [
        "a street whistle summons departments, a community whistle people (party members, volunteers)"],
    ("POST", "/api/v1/cases/{case_id}/assignee"): ["the person works in the case's grid"],
    ("POST", "/api/v1/cases/{case_id}/grid"): ["another grid of the case's layout; the person works in it"],
    ("POST", "/api/v1/cases/{case_id}/transitions"): ["the assignee works in the case's grid; notes where asked"],
    ("POST", "/api/v1/layouts/{layout_id}/edits"): [
        "update_geometry: code and geometry, or grids; geometries are valid polygons inside the community"],
    ("POST", "/api/v1/layouts/{layout_id}/publish"): ["effective_from is not in the past"],
    ("GET", "/api/v1/locate"): ["lon and lat together, or an address"],
    ("POST", "/api/v1/locate"): ['{"points": [[lon, lat], ...]}, a FeatureCollection of Points, or '
                                 '{"address": ...} / {"addresses": [...]}'],
    ("POST", "/api/v1/reports"): ["lon and lat together, or an address; category is a known code"],
    ("POST", "/api/v1/auth/token"): ["username and password are not empty"],
    ("POST", "/api/v1/layouts"): ["an uploaded file is GeoJSON, a GeoPackage or a zipped Shapefile of valid "
                                  "polygons, in a CRS that is named or declared; copy_of is a layout"],
    ("PATCH", "/api/v1/people/{person_id}"): ["grid_code and building_id exist"],
    ("POST", "/api/v1/people"): ["grid_code and building_id exist"],
    ("POST", "/api/v1/users"): ["a worker user names a grid staff person"],
    ("PATCH", "/api/v1/users/{user_id}"): ["a worker user names a grid staff person"],
    ("POST", "/api/v1/layouts/{draft_id}/proposals/{proposal_id}/apply"): [
        "proposal_id is an id from POST /layouts/{draft_id}/proposals"],
    ("POST", "/api/v1/cases/{case_id}/extension"): ["either a new deadline or an amount with its unit"],
    ("POST", "/api/v1/calendar/exceptions"): ["date is from 1900-01-01 on"],
    ("POST", "/api/v1/cases/{case_id}/followup"): ["reopen only with satisfaction dissatisfied"],
    **{("GET", f"/api/v1/evaluation/{tail}"): ["a period, or from and to (from not after to), not both"]
       for tail in ("units", "trend", "export.xlsx")},
    ("POST", "/api/v1/webhooks/subscriptions"): ["filter codes exist (streets, communities, grids, categories)"],
    ("PATCH", "/api/v1/webhooks/subscriptions/{sub_id}"): ["filter codes exist (streets, communities, grids, "
                                                          "categories)"],
    ("POST", "/api/v1/media"): ["the file is a JPEG, PNG, WebP or HEIC image, recognised by its content (else 415)"],
    **{("POST", f"/open311/v2/requests.{fmt}"): ["lat and long together, or address_string; service_code is known"]
       for fmt in ("json", "xml")},
    **{("GET", f"/api/v1/layouts/{{layout_id}}{tail}"): ["norm_min is below norm_max (each defaults to the setting)"]
       for tail in ("/coverage", "/communities/{code}/coverage", "/workload", "/workload.csv")},
}


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the post-processed document (built once, like FastAPI's own)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_errors(generate(), app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def declare_errors(doc: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    comps = doc.setdefault("components", {})
    schemas = comps.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    comps["responses"] = {
        f"Problem{status}": {
            "description": text,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            **({"headers": _HEADERS[status]} if status in _HEADERS else {}),
        } for status, text in STATUSES.items()}
    intake = _intake_operations(app)
    rules_by_name = parameter_rules()
    tags: set[str] = set()
    for path, method, op in _operations(doc):
        op.setdefault("tags", [_domain(path)])
        tags.update(op["tags"])
        rules = list(OPERATION_RULES.get((method.upper(), path), []))
        for param in op.get("parameters", []):
            rules += _apply_rule(param, rules_by_name.get(param.get("name", "")))
        if rules:
            op[RULES] = rules
            op["description"] = (op.get("description") or op.get("summary", "")) + "\n\nRules beyond the schema " \
                "(a 422 says which): " + "; ".join(rules) + "."
        responses = op.setdefault("responses", {})
        statuses = error_statuses(op, method, (method.upper(), path) in intake)
        if path.startswith("/ogc") and op.get("parameters"):  # OGC API: a bad query parameter is a 400
            statuses = sorted({*statuses, 400})
        if path.startswith("/open311/"):
            # GeoReport v2 knows no 422: Open311Route answers a bad value with its 400 list. FastAPI's own 422 went
            # too, as it names the HTTPValidationError schema removed above (a dangling $ref stopped ReDoc).
            statuses = [s for s in statuses if s != 422]
            responses.pop("422", None)
        for status in statuses + OPERATION_STATUSES.get((method.upper(), path), []):
            declared = responses.get(str(status))
            if declared is not None and path.startswith("/open311/"):
                continue  # GeoReport's own error list, declared by api/open311/formats.py
            if declared is None or "content" not in declared or "application/json" in declared["content"] and \
                    status >= 400:
                responses[str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
    doc["tags"] = [{"name": t, "description": TAG_DESCRIPTIONS.get(t, t)} for t in sorted(tags)]
    _integer_bounds(doc)
    return doc


def _integer_bounds(node: Any) -> None:
    """Numeric bounds as JSON Schema says them. Pydantic leaves the bounds of a type with a validator
    (``api.core.params.Integer``) as ``ge``/``le``, which no client reads; and FastAPI writes a body model's
    ``le=2**63 - 1`` as the float 9.223372036854776e18, which is 2**63: a client sending that "valid" id got a 422.
    Integer bounds are integers, and those past bigint are bigint's."""
    if isinstance(node, dict):
        if node.get("type") in ("integer", "number"):
            for raw, keyword in _BOUNDS.items():
                if raw in node:
                    node.setdefault(keyword, node.pop(raw))
        if node.get("type") == "integer":
            for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                v = node.get(k)
                if isinstance(v, float) and v.is_integer():
                    node[k] = max(-MAX_BIGINT - 1, min(MAX_BIGINT, int(v)))
        for v in node.values():
            _integer_bounds(v)
    elif isinstance(node, list):
        for v in node:
            _integer_bounds(v)


_BOUNDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}


def error_statuses(op: dict[str, Any], method: str, intake: bool) -> list[int]:
    """The error statuses an operation can answer (the one rule; see the module docstring)."""
    secured = bool(op.get("security"))
    has_body = "requestBody" in op or method in ("post", "put", "patch")
    has_input = has_body or bool(op.get("parameters"))
    out = [503]
    if has_body:
        out += [400, 413, 415]
    if secured:
        out += [401, 403, 404]
    elif has_input:
        out += [404]
    if has_input:
        out.append(422)
    if method in ("post", "put", "patch", "delete") and secured:
        out.append(409)
    if intake:
        out.append(429)
    return sorted(set(out))


TAG_DESCRIPTIONS = {
    "addresses": "Address search, reverse lookup and the review queue (地址)",
    "areas": "Streets and communities (街道、社区)",
    "audit": "Who did what (审计日志)",
    "buildings": "Building footprints (楼栋)",
    "calendar": "Working days and holidays that case deadlines count in (工作日历)",
    "cases": "Cases: transitions, whistles, duplicates, rates (案件)",
    "coverage": "Coverage analysis and workload of a layout (覆盖分析)",
    "facilities": "Facilities (设施)",
    "grids": "Grid layouts and grids (网格)",
    "health": "Liveness and readiness",
    "keys": "API keys for machine systems",
    "locate": "Which grid is this point in (落格)",
    "media": "Photos attached to reports and cases (图片)",
    "ogc": "OGC API Features and Tiles, for GIS tools (QGIS, GDAL)",
    "open311": "Open311 GeoReport v2",
    "people": "Grid staff (网格员)",
    "planner": "Draft layouts: import, edit, validate, publish (规划)",
    "reports": "Report intake and reading (上报)",
    "roads": "The road network: import, export and walking catchments along roads (道路)",
    "tiles": "Vector tiles",
    "users": "Users, sign-in and sessions",
    "wall": "The map wall (大屏)",
    "webhooks": "Events pushed to other systems: subscriptions, deliveries, dead letters (事件推送)",
}


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            if method in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
                yield path, method, op


def _domain(path: str) -> str:
    parts = [p for p in path.split("/") if p and p not in ("api", "v1")]
    return parts[0] if parts else "health"


def _apply_rule(param: dict[str, Any], rule: dict[str, Any] | None) -> list[str]:
    """Narrow a plain string parameter to ``rule``'s schema; return the rule's prose when it applied."""
    if rule is None or param.get("in") not in ("query", "path"):
        return []
    schema = param.get("schema", {})
    applied = False
    for v in schema.get("anyOf") or [schema]:
        if v.get("type") == "string" and not {"pattern", "enum", "format"} & set(v):
            v.update({k: val for k, val in rule.items() if k not in ("description", "rule")})
            applied = True
    if applied and "description" in rule and not param.get("description"):
        param["description"] = rule["description"]
    return [rule["rule"]] if applied and "rule" in rule else []


def _intake_operations(app: FastAPI) -> set[tuple[str, str]]:
    """Operations behind an intake guard (the token bucket's 429): found in each route's dependencies."""
    found = set()
    for route in app.routes:
        if isinstance(route, APIRoute) and _uses_intake(route.dependant):
            found |= {(m, route.path_format) for m in route.methods}
    return found


def _uses_intake(dependant: Any) -> bool:
    return any(getattr(d.call, "__name__", "").endswith("intake_guard") or _uses_intake(d)
               for d in dependant.dependencies)
