"""The OpenAPI 3.0 definition of /ogc (the ``oas30`` conformance class; ``service-desc`` of the landing page).

The app's own document (``/api/v1/openapi.json``) is OpenAPI 3.1, which the OGC clients of today (GDAL, QGIS) do not
read; GDAL takes the largest page size from the ``limit`` parameter here. Written out rather than generated, so that
it names the OGC parameters by their OGC names and says nothing about the rest of the API.
"""

from __future__ import annotations

from typing import Any

from api.ogc import crs as crsmod
from api.ogc.collections import STATIC


def _param(name: str, schema: dict[str, Any], description: str, where: str = "query",
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            "description": description, "style": "form", "explode": False}


def _problems() -> dict[str, Any]:
    return {str(s): {"description": d, "content": {"application/problem+json": {"schema": {"type": "object"}}}}
            for s, d in ((400, "bad parameter"), (401, "no or bad credentials"), (403, "not for this role"),
                         (404, "not found"))}


def _ok(media: dict[str, str], description: str) -> dict[str, Any]:
    problems = _problems()
    return {"200": {"description": description,
                    "content": {m: {"schema": {"type": "object" if s == "object" else "string"}}
                                for m, s in media.items()}}, **problems}


def document(base: str, *, max_limit: int) -> dict[str, Any]:
    collection = _param("collectionId", {"type": "string"}, "a collection id", "path")
    feature = _param("featureId", {"type": "string"}, "a feature id", "path")
    crs = _param("crs", {"type": "string", "format": "uri", "enum": crsmod.supported(), "default": crsmod.CRS84},
                 "the CRS of the geometries answered")
    f = _param("f", {"type": "string", "enum": ["json", "html"]}, "the encoding")
    json_html = {"application/json": "object", "text/html": "string"}
    geojson_html = {"application/geo+json": "object", "text/html": "string"}
    items_params = [
        collection,
        _param("limit", {"type": "integer", "minimum": 1, "maximum": max_limit, "default": 100},
               f"page size (at most {max_limit})"),
        _param("offset", {"type": "integer", "minimum": 0, "default": 0}, "features to skip"),
        _param("cursor", {"type": "string", "maxLength": 200},
               "where the page starts: an opaque token that next and prev links carry (keyset paging)"),
        _param("bbox", {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
               "minx,miny,maxx,maxy in bbox-crs (default CRS84)"),
        _param("bbox-crs", {"type": "string", "format": "uri", "enum": crsmod.supported()}, "the CRS of bbox"),
        _param("datetime", {"type": "string"}, "an RFC 3339 instant or interval; for grids: the layout in force then"),
        crs,
        _param("filter", {"type": "string"}, "a CQL2 filter (text or JSON)"),
        _param("filter-lang", {"type": "string", "enum": ["cql2-text", "cql2-json"]}, "the filter's language"),
        _param("filter-crs", {"type": "string", "format": "uri", "enum": crsmod.supported()},
               "the CRS of the filter's geometries"),
        f,
    ]
    tiles = {"application/json": "object"}
    # Each fixed collection's items again, with its properties as query parameters (``status=closed``): the
    # Part 1 way of filtering, which GDAL 3.6 reads from here to filter on the server instead of on the client.
    per_collection = {
        f"/collections/{c.id}/items": {"get": {
            "operationId": f"getFeatures-{c.id}", "summary": f"{c.title}, paged",
            "parameters": items_params[1:] + [_param(p.name, p.schema(), f"features whose {p.name} equals this")
                                              for p in c.props],
            "responses": _ok(geojson_html, "a FeatureCollection")}}
        for c in STATIC.values()}
    return {
        "openapi": "3.0.3",
        "info": {"title": "gridmap OGC API", "version": "1.0.0",
                 "description": "OGC API Features (Parts 1-4) and Tiles over gridmap's layers. Send the same API key "
                                "or login token as the rest of the API: `Authorization: Bearer <key>`."},
        "servers": [{"url": base}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/": {"get": {"operationId": "getLandingPage", "summary": "landing page", "parameters": [f],
                          "responses": _ok(json_html, "the landing page")}},
            "/conformance": {"get": {"operationId": "getConformance", "summary": "conformance classes",
                                     "parameters": [f], "responses": _ok(json_html, "the conformance classes")}},
            "/collections": {"get": {"operationId": "getCollections", "summary": "feature collections",
                                     "parameters": [f], "responses": _ok(json_html, "the collections")}},
            "/collections/{collectionId}": {"get": {
                "operationId": "describeCollection", "summary": "one collection", "parameters": [collection, f],
                "responses": _ok(json_html, "the collection")}},
            "/collections/{collectionId}/queryables": {"get": {
                "operationId": "getQueryables", "summary": "what a filter may name", "parameters": [collection],
                "responses": _ok({"application/schema+json": "object"}, "a JSON Schema")}},
            "/collections/{collectionId}/items": {
                "get": {"operationId": "getFeatures", "summary": "features, paged", "parameters": items_params,
                        "responses": _ok(geojson_html, "a FeatureCollection")},
                "post": {"operationId": "createFeature", "summary": "add a grid to a draft layout (Part 4)",
                         "parameters": [collection],
                         "requestBody": {"content": {"application/geo+json": {"schema": {"type": "object"}}}},
                         "responses": {"201": {"description": "created; Location names it"},
                                       **_problems()}}},
            "/collections/{collectionId}/items/{featureId}": {
                "get": {"operationId": "getFeature", "summary": "one feature",
                        "parameters": [collection, feature, crs, f],
                        "responses": _ok(geojson_html, "a Feature")},
                "put": {"operationId": "replaceFeature", "summary": "replace a draft grid (Part 4; If-Match)",
                        "parameters": [collection, feature],
                        "requestBody": {"content": {"application/geo+json": {"schema": {"type": "object"}}}},
                        "responses": {"204": {"description": "replaced"}, "412": {"description": "stale ETag"},
                                      **_problems()}},
                "patch": {"operationId": "updateFeature", "summary": "update a draft grid (Part 4; If-Match)",
                          "parameters": [collection, feature],
                          "requestBody": {"content": {"application/merge-patch+json": {"schema": {"type": "object"}}}},
                          "responses": {"204": {"description": "updated"}, "412": {"description": "stale ETag"},
                                        **_problems()}},
                "delete": {"operationId": "deleteFeature", "summary": "delete a draft grid (Part 4; If-Match)",
                           "parameters": [collection, feature],
                           "responses": {"204": {"description": "deleted"}, "412": {"description": "stale ETag"},
                                         **_problems()}}},
            "/collections/{collectionId}/tiles": {"get": {
                "operationId": "getTilesets", "summary": "vector tilesets", "parameters": [collection],
                "responses": _ok(tiles, "the tilesets")}},
            "/collections/{collectionId}/tiles/WebMercatorQuad": {"get": {
                "operationId": "getTileset", "summary": "the WebMercatorQuad tileset", "parameters": [collection],
                "responses": _ok(tiles, "a tileset")}},
            "/collections/{collectionId}/tiles/WebMercatorQuad/tilejson.json": {"get": {
                "operationId": "getTileJSON", "summary": "TileJSON 3.0 (MapLibre)", "parameters": [collection],
                "responses": _ok(tiles, "TileJSON")}},
            **per_collection,
            "/tileMatrixSets": {"get": {"operationId": "getTileMatrixSets", "summary": "tile matrix sets",
                                        "responses": _ok(tiles, "the tile matrix sets")}},
            "/tileMatrixSets/WebMercatorQuad": {"get": {
                "operationId": "getTileMatrixSet", "summary": "WebMercatorQuad", "responses": _ok(tiles, "the TMS")}},
        },
    }
