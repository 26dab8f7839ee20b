"""What an error response says, whichever door it came through: an RFC 9457 problem document on /api, GeoReport
v2's error list on /open311 (api/open311/formats.py: ``[{"code": <status>, "description", "gridmap_code"}]``,
or its XML). Tests that judge errors across the whole API read them through here."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import httpx

PROBLEM = "application/problem+json"


def _content_type(resp: Any) -> str:
    for name, values in resp.headers.items():  # schemathesis' responses keep each header as a list
        if name.lower() == "content-type":
            return values[0] if isinstance(values, list) else values
    return ""


def error_of(resp: httpx.Response | Any, path: str | None = None) -> dict[str, Any] | None:
    """``{"status", "code", "detail"}`` of a well-formed error response, or None when it is not one. ``path``:
    the request's path, for responses that do not carry their URL (schemathesis')."""
    ctype = _content_type(resp)
    path = path if path is not None else resp.url.path
    try:
        # (On /open311 too, what is refused before a route is matched, a body over the size limit, is a problem.)
        if path.startswith("/open311/") and not ctype.startswith(PROBLEM):
            if ctype.startswith("text/xml"):
                err = ET.fromstring(resp.content).find("error")
                if err is None:
                    return None
                return {"status": int(err.findtext("code") or 0), "code": err.findtext("gridmap_code"),
                        "detail": err.findtext("description")}
            body = resp.json() if ctype.startswith("application/json") else None
            if not (isinstance(body, list) and len(body) == 1 and isinstance(body[0], dict)):
                return None
            return {"status": body[0].get("code"), "code": body[0].get("gridmap_code"),
                    "detail": body[0].get("description")}
        body = resp.json() if ctype.startswith(PROBLEM) else None
    except (ValueError, ET.ParseError):
        return None
    return body if isinstance(body, dict) else None
