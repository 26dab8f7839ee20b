"""OGC API Tiles metadata and TileJSON 3.0 for the collections that have vector tiles (grids and buildings).

The tiles themselves are the API's own MVT endpoint (``/api/v1/tiles/{layer}/{z}/{x}/{y}.mvt``, api/tiles: cached,
ETagged, invalidated by NOTIFY); this module only describes them: the tiling scheme from morecantile
(WebMercatorQuad), the zoom range and the layer's fields.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request

from api.core.errors import NotFound
from api.ogc.collections import Collection
from api.ogc.service import JSON, link, root
from api.tiles.service import BUILDINGS_MIN_ZOOM, LAYERS, MAX_ZOOM, TMS

MVT = "application/vnd.mapbox-vector-tile"
TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
_REL = "http://www.opengis.net/def/rel/ogc/1.0/"


def layer_of(coll: Collection) -> str:
    """The MVT layer behind a collection, or a 404 (only grids and buildings are tiled)."""
    if coll.tiles is not None:
        return coll.tiles
    raise NotFound(f"the collection {coll.id} has no tiles; grids, grids-layout-* and buildings do")


def _fields(coll: Collection, layer: str) -> dict[str, str]:
    """The properties the tile layer carries: the collection's properties that its tile SQL selects."""
    columns = set(re.findall(r"\b[a-z]\.([a-z_]+)\b", LAYERS[layer].split("AS geom,", 1)[1].split("FROM")[0]))
    out = {"id": "integer"} if "id" in columns else {}
    out.update({p.name: p.type for p in coll.props if p.name in columns})
    return out


def _template(request: Request, coll: Collection, layer: str, xyz: bool) -> str:
    z, x, y = ("{z}", "{x}", "{y}") if xyz else ("{tileMatrix}", "{tileCol}", "{tileRow}")
    url = f"{str(request.base_url).rstrip('/')}/api/v1/tiles/{layer}/{z}/{x}/{y}.mvt"
    return url + (f"?layout={coll.layout_id}" if coll.layout_id is not None else "")


def _minzoom(layer: str) -> int:
    return BUILDINGS_MIN_ZOOM if layer == "buildings" else 0


def tilesets(request: Request, coll: Collection) -> dict[str, Any]:
    layer_of(coll)
    base = f"{root(request)}/collections/{coll.id}/tiles"
    return {"links": [link(base, "self", JSON)], "tilesets": [{
        "title": f"{coll.title}: vector tiles", "dataType": "vector", "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": TMS_URI,
        "links": [link(f"{base}/{TMS_ID}", "self", JSON, "the tileset"),
                  link(f"{root(request)}/tileMatrixSets/{TMS_ID}", _REL + "tiling-scheme", JSON)]}]}


def tileset(request: Request, coll: Collection) -> dict[str, Any]:
    layer = layer_of(coll)
    base = f"{root(request)}/collections/{coll.id}/tiles/{TMS_ID}"
    limits = []
    for z in range(_minzoom(layer), MAX_ZOOM + 1):
        m = TMS.matrix(z)
        limits.append({"tileMatrix": str(z), "minTileRow": 0, "maxTileRow": m.matrixHeight - 1,
                       "minTileCol": 0, "maxTileCol": m.matrixWidth - 1})
    return {
        "title": f"{coll.title}: vector tiles", "dataType": "vector", "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": TMS_URI, "tileMatrixSetLimits": limits,
        "links": [
            link(base, "self", JSON),
            link(f"{root(request)}/tileMatrixSets/{TMS_ID}", _REL + "tiling-scheme", JSON),
            link(f"{base}/tilejson.json", "alternate", "application/vnd.mapbox.tile+json", "TileJSON 3.0"),
            {**link(_template(request, coll, layer, xyz=False), "item", MVT, "a tile (send the same key)"),
             "templated": True},
        ],
        "layers": [{"id": layer, "dataType": "vector",
                    "geometryType": "polygons", "propertiesSchema": {
                        "type": "object", "properties": {k: {"type": v} for k, v in _fields(coll, layer).items()}}}],
    }


def tilejson(request: Request, coll: Collection, bounds: list[float] | None) -> dict[str, Any]:
    """TileJSON 3.0 (MapLibre's ``source.url``); the tile URLs need the caller's key (MapLibre's transformRequest)."""
    layer = layer_of(coll)
    return {
        "tilejson": "3.0.0", "name": coll.title, "scheme": "xyz",
        "tiles": [_template(request, coll, layer, xyz=True)],
        "minzoom": _minzoom(layer), "maxzoom": MAX_ZOOM,
        "bounds": bounds or [-180, -85.0511287798066, 180, 85.0511287798066],
        "vector_layers": [{"id": layer, "fields": _fields(coll, layer), "minzoom": _minzoom(layer),
                           "maxzoom": MAX_ZOOM}],
    }


def matrix_sets(request: Request) -> dict[str, Any]:
    return {"tileMatrixSets": [{"id": TMS_ID, "uri": TMS_URI, "title": "Google Maps compatible (EPSG:3857)",
                                "links": [link(f"{root(request)}/tileMatrixSets/{TMS_ID}", "self", JSON)]}]}


def matrix_set() -> dict[str, Any]:
    """The definition of WebMercatorQuad, as morecantile holds it (OGC 2D TMS JSON)."""
    return TMS.model_dump(mode="json", exclude_none=True, by_alias=True)
