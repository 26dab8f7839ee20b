"""The roads layer's part of an import (``gridmap import roads``, api/imports/service.py): a road is one line,
its kind one of the road kinds of migration 0027."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from psycopg.types.json import Jsonb

from api.core.errors import ImportFailed

KINDS = ("primary", "secondary", "lane", "footway", "other")
#: OpenStreetMap highway values → road kinds (an OSM extract imports with its highway tag as the kind)
OSM_KINDS = {"motorway": "primary", "trunk": "primary", "primary": "primary", "secondary": "secondary",
             "tertiary": "secondary", "residential": "lane", "living_street": "lane", "service": "lane",
             "unclassified": "lane", "pedestrian": "footway", "footway": "footway", "path": "footway",
             "steps": "footway", "cycleway": "footway"}


def road_lines(geoms: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each row's lines as a MultiLineString (from a LineString or MultiLineString); anything else refused by
    row, as is a line of no length."""
    out = np.empty(len(geoms), dtype=object)
    for i, g in enumerate(geoms):
        parts = shapely.get_parts(g) if g is not None else []
        if g is None or g.is_empty or not len(parts) or any(p.geom_type != "LineString" for p in parts):
            got = "nothing" if g is None or g.is_empty else g.geom_type
            raise ImportFailed(f"row {rows[i]}: a road must be a line, got {got}", row=int(rows[i]),
                               reason="wrong_geometry_type")
        if any(p.length == 0 or not p.is_valid for p in parts):
            raise ImportFailed(f"row {rows[i]}: a line has no length", row=int(rows[i]), reason="invalid_geometry")
        out[i] = shapely.multilinestrings(parts)
    return out


def road_records(codes: list, names: list, names_en: list, kinds: list[str], props: list[dict[str, Any]],
                 geoms: np.ndarray, rows: np.ndarray, notes: list[str]) -> tuple[list[tuple], np.ndarray]:
    """Rows for the road table, one a road name (the table's key for the address registry): rows of one name
    are merged into one MultiLineString under the first row's code, kind and properties; an unnamed row is a
    road of its own, named by its code."""
    names = [nm or c for nm, c in zip(names, codes, strict=True)]
    first: dict[str, int] = {}
    parts: dict[str, list] = {}
    for i, nm in enumerate(names):
        first.setdefault(nm, i)
        parts.setdefault(nm, []).extend(shapely.get_parts(geoms[i]))
    if len(first) < len(names):
        notes.append(f"{len(names) - len(first)} rows joined a road of the same name ({len(first)} roads)")
    keep = sorted(first.values())
    wkb = shapely.to_wkb(shapely.set_srid(np.array([shapely.multilinestrings(parts[names[i]]) for i in keep],
                                                   dtype=object), 4326), hex=True, include_srid=True)
    records = [(codes[i], names[i], names_en[i], kinds[i], Jsonb(props[i]), w) for i, w in zip(keep, wkb, strict=True)]
    return records, rows[keep]


def road_kinds(kinds: list[str | None], default: str | None, rows: np.ndarray) -> list[str]:
    """Each row's kind (its own, an OSM highway tag mapped, or ``default``, else lane); an unknown one refused."""
    out = []
    for i, k in enumerate(kinds):
        k = OSM_KINDS.get(k or "", k) or default or "lane"
        if k not in KINDS:
            raise ImportFailed(f"row {rows[i]}: road kind {k!r} is not one of {', '.join(KINDS)}",
                               row=int(rows[i]), reason="bad_kind")
        out.append(k)
    return out
