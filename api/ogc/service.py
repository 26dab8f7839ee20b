"""OGC API Features Part 1 (Core, GeoJSON) with Parts 2 (CRS) and 3 (filtering): the documents and the items.

Features are assembled by PostgreSQL (``json_agg`` over ``ST_AsGeoJSON``) and passed through as text, as the API's
own GeoJSON endpoints do (api/core/geojson.py); the difference here is the OGC members (links, ``timeStamp``,
``numberMatched``), the output CRS and the filters.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Request, Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.auth.service import Principal
from api.core.errors import InvalidQuery, NotFound
from api.core.geojson import GEOJSON
from api.locate.service import parse_time
from api.ogc import cql
from api.ogc import crs as crsmod
from api.ogc.collections import Collection, base_filter

JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
HTML = "text/html"
_CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
_CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
_FILTER = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
CONFORMANCE = [
    _CORE + "core", _CORE + "geojson", _CORE + "html", _CORE + "oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    _FILTER + "queryables", _FILTER + "queryables-query-parameters", _FILTER + "filter", _FILTER + "features-filter",
    _CQL2 + "cql2-text", _CQL2 + "cql2-json", _CQL2 + "basic-cql2", _CQL2 + "advanced-comparison-operators",
    _CQL2 + "basic-spatial-functions", _CQL2 + "basic-spatial-functions-plus", _CQL2 + "spatial-functions",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/optimistic-locking-etags",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
]
#: Query parameters of the items request; any other must name a queryable (``name=value``) or is a 400.
ITEM_PARAMS = frozenset(("f", "limit", "offset", "cursor", "bbox", "bbox-crs", "datetime", "crs", "filter",
                         "filter-lang", "filter-crs"))


def root(request: Request) -> str:
    """The absolute URL of /ogc as the client reached it (links are absolute: GDAL and QGIS follow them as is)."""
    return str(request.base_url).rstrip("/") + "/ogc"


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def landing(request: Request) -> dict[str, Any]:
    base = root(request)
    return {
        "title": "gridmap OGC API",
        "description": "Grids, communities, streets, buildings, facilities, addresses and cases of gridmap "
                       "(网格化基层治理) as OGC API Features (Parts 1-4) and Tiles.",
        "links": [
            link(base, "self", JSON, "this document"),
            link(base + "?f=html", "alternate", HTML, "this document as HTML"),
            link(base + "/api", "service-desc", OPENAPI, "the API definition (OpenAPI 3.0)"),
            link(str(request.base_url).rstrip("/") + "/api/docs", "service-doc", HTML, "the API documentation"),
            link(base + "/conformance", "conformance", JSON, "conformance classes"),
            link(base + "/collections", "data", JSON, "feature collections"),
        ],
    }


def extent(session: Session, coll: Collection, params: dict[str, Any]) -> list[float] | None:
    if coll.extent_sql is None or (coll.layout_by_time and params.get("layout") is None):
        return None
    box = session.execute(text(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM ({coll.extent_sql}) x(e)"),
                          params).first()
    return None if box is None or box[0] is None else [round(float(v), 7) for v in box]


def collection_doc(session: Session, request: Request, coll: Collection, principal: Principal | None) -> dict:
    base = f"{root(request)}/collections/{coll.id}"
    _, params = base_filter(coll, principal, session, None)
    doc: dict[str, Any] = {
        "id": coll.id, "title": coll.title, "description": coll.description, "itemType": "feature",
        "crs": crsmod.supported(), "storageCrs": crsmod.EPSG_URI.format(code=4326),
        "links": [
            link(base, "self", JSON), link(base + "?f=html", "alternate", HTML),
            link(base + "/items", "items", GEOJSON, "the features"),
            link(base + "/items?f=html", "items", HTML, "the features as HTML"),
            link(base + "/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables", "application/schema+json",
                 "what the filter may name"),
        ],
    }
    box = extent(session, coll, params)
    if box is not None:
        doc["extent"] = {"spatial": {"bbox": [box], "crs": crsmod.CRS84}}
    if coll.tiles is not None:
        doc["links"].append(link(base + "/tiles", "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                                 JSON, "vector tiles"))
    return doc


def queryables(request: Request, coll: Collection, principal: Principal | None) -> dict[str, Any]:
    props: dict[str, Any] = {"geometry": {"$ref": f"https://geojson.org/schema/{coll.geometry_type}.json"}}
    for p in coll.visible_props(principal):
        props[p.name] = p.schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{root(request)}/collections/{coll.id}/queryables",
        "type": "object", "title": coll.title, "properties": props, "additionalProperties": False,
    }


@dataclass(frozen=True, slots=True)
class Cursor:
    """A page boundary: the features after (``forward``) or before ``key``, in the collection's id order.

    Why keyset and not ``offset``: PostgreSQL reaches ``OFFSET n`` by producing and dropping n rows, so page k of a
    walk costs k pages; ``WHERE id > :key ORDER BY id LIMIT n`` starts in the primary key's index where the last
    page ended, and a deep page costs what the first one does (bench/tipg.py, ``ogc_paging``)."""

    key: int | str
    forward: bool = True


def encode_cursor(cursor: Cursor) -> str:
    """The opaque ``cursor`` token of a link (base64url JSON; clients only copy it)."""
    raw = orjson.dumps(["a" if cursor.forward else "b", cursor.key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str | None, id_type: str) -> Cursor | None:
    """The cursor of a link, or a 400 for a token no link of this collection carries."""
    if token is None:
        return None
    try:
        way, key = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError, binascii.Error):
        raise InvalidQuery("cursor: not a token of a next or prev link", field="cursor") from None
    ok = type(key) is int and abs(key) < 2**63 if id_type == "integer" else type(key) is str and "\0" not in key
    if way not in ("a", "b") or not ok:
        raise InvalidQuery("cursor: not a token of a next or prev link of this collection", field="cursor")
    return Cursor(key, way == "a")


@dataclass(frozen=True, slots=True)
class ItemsQuery:
    """The parsed parameters of an items request (router.py fills it; every field already checked)."""

    limit: int
    offset: int = 0
    #: where a page starts, from a ``next``/``prev`` link (:func:`decode_cursor`): keyset paging
    cursor: Cursor | None = None
    bbox: list[float] | None = None
    bbox_crs: crsmod.Crs = crsmod.DEFAULT
    crs: crsmod.Crs = crsmod.DEFAULT
    datetime: str | None = None
    filter: str | None = None
    filter_lang: str | None = None
    filter_crs: crsmod.Crs = crsmod.DEFAULT
    equals: tuple[tuple[str, str], ...] = ()
    #: the zone of times sent without an offset (``GRIDMAP_TIMEZONE``, Beijing time)
    tz: str = "Asia/Shanghai"


def parse_bbox(raw: str | None) -> list[float] | None:
    if raw is None or raw == "":
        return None
    try:
        nums = [float(v) for v in raw.split(",")]
    except ValueError:
        raise InvalidQuery("bbox must be four (or six) comma-separated numbers", field="bbox") from None
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4 or not all(abs(v) < 1e9 for v in nums):
        raise InvalidQuery("bbox must be four (or six) comma-separated finite numbers", field="bbox")
    if nums[0] > nums[2] or nums[1] > nums[3]:
        raise InvalidQuery("bbox minimums must not exceed its maximums (in the bbox-crs axis order)",
                               field="bbox")
    return nums


def _time(raw: str, tz: str) -> datetime:
    try:
        return parse_time(raw, tz=tz)
    except InvalidQuery:
        raise InvalidQuery(f"datetime: not an RFC 3339 time: {raw!r}", field="datetime") from None


def _interval(raw: str, tz: str) -> tuple[datetime | None, datetime | None, bool]:
    """``datetime``: an instant (start = end) or an interval with ``..`` or empty open ends."""
    if "/" not in raw:
        at = _time(raw, tz)
        return at, at, True
    a, _, b = raw.partition("/")
    start = None if a in ("", "..") else _time(a, tz)
    end = None if b in ("", "..") else _time(b, tz)
    if start is not None and end is not None and start > end:
        raise InvalidQuery("datetime: the interval ends before it starts", field="datetime")
    return start, end, False


def _typed(name: str, kind: str, raw: str) -> Any:
    """A ``name=value`` query parameter as its property's type (GDAL sends booleans as 0/1)."""
    if kind == "boolean":
        if raw.lower() not in ("true", "false", "1", "0"):
            raise InvalidQuery(f"{name} is true or false, not {raw!r}", field=name)
        return raw.lower() in ("true", "1")
    if kind == "integer":
        if not raw.lstrip("-").isdigit() or len(raw) > 18:
            raise InvalidQuery(f"{name} is an integer, not {raw!r}", field=name)
        return int(raw)
    return raw


