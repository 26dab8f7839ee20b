"""OGC API Features Part 4 (create, replace, update, delete) on the collections of **draft** layouts.

Every write is one or more edits of the planner's edit log (``api.planner.service.apply_edit``): the same snapping,
validation (a grid outside its community, an empty or duplicate grid is refused and the draft stays as it was),
revision counter and undo as the planner page. A published or retired layout is read-only (405).

Optimistic concurrency: each feature of a draft has an ETag (a digest of its row); a write that sends ``If-Match``
with an older one is refused with 412 and changes nothing. The edit itself is made against the draft's current
revision under the layout's row lock, so two writers never interleave.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.service import Principal
from api.core.config import Settings
from api.core.errors import GridmapError, InvalidParameter, NotFound
from api.ogc import crs as crsmod
from api.ogc.collections import Collection
from api.planner import schemas as ps
from api.planner import service as planner

#: The properties a write may set (the grid's own attributes; code, community and layout follow from the edit).
WRITABLE = ("name", "name_en", "households", "population")


class ReadOnly(GridmapError):
    status, code, title = 405, "read_only", "This collection is read-only"


class PreconditionFailed(GridmapError):
    status, code, title = 412, "precondition_failed", "The feature has changed since you read it"


def etag(session: Session, coll: Collection, feature_id: str) -> str:
    """A strong ETag of one grid row of a draft (every column an edit can change)."""
    digest = session.execute(text("""
        SELECT md5(concat_ws('|', code, name, name_en, community_code, households, population, properties::text,
                             encode(ST_AsEWKB(boundary), 'hex')))
        FROM grid WHERE layout_id = :l AND code = :c"""), {"l": coll.layout_id, "c": feature_id}).scalar()
    if digest is None:
        raise NotFound(f"no feature {feature_id!r} in {coll.id}")
    return f'"{digest}"'


def _writable(coll: Collection) -> int:
    if not coll.editable or coll.layout_id is None:
        raise ReadOnly(f"{coll.id} is read-only: only the collections of draft layouts (grids-layout-<draft id>) "
                       "take writes; copy the layout into a draft first")
    return coll.layout_id


def _check_etag(session: Session, coll: Collection, feature_id: str, if_match: str | None) -> None:
    current = etag(session, coll, feature_id)
    if if_match is not None and if_match.strip() != "*" and current not in [t.strip() for t in if_match.split(",")]:
        raise PreconditionFailed(f"feature {feature_id} has changed (its ETag is now {current}); read it again",
                                 etag=current)


def _content_crs(raw: str | None) -> None:
    if raw is not None and crsmod.parse(raw.strip("<>"), field="Content-Crs") != crsmod.DEFAULT:
        raise InvalidParameter("writes take CRS84 geometries (longitude, latitude)", field="Content-Crs")


def _feature(body: Any) -> tuple[dict | None, dict[str, Any]]:
    if not isinstance(body, dict) or body.get("type") not in ("Feature", None):
        raise InvalidParameter("send a GeoJSON Feature", field="body")
    props = body.get("properties") or {}
    if not isinstance(props, dict):
        raise InvalidParameter("properties must be an object", field="properties")
    geometry = body.get("geometry")
    if geometry is not None and not isinstance(geometry, dict):
        raise InvalidParameter("geometry must be a GeoJSON geometry", field="geometry")
    return geometry, props


def _revision(session: Session, layout_id: int) -> int:
    return session.execute(text("SELECT revision FROM grid_layout WHERE id = :id"), {"id": layout_id}).scalar_one()


def _apply(session: Session, settings: Settings, principal: Principal, layout_id: int, model: type,
           **fields: Any) -> dict[str, Any]:
    try:
        body = model(base_revision=_revision(session, layout_id), **fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidParameter(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}",
                               field=str(first["loc"][0]) if first["loc"] else "body") from None
    return planner.apply_edit(session, layout_id=layout_id, body=body, actor=principal.actor, settings=settings)


def _attrs(props: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    unknown = sorted(set(props) - set(WRITABLE) - {"code", "community_code", "street_code", "layout_id"})
    if unknown:
        raise InvalidParameter(f"properties {unknown} cannot be written; writable: {', '.join(WRITABLE)}",
                               field="properties")
    changes = {k: props[k] for k in WRITABLE if k in props}
    if current is not None:
        changes = {k: v for k, v in changes.items() if current.get(k) != v}
    return changes


def create(session: Session, *, settings: Settings, principal: Principal, coll: Collection, body: Any,
           content_crs: str | None) -> str:
    """A new grid in the draft (clipped to the space no other grid covers, as the planner's *draw*); its code."""
    layout_id = _writable(coll)
    _content_crs(content_crs)
    geometry, props = _feature(body)
    if geometry is None:
        raise InvalidParameter("a new grid needs a geometry", field="geometry")
    extra = _attrs(props, None)
    answer = _apply(session, settings, principal, layout_id, ps.Create, op="create", geometry=geometry,
                    name=extra.pop("name", None), name_en=extra.pop("name_en", None), code=props.get("code"))
    code = answer["edit"]["params"]["code"]
    if extra:
        _apply(session, settings, principal, layout_id, ps.UpdateAttrs, op="update_attrs", code=code, **extra)
    return code


def update(session: Session, *, settings: Settings, principal: Principal, coll: Collection, feature_id: str,
           body: Any, if_match: str | None, content_crs: str | None, replace: bool) -> None:
    """PUT (``replace``: the geometry is required) or PATCH (a merge patch: what is sent changes)."""
    layout_id = _writable(coll)
    _content_crs(content_crs)
    planner.lock_layout(session, layout_id, base_revision=None)
    _check_etag(session, coll, feature_id, if_match)
    geometry, props = _feature(body)
    if replace and geometry is None:
        raise InvalidParameter("PUT replaces the whole feature: send its geometry (or PATCH the properties)",
                               field="geometry")
    current = session.execute(text("""SELECT name, name_en, households, population FROM grid
                                      WHERE layout_id = :l AND code = :c"""),
                              {"l": layout_id, "c": feature_id}).mappings().one()
    changes = _attrs(props, dict(current))
    if geometry is not None:
        _apply(session, settings, principal, layout_id, ps.UpdateGeometry, op="update_geometry", code=feature_id,
               geometry=geometry)
    if changes:
        _apply(session, settings, principal, layout_id, ps.UpdateAttrs, op="update_attrs", code=feature_id,
               **changes)


def delete(session: Session, *, settings: Settings, principal: Principal, coll: Collection, feature_id: str,
           if_match: str | None) -> None:
    layout_id = _writable(coll)
    planner.lock_layout(session, layout_id, base_revision=None)
    _check_etag(session, coll, feature_id, if_match)
    _apply(session, settings, principal, layout_id, ps.Delete, op="delete", code=feature_id)
