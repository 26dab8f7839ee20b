"""Planner workspace routes (issue 8): drafts, edits with undo, validation, impact, publish, compare.
The contract is README.md in this folder. Writes are committed before the answer goes out (`SessionDep`), so a
planner who is told revision n can read it back at once."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.auth.deps import CurrentUser, Planner
from api.auth.service import Principal
from api.core.config import Settings
from api.core.deps import SessionDep, SettingsDep
from api.core.errors import InvalidParameter, UnsupportedMediaType, ValidationFailed, validation_problem
from api.core.geojson import GEOJSON
from api.grids import service as grids
from api.grids.schemas import LayoutOut
from api.imports.files import FileLimits
from api.planner import checks, publish, service
from api.planner.schemas import CancelPublishIn, EditIn, LayoutCreate, PublishIn, UndoIn

router = APIRouter(tags=["planner"])
LayoutId = Annotated[int, Path(ge=1, description="grid layout id")]


async def _publisher(principal: CurrentUser, settings: SettingsDep) -> Principal:
    """The roles of ``GRIDMAP_PUBLISH_ROLES`` (default planner and admin), checked before the body is read."""
    publish.check_publisher(principal, settings)
    return principal


Publisher = Annotated[Principal, Depends(_publisher)]
JSON = "application/json"
_FORM_FIELDS = ("file", "name", "crs", "code_field", "name_field", "code_prefix", "layer")


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS), status_code=status, media_type=JSON)


def _layout_body(session, layout_id: int) -> dict[str, Any]:  # a Session
    return grids.layout(session, layout_id=layout_id).model_dump(mode="json")


_CREATE_DOC = {
    "requestBody": {"content": {
        JSON: {"schema": LayoutCreate.model_json_schema()},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file", "name"], "properties": {
            "file": {"type": "string", "format": "binary"}, "name": {"type": "string"},
            "crs": {"type": "string", "description": "wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:nnnn"},
            "code_field": {"type": "string"}, "name_field": {"type": "string"},
            "code_prefix": {"type": "string", "description": "12-digit community code"},
            "layer": {"type": "string", "description": "GeoPackage layer"}}}},
    }, "required": True},
}


def _create_copy(session, settings: Settings, body: LayoutCreate) -> dict[str, Any]:
    new = service.create_copy(session, name=body.name, copy_of=body.copy_of, note=body.note)
    return _layout_body(session, new)


def _create_import(session, settings: Settings, form: dict[str, Any]) -> dict[str, Any]:
    upload = form["file"]
    new, info = service.import_draft(
        session, content=upload["content"], filename=upload["filename"], name=form["name"], crs=form.get("crs"),
        code_field=form.get("code_field"), name_field=form.get("name_field"), code_prefix=form.get("code_prefix"),
        layer=form.get("layer"), limits=FileLimits.from_settings(settings, upload=True))
    return {**_layout_body(session, new), "import": info}


@router.post("/layouts", status_code=201, response_model=LayoutOut, openapi_extra=_CREATE_DOC,
             responses={201: {"description": "the new draft (with `import` for an uploaded file)"},
                        413: {"description": "the file passes GRIDMAP_UPLOAD_MAX_BYTES (`payload_too_large`) or, a "
                                             "zip, its archive limits (`archive_too_large`); the problem names it",
                              "content": {"application/problem+json": {}}}})
async def create_layout(request: Request, session: SessionDep, settings: SettingsDep, _: Planner) -> Response:
    """A new draft layout: a copy of a layout (JSON `{name, copy_of}`; `copy_of` null = the one in force), or
    an imported file (multipart: `file`, `name`, `crs`, `code_field`, `name_field`, `code_prefix`)."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=len(_FORM_FIELDS))
        fields: dict[str, Any] = {}
        for key in _FORM_FIELDS[1:]:
            v = form.get(key)
            if v is not None and not isinstance(v, str):
                raise InvalidParameter(f"{key} must be a text field", field=key)
            fields[key] = v.strip() if isinstance(v, str) else None
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ValidationFailed("file: send the layer as a file field named 'file'", field="file")
        if not fields["name"]:
            raise ValidationFailed("name: give the draft a name", field="name")
        # the spooled file itself (on disk past 1 MiB), copied in chunks under GRIDMAP_UPLOAD_MAX_BYTES
        fields["file"] = {"content": upload.file, "filename": upload.filename or ""}
        out = await run_in_threadpool(_create_import, session, settings, fields)
        return _json(out, 201)
    if ctype.startswith("application/x-www-form-urlencoded"):  # a form without its file
        raise UnsupportedMediaType("send the file as multipart/form-data (a field named 'file'), or JSON "
                                   "{name, copy_of}", field="file")
    try:
        raw = await request.body()
        body = LayoutCreate.model_validate_json(raw or b"null")
    except ValidationError as exc:
        raise validation_problem(exc.errors()) from None
    out = await run_in_threadpool(_create_copy, session, settings, body)
    return _json(out, 201)