def _where(session: Session, coll: Collection, principal: Principal | None, q: ItemsQuery) -> tuple[str, dict]:
    at = None
    temporal: list[str] = []
    params: dict[str, Any] = {}
    if q.datetime:
        start, end, instant = _interval(q.datetime, q.tz)
        if coll.layout_by_time:
            if not instant:
                raise InvalidQuery("the grids collection takes a datetime instant: the layout in force then",
                                       field="datetime")
            at = start
        elif coll.temporal is not None:
            col = coll.prop(coll.temporal, principal).sql  # type: ignore[union-attr]
            if start is not None:
                temporal.append(f"{col} {'=' if instant else '>='} :_t0")
                params["_t0"] = start
            if end is not None and not instant:
                temporal.append(f"{col} <= :_t1")
                params["_t1"] = end
    where, base = base_filter(coll, principal, session, at)
    params.update(base)
    clauses = [where, *temporal]
    if coll.layout_by_time and params.get("layout") is None:
        clauses.append("FALSE")  # no layout in force then: an empty collection, not an error
    if q.bbox is not None:
        clauses.append(f"ST_Intersects({coll.geom_sql}, ST_MakeEnvelope(:b0, :b1, :b2, :b3, 4326))")
        params.update({f"b{i}": v for i, v in enumerate(crsmod.bbox_degrees(q.bbox, q.bbox_crs))})
    for i, (name, value) in enumerate(q.equals):
        prop = coll.prop(name, principal)
        if prop is None:
            raise InvalidQuery(f"unknown query parameter {name!r}", field=name)
        clauses.append(f"{prop.sql} = :_q{i}" if prop.type in ("boolean", "integer") else
                       f"CAST({prop.sql} AS text) = :_q{i}")
        params[f"_q{i}"] = _typed(name, prop.type, value)
    if q.filter:
        sql, fparams = cql.translate(q.filter, lang=q.filter_lang, coll=coll, principal=principal,
                                     filter_crs=q.filter_crs)
        clauses.append(sql)
        params.update(fparams)
    return " AND ".join(f"({c})" for c in clauses), params


