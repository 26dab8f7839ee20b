"""GeoReport v2's two formats and its error shape, for every route under /open311/v2.

A route answers in the format its path ends with (``services.json`` / ``services.xml``). Errors on these routes
are GeoReport's, not RFC 9457: ``[{"code": 404, "description": "…"}]`` in JSON, ``<errors><error><code>404
</code><description>…</description></error></errors>`` in XML, with the same HTTP status (and ``Retry-After`` /
``WWW-Authenticate``) as anywhere else in gridmap; ``gridmap_code`` carries gridmap's machine-readable code, as
``code`` does in a problem document. Open311 clients (the PyPI ``georeport`` and ``open311`` packages, city
dashboards) parse exactly these shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from xml.etree import ElementTree as ET

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.core.errors import GridmapError, ValidationFailed, database_error, log, problem_response

FORMATS = ("json", "xml")
MEDIA = {"json": "application/json", "xml": "text/xml; charset=utf-8"}


def path_format(request: Request) -> str:
    """The format a request's path asks for (``xml`` or, by default, ``json``)."""
    return "xml" if request.url.path.endswith(".xml") else "json"


def _fill(parent: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _fill(ET.SubElement(parent, k), v)
    elif isinstance(value, list):  # <endpoints><endpoint>…</endpoint></endpoints>, <formats><format>…
        for v in value:
            _fill(ET.SubElement(parent, parent.tag[:-1] if parent.tag.endswith("s") else "item"), v)
    elif isinstance(value, bool):
        parent.text = "true" if value else "false"
    elif value is not None:
        parent.text = str(value)


def to_xml(root: str, item: str | None, data: Any) -> bytes:
    """``data`` as GeoReport XML: a list becomes ``<root><item>…</item>…</root>``, a dict ``<root>…</root>``;
    None an empty element (GeoReport's "no value"), booleans ``true``/``false``, nested dicts nested elements."""
    top = ET.Element(root)
    if isinstance(data, list):
        for entry in data:
            _fill(ET.SubElement(top, item or "item"), entry)
    else:
        _fill(top, data)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def render(request: Request, data: Any, *, root: str, item: str | None = None, status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    """``data`` in the format of ``request``'s path (``root``/``item``: the XML element names)."""
    fmt = path_format(request)
    body = to_xml(root, item, data) if fmt == "xml" else orjson.dumps(data)
    return Response(body, status_code=status, media_type=MEDIA[fmt], headers=headers)


def error_response(request: Request, err: GridmapError) -> Response:
    """``err`` as a GeoReport error list, with the headers its problem document would carry."""
    kept = {k: v for k, v in problem_response(err).headers.items() if k in ("www-authenticate", "retry-after")}
    # GeoReport v2 answers a missing or invalid parameter with 400 Bad Request: its clients know no 422, so the
    # rest of the API's 422 (a value that parses but breaks a rule) is a 400 here; ``gridmap_code`` still says which.
    status = 400 if err.status == 422 else err.status
    errors = [{"code": status, "description": err.detail, "gridmap_code": err.code}]
    return render(request, errors, root="errors", item="error", status=status, headers=kept)


class Open311Route(APIRoute):
    """A route whose errors (its dependencies' too: a missing key, a bad parameter) are GeoReport's."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except GridmapError as exc:
                return error_response(request, exc)
            except RequestValidationError as exc:
                errors = [{"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"),
                           "message": e.get("msg", "")} for e in exc.errors()]
                return error_response(request, ValidationFailed(
                    "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"))
            except StarletteHTTPException as exc:
                err = GridmapError(str(exc.detail))
                err.status, err.code = exc.status_code, "http_error"
                return error_response(request, err)
            except Exception as exc:
                mapped = database_error(exc)
                if mapped is None:
                    raise
                log.warning("%s on %s %s: %s", mapped.code, request.method, request.url.path, exc)
                return error_response(request, mapped)

        return route


def responses(root: str, item: str | None = None, status: int = 200) -> dict[int | str, Any]:
    """OpenAPI ``responses`` for a GeoReport route: the answer in both formats and the error shapes."""
    error = {"application/json": {"schema": {"type": "array", "items": {
        "type": "object", "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"},
                       "gridmap_code": {"type": "string"}}}}},
        "text/xml": {"schema": {"type": "string", "description": "<errors><error><code/><description/></error>"
                                                                 "</errors>"}}}
    xml = f"<{root}>" + (f"<{item}>…</{item}>" if item else "…") + f"</{root}>"
    out: dict[int | str, Any] = {status: {"description": "the answer (JSON or XML, as the path says)", "content": {
        "application/json": {"schema": {}},  # .json paths
        "text/xml": {"schema": {"type": "string", "description": xml}}}}}
    for status, what in ((400, "a missing or invalid parameter (GeoReport has no 422)"),
                         (401, "no key, or an unknown or revoked one"),
                         (403, "not for this role"), (404, "no such service or request (or not yours)"),
                         (503, "the database is unavailable")):
        out[status] = {"description": what, "content": error}
    return out
