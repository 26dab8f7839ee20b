"""/api/docs (Swagger UI) and /redoc (ReDoc) from the files vendored in web/vendor/, never from a CDN.

FastAPI's default pages load their scripts, styles, favicon and (ReDoc) Google Fonts from jsDelivr and
fastapi.tiangolo.com, so on an intranet without internet they are blank. Its own page builders take the asset
URLs, which is all that is needed; Swagger UI's online validator badge is switched off for the same reason.
The overview shown at the top of both (authentication, problem codes, idempotency, CRS) is kept in
``overview.md`` next to this file; its table of problem codes is made from api/core/errors.py, the one home of
those codes.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from api.core import errors

OVERVIEW = Path(__file__).with_name("overview.md")
VENDOR = "/vendor"
FAVICON = f"{VENDOR}/swagger-ui/favicon-32x32.png"
OPENAPI_URL = "/api/v1/openapi.json"

router = APIRouter(include_in_schema=False)


def _problem_codes() -> str:
    """A markdown table of every problem ``code``, from the error classes themselves."""
    seen: dict[str, tuple[int, str]] = {}
    todo = [errors.GridmapError]
    while todo:
        cls = todo.pop(0)
        todo.extend(cls.__subclasses__())
        seen.setdefault(cls.code, (cls.status, cls.title))
    rows = [f"| `{code}` | {status} | {title} |" for code, (status, title) in sorted(seen.items(),
                                                                                  key=lambda kv: (kv[1][0], kv[0]))]
    return "\n".join(["| code | HTTP status | title |", "|---|---|---|", *rows])


@cache
def overview() -> str:
    """The OpenAPI document's description: overview.md with its problem-code table filled in."""
    return OVERVIEW.read_text(encoding="utf-8").replace("{problem_codes}", _problem_codes())


@router.get("/api/docs")
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=OPENAPI_URL, title="gridmap API · Swagger UI",
        swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css", swagger_favicon_url=FAVICON,
        swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True})


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return get_redoc_html(openapi_url=OPENAPI_URL, title="gridmap API · ReDoc",
                          redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js", redoc_favicon_url=FAVICON,
                          with_google_fonts=False)
