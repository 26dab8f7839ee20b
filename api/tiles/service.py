"""Vector tiles: tile maths from morecantile (WebMercatorQuad), geometry clipped and encoded by PostGIS.

Tiles are cached in process (an LRU bounded in bytes) and dropped when the data under them changes:
``NOTIFY gridmap_layout`` (grids, layouts; payload a layout id or ``*``, migration 0002) and ``NOTIFY
gridmap_tiles`` (buildings, migration 0003). Each tile carries a strong ETag so browsers revalidate
with a 304 instead of downloading it again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import morecantile
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.core.errors import InvalidParameter, NotFound
from api.grids import service as grids_service

TMS = morecantile.tms.get("WebMercatorQuad")
EXTENT = 4096
BUFFER = 64
MAX_ZOOM = 22
#: Below this zoom a building tile is empty: 24,000 footprints at city scale are noise, not information.
BUILDINGS_MIN_ZOOM = 14

LAYERS = {
    "grids": """
        SELECT ST_AsMVTGeom(ST_Transform(g.boundary, 3857), ST_MakeEnvelope(:l, :b, :r, :t, 3857),
                            :extent, :buffer, true) AS geom,
               g.code, g.name, g.name_en, g.community_code, g.households, g.population
        FROM grid g
        WHERE g.layout_id = :layout AND g.boundary && ST_MakeEnvelope(:w, :s, :e, :n, 4326)""",
    "buildings": """
        SELECT ST_AsMVTGeom(ST_Transform(b.footprint, 3857), ST_MakeEnvelope(:l, :b, :r, :t, 3857),
                            :extent, :buffer, true) AS geom,
               b.id, b.code, b.kind, b.floors, b.households
        FROM building b
        WHERE b.footprint && ST_MakeEnvelope(:w, :s, :e, :n, 4326)""",
}


@dataclass(slots=True, frozen=True)
class Tile:
    data: bytes
    etag: str


class TileCache:
    """An LRU of encoded tiles keyed by (layer, layout, z, x, y), bounded in bytes."""

    def __init__(self, max_bytes: int = 128 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._tiles: OrderedDict[tuple, Tile] = OrderedDict()
        self._bytes = 0
        self._generation = 0
        self._layout: int | None = None
        self.hits = self.misses = 0

    def get(self, key: tuple) -> Tile | None:
        with self._lock:
            tile = self._tiles.get(key)
            if tile is not None:
                self._tiles.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return tile

    def put(self, key: tuple, tile: Tile, generation: int) -> None:
        with self._lock:
            if generation != self._generation or key in self._tiles:
                return  # built from data read before an invalidation: do not keep it
            self._tiles[key] = tile
            self._bytes += len(tile.data)
            while self._bytes > self.max_bytes and self._tiles:
                _, old = self._tiles.popitem(last=False)
                self._bytes -= len(old.data)

    @property
    def generation(self) -> int:
        return self._generation

    def invalidate(self, layer: str | None = None, layout: str | None = None) -> None:
        """Drop tiles of ``layer`` (all layers when None) and of one layout (all when None or ``*``)."""
        with self._lock:
            self._generation += 1
            if layer in (None, "grids"):
                self._layout = None
            for key in list(self._tiles):
                if layer is not None and key[0] != layer:
                    continue
                if layout not in (None, "*") and layout.isdigit() and key[1] not in (int(layout), None):
                    continue
                self._bytes -= len(self._tiles.pop(key).data)

    def on_layout_notice(self, payload: str | None) -> None:
        self.invalidate("grids", payload)

    def on_tiles_notice(self, payload: str | None) -> None:
        self.invalidate(payload if payload in LAYERS else None)

    def layout_in_force(self, session: Session) -> int | None:
        if self._layout is None:
            generation = self._generation
            found = grids_service.layout_in_force(session)
            with self._lock:
                if generation == self._generation:
                    self._layout = found
            return found
        return self._layout


def check_tile(layer: str, z: int, x: int, y: int) -> morecantile.Tile:
    if layer not in LAYERS:
        raise NotFound(f"no tile layer {layer!r}; layers: {', '.join(LAYERS)}")
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidParameter(f"z must be 0-{MAX_ZOOM}", field="z")
    tile = morecantile.Tile(x, y, z)
    matrix = TMS.matrix(z)
    if not (0 <= x < matrix.matrixWidth and 0 <= y < matrix.matrixHeight):
        raise InvalidParameter(f"x and y must be 0-{matrix.matrixWidth - 1} at zoom {z}", field="x/y")
    return tile


def render(session: Session, layer: str, tile: morecantile.Tile, layout: int | None) -> bytes:
    if layer == "buildings" and tile.z < BUILDINGS_MIN_ZOOM:
        return b""
    if layer == "grids" and layout is None:
        return b""
    xy = TMS.xy_bounds(tile)
    ll = TMS.bounds(tile)
    # A small margin so that the && filter catches features in the tile buffer.
    mx = (ll.right - ll.left) * BUFFER / EXTENT
    my = (ll.top - ll.bottom) * BUFFER / EXTENT
    sql = f"SELECT ST_AsMVT(t, :name, :extent, 'geom') FROM ({LAYERS[layer]}) AS t WHERE t.geom IS NOT NULL"
    data = session.execute(text(sql), {
        "name": layer, "extent": EXTENT, "buffer": BUFFER, "layout": layout,
        "l": xy.left, "b": xy.bottom, "r": xy.right, "t": xy.top,
        "w": ll.left - mx, "s": ll.bottom - my, "e": ll.right + mx, "n": ll.top + my,
    }).scalar()
    return bytes(data or b"")


def get_tile(session: Session, cache: TileCache, layer: str, z: int, x: int, y: int, layout: int | None) -> Tile:
    tile = check_tile(layer, z, x, y)
    if layer == "grids" and layout is None:
        layout = cache.layout_in_force(session)
    key = (layer, layout if layer == "grids" else None, z, x, y)
    found = cache.get(key)
    if found is not None:
        return found
    generation = cache.generation
    data = render(session, layer, tile, layout)
    built = Tile(data, '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"')
    cache.put(key, built, generation)
    return built