def _select(coll: Collection, principal: Principal | None, crs: crsmod.Crs, extra: str = "") -> str:
    """The rows of a page: ``_id``, the geometry already as GeoJSON text, the properties as one JSON object.

    Built as text by PostgreSQL without a detour through jsonb: converting the row (geometry included) with
    ``to_jsonb`` and dropping the geometry again took half the time of a 10,000-feature page."""
    props = ", ".join(f"'{p.name}', {p.sql}" for p in coll.visible_props(principal))
    geom = crsmod.geometry_sql(coll.geom_sql, crs)
    return (f"SELECT {coll.id_sql} AS _id, ST_AsGeoJSON({geom}, {crs.decimals:d}) AS _geom, "
            f"json_build_object({props})::text AS _props{extra} {coll.from_sql}")


def _features_sql(inner: str, keep: str = "TRUE", matched: str = "NULL") -> str:
    """Count, JSON array, first and last id of the features of ``inner`` whose row passes ``keep`` (ordered by
    ``_id``: every collection's own order), the rows of ``inner``, and the scalar ``matched`` (the count of the whole
    filter, asked in the same statement: one round trip a page, not two)."""
    return f"""
        SELECT count(*) FILTER (WHERE {keep}), '[' || coalesce(string_agg(
            '{{"type":"Feature","id":' || to_json(t._id)::text || ',"geometry":' || coalesce(t._geom, 'null')
            || ',"properties":' || t._props || '}}', ',' ORDER BY t._id) FILTER (WHERE {keep}), '') || ']',
            min(t._id) FILTER (WHERE {keep}), max(t._id) FILTER (WHERE {keep}), count(*), ({matched})
        FROM ({inner}) AS t"""


