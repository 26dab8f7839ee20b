"""Checking and repairing polygons on their way into the database.

The rule: an invalid polygon is repaired when the repair keeps its area (a duplicated vertex, a
ring that touches itself, a tiny spike), and refused when it does not (a bow-tie whose halves
cancel out, a ring collapsed to a line): a silent repair that changes the area would change
which grid owns which households.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

#: Relative change of area that a repair may make and still be accepted (1 %).
DEFAULT_AREA_TOLERANCE = 0.01


@dataclass(slots=True)
class Checked:
    """Outcome for each input geometry, aligned with the input array.

    ``geometry`` holds the (possibly repaired) geometry, or None where refused;
    ``repaired`` flags rows that were changed; ``reason`` says why a row was repaired or refused.
    """

    geometry: NDArray[np.object_]
    repaired: NDArray[np.bool_]
    refused: NDArray[np.bool_]
    reason: NDArray[np.object_]

    def first_refusal(self) -> tuple[int, str] | None:
        """The first refused row and its reason, or None when every row passed."""
        idx = np.flatnonzero(self.refused)
        return (int(idx[0]), str(self.reason[idx[0]])) if idx.size else None


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry | None:
    """The polygons inside a make_valid result (which may add stray lines or points)."""
    parts = shapely.get_parts(geom)
    polys = [p for p in parts if shapely.get_type_id(p) in (3, 6)]
    if not polys:
        return None
    merged = shapely.union_all(polys)
    return merged if not merged.is_empty else None


def check_polygons(
    geoms: NDArray[np.object_] | list,
    *,
    single: bool,
    area_tolerance: float = DEFAULT_AREA_TOLERANCE,
) -> Checked:
    """Validate polygons, repairing the ones whose repair keeps the area.

    ``single=True`` asks for one Polygon per row (a building); a MultiPolygon is then refused
    unless it has one part. ``single=False`` returns MultiPolygons (grids, communities).

    Examples
    --------
    >>> from shapely import Polygon, box
    >>> square = box(0, 0, 1, 1)
    >>> spike = Polygon([(0, 0), (1, 0), (1, 1), (1, 1), (0, 1)])        # repeated vertex: valid
    >>> touching = Polygon([(0, 0), (2, 0), (2, 2), (1, 2), (1, 1), (1, 2), (0, 2)])  # 0-width spike
    >>> bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    >>> out = check_polygons([square, spike, touching, bowtie, None], single=True)
    >>> out.repaired.tolist(), out.refused.tolist()
    ([False, False, True, False, False], [False, False, False, True, True])
    >>> out.geometry[2].area
    4.0
    >>> print(out.reason[3])
    repair would change the area by 100.0% (Self-intersection[0.5 0.5]); fix the geometry in the source
    """
    arr = np.asarray(geoms, dtype=object)
    n = len(arr)
    out = arr.copy()
    repaired = np.zeros(n, dtype=bool)
    refused = np.zeros(n, dtype=bool)
    reason = np.full(n, None, dtype=object)

    missing = shapely.is_missing(arr) | shapely.is_empty(arr)
    refused[missing] = True
    reason[missing] = "geometry is missing or empty"

    present = ~missing
    types = np.full(n, -1)
    types[present] = shapely.get_type_id(arr[present])
    wrong = present & ~np.isin(types, (3, 6))
    refused[wrong] = True
    for i in np.flatnonzero(wrong):
        reason[i] = f"expected a polygon, got {arr[i].geom_type}"

    ok = present & ~wrong
    if ok.any():
        arr_ok = shapely.force_2d(arr[ok])
        out[ok] = arr_ok
    invalid_idx = np.flatnonzero(ok)[~shapely.is_valid(out[ok])] if ok.any() else np.array([], dtype=int)
    for i in invalid_idx:
        geom = out[i]
        why = shapely.is_valid_reason(geom)
        fixed = _polygonal_part(shapely.make_valid(geom))
        before = abs(geom.area)
        after = fixed.area if fixed is not None else 0.0
        change = abs(after - before) / before if before > 0 else (0.0 if after == 0 else 1.0)
        if fixed is None or change > area_tolerance or before == 0:
            refused[i] = True
            reason[i] = (
                f"repair would change the area by {100 * (1.0 if before == 0 else change):.1f}% ({why}); "
                "fix the geometry in the source"
            )
            continue
        if single and fixed.geom_type == "MultiPolygon":
            # A repaired footprint often comes back as one polygon plus slivers: keep the polygon
            # when what is dropped stays within the tolerance, as the area rule asks.
            parts = shapely.get_parts(fixed)
            largest = parts[np.argmax(shapely.area(parts))]
            change = abs(largest.area - before) / before
            if change <= area_tolerance:
                fixed = largest
        out[i] = fixed
        repaired[i] = True
        reason[i] = f"repaired ({why}); area changed by {100 * change:.2f}%"

    good = ~refused
    if single:
        multi = good & (shapely.get_type_id(out) == 6)
        for i in np.flatnonzero(multi):
            parts = shapely.get_parts(out[i])
            if len(parts) == 1:
                out[i] = parts[0]
            else:
                refused[i] = True
                reason[i] = (f"a MultiPolygon of {len(parts)} parts; one row must be one polygon "
                             "(split it, or import with --explode)")
    else:
        poly = good & (shapely.get_type_id(out) == 3)
        out[poly] = [shapely.MultiPolygon([g]) for g in out[poly]]
    out[refused] = None
    return Checked(out, repaired & ~refused, refused, reason)



def first_over_vertex_limit(geoms: NDArray[np.object_] | list, limit: int) -> tuple[int, int] | None:
    """The first geometry with more than ``limit`` vertices (its index and vertex count), or None.

    Counted before any repair: ``make_valid`` and every later coverage check scale with the vertices, and a
    1,000,000-vertex grid made each validation of its draft take 13 s.

    >>> first_over_vertex_limit([shapely.box(0, 0, 1, 1), shapely.Point(0, 0).buffer(1, 64)], 100)
    (1, 257)
    >>> first_over_vertex_limit([shapely.box(0, 0, 1, 1)], 100) is None
    True
    """
    counts = shapely.get_num_coordinates(np.asarray(geoms, dtype=object))
    over = np.flatnonzero(counts > limit)
    return (int(over[0]), int(counts[over[0]])) if over.size else None