@router.get("/layouts/compare", responses={200: {"content": {JSON: {}}}})
def compare_layouts(session: SessionDep, _: Planner, a: Annotated[int, Query(ge=1)],
                    b: Annotated[int, Query(ge=1)]) -> Response:
    """Grids added, removed, changed (with the area that changed hands) and the same, from layout a to b."""
    return _json(checks.compare(session, a=a, b=b))


@router.delete("/layouts/{layout_id}", status_code=204, response_class=Response)
def delete_layout(layout_id: LayoutId, session: SessionDep, _: Planner) -> Response:
    """Delete a draft (with its edits); a published or retired layout is history and stays (409)."""
    service.delete_draft(session, layout_id=layout_id)
    return Response(status_code=204)


@router.get("/layouts/{layout_id}/grids", response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
def layout_grids(layout_id: LayoutId, session: SessionDep, _: Planner) -> Response:
    """Every grid of the layout as one FeatureCollection (no paging), with buildings counted and staff."""
    return Response(service.grid_features(session, layout_id=layout_id), media_type=GEOJSON)


@router.post("/layouts/{layout_id}/edits", responses={200: {"content": {JSON: {}}}})
def edit_layout(layout_id: LayoutId, session: SessionDep, settings: SettingsDep, principal: Planner,
                body: Annotated[EditIn, Body()]) -> Response:
    """One edit of a draft, made against `base_revision` (a stale one: 409 `revision_conflict`)."""
    return _json(service.apply_edit(session, layout_id=layout_id, body=body, actor=principal.actor,
                                                  settings=settings))


@router.post("/layouts/{layout_id}/undo", responses={200: {"content": {JSON: {}}}})
def undo_edit(layout_id: LayoutId, session: SessionDep, principal: Planner, body: UndoIn) -> Response:
    """Revert the newest edit not yet undone (itself recorded as an edit)."""
    return _json(service.undo(session, layout_id=layout_id, base_revision=body.base_revision,
                                            actor=principal.actor))


@router.get("/layouts/{layout_id}/edits", responses={200: {"content": {JSON: {}}}})
def list_edits(layout_id: LayoutId, session: SessionDep, _: Planner,
               limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> Response:
    """The edit history of a layout, newest first."""
    return _json(service.edits(session, layout_id=layout_id, limit=limit))


@router.get("/layouts/{layout_id}/validation", responses={200: {"content": {JSON: {}}}})
def validate_layout(layout_id: LayoutId, session: SessionDep, settings: SettingsDep, _: Planner) -> Response:
    """Coverage findings graded blocking or warning; publishing is refused while any is blocking."""
    return _json(checks.validation(session, layout_id=layout_id, settings=settings))


@router.get("/layouts/{layout_id}/impact", responses={200: {"content": {JSON: {}}}})
def layout_impact(layout_id: LayoutId, session: SessionDep, _: Planner,
                  against: Annotated[int | None, Query(ge=1, description="default: the layout in force")] = None
                  ) -> Response:
    """Buildings, households, facilities and open cases that would change grid, per grid before and after."""
    return _json(checks.impact(session, layout_id=layout_id, against=against))


@router.post("/layouts/{layout_id}/publish", response_model=LayoutOut)
def publish_layout(layout_id: LayoutId, session: SessionDep, settings: SettingsDep, principal: Publisher,
                   body: PublishIn) -> Response:
    """Publish a draft from `effective_from` (default now): atomic, serialised, audited."""
    publish.publish(session, layout_id=layout_id, body=body, principal=principal, settings=settings)
    return _json(_layout_body(session, layout_id))


@router.post("/layouts/{layout_id}/publish/cancel", response_model=LayoutOut)
def cancel_publish(layout_id: LayoutId, session: SessionDep, settings: SettingsDep, principal: Publisher,
                   body: CancelPublishIn) -> Response:
    """Withdraw a publish before its effective moment: the layout is a draft again, the layout in force runs
    on, routing is untouched; audited (409 `publish_not_scheduled` once the moment has come)."""
    publish.cancel(session, layout_id=layout_id, body=body, principal=principal, settings=settings)
    return _json(_layout_body(session, layout_id))


@router.get("/layouts/{layout_id}/publishes", responses={200: {"content": {JSON: {}}}})
def list_publishes(layout_id: LayoutId, session: SessionDep, _: Planner) -> Response:
    """When and by whom the layout was published, with the findings counts and any override reason."""
    return _json({"items": publish.publishes(session, layout_id=layout_id)})
