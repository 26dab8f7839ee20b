"""Routes of /ogc: OGC API Features Parts 1-4 and Tiles (issue 23). The work is in service.py, tiles.py, edit.py."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials

from api.auth.deps import Planner, _bearer, get_principal
from api.auth.service import Principal
from api.core.deps import SessionDep, SessionFactory, SettingsDep
from api.core.errors import Forbidden, InvalidQuery
from api.core.geojson import GEOJSON
from api.ogc import collections as colls
from api.ogc import crs as crsmod
from api.ogc import edit, html, openapi, service, tiles
from api.ogc.collections import Collection
from api.tiles.service import get_tile

router = APIRouter(prefix="/ogc", tags=["ogc"])
CollectionId = Annotated[str, Path(max_length=64, description="a collection id, e.g. `grids`, `grids-layout-2`")]
FeatureId = Annotated[str, Path(max_length=64, description="the feature's id (a code or a number)")]
_PROBLEMS = {400: {"description": "bad parameter (problem+json)"}, 401: {"description": "no or bad credentials"},
             403: {"description": "not for this role"}, 404: {"description": "no such collection or feature"}}


async def caller(request: Request, factory: SessionFactory,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal | None:
    """The principal, as for the API; None (anonymous) only when the deployment made some collections public."""
    if credentials is None and public_collections(request):
        return None
    principal = await get_principal(request, factory, credentials)
    if principal.role not in colls.ANY_READER:
        raise Forbidden(f"/ogc needs one of the roles: {', '.join(sorted(colls.ANY_READER))}.")
    return principal


Caller = Annotated[Principal | None, Depends(caller)]


def public_collections(request: Request) -> frozenset[str]:
    return request.app.state.settings.ogc_public_set


def _json(doc: Any, request: Request, title: str, media_type: str = service.JSON,
          headers: dict[str, str] | None = None) -> Response:
    if html.wants_html(request):
        return html.render(doc, title)
    return Response(orjson.dumps(doc), media_type=media_type, headers=headers)


def _readable(session: Any, request: Request, collection_id: str, principal: Principal | None) -> Collection:
    coll = colls.resolve(session, collection_id)
    colls.check_read(coll, principal, public_collections(request))
    return coll


@router.get("", response_class=Response, responses={200: {"content": {service.JSON: {}, service.HTML: {}}}})
def landing(request: Request) -> Response:
    """The landing page: links to the API definition, the conformance classes and the collections (no key)."""
    return _json(service.landing(request), request, "gridmap OGC API")


@router.get("/conformance", response_class=Response)
def conformance(request: Request) -> Response:
    """The conformance classes /ogc implements (no key)."""
    return _json({"conformsTo": service.CONFORMANCE}, request, "Conformance")


@router.get("/api", response_class=Response, responses={200: {"content": {service.OPENAPI: {}}}})
def api_definition(request: Request, settings: SettingsDep) -> Response:
    """The OpenAPI 3.0 definition of /ogc (what GDAL and QGIS read; the app's own is 3.1) (no key)."""
    doc = openapi.document(service.root(request), max_limit=settings.max_page_size)
    return Response(orjson.dumps(doc), media_type=service.OPENAPI)


@router.get("/collections", response_class=Response, responses=_PROBLEMS)
def collections(request: Request, session: SessionDep, principal: Caller) -> Response:
    """The collections the caller may read: the fixed ones, then one per grid layout (drafts for planners)."""
    found = colls.all_collections(session, principal, public_collections(request))
    base = service.root(request)
    doc = {"links": [service.link(base + "/collections", "self", service.JSON),
                     service.link(base + "/collections?f=html", "alternate", service.HTML)],
           "collections": [service.collection_doc(session, request, c, principal) for c in found]}
    return _json(doc, request, "Collections")


@router.get("/collections/{collection_id}", response_class=Response, responses=_PROBLEMS)
def collection(collection_id: CollectionId, request: Request, session: SessionDep, principal: Caller) -> Response:
    """One collection: its extent, CRSs, and links to its items, queryables and tiles."""
    coll = _readable(session, request, collection_id, principal)
    return _json(service.collection_doc(session, request, coll, principal), request, coll.title)


@router.get("/collections/{collection_id}/queryables", response_class=Response, responses=_PROBLEMS)
def queryables(collection_id: CollectionId, request: Request, session: SessionDep, principal: Caller) -> Response:
    """The properties a filter may name (JSON Schema)."""
    coll = _readable(session, request, collection_id, principal)
    return Response(orjson.dumps(service.queryables(request, coll, principal)), media_type="application/schema+json")


@router.get("/collections/{collection_id}/items", response_class=Response,
            responses={200: {"content": {GEOJSON: {}, service.HTML: {}}}, **_PROBLEMS})
def items(
    collection_id: CollectionId,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: Caller,
    limit: Annotated[int | None, Query(ge=1, le=2**31, description="page size (clamped to the maximum)")] = None,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    cursor: Annotated[str | None, Query(max_length=200, description="where the page starts (from a next or prev "
                                                                   "link; an opaque token)")] = None,
    bbox: Annotated[str | None, Query(max_length=200, description="minx,miny,maxx,maxy in bbox-crs")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", max_length=200)] = None,
    datetime: Annotated[str | None, Query(max_length=100, description="an instant or an interval")] = None,
    crs: Annotated[str | None, Query(max_length=200, description="the output CRS (default CRS84)")] = None,
    filter: Annotated[str | None, Query(max_length=20_000, description="a CQL2 filter")] = None,
    filter_lang: Annotated[str | None, Query(alias="filter-lang", max_length=20)] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs", max_length=200)] = None,
) -> Response:
    """Features of a collection, paged (`next` links), filtered by bbox, datetime, queryables and CQL2."""
    coll = _readable(session, request, collection_id, principal)
    equals = tuple((k, v) for k, v in request.query_params.items() if k not in service.ITEM_PARAMS)
    for name, _ in equals:
        if coll.prop(name, principal) is None:
            raise InvalidQuery(f"unknown query parameter {name!r} (not a queryable of {coll.id})", field=name)
    q = service.ItemsQuery(
        limit=min(limit or settings.ogc_default_limit, settings.max_page_size), offset=offset,
        cursor=service.decode_cursor(cursor, coll.id_type), bbox=service.parse_bbox(bbox),
        bbox_crs=crsmod.parse(bbox_crs, field="bbox-crs"),
        crs=crsmod.parse(crs, field="crs"), datetime=datetime, filter=filter, filter_lang=filter_lang,
        filter_crs=crsmod.parse_geographic(filter_crs, field="filter-crs"), equals=equals, tz=settings.timezone)
    answer = service.items(session, request=request, coll=coll, principal=principal, q=q)
    if html.wants_html(request):
        return html.render(orjson.loads(answer.body), coll.title)
    return answer


@router.get("/collections/{collection_id}/items/{feature_id}", response_class=Response,
            responses={200: {"content": {GEOJSON: {}, service.HTML: {}}}, **_PROBLEMS})
def item(collection_id: CollectionId, feature_id: FeatureId, request: Request, session: SessionDep,
         principal: Caller,
         crs: Annotated[str | None, Query(max_length=200, description="the output CRS (default CRS84)")] = None,
         ) -> Response:
    """One feature (its ETag is what a Part 4 write names in If-Match)."""
    coll = _readable(session, request, collection_id, principal)
    out_crs = crsmod.parse(crs, field="crs")
    feature = service.item_row(session, coll=coll, principal=principal, feature_id=feature_id, crs=out_crs)
    base = f"{service.root(request)}/collections/{coll.id}"
    feature["links"] = [service.link(f"{base}/items/{feature_id}", "self", GEOJSON),
                        service.link(base, "collection", service.JSON)]
    headers = {"Content-Crs": crsmod.content_crs_header(out_crs)}
    if coll.editable:
        headers["ETag"] = edit.etag(session, coll, feature_id)
    return _json(feature, request, f"{coll.title}: {feature_id}", GEOJSON, headers)


@router.get("/collections/{collection_id}/tiles", response_class=Response, responses=_PROBLEMS)
def collection_tilesets(collection_id: CollectionId, request: Request, session: SessionDep,
                        principal: Caller) -> Response:
    """The vector tilesets of a collection (grids, grids-layout-*, buildings): OGC API Tiles."""
    coll = _readable(session, request, collection_id, principal)
    return _json(tiles.tilesets(request, coll), request, f"{coll.title}: tiles")


@router.get("/collections/{collection_id}/tiles/WebMercatorQuad", response_class=Response, responses=_PROBLEMS)
def collection_tileset(collection_id: CollectionId, request: Request, session: SessionDep,
                       principal: Caller) -> Response:
    """The WebMercatorQuad tileset: its zoom limits, fields and the URL template of the API's MVT tiles."""
    coll = _readable(session, request, collection_id, principal)
    return _json(tiles.tileset(request, coll), request, f"{coll.title}: WebMercatorQuad")


@router.get("/collections/{collection_id}/tiles/WebMercatorQuad/tilejson.json", response_class=Response,
            responses=_PROBLEMS)
def collection_tilejson(collection_id: CollectionId, request: Request, session: SessionDep,
                        principal: Caller) -> Response:
    """TileJSON 3.0 for MapLibre (`source.url`)."""
    coll = _readable(session, request, collection_id, principal)
    _, params = colls.base_filter(coll, principal, session, None)
    doc = tiles.tilejson(request, coll, service.extent(session, coll, params))
    return Response(orjson.dumps(doc), media_type=service.JSON)


@router.get("/collections/{collection_id}/tiles/WebMercatorQuad/{tile_matrix}/{tile_row}/{tile_col}",
            response_class=Response, responses={200: {"content": {tiles.MVT: {}}}, **_PROBLEMS})
def collection_tile(collection_id: CollectionId, tile_matrix: int, tile_row: int, tile_col: int, request: Request,
                    session: SessionDep, principal: Caller) -> Response:
    """One tile at the OGC API Tiles path: the same bytes (and ETag) as the API's MVT endpoint it stands for."""
    coll = _readable(session, request, collection_id, principal)
    found = get_tile(session, request.app.state.tile_cache, tiles.layer_of(coll), tile_matrix, tile_col, tile_row,
                     coll.layout_id)
    return Response(found.data, media_type=tiles.MVT,
                    headers={"ETag": found.etag, "Cache-Control": "private, no-cache"})


@router.get("/tileMatrixSets", response_class=Response)
def tile_matrix_sets(request: Request) -> Response:
    """The tiling schemes served (no key: they describe a grid, not data)."""
    return _json(tiles.matrix_sets(request), request, "Tile matrix sets")


@router.get("/tileMatrixSets/WebMercatorQuad", response_class=Response)
def tile_matrix_set(request: Request) -> Response:
    """WebMercatorQuad (OGC 2D Tile Matrix Set JSON, from morecantile) (no key)."""
    return _json(tiles.matrix_set(), request, "WebMercatorQuad")


# --- Part 4: writes on draft layouts (the planner's edit log; api/ogc/edit.py) ----------------------------------
Editor = Planner
FeatureBody = Annotated[dict[str, Any], Body(description="a GeoJSON Feature (CRS84)")]
IfMatch = Annotated[str | None, Header(max_length=200, description="the ETag read with the feature")]
ContentCrs = Annotated[str | None, Header(alias="Content-Crs", max_length=200)]
_WRITE = {**_PROBLEMS, 405: {"description": "a published layout: read-only"}, 409: {"description": "conflict"},
          412: {"description": "stale If-Match"}, 422: {"description": "the edit is refused (validation)"}}


def _editable(session: Any, collection_id: str, principal: Principal) -> Collection:
    coll = colls.resolve(session, collection_id)
    colls.check_read(coll, principal, frozenset())
    return coll


@router.post("/collections/{collection_id}/items", status_code=201, response_class=Response, responses=_WRITE)
def create_item(collection_id: CollectionId, request: Request, session: SessionDep, settings: SettingsDep,
                principal: Editor, body: FeatureBody, content_crs: ContentCrs = None) -> Response:
    """Add a grid to a draft layout (an edit `create`, clipped to the uncovered space); `Location` names it."""
    coll = _editable(session, collection_id, principal)
    code = edit.create(session, settings=settings, principal=principal, coll=coll, body=body, content_crs=content_crs)
    location = f"{service.root(request)}/collections/{coll.id}/items/{code}"
    return Response(status_code=201, headers={"Location": location, "ETag": edit.etag(session, coll, code)})


def _update(session: Any, settings: Any, principal: Principal, collection_id: str, feature_id: str, body: Any,
            if_match: str | None, content_crs: str | None, *, replace: bool) -> Response:
    coll = _editable(session, collection_id, principal)
    edit.update(session, settings=settings, principal=principal, coll=coll, feature_id=feature_id, body=body,
                if_match=if_match, content_crs=content_crs, replace=replace)
    return Response(status_code=204, headers={"ETag": edit.etag(session, coll, feature_id)})


@router.put("/collections/{collection_id}/items/{feature_id}", status_code=204, response_class=Response,
            responses=_WRITE)
def replace_item(collection_id: CollectionId, feature_id: FeatureId, session: SessionDep, settings: SettingsDep,
                 principal: Editor, body: FeatureBody, if_match: IfMatch = None,
                 content_crs: ContentCrs = None) -> Response:
    """Replace a draft grid's geometry and attributes (edits `update_geometry`, `update_attrs`)."""
    return _update(session, settings, principal, collection_id, feature_id, body, if_match, content_crs,
                   replace=True)


@router.patch("/collections/{collection_id}/items/{feature_id}", status_code=204, response_class=Response,
              responses=_WRITE)
def update_item(collection_id: CollectionId, feature_id: FeatureId, session: SessionDep, settings: SettingsDep,
                principal: Editor, body: FeatureBody, if_match: IfMatch = None,
                content_crs: ContentCrs = None) -> Response:
    """Change what the merge patch sends (geometry and/or properties) of a draft grid."""
    return _update(session, settings, principal, collection_id, feature_id, body, if_match, content_crs,
                   replace=False)


@router.delete("/collections/{collection_id}/items/{feature_id}", status_code=204, response_class=Response,
               responses=_WRITE)
def delete_item(collection_id: CollectionId, feature_id: FeatureId, session: SessionDep, settings: SettingsDep,
                principal: Editor, if_match: IfMatch = None) -> Response:
    """Delete a draft grid (an edit `delete`; undo brings it back)."""
    coll = _editable(session, collection_id, principal)
    edit.delete(session, settings=settings, principal=principal, coll=coll, feature_id=feature_id,
                if_match=if_match)
    return Response(status_code=204)