def _page_link(request: Request, rel: str, limit: int, cursor: Cursor) -> dict[str, str]:
    """The link to the page after (before) ``cursor``, with every other parameter of this request."""
    query = {k: v for k, v in request.query_params.items() if k not in ("offset", "cursor")}
    query.update({"limit": str(limit), "cursor": encode_cursor(cursor)})
    return link(f"{str(request.url).split('?')[0]}?{urlencode(query)}", rel, GEOJSON)


def items(session: Session, *, request: Request, coll: Collection, principal: Principal | None,
          q: ItemsQuery) -> Response:
    where, params = _where(session, coll, principal, q)
    page_where, forward = where, q.cursor is None or q.cursor.forward
    if q.cursor is not None:
        page_where += f" AND {coll.id_sql} {'>' if forward else '<'} :_key"
        params_page = {**params, "_key": q.cursor.key}
    else:
        params_page = params
    # One row more than the page, in the direction of travel: whether there is a page beyond this one.
    order = f"{coll.id_sql}{'' if forward else ' DESC'}"
    inner = (f"{_select(coll, principal, q.crs, f', row_number() OVER (ORDER BY {order}) AS _n')} "
             f"WHERE {page_where} ORDER BY {order} LIMIT :_limit + 1 OFFSET :_offset")
    returned, features, first, last, fetched, matched = session.execute(
        text(_features_sql(inner, "t._n <= :_limit + :_offset", f"SELECT count(*) {coll.from_sql} WHERE {where}")),
        {**params_page, "_limit": q.limit, "_offset": q.offset}).one()
    links = [link(str(request.url), "self", GEOJSON),
             link(f"{root(request)}/collections/{coll.id}", "collection", JSON)]
    beyond = fetched > returned  # a row past the page in the direction of travel
    came_from = q.cursor is not None or q.offset > 0  # the other direction has rows (we came from there)
    if returned and (beyond if forward else came_from):
        links.append(_page_link(request, "next", q.limit, Cursor(last)))
    if returned and (came_from if forward else beyond):
        links.append(_page_link(request, "prev", q.limit, Cursor(first, forward=False)))
    head = {"type": "FeatureCollection", "timeStamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "numberMatched": matched, "numberReturned": returned, "links": links}
    body = orjson.dumps(head)[:-1] + b',"features":' + features.encode() + b"}"
    return Response(body, media_type=GEOJSON, headers={"Content-Crs": crsmod.content_crs_header(q.crs)})


def item_row(session: Session, *, coll: Collection, principal: Principal | None, feature_id: str,
             crs: crsmod.Crs) -> dict[str, Any]:
    """One feature as a dict (a 404 when it does not exist or is outside the caller's scope)."""
    if coll.id_type == "integer" and not (feature_id.isdigit() and len(feature_id) < 19):
        raise NotFound(f"no feature {feature_id!r} in {coll.id}")
    where, params = base_filter(coll, principal, session, None)
    if coll.layout_by_time and params.get("layout") is None:
        raise NotFound(f"no feature {feature_id!r} in {coll.id}: no layout is in force")
    inner = f"{_select(coll, principal, crs)} WHERE ({where}) AND {coll.id_sql} = :_fid"
    fid: Any = int(feature_id) if coll.id_type == "integer" else feature_id
    _, features, *_ = session.execute(text(_features_sql(inner)), {**params, "_fid": fid}).one()
    found = orjson.loads(features)
    if not found:
        raise NotFound(f"no feature {feature_id!r} in {coll.id}")
    return found[0]
