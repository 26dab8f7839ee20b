"""GeoJSON out of PostGIS without a round trip through Python objects.

FeatureCollections are assembled by PostgreSQL (``ST_AsGeoJSON`` + ``jsonb_build_object``) and
passed through as text: for a page of a few thousand polygons that is several times faster than
loading geometries into shapely and serialising them again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import orjson
from fastapi import Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.errors import GridmapError, InvalidParameter

GEOJSON = "application/geo+json"
#: 7 decimal places of a degree is about 1 cm: enough for any boundary, and keeps payloads small.
DECIMALS = 7


@dataclass(frozen=True, slots=True)
class BBox:
    minx: float
    miny: float
    maxx: float
    maxy: float


def parse_bbox(raw: str | None) -> BBox | None:
    """Parse ``minx,miny,maxx,maxy`` in WGS84 degrees, or fail with a 400 that says what is wrong."""
    if raw is None or raw == "":
        return None
    parts = raw.split(",")
    if len(parts) != 4:
        raise InvalidParameter("bbox must be four numbers: minLon,minLat,maxLon,maxLat", field="bbox")
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError:
        raise InvalidParameter("bbox must be four numbers: minLon,minLat,maxLon,maxLat", field="bbox") from None
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise InvalidParameter("bbox values must be finite numbers", field="bbox")
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise InvalidParameter(
            "bbox is outside longitude [-180, 180] / latitude [-90, 90]; is it lat,lon instead of lon,lat?",
            field="bbox",
        )
    if minx >= maxx or miny >= maxy:
        raise InvalidParameter("bbox minimums must be smaller than maximums", field="bbox")
    return BBox(minx, miny, maxx, maxy)


def bbox_params(bbox: BBox | None) -> dict[str, float]:
    if bbox is None:
        return {}
    return {"minx": bbox.minx, "miny": bbox.miny, "maxx": bbox.maxx, "maxy": bbox.maxy}


def bbox_clause(column: str, bbox: BBox | None) -> str:
    if bbox is None:
        return "TRUE"
    return f"ST_Intersects({column}, ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326))"


def features_sql(inner: str, *, id_column: str, geom_column: str) -> str:
    """Wrap a query so that it returns its row count and the JSON array of its rows as Features."""
    return f"""
        SELECT count(*), coalesce(json_agg(
            json_build_object(
                'type', 'Feature',
                'id', t.{id_column},
                'geometry', ST_AsGeoJSON(t.{geom_column}, {DECIMALS})::json,
                'properties', to_jsonb(t) - '{geom_column}'
            )), '[]')::text
        FROM ({inner}) AS t
    """


class TooManyFeatures(GridmapError):
    """``limit=all`` over more features than ``GRIDMAP_MAX_STREAM_FEATURES``: narrow the bbox (or page)."""

    status, code, title = 422, "too_many_features", "Too many features for one response"


#: ``limit``: a page size, or ``all`` for the whole (bounded) layer in one streamed response (issue 17, defect 14:
#: GDAL's GeoJSON driver does not follow ``links.next``, so ``ogr2ogr`` copied one page without a word).
LayerLimit = Annotated[
    Annotated[int, Field(ge=1, le=2**63 - 1)] | Literal["all"] | None,
    Query(description="features per page (default 1,000, at most `GRIDMAP_MAX_PAGE_SIZE`), or `all`: every feature "
                      "that matches, in one streamed response, up to `GRIDMAP_MAX_STREAM_FEATURES` (more: 422 "
                      "`too_many_features`). For GIS tools (ogr2ogr, QGIS) that read one response and follow no "
                      "links. A page that holds fewer features than match says so: `\"partial\": true`, "
                      "`numberMatched`, `numberReturned`, a `description` GDAL shows, and the `X-Partial`, "
                      "`X-Total-Count` and `Link` headers."),
]
#: The headers of a paged or streamed layer, for the OpenAPI document.
LAYER_HEADERS = {
    "X-Partial": {"description": "`true` when the response holds fewer features than match (follow `Link`, "
                                 "or ask `limit=all`)", "schema": {"type": "string", "enum": ["true", "false"]}},
    "X-Total-Count": {"description": "features that match (numberMatched)", "schema": {"type": "integer"}},
    "Link": {"description": "`<…>; rel=\"next\"` when there is a next page", "schema": {"type": "string"}},
}
LAYER_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {GEOJSON: {}}, "headers": LAYER_HEADERS}}
STREAM_CHUNK = 1_000


def _layer_head(head: dict[str, Any], *, matched: int, returned: int | None, next_href: str | None) -> dict[str, str]:
    """The partial-answer members of ``head`` (in place) and the matching headers."""
    partial = returned is not None and returned < matched
    head["numberMatched"] = matched
    if returned is not None:
        head["numberReturned"] = returned
    head["partial"] = partial
    headers = {"X-Partial": "true" if partial else "false", "X-Total-Count": str(matched)}
    if partial:
        # GDAL shows a FeatureCollection's description as the layer's DESCRIPTION (ogrinfo prints it)
        head["description"] = (f"partial: {returned:,} of {matched:,} features; follow links.next, or ask "
                               "limit=all for the whole layer in one response")
    if next_href:
        headers["Link"] = f'<{next_href}>; rel="next"; type="{GEOJSON}"'
    return headers


def feature_collection(
    session: Session,
    inner: str,
    params: dict[str, Any],
    *,
    id_column: str,
    geom_column: str,
    count_sql: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    request: Request | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    """Run ``inner`` and answer a GeoJSON FeatureCollection with OGC API style paging members; a page that holds
    fewer features than match says so (``partial``, a ``description``, headers: see :data:`LayerLimit`)."""
    page_sql = inner
    if limit is not None:
        page_sql = f"{inner} LIMIT :_limit OFFSET :_offset"
        params = {**params, "_limit": limit, "_offset": offset}
    returned, features = session.execute(
        text(features_sql(page_sql, id_column=id_column, geom_column=geom_column)), params
    ).one()
    head: dict[str, Any] = {"type": "FeatureCollection"}
    if extra:
        head.update(extra)
    headers: dict[str, str] = {}
    if count_sql is not None:
        matched = session.execute(text(count_sql), params).scalar_one()
        links = []
        href = None
        if request is not None and limit is not None and offset + limit < matched:
            query = dict(request.query_params)
            query.update({"offset": str(offset + limit), "limit": str(limit)})
            href = f"{request.url.path}?{urlencode(query)}"
            links.append({"rel": "next", "type": GEOJSON, "href": href})
        headers = _layer_head(head, matched=matched, returned=returned, next_href=href)
        head["links"] = links
    body = orjson.dumps(head)[:-1] + b',"features":' + features.encode() + b"}"
    return Response(content=body, media_type=GEOJSON, headers=headers)


def stream_feature_collection(
    factory: Callable[[], AbstractContextManager[Session]],
    inner: str,
    params: dict[str, Any],
    *,
    id_column: str,
    geom_column: str,
    count_sql: str,
    max_features: int,
    extra: dict[str, Any] | None = None,
) -> StreamingResponse:
    """Every feature of ``inner`` in one streamed FeatureCollection (``limit=all``): counted first (over
    ``max_features``: :class:`TooManyFeatures`), then read through a server-side cursor ``STREAM_CHUNK`` rows at a
    time and sent as they come, so memory stays bounded whatever the layer's size. ``numberReturned`` closes
    the document; the session lives as long as the stream."""
    cm = factory()
    session = cm.__enter__()
    try:
        matched = session.execute(text(count_sql), params).scalar_one()
        if matched > max_features:
            raise TooManyFeatures(
                f"{matched:,} features match; limit=all answers at most {max_features:,} "
                "(GRIDMAP_MAX_STREAM_FEATURES): narrow the bbox, or page with limit and offset",
                limit=max_features, setting="GRIDMAP_MAX_STREAM_FEATURES", matched=matched)
    except BaseException:
        cm.__exit__(None, None, None)
        raise
    head: dict[str, Any] = {"type": "FeatureCollection", **(extra or {})}
    headers = _layer_head(head, matched=matched, returned=None, next_href=None)
    head["links"] = []
    rows_sql = f"""
        SELECT json_build_object('type', 'Feature', 'id', t.{id_column},
                                 'geometry', ST_AsGeoJSON(t.{geom_column}, {DECIMALS})::json,
                                 'properties', to_jsonb(t) - '{geom_column}')::text
        FROM ({inner}) AS t"""

    def chunks() -> Iterator[bytes]:
        returned = 0
        try:
            yield orjson.dumps(head)[:-1] + b',"features":['
            result = session.execute(text(rows_sql), params, execution_options={"yield_per": STREAM_CHUNK})
            for part in result.partitions():
                body = b",".join(row[0].encode() for row in part)
                yield (b"," if returned else b"") + body
                returned += len(part)
            yield b'],"numberReturned":' + orjson.dumps(returned) + b"}"
        finally:
            cm.__exit__(None, None, None)

    return StreamingResponse(chunks(), media_type=GEOJSON, headers=headers)


def layer_response(
    session: Session,
    factory: Callable[[], AbstractContextManager[Session]],
    inner: str,
    params: dict[str, Any],
    *,
    id_column: str,
    geom_column: str,
    count_sql: str,
    limit: int | Literal["all"] | None,
    offset: int,
    request: Request,
    settings: Any,
    extra: dict[str, Any] | None = None,
) -> Response:
    """A paged layer (``limit`` features from ``offset``, default and ceiling from the settings), or with
    ``limit=all`` the whole layer streamed (:func:`stream_feature_collection`)."""
    if limit == "all":
        if offset:
            raise InvalidParameter("offset cannot be combined with limit=all", field="offset")
        return stream_feature_collection(factory, inner, params, id_column=id_column, geom_column=geom_column,
                                         count_sql=count_sql, max_features=settings.max_stream_features, extra=extra)
    page = min(limit or settings.default_page_size, settings.max_page_size)
    return feature_collection(session, inner, params, id_column=id_column, geom_column=geom_column,
                              count_sql=count_sql, limit=page, offset=offset, request=request, extra=extra)
