"""GeoJSON out of PostGIS without a round trip through Python objects.

FeatureCollections are assembled by PostgreSQL (``ST_AsGeoJSON`` + ``jsonb_build_object``) and
passed through as text: for a page of a few thousand polygons that is several times faster than
loading geometries into shapely and serialising them again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Request, Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.errors import InvalidParameter

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
    """Run ``inner`` and answer a GeoJSON FeatureCollection with OGC API style paging members."""
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
    if count_sql is not None:
        matched = session.execute(text(count_sql), params).scalar_one()
        head["numberMatched"] = matched
        head["numberReturned"] = returned
        links = []
        if request is not None and limit is not None and offset + limit < matched:
            query = dict(request.query_params)
            query.update({"offset": str(offset + limit), "limit": str(limit)})
            links.append({"rel": "next", "type": GEOJSON, "href": f"{request.url.path}?{urlencode(query)}"})
        head["links"] = links
    body = orjson.dumps(head)[:-1] + b',"features":' + features.encode() + b"}"
    return Response(content=body, media_type=GEOJSON)
